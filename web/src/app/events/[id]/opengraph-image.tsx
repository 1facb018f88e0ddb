import { ImageResponse } from "next/og";
import { getEvent } from "@/lib/api/events";
import { formatEventDate } from "@/lib/format";

export const size = { width: 1200, height: 630 };
export const contentType = "image/png";
export const alt = "Ticket Gateway event";

/** The event's share card: title, local date and place on the brand colour. */
export default async function Image({ params }: { params: Promise<{ id: string }> }) {
  const { id } = await params;
  const event = await getEvent(id);
  const title = event?.title ?? "Ticket Gateway";
  const when = event ? formatEventDate(event.starts_at, event.timezone, "en") : "";
  const where = event ? `${event.venue}, ${event.city}` : "";
  return new ImageResponse(
    (
      <div
        style={{
          width: "100%",
          height: "100%",
          display: "flex",
          flexDirection: "column",
          justifyContent: "space-between",
          padding: 72,
          background: "#4338ca",
          color: "#ffffff",
        }}
      >
        <div style={{ fontSize: 36, fontWeight: 700, opacity: 0.9 }}>Ticket Gateway</div>
        <div style={{ display: "flex", flexDirection: "column", gap: 16 }}>
          <div style={{ fontSize: 72, fontWeight: 800, lineHeight: 1.1 }}>{title}</div>
          <div style={{ fontSize: 36 }}>{when}</div>
          <div style={{ fontSize: 36 }}>{where}</div>
        </div>
      </div>
    ),
    size,
  );
}
