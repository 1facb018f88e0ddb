import "server-only";
import { cookies } from "next/headers";
import { readSession, type Session } from "./store";

/** The current browser's session in server components and route handlers (the proxy already refreshed it). */
export async function getSession(): Promise<Session | null> {
  const s = await readSession(await cookies());
  if (!s) return null;
  return s;
}

/** The access token when it is still valid (with 10 s to spare), otherwise null. */
export async function getAccessToken(): Promise<string | null> {
  const s = await getSession();
  if (!s || s.exp - 10 < Math.floor(Date.now() / 1000)) return null;
  return s.at;
}
