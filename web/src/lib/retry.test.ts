import { describe, expect, it, vi } from "vitest";
import { backoffDelay, parseRetryAfter, withRetry } from "./retry";

const overloaded = (ra?: string) =>
  new Response(JSON.stringify({ status: 503, code: "overloaded" }), { status: 503, headers: ra ? { "retry-after": ra } : {} });

describe("backoff", () => {
  it("grows exponentially, capped, with full jitter", () => {
    expect(backoffDelay(0, { baseMs: 100, random: () => 1 })).toBe(100);
    expect(backoffDelay(3, { baseMs: 100, random: () => 1 })).toBe(800);
    expect(backoffDelay(10, { baseMs: 100, capMs: 2000, random: () => 1 })).toBe(2000);
    expect(backoffDelay(3, { baseMs: 100, random: () => 0.5 })).toBe(400);
    expect(backoffDelay(3, { baseMs: 100, random: () => 0 })).toBe(0);
    expect(backoffDelay(0, { baseMs: 100, random: () => 0, minMs: 1000 })).toBe(1000);
  });

  it("reads Retry-After as seconds or an HTTP date", () => {
    expect(parseRetryAfter("3")).toBe(3);
    expect(parseRetryAfter(new Date(Date.now() + 4000).toUTCString())).toBeGreaterThanOrEqual(3);
    expect(parseRetryAfter("soon")).toBeNull();
    expect(parseRetryAfter(null)).toBeNull();
  });
});

describe("withRetry", () => {
  it("retries 503 a few times, waiting at least Retry-After, then succeeds", async () => {
    const sleep = vi.fn(async () => undefined);
    const attempt = vi
      .fn<() => Promise<Response>>()
      .mockResolvedValueOnce(overloaded("1"))
      .mockResolvedValueOnce(overloaded())
      .mockResolvedValueOnce(new Response("{}", { status: 201 }));
    const res = await withRetry(attempt, { sleep, random: () => 0 });
    expect(res.status).toBe(201);
    expect(attempt).toHaveBeenCalledTimes(3);
    expect(sleep.mock.calls.map((c) => (c as unknown as [number])[0])).toEqual([1000, 0]);
  });

  it("gives up after the last retry and returns the refusal for the message", async () => {
    const attempt = vi.fn(async () => overloaded());
    const res = await withRetry(attempt, { retries: 3, sleep: async () => undefined });
    expect(res.status).toBe(503);
    expect(attempt).toHaveBeenCalledTimes(4);
  });

  it("never retries other failures (a 409 is an answer)", async () => {
    const attempt = vi.fn(async () => new Response("{}", { status: 409 }));
    await withRetry(attempt, { sleep: async () => undefined });
    expect(attempt).toHaveBeenCalledTimes(1);
  });
});

describe("withRetry onRetry", () => {
  it("tells the screen before each wait", async () => {
    const seen: number[] = [];
    const attempt = vi.fn<() => Promise<Response>>().mockResolvedValueOnce(overloaded()).mockResolvedValueOnce(overloaded()).mockResolvedValueOnce(new Response("{}", { status: 200 }));
    await withRetry(attempt, { sleep: async () => undefined, onRetry: (n) => seen.push(n) });
    expect(seen).toEqual([1, 2]);
  });
});
