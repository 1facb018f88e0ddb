"use client";
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { useRouter } from "next/navigation";
import { useLocale, useTranslations } from "next-intl";
import { browserApi, call, idempotencyKey, RETRYING_EVENT } from "@/lib/api/browser";
import type { TicketTypeView } from "@/lib/api/types";
import { formatEventDate, formatMoney } from "@/lib/format";
import { formatSelection, maxOrder, saleState } from "@/lib/sales";
import type { Problem } from "@/lib/problem";
import { QuantityPicker } from "./QuantityPicker";
import { goToSignIn } from "@/lib/signin";
import { ProblemAlert } from "./ProblemAlert";

const POLL_MS = 15_000;

/**
 * Ticket types with live availability (polled while the page is visible), quantity pickers
 * within max_per_order and what is left, and "Hold tickets" (sign-in first, then back here with
 * the same selection).
 */
export function TicketPicker(props: {
  eventId: string;
  timezone: string;
  types: TicketTypeView[];
  signedIn: boolean;
  initialSelection: Record<string, number>;
  serverNow: number;
}) {
  const t = useTranslations("event");
  const locale = useLocale();
  const router = useRouter();
  const [types, setTypes] = useState(props.types);
  const [now, setNow] = useState(props.serverNow);
  const [sel, setSel] = useState<Record<string, number>>(() => {
    const init: Record<string, number> = {};
    for (const tt of props.types) {
      const q = props.initialSelection[tt.id];
      if (q) init[tt.id] = Math.min(q, maxOrder(tt, props.serverNow));
    }
    return init;
  });
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<Problem | null>(null);
  const [announce, setAnnounce] = useState("");
  const [hint, setHint] = useState<string | null>(null);
  const [retrying, setRetrying] = useState(false);
  const key = useRef<string | null>(null);

  const refresh = useCallback(async () => {
    const r = await call(() => browserApi.GET("/v1/events/{id}", { params: { path: { id: props.eventId } } }));
    if (!r.ok) return;
    const at = Date.now();
    setNow(at);
    setTypes((prev) => {
      const changed = r.data.ticket_types.some((nt) => {
        const old = prev.find((o) => o.id === nt.id);
        return !old || saleState(old, at) !== saleState(nt, at);
      });
      if (changed) setAnnounce(t("availabilityUpdated"));
      return r.data.ticket_types;
    });
    setSel((prev) => {
      const next: Record<string, number> = {};
      for (const tt of r.data.ticket_types) {
        const q = prev[tt.id];
        if (q) next[tt.id] = Math.min(q, maxOrder(tt, at));
      }
      return next;
    });
  }, [props.eventId, t]);

  useEffect(() => {
    const on = () => setRetrying(true);
    window.addEventListener(RETRYING_EVENT, on);
    return () => window.removeEventListener(RETRYING_EVENT, on);
  }, []);

  useEffect(() => {
    const tick = () => {
      if (document.visibilityState === "visible") void refresh();
    };
    const id = window.setInterval(tick, POLL_MS);
    document.addEventListener("visibilitychange", tick);
    return () => {
      window.clearInterval(id);
      document.removeEventListener("visibilitychange", tick);
    };
  }, [refresh]);

  const total = useMemo(
    () => types.reduce((sum, tt) => sum + (sel[tt.id] ?? 0) * tt.price_cents, 0),
    [types, sel],
  );
  const count = Object.values(sel).reduce((a, b) => a + b, 0);
  const currency = types[0]?.currency ?? "EUR";

  async function hold() {
    setProblem(null);
    if (count === 0) return setHint(t("pickFirst"));
    setHint(null);
    const selection = formatSelection(sel);
    if (!props.signedIn) {
      const back = `/events/${props.eventId}?sel=${encodeURIComponent(selection)}`;
      goToSignIn(back);
      return;
    }
    setBusy(true);
    key.current ??= idempotencyKey();
    const items = Object.entries(sel)
      .filter(([, q]) => q > 0)
      .map(([ticket_type_id, quantity]) => ({ ticket_type_id, quantity }));
    const r = await call(() =>
      browserApi.POST("/v1/bookings", {
        body: { event_id: props.eventId, items },
        headers: { "Idempotency-Key": key.current ?? idempotencyKey() },
      }),
    );
    key.current = null;
    setRetrying(false);
    if (r.ok) {
      router.push(`/bookings/${r.data.id}`);
      return;
    }
    setBusy(false);
    if (r.problem.code === "unauthorized") {
      goToSignIn(`/events/${props.eventId}?sel=${encodeURIComponent(selection)}`);
      return;
    }
    setProblem(r.problem);
    if (["sold_out", "sales_ended", "sales_not_started"].includes(r.problem.code)) void refresh();
  }

  if (types.length === 0) return <p className="text-ink-muted">{t("noTickets")}</p>;
  const allSoldOut = types.every((tt) => saleState(tt, now) === "sold_out");

  return (
    <form
      onSubmit={(e) => {
        e.preventDefault();
        void hold();
      }}
      className="space-y-4"
      aria-describedby={allSoldOut ? "sold-out-note" : undefined}
    >
      <p role="status" className="sr-only">
        {announce}
      </p>
      {allSoldOut && (
        <p id="sold-out-note" className="rounded-xl bg-bad-bg px-4 py-3 font-medium text-bad">
          {t("allSoldOut")}
        </p>
      )}
      <ul className="divide-y divide-line rounded-card border border-line bg-white" role="list">
        {types.map((tt) => {
          const state = saleState(tt, now);
          const max = maxOrder(tt, now);
          return (
            <li key={tt.id} className="flex flex-wrap items-center justify-between gap-3 p-4">
              <div className="min-w-0">
                <h3 className="font-semibold">{tt.name}</h3>
                <p className="text-lg font-bold">{formatMoney(tt.price_cents, tt.currency, locale)}</p>
                <p className="text-sm text-ink-muted" data-availability={state}>
                  {state === "sold_out" && <span className="font-semibold text-bad">{t("soldOut")}</span>}
                  {state === "not_yet" && tt.sales_start && t("notYet", { date: formatEventDate(tt.sales_start, props.timezone, locale) })}
                  {state === "ended" && tt.sales_end && t("ended", { date: formatEventDate(tt.sales_end, props.timezone, locale) })}
                  {state === "on_sale" && (
                    <>
                      {t("left", { count: tt.available })} · {t("maxPerOrder", { max: tt.max_per_order })}
                    </>
                  )}
                </p>
              </div>
              {state === "on_sale" && (
                <QuantityPicker
                  id={`qty-${tt.id}`}
                  name={tt.name}
                  value={sel[tt.id] ?? 0}
                  max={max}
                  disabled={busy}
                  onChange={(n) => setSel((s) => ({ ...s, [tt.id]: n }))}
                />
              )}
            </li>
          );
        })}
      </ul>
      <div className="card sticky bottom-2 flex flex-wrap items-center justify-between gap-3 p-4 shadow-lg sm:static sm:shadow-sm">
        <p className="text-lg">
          <span className="text-ink-muted">{t("total")}: </span>
          <output className="font-bold" aria-live="polite">
            {formatMoney(total, currency, locale)}
          </output>
        </p>
        <button type="submit" className="btn-primary w-full sm:w-auto" disabled={busy || allSoldOut} aria-describedby={hint ? "hold-hint" : undefined}>
          {busy ? t("holding") : props.signedIn ? t("hold") : t("signInToHold")}
        </button>
        {hint && (
          <p id="hold-hint" role="alert" className="w-full text-sm font-medium text-bad">
            {hint}
          </p>
        )}
      </div>
      <p role="status" className="text-sm text-ink-muted">
        {busy && retrying ? t("retrying") : ""}
      </p>
      {problem && <ProblemAlert problem={problem} onRetryAllowed={() => setProblem(null)} />}
    </form>
  );
}
