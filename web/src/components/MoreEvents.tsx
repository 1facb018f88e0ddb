"use client";
import { useState } from "react";
import { useTranslations } from "next-intl";
import { browserApi, call } from "@/lib/api/browser";
import type { EventView } from "@/lib/api/types";
import type { Problem } from "@/lib/problem";
import { EventCard } from "./EventCard";
import { ProblemAlert } from "./ProblemAlert";

type Filters = { q?: string; city?: string; category?: string; from?: string; to?: string };

/** Cursor pagination: "Show more" appends the next page and moves focus to its first event. */
export function MoreEvents({ filters, cursor: first }: { filters: Filters; cursor: string }) {
  const t = useTranslations("home");
  const [items, setItems] = useState<EventView[]>([]);
  const [cursor, setCursor] = useState<string | null>(first);
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<Problem | null>(null);
  const [announce, setAnnounce] = useState("");

  async function more() {
    if (!cursor) return;
    setBusy(true);
    setProblem(null);
    const r = await call(() => browserApi.GET("/v1/events", { params: { query: { ...filters, limit: 12, cursor } } }));
    setBusy(false);
    if (!r.ok) return setProblem(r.problem);
    const startIndex = items.length;
    setItems((prev) => [...prev, ...r.data.items]);
    setCursor(r.data.next_cursor ?? null);
    setAnnounce(t("moreLoaded", { count: r.data.items.length }));
    requestAnimationFrame(() => {
      document.querySelectorAll<HTMLAnchorElement>("[data-more-list] a")[startIndex]?.focus();
    });
  }

  return (
    <>
      {items.length > 0 && (
        <ul className="grid gap-4 sm:grid-cols-2" role="list" data-more-list>
          {items.map((e) => (
            <li key={e.id}>
              <EventCard event={e} />
            </li>
          ))}
        </ul>
      )}
      <p role="status" className="sr-only">
        {busy ? t("loadingMore") : announce}
      </p>
      {problem && <ProblemAlert problem={problem} />}
      {cursor && (
        <div className="flex justify-center">
          <button type="button" onClick={more} disabled={busy} className="btn-secondary w-full sm:w-auto">
            {busy ? t("loadingMore") : t("more")}
          </button>
        </div>
      )}
    </>
  );
}
