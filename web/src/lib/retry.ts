/** Exponential backoff with full jitter: random in [0, min(cap, base * 2^attempt)], never below a server's Retry-After. */
export function backoffDelay(attempt: number, opts: { baseMs?: number; capMs?: number; random?: () => number; minMs?: number } = {}): number {
  const base = opts.baseMs ?? 400;
  const cap = opts.capMs ?? 8000;
  const rnd = opts.random ?? Math.random;
  const ceiling = Math.min(cap, base * 2 ** attempt);
  return Math.max(opts.minMs ?? 0, Math.round(rnd() * ceiling));
}

/** Seconds from a Retry-After header (delta-seconds or an HTTP date); null when absent or unreadable. */
export function parseRetryAfter(value: string | null | undefined, now = Date.now()): number | null {
  if (!value) return null;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v);
  const at = Date.parse(v);
  if (Number.isNaN(at)) return null;
  return Math.max(0, Math.ceil((at - now) / 1000));
}

export interface RetryOptions {
  retries?: number;
  baseMs?: number;
  capMs?: number;
  random?: () => number;
  sleep?: (ms: number) => Promise<void>;
  /** Whether this response is worth another try (default: 503 overloaded). */
  retryable?: (res: Response) => boolean;
  /** Told before each wait, with the attempt number (from 1) and the wait in ms. */
  onRetry?: (attempt: number, waitMs: number) => void;
}

export const isOverloaded = (res: Response) => res.status === 503;

/**
 * Calls `attempt` again while the answer is retryable (503 `overloaded` by default), a few
 * times, waiting with exponential backoff and jitter (at least Retry-After). Returns the last
 * response either way, so the caller shows the message when all tries were refused.
 */
export async function withRetry(attempt: () => Promise<Response>, opts: RetryOptions = {}): Promise<Response> {
  const retries = opts.retries ?? 4;
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const retryable = opts.retryable ?? isOverloaded;
  let res = await attempt();
  for (let i = 0; i < retries && retryable(res); i++) {
    const ra = parseRetryAfter(res.headers.get("retry-after"));
    const wait = backoffDelay(i, { baseMs: opts.baseMs, capMs: opts.capMs, random: opts.random, minMs: ra ? ra * 1000 : 0 });
    opts.onRetry?.(i + 1, wait);
    await sleep(wait);
    res = await attempt();
  }
  return res;
}
