import { NextResponse, type NextRequest } from "next/server";
import { cookies } from "next/headers";
import { serverConfig } from "@/lib/config";
import { isSameOriginMutation } from "@/lib/session/origin";
import { getAccessToken } from "@/lib/session/server";
import { LOCALE_COOKIE } from "@/lib/session/store";
import { isLocale } from "@/i18n/locales";

/** The language switcher: a cookie for the site, and the profile's language when signed in. */
export async function POST(request: NextRequest) {
  const cfg = serverConfig();
  if (!isSameOriginMutation("POST", request.headers, [cfg.webUrl, request.nextUrl.origin])) {
    return NextResponse.json({ status: 403, code: "forbidden" }, { status: 403, headers: { "content-type": "application/problem+json" } });
  }
  const body = (await request.json().catch(() => null)) as { locale?: unknown } | null;
  if (!isLocale(body?.locale)) {
    return NextResponse.json(
      { status: 422, code: "validation_failed", title: "Invalid language", errors: [{ field: "locale", message: "must be en or de" }] },
      { status: 422, headers: { "content-type": "application/problem+json" } },
    );
  }
  (await cookies()).set(LOCALE_COOKIE, body.locale, {
    path: "/",
    sameSite: "lax",
    maxAge: 60 * 60 * 24 * 365,
    secure: cfg.webUrl.startsWith("https:"),
  });
  const token = await getAccessToken();
  if (token) {
    await fetch(`${cfg.apiUrl}/v1/me`, {
      method: "PATCH",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ language: body.locale }),
      cache: "no-store",
    }).catch(() => undefined);
  }
  return new NextResponse(null, { status: 204 });
}
