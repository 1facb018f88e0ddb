"use client";
import { useCallback, useEffect, useRef, useState } from "react";
import { useRouter } from "next/navigation";
import { useLocale, useTranslations } from "next-intl";
import Link from "next/link";
import { browserApi, call, idempotencyKey } from "@/lib/api/browser";
import type { BookingView, CheckoutView } from "@/lib/api/types";
import { formatMoney } from "@/lib/format";
import { backoffDelay } from "@/lib/retry";
import type { Problem } from "@/lib/problem";
import { loadStripe, type StripeJs } from "@/lib/stripe";
import { Countdown } from "./Countdown";
import { ConfirmDialog } from "./ConfirmDialog";
import { ProblemAlert } from "./ProblemAlert";

type Phase = "idle" | "starting" | "redirect" | "stripe" | "waiting" | "failed" | "expired";

/**
 * The hold: countdown, Pay, release. Paying opens the provider (its hosted page in a new tab, or
 * Stripe's Payment Element here) and then waits for the webhook-driven confirmation by polling
 * the booking with backoff; the page re-renders with the tickets once it is confirmed.
 */
export function Checkout(props: {
  booking: BookingView;
  eventId: string;
  stripeKey: string | null;
  initialPaymentId: string | null;
  webUrl: string;
}) {
  const t = useTranslations("booking");
  const tc = useTranslations("countdown");
  const locale = useLocale();
  const router = useRouter();
  const { booking } = props;
  const [phase, setPhase] = useState<Phase>(props.initialPaymentId ? "waiting" : "idle");
  const [problem, setProblem] = useState<Problem | null>(null);
  const [pay, setPay] = useState<CheckoutView | null>(null);
  const [paymentId, setPaymentId] = useState<string | null>(props.initialPaymentId);
  const [slow, setSlow] = useState(false);
  const stripeRef = useRef<{ stripe: StripeJs; elements: ReturnType<StripeJs["elements"]> } | null>(null);
  const mountRef = useRef<HTMLDivElement>(null);
  const amount = formatMoney(booking.total_cents, booking.currency, locale);

  // Waiting for confirmation: poll the booking (and the payment, to see a decline) with backoff.
  const poll = useCallback(async (stopped: () => boolean) => {
    for (let attempt = 0; !stopped(); attempt++) {
      const r = await call(() => browserApi.GET("/v1/bookings/{id}", { params: { path: { id: booking.id } } }));
      if (stopped()) return;
      if (r.ok && r.data.status !== "held") {
        router.refresh();
        return;
      }
      if (paymentId) {
        const p = await call(() => browserApi.GET("/v1/payments/{id}", { params: { path: { id: paymentId } } }));
        if (p.ok && (p.data.status === "failed" || p.data.status === "canceled")) {
          setPhase("failed");
          return;
        }
      }
      if (attempt === 8) setSlow(true);
      await new Promise((res) => setTimeout(res, backoffDelay(attempt, { baseMs: 1000, capMs: 5000, minMs: 1000 })));
      if (document.visibilityState === "hidden") await new Promise((res) => setTimeout(res, 2000));
    }
  }, [booking.id, paymentId, router]);

  // One polling loop per waiting phase; leaving the phase (or unmounting) stops it.
  useEffect(() => {
    if (phase !== "waiting" && phase !== "redirect") return;
    let stop = false;
    const first = window.setTimeout(() => void poll(() => stop), 500);
    return () => {
      stop = true;
      window.clearTimeout(first);
    };
  }, [phase, poll]);

  useEffect(() => {
    if (phase !== "stripe" || !pay?.client_secret || !props.stripeKey || !mountRef.current) return;
    let el: { destroy(): void } | null = null;
    loadStripe(props.stripeKey)
      .then((stripe) => {
        const elements = stripe.elements({ clientSecret: pay.client_secret!, locale, appearance: { theme: "stripe" } });
        const pe = elements.create("payment");
        pe.mount(mountRef.current!);
        el = pe;
        stripeRef.current = { stripe, elements };
      })
      .catch(() => setProblem({ status: 0, code: "network" }));
    return () => el?.destroy();
  }, [phase, pay, props.stripeKey, locale]);

  async function startPayment() {
    setProblem(null);
    setPhase("starting");
    // The provider page opens within the click's user activation (a link stays as the fallback).
    const r = await call(() =>
      browserApi.POST("/v1/bookings/{id}/checkout", {
        params: { path: { id: booking.id } },
        headers: { "Idempotency-Key": idempotencyKey() },
      }),
    );
    if (!r.ok) {
      setPhase("idle");
      setProblem(r.problem);
      return;
    }
    setPay(r.data);
    setPaymentId(r.data.payment_id);
    window.history.replaceState(null, "", `/bookings/${booking.id}?payment=${r.data.payment_id}`);
    if (r.data.status === "succeeded") {
      setPhase("waiting");
    } else if (r.data.client_secret && props.stripeKey && r.data.provider === "stripe") {
      setPhase("stripe");
    } else if (r.data.redirect_url) {
      window.open(r.data.redirect_url, "_blank", "noopener");
      setPhase("redirect");
    } else {
      setPhase("idle");
      setProblem({ status: 0, code: "payments_off" });
    }
  }

  async function confirmStripe() {
    const s = stripeRef.current;
    if (!s) return;
    setProblem(null);
    const { error } = await s.stripe.confirmPayment({
      elements: s.elements,
      confirmParams: { return_url: `${props.webUrl}/bookings/${booking.id}?payment=${paymentId ?? ""}` },
    });
    if (error) setProblem({ status: 402, code: "payment_failed", detail: error.message });
  }

  if (phase === "expired") {
    return (
      <section aria-labelledby="expired" className="card space-y-3 p-6" role="status">
        <h2 id="expired" className="text-xl font-semibold">
          {t("expiredTitle")}
        </h2>
        <p className="text-ink-muted">{t("expiredBody")}</p>
        <Link href={`/events/${props.eventId}`} className="btn-primary">
          {t("startAgain")}
        </Link>
      </section>
    );
  }

  return (
    <div className="space-y-4">
      <Countdown
        until={booking.expires_at}
        label={t("timeLeft")}
        announce={(clock) => t("timeLeftAnnounce", { time: clock })}
        expiredText={tc("expired")}
        onExpire={() => {
          // The server now reads the booking as expired: re-render the page around it.
          setPhase((p) => (p === "waiting" ? p : "expired"));
          router.refresh();
        }}
      />
      {(phase === "waiting" || phase === "redirect") && (
        <div role="status" className="card space-y-2 p-4">
          <p className="flex items-center gap-2 font-semibold">
            <span aria-hidden="true" className="size-4 animate-spin rounded-full border-2 border-brand-600 border-t-transparent" />
            {t("waitingTitle")}
          </p>
          <p className="text-sm text-ink-muted">{phase === "redirect" ? t("paymentOpened") : t("waitingBody")}</p>
          {slow && <p className="text-sm text-ink-muted">{t("stillWaiting")}</p>}
        </div>
      )}
      {phase === "redirect" && pay?.redirect_url && (
        <a href={pay.redirect_url} target="_blank" rel="noopener" className="btn-secondary w-full">
          {t("continueToPayment")}
          <span aria-hidden="true">↗</span>
        </a>
      )}
      {phase === "failed" && (
        <div role="alert" className="rounded-xl bg-bad-bg p-4 text-bad">
          <p className="font-semibold">{t("paymentFailedTitle")}</p>
          <p className="text-sm">{t("paymentFailedBody")}</p>
        </div>
      )}
      {phase === "stripe" && (
        <div className="card space-y-3 p-4">
          <h2 className="font-semibold">{t("cardDetails")}</h2>
          <div ref={mountRef} />
          <button type="button" className="btn-primary w-full" onClick={confirmStripe}>
            {t("payNow")}
          </button>
        </div>
      )}
      {problem && <ProblemAlert problem={problem} onRetryAllowed={() => setProblem(null)} />}
      {(phase === "idle" || phase === "starting" || phase === "failed" || phase === "waiting") && (
        <div className="flex flex-col gap-3 sm:flex-row">
          {/* Checkout is idempotent per booking: after coming back (or a closed tab) the same payment resumes. */}
          <button
            type="button"
            className={phase === "waiting" ? "btn-secondary w-full sm:flex-1" : "btn-primary w-full sm:flex-1"}
            disabled={phase === "starting"}
            onClick={startPayment}
          >
            {phase === "starting" ? t("paying") : phase === "waiting" ? t("continueToPayment") : t("pay", { amount })}
          </button>
          <ConfirmDialog
            trigger={t("cancelHold")}
            title={t("cancelHoldConfirm")}
            body={t("cancelHoldBody")}
            confirm={t("cancelHold")}
            cancel={t("keep")}
            onConfirm={async () => {
              const r = await call(() =>
                browserApi.POST("/v1/bookings/{id}/cancel", {
                  params: { path: { id: booking.id } },
                  headers: { "Idempotency-Key": idempotencyKey() },
                }),
              );
              if (r.ok) router.refresh();
              else setProblem(r.problem);
            }}
          />
        </div>
      )}
    </div>
  );
}
