"use client";
import { useEffect, useRef, useState } from "react";
import { useTranslations } from "next-intl";
import { problemMessage, type Problem } from "@/lib/problem";

/**
 * Shows a problem in the user's language. `rate_limited` counts its Retry-After down live and
 * tells the parent when another try is allowed.
 */
export function ProblemAlert({ problem, onRetryAllowed }: { problem: Problem; onRetryAllowed?: () => void }) {
  const t = useTranslations("problems");
  const [left, setLeft] = useState<number | null>(problem.code === "rate_limited" ? (problem.retryAfter ?? null) : null);

  const onAllowed = useRef(onRetryAllowed);
  useEffect(() => {
    onAllowed.current = onRetryAllowed;
  });

  useEffect(() => {
    if (problem.code !== "rate_limited" || !problem.retryAfter) return;
    const until = Date.now() + problem.retryAfter * 1000;
    const id = window.setInterval(() => {
      const s = Math.max(0, Math.ceil((until - Date.now()) / 1000));
      setLeft(s);
      if (s === 0) {
        window.clearInterval(id);
        onAllowed.current?.();
      }
    }, 1000);
    return () => window.clearInterval(id);
  }, [problem]);

  return (
    <div className="rounded-xl border border-red-300 bg-bad-bg px-4 py-3 text-sm text-bad">
      {/* Announced once; the live countdown beside it is for the eyes (a second-by-second
          announcement would drown everything else). */}
      <p role="alert" className={left !== null ? "sr-only" : "font-medium"}>
        {problemMessage(problem, t)}
      </p>
      {left !== null && (
        <p aria-hidden="true" className="font-medium" data-testid="retry-countdown">
          {problemMessage(problem, t, left)}
        </p>
      )}
      {problem.errors && problem.errors.length > 0 && (
        <ul className="mt-1 list-disc pl-5">
          {problem.errors.map((e) => (
            <li key={e.field}>
              <span className="font-mono">{e.field}</span>: {e.message}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
