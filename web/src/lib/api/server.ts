import "server-only";
import createClient from "openapi-fetch";
import type { paths } from "./schema";
import { serverConfig } from "@/lib/config";
import { getAccessToken } from "@/lib/session/server";
import { normalizeProblem, type Problem } from "@/lib/problem";
import { headers } from "next/headers";
import { redirect } from "next/navigation";
import { PATH_HEADER } from "@/lib/session/path";
import { safeReturnTo } from "@/lib/session/pkce";

/**
 * The platform's API for server components: typed from the generated schema, with the
 * session's token when there is one. Screens never build URLs or parse problems by hand.
 */
export async function api(opts: { auth?: boolean } = {}) {
  const cfg = serverConfig();
  const token = opts.auth === false ? null : await getAccessToken();
  const client = createClient<paths>({
    baseUrl: cfg.apiUrl,
    headers: token ? { authorization: `Bearer ${token}` } : {},
    cache: "no-store",
  });
  if (token) {
    // The platform refused a token the session still held (revoked, account suspended):
    // sign in again and come back to this page.
    const back = safeReturnTo((await headers()).get(PATH_HEADER));
    client.use({
      onResponse({ response }) {
        if (response.status === 401) redirect(`/auth/signin?returnTo=${encodeURIComponent(back)}`);
        return undefined;
      },
    });
  }
  return client;
}

export class ApiProblem extends Error {
  constructor(readonly problem: Problem) {
    super(`${problem.status} ${problem.code}`);
  }
}

/** Unwraps an openapi-fetch result: the data, or an ApiProblem carrying the problem+json. */
export function must<T>(r: { data?: T; error?: unknown; response: Response }): T {
  if (r.data !== undefined && r.response.ok) return r.data;
  throw new ApiProblem(normalizeProblem(r.error, r.response.status));
}
