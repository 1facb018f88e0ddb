import { NextResponse, type NextRequest } from "next/server";
import { serverConfig } from "@/lib/config";
import { discover } from "@/lib/session/oidc";
import { pkceChallenge, randomToken, safeReturnTo } from "@/lib/session/pkce";
import { SIGNIN_COOKIE, cookieOptions, sealPending } from "@/lib/session/store";
import { currentLocale } from "@/i18n/request";

/** Starts OIDC Authorization Code + PKCE: the verifier, state and nonce stay in a sealed 10-minute cookie. */
export async function GET(request: NextRequest) {
  const cfg = serverConfig();
  const returnTo = safeReturnTo(request.nextUrl.searchParams.get("returnTo"));
  let d;
  try {
    d = await discover(cfg.issuer);
  } catch {
    return NextResponse.redirect(new URL("/auth/failed?reason=unavailable", cfg.webUrl), 303);
  }
  const verifier = randomToken(32);
  const state = randomToken(16);
  const nonce = randomToken(16);
  const url = new URL(d.authorization_endpoint);
  url.search = new URLSearchParams({
    response_type: "code",
    client_id: cfg.clientId,
    redirect_uri: `${cfg.webUrl}/auth/callback`,
    scope: cfg.scopes,
    state,
    nonce,
    code_challenge: await pkceChallenge(verifier),
    code_challenge_method: "S256",
    ui_locales: await currentLocale(),
  }).toString();
  const res = NextResponse.redirect(url, 303);
  res.cookies.set(
    SIGNIN_COOKIE,
    await sealPending({ state, nonce, verifier, returnTo, created: Date.now() }),
    cookieOptions(cfg.webUrl, 600),
  );
  res.headers.set("Cache-Control", "no-store");
  return res;
}
