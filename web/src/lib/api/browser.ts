"use client";
import createClient from "openapi-fetch";
import type { paths } from "./schema";
import { withRetry } from "@/lib/retry";
import { networkProblem, normalizeProblem, type Problem } from "@/lib/problem";

/**
 * The platform's API from the browser: through the web server's proxy (/api/v1/...), which adds
 * the session's token, so the browser never holds one. A 503 (`overloaded`) is retried a few
 * times with exponential backoff and jitter (the same Idempotency-Key each time).
 */
export const browserApi = createClient<paths>({
  baseUrl: typeof window === "undefined" ? "http://localhost/api" : `${window.location.origin}/api`,
  credentials: "same-origin",
  fetch: (req: Request) =>
    withRetry(() => globalThis.fetch(req.clone()), {
      onRetry: (attempt) => window.dispatchEvent(new CustomEvent(RETRYING_EVENT, { detail: { attempt, path: new URL(req.url).pathname } })),
    }),
});

/** Dispatched on window while an overloaded request waits for its next try (screens may say so). */
export const RETRYING_EVENT = "tg:retrying";

export type Result<T> = { ok: true; data: T; response: Response } | { ok: false; problem: Problem };

/** Runs a browser API call and turns every failure (problem+json, network) into a Problem. */
export async function call<T>(run: () => Promise<{ data?: T; error?: unknown; response: Response }>): Promise<Result<T>> {
  try {
    const r = await run();
    if (r.response.ok) return { ok: true, data: r.data as T, response: r.response };
    const ra = r.response.headers.get("retry-after");
    return {
      ok: false,
      problem: normalizeProblem(r.error, r.response.status, ra && /^\d+$/.test(ra) ? Number(ra) : null),
    };
  } catch {
    return { ok: false, problem: networkProblem() };
  }
}

export function idempotencyKey(): string {
  return crypto.randomUUID();
}
