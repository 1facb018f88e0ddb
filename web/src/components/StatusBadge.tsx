import { useTranslations } from "next-intl";

const STYLE: Record<string, string> = {
  held: "bg-warn-bg text-warn",
  confirmed: "bg-ok-bg text-ok",
  expired: "bg-gray-200 text-gray-800",
  cancelled: "bg-gray-200 text-gray-800",
  refunded: "bg-brand-100 text-brand-800",
};

export function StatusBadge({ status }: { status: string }) {
  const t = useTranslations("booking.status");
  return (
    <span className={`inline-flex rounded-full px-2.5 py-0.5 text-xs font-semibold ${STYLE[status] ?? "bg-gray-200 text-gray-800"}`}>
      {t.has(status) ? t(status) : status}
    </span>
  );
}
