"use client";
import { useEffect } from "react";
import { useRouter } from "next/navigation";
import { browserApi, call } from "@/lib/api/browser";
import { backoffDelay } from "@/lib/retry";

/**
 * A hold lapsed while its payment was still open: keep asking about the payment (with backoff,
 * for a few minutes) and re-render the page once the provider settles it, so a late payment
 * shows as confirmed (tickets still there) or refunded (they were gone).
 */
export function PaymentWatcher({ paymentId, status }: { paymentId: string; status: string }) {
  const router = useRouter();
  useEffect(() => {
    let stop = false;
    let timer = 0;
    const started = Date.now();
    const tick = async (attempt: number) => {
      const r = await call(() => browserApi.GET("/v1/payments/{id}", { params: { path: { id: paymentId } } }));
      if (stop) return;
      if (r.ok && (r.data.status !== status || r.data.refunded_cents > 0)) {
        router.refresh();
        return;
      }
      if (Date.now() - started > 5 * 60_000) return;
      timer = window.setTimeout(() => void tick(attempt + 1), backoffDelay(attempt, { baseMs: 1500, capMs: 10_000, minMs: 1500 }));
    };
    timer = window.setTimeout(() => void tick(0), 1500);
    return () => {
      stop = true;
      window.clearTimeout(timer);
    };
  }, [paymentId, status, router]);
  return null;
}
