import { type NextRequest } from "next/server";
import { serverConfig } from "@/lib/config";
import { getAccessToken } from "@/lib/session/server";
import { isSameOriginMutation } from "@/lib/session/origin";

/**
 * The browser's only way to the platform's API: /api/v1/... -> ${TICKETGW_API_URL}/v1/...,
 * with the session's access token added on the server. Cross-site mutations are refused.
 */
const FORWARD_REQUEST = ["accept", "accept-language", "content-type", "idempotency-key", "if-none-match"];
const FORWARD_RESPONSE = [
  "content-type",
  "content-disposition",
  "cache-control",
  "etag",
  "retry-after",
  "idempotent-replayed",
  "x-request-id",
  "location",
];

function problem(status: number, code: string, title: string) {
  return new Response(JSON.stringify({ type: "about:blank", status, code, title }), {
    status,
    headers: { "content-type": "application/problem+json", "cache-control": "no-store" },
  });
}

async function forward(request: NextRequest, ctx: { params: Promise<{ path: string[] }> }) {
  const cfg = serverConfig();
  if (!isSameOriginMutation(request.method, request.headers, [cfg.webUrl, request.nextUrl.origin])) {
    return problem(403, "forbidden", "Cross-site request refused");
  }
  const { path } = await ctx.params;
  if (path.some((p) => p === ".." || p === "." || p.includes("/"))) return problem(404, "not_found", "Not found");
  const target = `${cfg.apiUrl}/v1/${path.map(encodeURIComponent).join("/")}${request.nextUrl.search}`;

  const headers = new Headers();
  for (const h of FORWARD_REQUEST) {
    const v = request.headers.get(h);
    if (v) headers.set(h, v);
  }
  const token = await getAccessToken();
  if (token) headers.set("authorization", `Bearer ${token}`);
  const fwd = request.headers.get("x-forwarded-for");
  if (fwd) headers.set("x-forwarded-for", fwd);

  const hasBody = !["GET", "HEAD"].includes(request.method);
  let upstream: Response;
  try {
    upstream = await fetch(target, {
      method: request.method,
      headers,
      body: hasBody ? await request.arrayBuffer() : undefined,
      cache: "no-store",
      redirect: "manual",
    });
  } catch {
    return problem(502, "network", "The platform did not answer");
  }
  const out = new Headers();
  for (const h of FORWARD_RESPONSE) {
    const v = upstream.headers.get(h);
    if (v) out.set(h, v);
  }
  // Personal answers are never kept by shared caches.
  if (token) out.set("cache-control", upstream.headers.get("cache-control") ?? "private, no-store");
  out.set("vary", "Cookie");
  return new Response(upstream.body, { status: upstream.status, headers: out });
}

export const GET = forward;
export const POST = forward;
export const PATCH = forward;
export const PUT = forward;
export const DELETE = forward;
export const dynamic = "force-dynamic";
