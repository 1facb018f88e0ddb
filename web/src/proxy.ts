import { NextResponse, type NextRequest } from "next/server";
import {
  SESSION_COOKIE,
  cookieOptions,
  readSession,
  writeSession,
  clearChunks,
  type CookieJar,
} from "@/lib/session/store";
import { discover, refreshTokens, toSession, TokenError } from "@/lib/session/oidc";
import { PATH_HEADER } from "@/lib/session/path";

/**
 * Renews the session before anything renders: when the access token is about to lapse, the
 * refresh token is exchanged here (the only place besides sign-in that writes the session), and
 * the new cookie is handed both to the page being rendered and to the browser.
 */
export async function proxy(request: NextRequest) {
  // Server components learn the page they render for (to come back to it after a new sign-in).
  const passOn = new Headers(request.headers);
  passOn.set(PATH_HEADER, request.nextUrl.pathname + request.nextUrl.search);

  const session = await readSession(request.cookies).catch(() => null);
  const now = Math.floor(Date.now() / 1000);
  if (!session || session.exp - 60 > now) return NextResponse.next({ request: { headers: passOn } });

  const webUrl = (process.env.WEB_URL ?? "http://localhost:3000").replace(/\/+$/, "");
  const apiUrl = (process.env.TICKETGW_API_URL ?? "http://127.0.0.1:8080").replace(/\/+$/, "");
  const issuer = (process.env.OIDC_ISSUER ?? apiUrl).replace(/\/+$/, "");
  const clientId = process.env.OIDC_CLIENT_ID ?? "ticketgw-web";

  // Collect what the response must set, and mirror it into the request the page sees.
  const sets: { name: string; value: string | null }[] = [];
  const jar: CookieJar = {
    get: (name) => request.cookies.get(name),
    set: (name, value) => {
      sets.push({ name, value });
      request.cookies.set(name, value);
    },
    delete: (name) => {
      sets.push({ name, value: null });
      request.cookies.delete(name);
    },
  };

  if (!session.rt) {
    clearChunks(jar, SESSION_COOKIE);
  } else {
    try {
      const d = await discover(issuer);
      const tokens = await refreshTokens(d, clientId, session.rt);
      await writeSession(jar, toSession(tokens, session.user, session), webUrl);
    } catch (e) {
      // A refused refresh token ends the session; an unreachable issuer keeps it for the next try.
      if (e instanceof TokenError && e.status >= 400 && e.status < 500) clearChunks(jar, SESSION_COOKIE);
      else return NextResponse.next({ request: { headers: passOn } });
    }
  }

  passOn.set("cookie", request.cookies.toString());
  const res = NextResponse.next({ request: { headers: passOn } });
  const opts = cookieOptions(webUrl, 60 * 60 * 24 * 30);
  for (const { name, value } of sets) {
    if (value === null) res.cookies.set(name, "", { ...opts, maxAge: 0 });
    else res.cookies.set(name, value, opts);
  }
  return res;
}

export const config = {
  matcher: ["/((?!_next/static|_next/image|icons/|sw\\.js|manifest\\.webmanifest|offline\\.html|favicon\\.ico|robots\\.txt).*)"],
};
