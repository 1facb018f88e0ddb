import "server-only";
import { api, must } from "./server";
import { getEvent } from "./events";
import type { BookingView, EventView } from "./types";

/** The buyer's bookings (newest first) with their events, each event read once. */
export async function myBookings(): Promise<{ booking: BookingView; event: EventView | null }[]> {
  const client = await api();
  const page = must(await client.GET("/v1/me/bookings", {
      // The platform's document lists limit/cursor as path parameters (a backend documentation
      // bug); nothing is substituted, so the first page (20, newest first) is read.
      params: { path: { limit: null, cursor: null } },
    }));
  const ids = [...new Set(page.items.map((b) => b.event_id))];
  const events = new Map(await Promise.all(ids.map(async (id) => [id, await getEvent(id).catch(() => null)] as const)));
  return page.items.map((booking) => ({ booking, event: events.get(booking.event_id) ?? null }));
}
