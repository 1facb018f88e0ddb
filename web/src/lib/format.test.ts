import { describe, expect, it } from "vitest";
import { formatClock, formatEventDate, formatMoney } from "./format";

const nbsp = (s: string) => s.replace(/\u00a0|\u202f/g, " ");

describe("money from minor units", () => {
  it("uses the currency's own decimals", () => {
    expect(nbsp(formatMoney(3500, "EUR", "en"))).toBe("€35.00");
    expect(nbsp(formatMoney(3500, "EUR", "de"))).toBe("35,00 €");
    expect(nbsp(formatMoney(3500, "JPY", "en"))).toBe("¥3,500");
    expect(nbsp(formatMoney(1234, "KWD", "en"))).toBe("KWD 1.234");
    expect(nbsp(formatMoney(0, "USD", "en"))).toBe("$0.00");
  });
});

describe("dates in the event's time zone", () => {
  const iso = "2027-06-01T16:00:00Z";
  it("shows the venue's local time, not the reader's", () => {
    expect(formatEventDate(iso, "Europe/Berlin", "en")).toContain("06:00 PM".replace("06", "06"));
    expect(formatEventDate(iso, "Europe/Berlin", "de")).toContain("18:00");
    expect(formatEventDate(iso, "Asia/Tokyo", "de")).toContain("01:00");
    expect(formatEventDate(iso, "Asia/Tokyo", "de")).toContain("2. Juni");
  });
});

describe("countdown clock", () => {
  it("formats m:ss and h:mm:ss, never negative", () => {
    expect(formatClock(600_000)).toBe("10:00");
    expect(formatClock(59_001)).toBe("1:00");
    expect(formatClock(9_000)).toBe("0:09");
    expect(formatClock(3_725_000)).toBe("1:02:05");
    expect(formatClock(-5)).toBe("0:00");
  });
});
