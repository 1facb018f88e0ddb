import type { Metadata } from "next";
import { notFound } from "next/navigation";
import { getLocale, getTranslations } from "next-intl/server";
import { getEvent } from "@/lib/api/events";
import { getSession } from "@/lib/session/server";
import { formatEventDate, formatTime } from "@/lib/format";
import { parseSelection, saleState } from "@/lib/sales";
import { TicketPicker } from "@/components/TicketPicker";
import { requestTime } from "@/lib/clock";

type Props = { params: Promise<{ id: string }>; searchParams: Promise<Record<string, string | string[] | undefined>> };

export async function generateMetadata({ params }: Props): Promise<Metadata> {
  const { id } = await params;
  const event = await getEvent(id);
  if (!event) return {};
  const locale = await getLocale();
  const when = formatEventDate(event.starts_at, event.timezone, locale);
  const description = `${when} · ${event.venue}, ${event.city}. ${event.description}`.slice(0, 200);
  return {
    title: event.title,
    description,
    alternates: { canonical: `/events/${event.id}` },
    openGraph: {
      type: "website",
      title: event.title,
      description,
      url: `/events/${event.id}`,
      siteName: "Ticket Gateway",
      // The organiser's picture when there is one, else the generated card (opengraph-image.tsx).
      images: [{ url: event.image_url ?? `/events/${event.id}/opengraph-image`, width: event.image_url ? undefined : 1200, height: event.image_url ? undefined : 630, alt: event.title }],
    },
    twitter: { card: "summary_large_image", title: event.title, description },
  };
}

/** schema.org Event with one Offer per ticket type. */
function jsonLd(event: NonNullable<Awaited<ReturnType<typeof getEvent>>>, webUrl: string, now: number) {
  const digits = (c: string) => new Intl.NumberFormat("en", { style: "currency", currency: c }).resolvedOptions().maximumFractionDigits ?? 2;
  return {
    "@context": "https://schema.org",
    "@type": "Event",
    name: event.title,
    description: event.description,
    startDate: event.starts_at,
    endDate: event.ends_at,
    eventStatus: event.status === "cancelled" ? "https://schema.org/EventCancelled" : "https://schema.org/EventScheduled",
    eventAttendanceMode: "https://schema.org/OfflineEventAttendanceMode",
    image: event.image_url ? [event.image_url] : undefined,
    location: { "@type": "Place", name: event.venue, address: { "@type": "PostalAddress", addressLocality: event.city } },
    offers: event.ticket_types.map((tt) => ({
      "@type": "Offer",
      name: tt.name,
      price: (tt.price_cents / 10 ** digits(tt.currency)).toFixed(digits(tt.currency)),
      priceCurrency: tt.currency,
      availability: saleState(tt, now) === "sold_out" ? "https://schema.org/SoldOut" : saleState(tt, now) === "not_yet" ? "https://schema.org/PreOrder" : "https://schema.org/InStock",
      validFrom: tt.sales_start ?? event.published_at ?? undefined,
      url: `${webUrl}/events/${event.id}`,
    })),
  };
}

export default async function EventPage({ params, searchParams }: Props) {
  const { id } = await params;
  const event = await getEvent(id);
  if (!event) notFound();
  const sp = await searchParams;
  const t = await getTranslations("event");
  const th = await getTranslations("home");
  const locale = await getLocale();
  const session = await getSession();
  const now = requestTime();
  const webUrl = process.env.WEB_URL ?? "http://localhost:3000";
  const category = th.has(`categories.${event.category}`) ? th(`categories.${event.category}`) : event.category;
  const ld = JSON.stringify(jsonLd(event, webUrl, now)).replace(/</g, "\\u003c");

  return (
    <article className="grid gap-8 lg:grid-cols-[1fr_24rem]">
      <script type="application/ld+json" dangerouslySetInnerHTML={{ __html: ld }} />
      <div className="space-y-6">
        <header className="space-y-3">
          <p className="text-sm font-semibold uppercase tracking-wide text-brand-700">{category}</p>
          <h1 className="text-3xl font-bold tracking-tight sm:text-4xl">{event.title}</h1>
          {event.status === "cancelled" && (
            <p role="status" className="rounded-xl bg-bad-bg px-4 py-3 font-semibold text-bad">
              {t("cancelled")}
            </p>
          )}
        </header>
        <dl className="card grid gap-4 p-4 sm:grid-cols-2">
          <div className="relative pl-9">
            <dt className="text-sm text-ink-muted">
              <svg aria-hidden="true" viewBox="0 0 24 24" className="absolute left-0 top-0.5 size-6 text-brand-700" fill="none" stroke="currentColor" strokeWidth="2">
                <rect x="3" y="5" width="18" height="16" rx="2" />
                <path d="M3 10h18M8 3v4M16 3v4" />
              </svg>
              {t("when")}
            </dt>
            <dd className="font-medium">
              <time dateTime={event.starts_at}>{formatEventDate(event.starts_at, event.timezone, locale)}</time>
              {" – "}
              <time dateTime={event.ends_at}>{formatTime(event.ends_at, event.timezone, locale)}</time>
            </dd>
          </div>
          <div className="relative pl-9">
            <dt className="text-sm text-ink-muted">
              <svg aria-hidden="true" viewBox="0 0 24 24" className="absolute left-0 top-0.5 size-6 text-brand-700" fill="none" stroke="currentColor" strokeWidth="2">
                <path d="M12 21s-7-6.2-7-11a7 7 0 0 1 14 0c0 4.8-7 11-7 11Z" />
                <circle cx="12" cy="10" r="2.5" />
              </svg>
              {t("where")}
            </dt>
            <dd className="font-medium">
              {event.venue}, {event.city}
            </dd>
          </div>
        </dl>
        <section aria-labelledby="about" className="space-y-2">
          <h2 id="about" className="text-xl font-semibold">
            {t("about")}
          </h2>
          <p className="whitespace-pre-line leading-relaxed text-ink">{event.description}</p>
          <p className="text-sm text-ink-muted">
            {event.refund_cutoff_hours != null ? t("refundPolicy", { hours: event.refund_cutoff_hours }) : t("noRefunds")}
          </p>
        </section>
      </div>
      <section aria-labelledby="tickets" className="space-y-3 lg:sticky lg:top-20 lg:self-start">
        <h2 id="tickets" className="text-xl font-semibold">
          {t("tickets")}
        </h2>
        {event.status === "cancelled" ? (
          <p className="text-ink-muted">{t("cancelled")}</p>
        ) : (
          <>
            <p className="text-sm text-ink-muted">{t("ticketsHint", { minutes: event.hold_minutes })}</p>
            <TicketPicker
              eventId={event.id}
              timezone={event.timezone}
              types={event.ticket_types}
              signedIn={!!session}
              initialSelection={parseSelection(typeof sp.sel === "string" ? sp.sel : undefined)}
              serverNow={now}
            />
          </>
        )}
      </section>
    </article>
  );
}
