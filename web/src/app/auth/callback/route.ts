import { NextResponse, type NextRequest } from "next/server";
import { cookies } from "next/headers";
import { serverConfig } from "@/lib/config";
import { checkIdToken, discover, exchangeCode, toSession } from "@/lib/session/oidc";
import { LOCALE_COOKIE, SIGNIN_COOKIE, unsealPending, writeSession } from "@/lib/session/store";
import { isLocale } from "@/i18n/locales";

/** The issuer sends the browser back here with `code` and `state`. */
export async function GET(request: NextRequest) {
  const cfg = serverConfig();
  const jar = await cookies();
  const fail = (reason: string) => {
    const res = NextResponse.redirect(new URL(`/auth/failed?reason=${reason}`, cfg.webUrl), 303);
    res.cookies.delete(SIGNIN_COOKIE);
    return res;
  };
  const params = request.nextUrl.searchParams;
  const pendingRaw = jar.get(SIGNIN_COOKIE)?.value;
  const pending = pendingRaw ? await unsealPending(pendingRaw) : null;
  if (params.get("error")) return fail(params.get("error") === "access_denied" ? "denied" : "error");
  const code = params.get("code");
  const state = params.get("state");
  if (!pending || !code || !state || state !== pending.state) return fail("state");

  try {
    const d = await discover(cfg.issuer);
    // RFC 9207: an issuer that names itself in the response must be the one we asked.
    const iss = params.get("iss");
    if (iss !== null && iss !== d.issuer) return fail("issuer");
    const tokens = await exchangeCode(d, {
      code,
      verifier: pending.verifier,
      redirectUri: `${cfg.webUrl}/auth/callback`,
      clientId: cfg.clientId,
    });
    if (!checkIdToken(tokens.id_token, d, cfg.clientId, pending.nonce)) return fail("id_token");

    // The profile names the user and their language (which becomes the site's language).
    const me = await fetch(`${cfg.apiUrl}/v1/me`, {
      headers: { authorization: `Bearer ${tokens.access_token}`, accept: "application/json" },
      cache: "no-store",
    });
    if (!me.ok) return fail(me.status === 403 ? "suspended" : "profile");
    const profile = (await me.json()) as { name?: string; email?: string | null; language?: string };

    await writeSession(jar, toSession(tokens, { name: profile.name ?? "", email: profile.email ?? null }), cfg.webUrl);
    if (isLocale(profile.language)) {
      jar.set(LOCALE_COOKIE, profile.language, { path: "/", sameSite: "lax", maxAge: 60 * 60 * 24 * 365, secure: cfg.webUrl.startsWith("https:") });
    }
    jar.delete(SIGNIN_COOKIE);
    const res = NextResponse.redirect(new URL(pending.returnTo, cfg.webUrl), 303);
    res.headers.set("Cache-Control", "no-store");
    return res;
  } catch {
    return fail("token");
  }
}
