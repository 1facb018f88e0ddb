import "server-only";
import { api, must } from "./server";
import { getEvent } from "./events";
import type { BookingView, EventView } from "./types";

/** The buyer's bookings (newest first) with their events, each event read once. */
export async function myBookings(): Promise<{ booking: BookingView; event: EventView | null }[]> {
  const client = await api();
  const page = must(await client.GET("/v1/me/bookings", {
      // The newest 100 (the API's page maximum).
      params: { query: { limit: 100 } },
    }));
  const ids = [...new Set(page.items.map((b) => b.event_id))];
  const events = new Map(await Promise.all(ids.map(async (id) => [id, await getEvent(id).catch(() => null)] as const)));
  return page.items.map((booking) => ({ booking, event: events.get(booking.event_id) ?? null }));
}
