"use client";
import { useEffect, useRef, useState } from "react";
import { formatClock } from "@/lib/format";

/** When a screen reader hears the time left: each full minute, then at 30 and 10 seconds. */
export function announceAt(secondsLeft: number): boolean {
  if (secondsLeft <= 0) return false;
  if (secondsLeft === 30 || secondsLeft === 10) return true;
  return secondsLeft % 60 === 0;
}

/**
 * A visible m:ss countdown to `until`; the polite live region speaks only at `announceAt`
 * moments, not every second. Calls `onExpire` once when time is up.
 */
export function Countdown({
  until,
  label,
  announce,
  expiredText,
  onExpire,
  now: nowProp,
}: {
  until: string;
  label: string;
  announce: (clock: string) => string;
  expiredText: string;
  onExpire?: () => void;
  now?: () => number;
}) {
  const clock = nowProp ?? Date.now;
  const end = Date.parse(until);
  const [left, setLeft] = useState(() => end - clock());
  const [spoken, setSpoken] = useState("");
  const fired = useRef(false);
  const onExpireRef = useRef(onExpire);
  useEffect(() => {
    onExpireRef.current = onExpire;
  });

  useEffect(() => {
    const step = () => {
      const ms = end - clock();
      setLeft(ms);
      const s = Math.ceil(ms / 1000);
      if (announceAt(s)) setSpoken(announce(formatClock(ms)));
      if (ms <= 0 && !fired.current) {
        fired.current = true;
        setSpoken(expiredText);
        onExpireRef.current?.();
      }
    };
    step();
    const id = window.setInterval(step, 1000);
    return () => window.clearInterval(id);
    // announce/expiredText are derived from translations and stable for a locale
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [end]);

  const urgent = left < 60_000;
  return (
    <div className={`rounded-xl px-4 py-3 ${urgent ? "bg-bad-bg text-bad" : "bg-warn-bg text-warn"}`}>
      <p className="text-sm font-medium">{label}</p>
      <p className="font-mono text-3xl font-bold tabular-nums" aria-hidden="true" data-testid="countdown">
        {left > 0 ? formatClock(left) : "0:00"}
      </p>
      <p className="sr-only" aria-live="polite" aria-atomic="true">
        {spoken}
      </p>
    </div>
  );
}
