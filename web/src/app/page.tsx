import Link from "next/link";
import { getTranslations } from "next-intl/server";
import { api, must } from "@/lib/api/server";
import { EventCard } from "@/components/EventCard";
import { MoreEvents } from "@/components/MoreEvents";
import { apiFilters, type Search } from "@/lib/filters";

const CATEGORIES = ["music", "tech", "comedy", "food", "sports", "theatre", "festival", "conference"];

function one(v: string | string[] | undefined): string | undefined {
  const s = Array.isArray(v) ? v[0] : v;
  return s && s.trim() ? s.trim() : undefined;
}

export default async function Home({ searchParams }: { searchParams: Promise<Record<string, string | string[] | undefined>> }) {
  const sp = await searchParams;
  const search: Search = { q: one(sp.q), city: one(sp.city), category: one(sp.category), from: one(sp.from), to: one(sp.to) };
  const t = await getTranslations("home");
  const filters = apiFilters(search);
  const client = await api({ auth: false });
  const page = must(await client.GET("/v1/events", { params: { query: { ...filters, limit: 12 } } }));
  const filtered = Object.values(search).some(Boolean);

  return (
    <div className="space-y-8">
      <section aria-labelledby="hero" className="space-y-2">
        <h1 id="hero" className="text-3xl font-bold tracking-tight sm:text-4xl">
          {t("heading")}
        </h1>
        <p className="max-w-2xl text-ink-muted">{t("lead")}</p>
      </section>

        <form method="get" action="/" role="search" className="card grid gap-3 p-4 sm:grid-cols-6" aria-label={t("filters")}>
          <div className="sm:col-span-6">
            <label htmlFor="q" className="mb-1 block text-sm font-medium">
              {t("search")}
            </label>
            <input id="q" name="q" type="search" defaultValue={search.q} placeholder={t("searchPlaceholder")} className="field" />
          </div>
          <div className="sm:col-span-2">
            <label htmlFor="city" className="mb-1 block text-sm font-medium">
              {t("city")}
            </label>
            <input id="city" name="city" defaultValue={search.city} placeholder={t("cityPlaceholder")} className="field" autoComplete="address-level2" />
          </div>
          <div className="sm:col-span-2">
            <label htmlFor="category" className="mb-1 block text-sm font-medium">
              {t("category")}
            </label>
            <select id="category" name="category" defaultValue={search.category ?? ""} className="field">
              <option value="">{t("anyCategory")}</option>
              {CATEGORIES.map((c) => (
                <option key={c} value={c}>
                  {t(`categories.${c}`)}
                </option>
              ))}
            </select>
          </div>
          <div className="grid grid-cols-2 gap-3 sm:col-span-2">
            <div>
              <label htmlFor="from" className="mb-1 block text-sm font-medium">
                {t("from")}
              </label>
              <input id="from" name="from" type="date" defaultValue={search.from} className="field px-2" />
            </div>
            <div>
              <label htmlFor="to" className="mb-1 block text-sm font-medium">
                {t("to")}
              </label>
              <input id="to" name="to" type="date" defaultValue={search.to} className="field px-2" />
            </div>
          </div>
          <div className="flex flex-wrap items-center gap-3 sm:col-span-6">
            <button type="submit" className="btn-primary w-full sm:w-auto">
              {t("apply")}
            </button>
            {filtered && (
              <Link href="/" className="inline-flex min-h-12 items-center px-2 font-medium text-brand-700 underline underline-offset-4">
                {t("clear")}
              </Link>
            )}
          </div>
        </form>

      <section aria-labelledby="results" className="space-y-4">
        <h2 id="results" className="text-xl font-semibold">
          {t("results")}
        </h2>
        {page.items.length === 0 ? (
          <div className="card p-8 text-center">
            <p className="text-lg font-semibold">{t("emptyTitle")}</p>
            <p className="mt-1 text-ink-muted">{t("emptyBody")}</p>
            {filtered && (
              <Link href="/" className="btn-secondary mt-4">
                {t("clear")}
              </Link>
            )}
          </div>
        ) : (
          <>
            <ul className="grid gap-4 sm:grid-cols-2" role="list">
              {page.items.map((e) => (
                <li key={e.id}>
                  <EventCard event={e} />
                </li>
              ))}
            </ul>
            {page.next_cursor && <MoreEvents filters={filters} cursor={page.next_cursor} />}
          </>
        )}
      </section>
    </div>
  );
}
