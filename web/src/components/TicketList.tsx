import { useLocale, useTranslations } from "next-intl";
import type { EventView, TicketView } from "@/lib/api/types";
import { formatEventDate } from "@/lib/format";
import { AttendeeForm } from "./AttendeeForm";

/**
 * Tickets as the door sees them: the API's QR (through the proxy, cached offline by the service
 * worker) large on white, the PDF, and the attendee's name until the event starts.
 */
export function TicketList({ tickets, event, now, heading = true }: { tickets: TicketView[]; event: EventView | null; now: number; heading?: boolean }) {
  const t = useTranslations("tickets");
  const locale = useLocale();
  const started = event ? Date.parse(event.starts_at) <= now : true;
  return (
    <section aria-label={heading ? undefined : t("title")} aria-labelledby={heading ? "ticket-list" : undefined} className="space-y-4">
      {heading && (
        <h2 id="ticket-list" className="text-xl font-semibold">
          {t("title")}
        </h2>
      )}
      <p className="text-sm text-ink-muted">{t("showAtDoor")}</p>
      <ul className="space-y-6" role="list">
        {tickets.map((tk, i) => (
          <li key={tk.id} className="card overflow-hidden">
            <div className="flex items-center justify-between gap-2 border-b border-line px-4 py-3">
              <h3 className="font-semibold">
                {t("ticket")} {i + 1} · {tk.ticket_type}
              </h3>
              <span
                className={`rounded-full px-2.5 py-0.5 text-xs font-semibold ${tk.status === "valid" ? "bg-ok-bg text-ok" : tk.status === "revoked" ? "bg-bad-bg text-bad" : "bg-gray-200 text-gray-800"}`}
              >
                {t.has(`status.${tk.status}`) ? t(`status.${tk.status}`) : tk.status}
              </span>
            </div>
            {tk.status !== "revoked" && (
              <div className="bg-white p-6">
                {/* eslint-disable-next-line @next/next/no-img-element -- an SVG from the API, served through the proxy */}
                <img
                  src={`/api${tk.qr_svg_url}`}
                  alt={t("qrAlt", { name: tk.attendee_name || tk.ticket_type })}
                  width={320}
                  height={320}
                  className="mx-auto aspect-square w-full max-w-80 bg-white [image-rendering:pixelated]"
                  data-ticket-qr
                />
                <p className="mt-3 break-all text-center font-mono text-xs text-ink-muted">{tk.id}</p>
              </div>
            )}
            <div className="space-y-3 border-t border-line px-4 py-3">
              {tk.checked_in_at && event && (
                <p className="text-sm">{t("checkedIn", { date: formatEventDate(tk.checked_in_at, event.timezone, locale) })}</p>
              )}
              {!started && tk.status === "valid" ? (
                <AttendeeForm ticketId={tk.id} initial={tk.attendee_name} />
              ) : (
                <p className="text-sm">
                  <span className="text-ink-muted">{t("attendee")}: </span>
                  {tk.attendee_name || t("noAttendee")}
                </p>
              )}
              <a href={`/api${tk.pdf_url}`} download className="btn-secondary w-full sm:w-auto">
                <svg aria-hidden="true" viewBox="0 0 24 24" className="size-5" fill="none" stroke="currentColor" strokeWidth="2">
                  <path d="M12 3v12m0 0 4-4m-4 4-4-4M5 21h14" />
                </svg>
                {t("pdf")}
              </a>
            </div>
          </li>
        ))}
      </ul>
    </section>
  );
}
