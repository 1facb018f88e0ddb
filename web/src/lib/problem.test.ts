import { describe, expect, it } from "vitest";
import { createTranslator } from "next-intl";
import en from "../../messages/en.json";
import de from "../../messages/de.json";
import { KNOWN_CODES, fieldErrors, normalizeProblem, problemFrom, problemMessage } from "./problem";

const tEn = createTranslator({ locale: "en", messages: en, namespace: "problems" }) as unknown as (k: string, v?: Record<string, string | number>) => string;
const tDe = createTranslator({ locale: "de", messages: de, namespace: "problems" }) as unknown as (k: string, v?: Record<string, string | number>) => string;

describe("problem mapping", () => {
  it("has an English and a German message for every known code", () => {
    for (const code of KNOWN_CODES) {
      expect((en.problems as Record<string, string>)[code], code).toBeTruthy();
      expect((de.problems as Record<string, string>)[code], code).toBeTruthy();
    }
  });

  it("maps the booking codes to human messages in both languages", () => {
    expect(problemMessage({ status: 409, code: "sold_out" }, tEn)).toMatch(/not enough tickets left/);
    expect(problemMessage({ status: 409, code: "sold_out" }, tDe)).toMatch(/nicht mehr genug Tickets/);
    expect(problemMessage({ status: 409, code: "hold_limit_reached" }, tEn)).toMatch(/already hold/);
    expect(problemMessage({ status: 400, code: "invalid_token" }, tDe)).toMatch(/ungültig oder abgelaufen/);
  });

  it("counts down rate_limited with the seconds left", () => {
    const p = { status: 429, code: "rate_limited", retryAfter: 30 };
    expect(problemMessage(p, tEn)).toBe("Too many attempts. You can try again in 30 seconds.");
    expect(problemMessage(p, tEn, 1)).toBe("Too many attempts. You can try again in 1 second.");
    expect(problemMessage(p, tDe, 5)).toContain("5 Sekunden");
    expect(problemMessage({ status: 429, code: "rate_limited" }, tEn)).toBe(en.problems.rate_limited);
  });

  it("gives unknown codes the generic message with the server's detail", () => {
    expect(problemMessage({ status: 409, code: "brand_new_code", detail: "the moon is full" }, tEn)).toBe(
      "Something went wrong: the moon is full",
    );
    expect(problemMessage({ status: 409, code: "brand_new_code" }, tDe)).toBe(de.problems.unknown);
  });

  it("reads problem+json with Retry-After and per-field errors", async () => {
    const res = new Response(
      JSON.stringify({ type: "about:blank", title: "Invalid", status: 422, code: "validation_failed", errors: [{ field: "email", message: "not an email" }] }),
      { status: 422, headers: { "content-type": "application/problem+json", "retry-after": "7" } },
    );
    const p = await problemFrom(res);
    expect(p).toMatchObject({ status: 422, code: "validation_failed", retryAfter: 7 });
    expect(fieldErrors(p)).toEqual({ email: "not an email" });
  });

  it("derives a code when the body has none", () => {
    expect(normalizeProblem(null, 401).code).toBe("unauthorized");
    expect(normalizeProblem("<html>", 503).code).toBe("overloaded");
    expect(normalizeProblem({}, 500).code).toBe("internal_error");
    expect(normalizeProblem({ code: "service_unavailable" }, 503, 1).code).toBe("overloaded");
  });
});
