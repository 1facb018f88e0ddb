import "server-only";
import { redirect } from "next/navigation";
import { getSession } from "@/lib/session/server";
import type { Session } from "@/lib/session/store";

/** Pages for signed-in buyers: without a session, sign in first and come back to `path`. */
export async function requireSession(path: string): Promise<Session> {
  const s = await getSession();
  if (!s) redirect(`/auth/signin?returnTo=${encodeURIComponent(path)}`);
  return s;
}
