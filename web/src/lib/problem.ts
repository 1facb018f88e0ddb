import { parseRetryAfter } from "./retry";

/** An RFC 9457 problem as the platform sends it, plus what the web app adds (Retry-After, offline). */
export interface Problem {
  status: number;
  code: string;
  title?: string;
  detail?: string;
  errors?: { field: string; message: string }[];
  /** Seconds from the Retry-After header. */
  retryAfter?: number | null;
}

/** Codes with a message of their own in both languages (messages `problems.<code>`). */
export const KNOWN_CODES = [
  "sold_out",
  "hold_limit_reached",
  "sales_not_started",
  "sales_ended",
  "event_cancelled",
  "event_started",
  "event_ended",
  "rate_limited",
  "overloaded",
  "validation_failed",
  "invalid_token",
  "unauthorized",
  "forbidden",
  "not_found",
  "payment_failed",
  "payments_off",
  "payments_unavailable",
  "payment_not_open",
  "payment_disputed",
  "already_paid",
  "not_paid",
  "booking_expired",
  "booking_cancelled",
  "booking_refunded",
  "refund_not_allowed",
  "already_refunded",
  "price_changed",
  "captcha_failed",
  "account_suspended",
  "email_taken",
  "invalid_credentials",
  "offline",
  "network",
  "service_unavailable",
  "internal_error",
] as const;
export type KnownCode = (typeof KNOWN_CODES)[number];

export function isKnownCode(code: string): code is KnownCode {
  return (KNOWN_CODES as readonly string[]).includes(code);
}

/** Reads a problem from a non-2xx response; anything that is not problem+json still becomes a Problem. */
export async function problemFrom(res: Response): Promise<Problem> {
  const retryAfter = parseRetryAfter(res.headers.get("retry-after"));
  let body: Record<string, unknown> = {};
  try {
    body = (await res.json()) as Record<string, unknown>;
  } catch {
    // not JSON: keep the status
  }
  return normalizeProblem(body, res.status, retryAfter);
}

export function normalizeProblem(body: unknown, status: number, retryAfter: number | null = null): Problem {
  const b = (body && typeof body === "object" ? body : {}) as Record<string, unknown>;
  let code = typeof b.code === "string" ? b.code : "";
  if (!code) code = status === 401 ? "unauthorized" : status === 429 ? "rate_limited" : status === 503 ? "overloaded" : status >= 500 ? "internal_error" : "unknown";
  if (code === "service_unavailable" && status === 503 && retryAfter !== null) code = "overloaded";
  const errors = Array.isArray(b.errors)
    ? b.errors
        .filter((e): e is { field: string; message: string } => !!e && typeof e === "object" && typeof (e as { field?: unknown }).field === "string")
        .map((e) => ({ field: e.field, message: String(e.message ?? "") }))
    : undefined;
  return {
    status,
    code,
    title: typeof b.title === "string" ? b.title : undefined,
    detail: typeof b.detail === "string" ? b.detail : undefined,
    errors,
    retryAfter,
  };
}

/** A fetch that failed before any answer: offline or unreachable. */
export function networkProblem(): Problem {
  const offline = typeof navigator !== "undefined" && navigator.onLine === false;
  return { status: 0, code: offline ? "offline" : "network" };
}

export type Translate = (key: string, values?: Record<string, string | number>) => string;

/**
 * The one place a problem becomes words. `t` is next-intl's translator for the `problems`
 * namespace. Unknown codes get the generic message with the server's `detail`.
 */
export function problemMessage(p: Problem, t: Translate, secondsLeft?: number): string {
  if (p.code === "rate_limited") {
    const s = secondsLeft ?? p.retryAfter ?? null;
    return s && s > 0 ? t("rate_limited_wait", { seconds: s }) : t("rate_limited");
  }
  if (isKnownCode(p.code)) return t(p.code);
  return p.detail ? t("unknown_detail", { detail: p.detail }) : t("unknown");
}

/** Per-field messages of a `validation_failed` problem, keyed by field name. */
export function fieldErrors(p: Problem | null | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of p?.errors ?? []) if (!out[e.field]) out[e.field] = e.message;
  return out;
}
