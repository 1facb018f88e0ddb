import type { TicketTypeView } from "@/lib/api/types";

export type SaleState = "on_sale" | "sold_out" | "not_yet" | "ended";

/** Where a ticket type stands at `now`: the sales window first, then what is left. */
export function saleState(tt: Pick<TicketTypeView, "available" | "sales_start" | "sales_end">, now: number): SaleState {
  if (tt.sales_start && Date.parse(tt.sales_start) > now) return "not_yet";
  if (tt.sales_end && Date.parse(tt.sales_end) <= now) return "ended";
  if (tt.available <= 0) return "sold_out";
  return "on_sale";
}

/** Most one order may take of this type right now. */
export function maxOrder(tt: Pick<TicketTypeView, "available" | "max_per_order" | "sales_start" | "sales_end">, now: number): number {
  return saleState(tt, now) === "on_sale" ? Math.max(0, Math.min(tt.max_per_order, tt.available)) : 0;
}

/** `sel` in the URL: "ticketTypeId:2,otherId:1" (kept across sign-in). */
export function parseSelection(sel: string | undefined | null): Record<string, number> {
  const out: Record<string, number> = {};
  for (const part of (sel ?? "").split(",")) {
    const [id, n] = part.split(":");
    const q = Number(n);
    if (id && /^[0-9a-f-]{36}$/i.test(id) && Number.isInteger(q) && q > 0 && q <= 100) out[id] = q;
  }
  return out;
}

export function formatSelection(sel: Record<string, number>): string {
  return Object.entries(sel)
    .filter(([, n]) => n > 0)
    .map(([id, n]) => `${id}:${n}`)
    .join(",");
}
