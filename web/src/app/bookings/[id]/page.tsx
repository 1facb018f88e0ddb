import Link from "next/link";
import { notFound } from "next/navigation";
import { getLocale, getTranslations } from "next-intl/server";
import { api, ApiProblem, must } from "@/lib/api/server";
import { getEvent } from "@/lib/api/events";
import { requireSession } from "@/lib/auth";
import { serverConfig } from "@/lib/config";
import { formatEventDate, formatMoney } from "@/lib/format";
import { Checkout } from "@/components/Checkout";
import { TicketList } from "@/components/TicketList";
import { RefundSection } from "@/components/RefundSection";
import { StatusBadge } from "@/components/StatusBadge";
import { PaymentWatcher } from "@/components/PaymentWatcher";
import { requestTime } from "@/lib/clock";

type Props = { params: Promise<{ id: string }>; searchParams: Promise<Record<string, string | string[] | undefined>> };

export const metadata = { robots: { index: false } };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export default async function BookingPage({ params, searchParams }: Props) {
  const { id } = await params;
  const sp = await searchParams;
  const paymentParam = typeof sp.payment === "string" && UUID.test(sp.payment) ? sp.payment : null;
  await requireSession(`/bookings/${id}${paymentParam ? `?payment=${paymentParam}` : ""}`);
  if (!UUID.test(id)) notFound();
  const client = await api();
  let booking;
  try {
    booking = must(await client.GET("/v1/bookings/{id}", { params: { path: { id } } }));
  } catch (e) {
    if (e instanceof ApiProblem && (e.problem.status === 404 || e.problem.status === 403)) notFound();
    throw e;
  }
  const event = await getEvent(booking.event_id);
  const t = await getTranslations("booking");
  const locale = await getLocale();
  const cfg = serverConfig();

  // A payment that came after the hold lapsed is refunded: say so plainly.
  let lateRefund = false;
  let openPayment: { id: string; status: string } | null = null;
  if (paymentParam && (booking.status === "expired" || booking.status === "cancelled")) {
    const p = await client.GET("/v1/payments/{id}", { params: { path: { id: paymentParam } } });
    if (p.data && p.data.booking_id === booking.id) {
      lateRefund = p.data.refunded_cents > 0;
      if (!lateRefund && (p.data.status === "requires_payment" || p.data.status === "processing")) {
        openPayment = { id: p.data.id, status: p.data.status };
      }
    }
  }
  const tickets =
    booking.status === "confirmed" ? must(await client.GET("/v1/bookings/{id}/tickets", { params: { path: { id } } })).items : [];

  return (
    <div className="mx-auto max-w-2xl space-y-6">
      <header className="space-y-2">
        <p className="flex items-center gap-2 text-sm text-ink-muted">
          {t("reference", { ref: booking.id.slice(0, 8).toUpperCase() })}
          <StatusBadge status={booking.status} />
        </p>
        <h1 className="text-3xl font-bold tracking-tight">
          {booking.status === "held"
            ? t("heldTitle")
            : booking.status === "confirmed"
              ? t("confirmedTitle")
              : booking.status === "expired"
                ? lateRefund
                  ? t("lateRefundTitle")
                  : t("expiredTitle")
                : booking.status === "refunded"
                  ? t("refundedTitle")
                  : t("cancelledTitle")}
        </h1>
        <p className="text-ink-muted">
          {booking.status === "held"
            ? t("heldLead")
            : booking.status === "confirmed"
              ? t("confirmedBody")
              : booking.status === "expired"
                ? lateRefund
                  ? t("lateRefundBody")
                  : t("expiredBody")
                : booking.status === "refunded"
                  ? t("refundedBody")
                  : lateRefund
                    ? t("lateRefundBody")
                    : t("cancelledBody")}
        </p>
      </header>

      {event && (
        <section aria-label={t("event")} className="card p-4">
          <Link href={`/events/${event.id}`} className="text-lg font-semibold text-brand-700 underline-offset-4 hover:underline">
            {event.title}
          </Link>
          <p className="text-sm text-ink-muted">
            <time dateTime={event.starts_at}>{formatEventDate(event.starts_at, event.timezone, locale)}</time> · {event.venue}, {event.city}
          </p>
        </section>
      )}

      <section aria-labelledby="summary" className="card p-4">
        <h2 id="summary" className="mb-2 font-semibold">
          {t("summary")}
        </h2>
        <ul className="divide-y divide-line" role="list">
          {booking.items.map((it) => (
            <li key={it.ticket_type_id} className="flex justify-between gap-4 py-2">
              <span>{t("item", { quantity: it.quantity, name: it.name })}</span>
              <span className="tabular-nums">{formatMoney(it.unit_price_cents * it.quantity, booking.currency, locale)}</span>
            </li>
          ))}
        </ul>
        <p className="mt-2 flex justify-between border-t border-line pt-2 text-lg font-bold">
          <span>{t("total")}</span>
          <span className="tabular-nums">{formatMoney(booking.total_cents, booking.currency, locale)}</span>
        </p>
      </section>

      {booking.status === "held" && (
        <Checkout booking={booking} eventId={booking.event_id} stripeKey={cfg.stripePublishableKey} initialPaymentId={paymentParam} webUrl={cfg.webUrl} />
      )}

      {openPayment && <PaymentWatcher paymentId={openPayment.id} status={openPayment.status} />}
      {(booking.status === "expired" || booking.status === "cancelled") && (
        <Link href={`/events/${booking.event_id}`} className="btn-primary w-full sm:w-auto">
          {t("startAgain")}
        </Link>
      )}

      {booking.status === "confirmed" && (
        <>
          <TicketList tickets={tickets} event={event} now={requestTime()} />
          {event && <RefundSection booking={booking} event={event} ticketCount={tickets.length} />}
        </>
      )}
    </div>
  );
}
