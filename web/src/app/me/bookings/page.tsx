import Link from "next/link";
import { getLocale, getTranslations } from "next-intl/server";
import { requireSession } from "@/lib/auth";
import { myBookings } from "@/lib/api/mine";
import { formatEventDate, formatMoney } from "@/lib/format";
import { StatusBadge } from "@/components/StatusBadge";

export async function generateMetadata() {
  const t = await getTranslations("bookings");
  return { title: t("title"), robots: { index: false } };
}

export default async function MyBookings() {
  await requireSession("/me/bookings");
  const t = await getTranslations("bookings");
  const tt = await getTranslations("tickets");
  const locale = await getLocale();
  const rows = await myBookings();
  return (
    <div className="space-y-6">
      <h1 className="text-3xl font-bold tracking-tight">{t("title")}</h1>
      {rows.length === 0 ? (
        <div className="card p-8 text-center">
          <p className="text-lg font-semibold">{t("empty")}</p>
          <p className="mt-1 text-ink-muted">{t("emptyBody")}</p>
          <Link href="/" className="btn-primary mt-4">
            {tt("browse")}
          </Link>
        </div>
      ) : (
        <ul className="space-y-3" role="list">
          {rows.map(({ booking, event }) => (
            <li key={booking.id} className="card relative flex flex-wrap items-center justify-between gap-3 p-4 focus-within:ring-2 focus-within:ring-brand-600">
              <div className="min-w-0">
                <h2 className="font-semibold">
                  <Link href={`/bookings/${booking.id}`} className="outline-none after:absolute after:inset-0 after:content-['']">
                    {event?.title ?? booking.event_id}
                  </Link>
                </h2>
                {event && (
                  <p className="text-sm text-ink-muted">
                    <time dateTime={event.starts_at}>{formatEventDate(event.starts_at, event.timezone, locale)}</time> · {event.city}
                  </p>
                )}
                <p className="text-sm text-ink-muted">
                  {t("quantity", { count: booking.quantity })} · {formatMoney(booking.total_cents, booking.currency, locale)}
                </p>
              </div>
              <StatusBadge status={booking.status} />
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
