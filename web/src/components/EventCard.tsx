import Link from "next/link";
import { useLocale, useTranslations } from "next-intl";
import type { EventView } from "@/lib/api/types";
import { formatDay, formatEventDate, formatMoney } from "@/lib/format";

/** One event in a list: date in the event's own zone, place, the lowest price, sold out. Works on server and client. */
export function EventCard({ event }: { event: EventView }) {
  const t = useTranslations("home");
  const locale = useLocale();
  const types = event.ticket_types ?? [];
  const soldOut = types.length > 0 && types.every((tt) => tt.available <= 0);
  const cheapest = types.reduce<(typeof types)[number] | null>((m, tt) => (m === null || tt.price_cents < m.price_cents ? tt : m), null);
  const { day, month } = formatDay(event.starts_at, event.timezone, locale);
  const category = t.has(`categories.${event.category}`) ? t(`categories.${event.category}`) : event.category;
  return (
    <article className="card group relative flex gap-4 p-4 transition-shadow hover:shadow-md focus-within:ring-2 focus-within:ring-brand-600">
      <div aria-hidden="true" className="flex w-14 shrink-0 flex-col items-center justify-center rounded-xl bg-brand-50 py-2 text-brand-700">
        <span className="text-xs font-semibold uppercase">{month}</span>
        <span className="text-2xl font-bold leading-none">{day}</span>
      </div>
      <div className="min-w-0 flex-1">
        <p className="text-xs font-semibold uppercase tracking-wide text-brand-700">{category}</p>
        <h3 className="mt-0.5 text-lg font-semibold leading-snug text-ink">
          <Link href={`/events/${event.id}`} className="outline-none after:absolute after:inset-0 after:content-['']">
            {event.title}
          </Link>
        </h3>
        <p className="mt-1 text-sm text-ink-muted">
          <time dateTime={event.starts_at}>{formatEventDate(event.starts_at, event.timezone, locale)}</time>
        </p>
        <p className="text-sm text-ink-muted">
          {event.venue}, {event.city}
        </p>
        <div className="mt-2 flex flex-wrap items-center gap-2">
          {soldOut ? (
            <span className="rounded-full bg-bad-bg px-2.5 py-1 text-xs font-semibold text-bad">{t("soldOut")}</span>
          ) : cheapest ? (
            <span className="text-sm font-semibold text-ink">
              {cheapest.price_cents === 0 ? t("free") : t("from_price", { price: formatMoney(cheapest.price_cents, cheapest.currency, locale) })}
            </span>
          ) : null}
        </div>
      </div>
    </article>
  );
}
