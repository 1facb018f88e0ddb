/**
 * Cross-site request check for state-changing requests reaching the BFF: the browser's
 * Origin (or, lacking it, Sec-Fetch-Site) must say the request comes from this site.
 */
export function isSameOriginMutation(
  method: string,
  headers: { get(name: string): string | null },
  allowedOrigins: string[],
): boolean {
  const m = method.toUpperCase();
  if (m === "GET" || m === "HEAD" || m === "OPTIONS") return true;
  const origin = headers.get("origin");
  if (origin) return allowedOrigins.includes(origin);
  const site = headers.get("sec-fetch-site");
  if (site) return site === "same-origin";
  // Neither header: not a browser form or fetch (browsers send Origin on every non-GET fetch and form post).
  return false;
}
