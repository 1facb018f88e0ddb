import { useTranslations } from "next-intl";

export function PageSkeleton({ cards = 4 }: { cards?: number }) {
  const t = useTranslations("common");
  return (
    <div role="status" aria-live="polite" className="space-y-4">
      <span className="sr-only">{t("loading")}</span>
      <div aria-hidden="true" className="h-9 w-2/3 animate-pulse rounded-lg bg-gray-200" />
      <div aria-hidden="true" className="grid gap-4 sm:grid-cols-2">
        {Array.from({ length: cards }, (_, i) => (
          <div key={i} className="card h-32 animate-pulse bg-gray-100" />
        ))}
      </div>
    </div>
  );
}
