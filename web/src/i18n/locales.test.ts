import { describe, expect, it } from "vitest";
import { negotiate } from "./locales";
import { apiFilters } from "@/lib/filters";

describe("language from Accept-Language", () => {
  it("takes the best supported language by q-value, else English", () => {
    expect(negotiate("de-DE,de;q=0.9,en;q=0.8")).toBe("de");
    expect(negotiate("fr-FR,fr;q=0.9,de;q=0.5,en;q=0.4")).toBe("de");
    expect(negotiate("en;q=0.2,de;q=0.8")).toBe("de");
    expect(negotiate("fr")).toBe("en");
    expect(negotiate("de;q=0")).toBe("en");
    expect(negotiate(null)).toBe("en");
  });
});

describe("discovery filters", () => {
  it("turns date inputs into the API's RFC 3339 bounds and drops junk", () => {
    expect(apiFilters({ q: "jazz", from: "2027-01-02", to: "2027-01-31" })).toEqual({
      q: "jazz",
      city: undefined,
      category: undefined,
      from: "2027-01-02T00:00:00Z",
      to: "2027-01-31T23:59:59Z",
    });
    expect(apiFilters({ from: "tomorrow" }).from).toBeUndefined();
  });
});
