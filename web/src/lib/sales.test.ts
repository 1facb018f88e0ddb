import { describe, expect, it } from "vitest";
import { formatSelection, maxOrder, parseSelection, saleState } from "./sales";

const now = Date.parse("2030-01-01T12:00:00Z");
const tt = { available: 5, max_per_order: 4, sales_start: null, sales_end: null };

describe("sales window and availability", () => {
  it("knows each state", () => {
    expect(saleState(tt, now)).toBe("on_sale");
    expect(saleState({ ...tt, available: 0 }, now)).toBe("sold_out");
    expect(saleState({ ...tt, sales_start: "2030-01-02T00:00:00Z" }, now)).toBe("not_yet");
    expect(saleState({ ...tt, sales_end: "2030-01-01T11:00:00Z" }, now)).toBe("ended");
  });
  it("caps an order at max_per_order and what is left", () => {
    expect(maxOrder(tt, now)).toBe(4);
    expect(maxOrder({ ...tt, available: 2 }, now)).toBe(2);
    expect(maxOrder({ ...tt, sales_end: "2029-01-01T00:00:00Z" }, now)).toBe(0);
  });
  it("keeps a selection across sign-in in the URL, ignoring junk", () => {
    const id = "0b7f1a52-2d2e-4b8e-9a59-1f3c3c1b2a10";
    expect(parseSelection(formatSelection({ [id]: 2, other: 0 }))).toEqual({ [id]: 2 });
    expect(parseSelection("x:1,<script>:2")).toEqual({});
  });
});
