import Link from "next/link";
import { getLocale, getTranslations } from "next-intl/server";
import { requireSession } from "@/lib/auth";
import { myBookings } from "@/lib/api/mine";
import { api, must } from "@/lib/api/server";
import { formatEventDate } from "@/lib/format";
import { TicketList } from "@/components/TicketList";
import { requestTime } from "@/lib/clock";

export async function generateMetadata() {
  const t = await getTranslations("tickets");
  return { title: t("title"), robots: { index: false } };
}

/** Every ticket of the buyer's confirmed bookings, grouped by event (the service worker keeps a copy for offline). */
export default async function MyTickets() {
  await requireSession("/me/tickets");
  const t = await getTranslations("tickets");
  const locale = await getLocale();
  const client = await api();
  const now = requestTime();
  const confirmed = (await myBookings()).filter((r) => r.booking.status === "confirmed");
  const groups = await Promise.all(
    confirmed.map(async (r) => ({
      ...r,
      tickets: must(await client.GET("/v1/bookings/{id}/tickets", { params: { path: { id: r.booking.id } } })).items,
    })),
  );
  return (
    <div className="mx-auto max-w-2xl space-y-6" data-offline-page="tickets">
      <header className="space-y-1">
        <h1 className="text-3xl font-bold tracking-tight">{t("title")}</h1>
        <p className="text-ink-muted">{t("lead")}</p>
      </header>
      {groups.length === 0 ? (
        <div className="card p-8 text-center">
          <p className="text-lg font-semibold">{t("empty")}</p>
          <p className="mt-1 text-ink-muted">{t("emptyBody")}</p>
          <Link href="/" className="btn-primary mt-4">
            {t("browse")}
          </Link>
        </div>
      ) : (
        groups.map((g) => (
          <section key={g.booking.id} aria-label={g.event?.title ?? g.booking.id} className="space-y-3">
            <div className="card p-4">
              <h2 className="text-xl font-semibold">
                <Link href={`/bookings/${g.booking.id}`} className="text-brand-700 underline-offset-4 hover:underline">
                  {g.event?.title ?? g.booking.id}
                </Link>
              </h2>
              {g.event && (
                <p className="text-sm text-ink-muted">
                  <time dateTime={g.event.starts_at}>{formatEventDate(g.event.starts_at, g.event.timezone, locale)}</time> · {g.event.venue},{" "}
                  {g.event.city}
                </p>
              )}
            </div>
            <TicketList tickets={g.tickets} event={g.event} now={now} heading={false} />
          </section>
        ))
      )}
    </div>
  );
}
