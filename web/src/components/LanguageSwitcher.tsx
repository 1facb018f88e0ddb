"use client";
import { useRouter } from "next/navigation";
import { useTransition } from "react";

const NAMES: Record<string, string> = { en: "English", de: "Deutsch" };

export function LanguageSwitcher({ current, label, showLabel }: { current: string; label: string; showLabel?: boolean }) {
  const router = useRouter();
  const [pending, start] = useTransition();
  return (
    <label className="flex items-center gap-1 text-sm">
      <span className={showLabel ? "mr-1 font-medium text-ink" : "sr-only"}>{label}</span>
      <svg aria-hidden="true" viewBox="0 0 24 24" className="size-5 text-ink-muted" fill="none" stroke="currentColor" strokeWidth="2">
        <circle cx="12" cy="12" r="9" />
        <path d="M3 12h18M12 3a14 14 0 0 1 0 18M12 3a14 14 0 0 0 0 18" />
      </svg>
      <select
        className="min-h-11 rounded-lg border border-line bg-white px-2 text-sm"
        value={current}
        disabled={pending}
        onChange={(e) => {
          const locale = e.target.value;
          start(async () => {
            await fetch("/api/locale", {
              method: "POST",
              headers: { "content-type": "application/json" },
              body: JSON.stringify({ locale }),
            });
            document.documentElement.lang = locale;
            router.refresh();
          });
        }}
      >
        {Object.entries(NAMES).map(([code, name]) => (
          <option key={code} value={code} lang={code}>
            {name}
          </option>
        ))}
      </select>
    </label>
  );
}
