import { deriveKey, seal, unseal } from "./crypto";

/** What the web server keeps for a signed-in browser. Never sent to browser JavaScript. */
export interface Session {
  /** Access token. */
  at: string;
  /** Refresh token, when the issuer gave one. */
  rt?: string;
  /** ID token, kept as the end-session hint. */
  idt?: string;
  /** Access token expiry, epoch seconds. */
  exp: number;
  user: { name: string; email: string | null };
}

/** The short-lived state of one sign-in attempt (PKCE verifier, state, nonce). */
export interface PendingSignIn {
  state: string;
  nonce: string;
  verifier: string;
  returnTo: string;
  created: number;
}

export const SESSION_COOKIE = "tg_session";
export const SIGNIN_COOKIE = "tg_signin";
export const LOCALE_COOKIE = "tg_locale";
const CHUNK = 3800;
const MAX_CHUNKS = 4;

export interface CookieJarRead {
  get(name: string): { value: string } | undefined;
}
export interface CookieJar extends CookieJarRead {
  set(name: string, value: string, options: CookieOptions): unknown;
  delete(name: string): unknown;
}
export interface CookieOptions {
  httpOnly: boolean;
  secure: boolean;
  sameSite: "lax" | "strict";
  path: string;
  maxAge?: number;
}

const DEV_SECRET = "ticketgw-web development-only session secret (set SESSION_SECRET)";
let keyPromise: Promise<CryptoKey> | null = null;
let keySecret: string | null = null;

/** SESSION_SECRET is required in production; elsewhere a fixed development default is used. */
export function sessionSecret(): string {
  const s = process.env.SESSION_SECRET;
  if (s) return s;
  if (process.env.NODE_ENV === "production") {
    throw new Error("SESSION_SECRET is required in production (at least 32 characters)");
  }
  return DEV_SECRET;
}

function key(): Promise<CryptoKey> {
  const secret = sessionSecret();
  if (!keyPromise || keySecret !== secret) {
    keySecret = secret;
    keyPromise = deriveKey(secret);
  }
  return keyPromise;
}

export function cookieOptions(webUrl: string, maxAge?: number): CookieOptions {
  return { httpOnly: true, secure: webUrl.startsWith("https:"), sameSite: "lax", path: "/", maxAge };
}

/** Joins the chunks `tg_session`, `tg_session.1`, ... */
export function readChunks(jar: CookieJarRead, name: string): string | null {
  const first = jar.get(name)?.value;
  if (!first) return null;
  let value = first;
  for (let i = 1; i < MAX_CHUNKS; i++) {
    const part = jar.get(`${name}.${i}`)?.value;
    if (!part) break;
    value += part;
  }
  return value;
}

export function writeChunks(jar: CookieJar, name: string, value: string, opts: CookieOptions): void {
  const parts: string[] = [];
  for (let i = 0; i < value.length; i += CHUNK) parts.push(value.slice(i, i + CHUNK));
  if (parts.length > MAX_CHUNKS) throw new Error("session too large for cookies");
  parts.forEach((p, i) => jar.set(i === 0 ? name : `${name}.${i}`, p, opts));
  for (let i = parts.length; i < MAX_CHUNKS; i++) {
    if (jar.get(`${name}.${i}`)) jar.delete(`${name}.${i}`);
  }
}

export function clearChunks(jar: CookieJar, name: string): void {
  for (let i = 0; i < MAX_CHUNKS; i++) {
    const n = i === 0 ? name : `${name}.${i}`;
    if (jar.get(n)) jar.delete(n);
  }
}

export async function readSession(jar: CookieJarRead): Promise<Session | null> {
  const sealed = readChunks(jar, SESSION_COOKIE);
  if (!sealed) return null;
  return unseal<Session>(await key(), sealed, SESSION_COOKIE);
}

export async function writeSession(jar: CookieJar, session: Session, webUrl: string): Promise<void> {
  const sealed = await seal(await key(), session, SESSION_COOKIE);
  // The cookie outlives the access token: the refresh token renews it (30 days at most).
  writeChunks(jar, SESSION_COOKIE, sealed, cookieOptions(webUrl, 60 * 60 * 24 * 30));
}

export async function sealPending(p: PendingSignIn): Promise<string> {
  return seal(await key(), p, SIGNIN_COOKIE);
}

export async function unsealPending(v: string): Promise<PendingSignIn | null> {
  const p = await unseal<PendingSignIn>(await key(), v, SIGNIN_COOKIE);
  if (!p || Date.now() - p.created > 10 * 60 * 1000) return null;
  return p;
}
