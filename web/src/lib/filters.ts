export type Search = { q?: string; city?: string; category?: string; from?: string; to?: string };

/** Filters from the URL as the API takes them (dates as the start and end of that day, UTC). */
export function apiFilters(s: Search) {
  const day = /^\d{4}-\d{2}-\d{2}$/;
  return {
    q: s.q,
    city: s.city,
    category: s.category,
    from: s.from && day.test(s.from) ? `${s.from}T00:00:00Z` : undefined,
    to: s.to && day.test(s.to) ? `${s.to}T23:59:59Z` : undefined,
  };
}
