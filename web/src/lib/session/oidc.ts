import type { Session } from "./store";
import { jwtClaims } from "./pkce";

/** The fields of an OpenID Provider's discovery document this app uses. */
export interface Discovery {
  issuer: string;
  authorization_endpoint: string;
  token_endpoint: string;
  end_session_endpoint?: string;
  revocation_endpoint?: string;
}

interface TokenResponse {
  access_token: string;
  refresh_token?: string;
  id_token?: string;
  expires_in?: number;
  token_type?: string;
}

let cached: { issuer: string; at: number; doc: Discovery } | null = null;

export async function discover(issuer: string): Promise<Discovery> {
  if (cached && cached.issuer === issuer && Date.now() - cached.at < 5 * 60 * 1000) return cached.doc;
  const res = await fetch(`${issuer}/.well-known/openid-configuration`, {
    headers: { accept: "application/json" },
    cache: "no-store",
  });
  if (!res.ok) throw new Error(`discovery failed: ${res.status}`);
  const doc = (await res.json()) as Discovery;
  if (!doc.authorization_endpoint || !doc.token_endpoint) throw new Error("discovery: endpoints missing");
  cached = { issuer, at: Date.now(), doc };
  return doc;
}

export class TokenError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
  ) {
    super(`token endpoint: ${status} ${code}`);
  }
}

async function tokenRequest(endpoint: string, form: Record<string, string>): Promise<TokenResponse> {
  const res = await fetch(endpoint, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", accept: "application/json" },
    body: new URLSearchParams(form).toString(),
    cache: "no-store",
  });
  const body = (await res.json().catch(() => ({}))) as Partial<TokenResponse> & { error?: string; code?: string };
  if (!res.ok || !body.access_token) {
    throw new TokenError(res.status, body.error ?? body.code ?? "invalid_response");
  }
  return body as TokenResponse;
}

export async function exchangeCode(
  d: Discovery,
  p: { code: string; verifier: string; redirectUri: string; clientId: string },
): Promise<TokenResponse> {
  return tokenRequest(d.token_endpoint, {
    grant_type: "authorization_code",
    code: p.code,
    code_verifier: p.verifier,
    redirect_uri: p.redirectUri,
    client_id: p.clientId,
  });
}

/** Checks the ID token's claims (iss, aud, nonce, exp); it came straight from the token endpoint. */
export function checkIdToken(idToken: string | undefined, d: Discovery, clientId: string, nonce: string): boolean {
  if (!idToken) return true; // an issuer that sends none: nothing to check, the code exchange is the proof
  const c = jwtClaims(idToken);
  if (!c) return false;
  const aud = Array.isArray(c.aud) ? c.aud : [c.aud];
  const now = Math.floor(Date.now() / 1000);
  return (
    c.iss === d.issuer &&
    aud.includes(clientId) &&
    c.nonce === nonce &&
    typeof c.exp === "number" &&
    c.exp + 60 > now
  );
}

export function toSession(t: TokenResponse, user: Session["user"], previous?: Session): Session {
  return {
    at: t.access_token,
    rt: t.refresh_token ?? previous?.rt,
    idt: t.id_token ?? previous?.idt,
    exp: Math.floor(Date.now() / 1000) + (t.expires_in ?? 300),
    user,
  };
}

// One refresh per refresh token in this process: parallel requests of one browser
// (a page and its QR images) must not spend the same refresh token twice, which the
// issuer treats as theft. The outcome is kept briefly for the requests that follow.
const inflight = new Map<string, { at: number; p: Promise<TokenResponse> }>();

export function refreshTokens(d: Discovery, clientId: string, refreshToken: string): Promise<TokenResponse> {
  const now = Date.now();
  for (const [k, v] of inflight) if (now - v.at > 30_000) inflight.delete(k);
  const hit = inflight.get(refreshToken);
  if (hit) return hit.p;
  const p = tokenRequest(d.token_endpoint, {
    grant_type: "refresh_token",
    refresh_token: refreshToken,
    client_id: clientId,
  });
  inflight.set(refreshToken, { at: now, p });
  return p;
}

/** RFC 7009 revocation when the issuer offers it; the built-in provider's logout otherwise. */
export async function revoke(d: Discovery, clientId: string, apiUrl: string, refreshToken: string): Promise<void> {
  try {
    if (d.revocation_endpoint) {
      await fetch(d.revocation_endpoint, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ token: refreshToken, token_type_hint: "refresh_token", client_id: clientId }),
        cache: "no-store",
      });
    } else {
      await fetch(`${apiUrl}/v1/auth/logout`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ refresh_token: refreshToken }),
        cache: "no-store",
      });
    }
  } catch {
    // Signing out locally still happens; the refresh token lapses on its own.
  }
}
