"use client";
import { useEffect, useRef } from "react";
import { useTranslations } from "next-intl";
import Link from "next/link";

/** The error state of a route segment: what happened in words, and a way out. */
export function SegmentError({ reset, title }: { reset: () => void; title?: string }) {
  const t = useTranslations("common");
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => heading.current?.focus(), []);
  return (
    <div role="alert" className="card mx-auto max-w-lg space-y-3 p-8 text-center">
      <h1 ref={heading} tabIndex={-1} className="text-2xl font-bold outline-none">
        {title ?? t("errorTitle")}
      </h1>
      <p className="text-ink-muted">{t("errorBody")}</p>
      <div className="flex flex-col justify-center gap-2 sm:flex-row">
        <button type="button" onClick={reset} className="btn-primary">
          {t("retry")}
        </button>
        <Link href="/" className="btn-secondary">
          {t("home")}
        </Link>
      </div>
    </div>
  );
}
