import { NextResponse, type NextRequest } from "next/server";
import { cookies } from "next/headers";
import { serverConfig } from "@/lib/config";
import { discover, revoke } from "@/lib/session/oidc";
import { isSameOriginMutation } from "@/lib/session/origin";
import { SESSION_COOKIE, clearChunks, readSession } from "@/lib/session/store";

/** Signs out: revokes the refresh token, forgets the session, then ends the issuer's session when it can. */
export async function POST(request: NextRequest) {
  const cfg = serverConfig();
  if (!isSameOriginMutation("POST", request.headers, [cfg.webUrl, request.nextUrl.origin])) {
    return NextResponse.json({ status: 403, code: "forbidden", title: "Cross-site request refused" }, { status: 403, headers: { "content-type": "application/problem+json" } });
  }
  const jar = await cookies();
  const session = await readSession(jar);
  clearChunks(jar, SESSION_COOKIE);
  let target = `${cfg.webUrl}/`;
  try {
    const d = await discover(cfg.issuer);
    if (session?.rt) await revoke(d, cfg.clientId, cfg.apiUrl, session.rt);
    if (d.end_session_endpoint) {
      const url = new URL(d.end_session_endpoint);
      url.searchParams.set("client_id", cfg.clientId);
      url.searchParams.set("post_logout_redirect_uri", `${cfg.webUrl}/`);
      if (session?.idt) url.searchParams.set("id_token_hint", session.idt);
      target = url.toString();
    }
  } catch {
    // The issuer is unreachable: the local session is gone all the same.
  }
  const res = NextResponse.redirect(target, 303);
  res.headers.set("Cache-Control", "no-store");
  return res;
}
