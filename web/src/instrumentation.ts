/** Runs once when the server starts: refuse to serve production without a session key. */
export function register() {
  if (process.env.NODE_ENV !== "production") return;
  const secret = process.env.SESSION_SECRET ?? "";
  if (secret.length < 32) {
    throw new Error("SESSION_SECRET must be set to at least 32 characters in production");
  }
}
