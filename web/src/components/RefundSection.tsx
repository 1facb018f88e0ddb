"use client";
import { useState } from "react";
import { useRouter } from "next/navigation";
import { useLocale, useTranslations } from "next-intl";
import { browserApi, call, idempotencyKey } from "@/lib/api/browser";
import type { BookingView, EventView } from "@/lib/api/types";
import { formatEventDate, formatMoney } from "@/lib/format";
import type { Problem } from "@/lib/problem";
import { ConfirmDialog } from "./ConfirmDialog";
import { ProblemAlert } from "./ProblemAlert";

/** The event's refund policy in words, and cancel-for-refund behind a confirmation while it allows. */
export function RefundSection({ booking, event, ticketCount }: { booking: BookingView; event: EventView; ticketCount: number }) {
  const t = useTranslations("booking");
  const locale = useLocale();
  const router = useRouter();
  const [problem, setProblem] = useState<Problem | null>(null);
  const [done, setDone] = useState(false);
  const cutoff = event.refund_cutoff_hours;
  const deadline = cutoff == null ? null : Date.parse(event.starts_at) - cutoff * 3600_000;
  const deadlineText = deadline == null ? "" : formatEventDate(new Date(deadline).toISOString(), event.timezone, locale);
  const [now] = useState(() => Date.now());
  const open = deadline != null && now < deadline;

  return (
    <section aria-labelledby="refund" className="card space-y-3 p-4">
      <h2 id="refund" className="font-semibold">
        {t("refundTitle")}
      </h2>
      <p className="text-sm text-ink-muted">
        {deadline == null ? t("noRefunds") : open ? t("refundPolicy", { deadline: deadlineText }) : t("refundClosed", { deadline: deadlineText })}
      </p>
      {open && !done && (
        <ConfirmDialog
          danger
          trigger={t("refundButton")}
          title={t("refundConfirm")}
          body={t("refundConfirmBody", { count: ticketCount, amount: formatMoney(booking.total_cents, booking.currency, locale) })}
          confirm={t("refundDo")}
          cancel={t("keep")}
          onConfirm={async () => {
            setProblem(null);
            const r = await call(() =>
              browserApi.POST("/v1/bookings/{id}/cancel", {
                params: { path: { id: booking.id } },
                headers: { "Idempotency-Key": idempotencyKey() },
              }),
            );
            if (r.ok) {
              setDone(true);
              router.refresh();
            } else setProblem(r.problem);
          }}
        />
      )}
      <p role="status" className="text-sm font-medium text-ok">
        {done ? t("refundStarted") : ""}
      </p>
      {problem && <ProblemAlert problem={problem} />}
    </section>
  );
}
