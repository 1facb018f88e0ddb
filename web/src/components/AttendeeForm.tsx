"use client";
import { useId, useState } from "react";
import { useTranslations } from "next-intl";
import { browserApi, call, idempotencyKey } from "@/lib/api/browser";
import { fieldErrors, type Problem } from "@/lib/problem";
import { ProblemAlert } from "./ProblemAlert";

export function AttendeeForm({ ticketId, initial }: { ticketId: string; initial: string }) {
  const t = useTranslations("tickets");
  const tc = useTranslations("common");
  const id = useId();
  const [name, setName] = useState(initial);
  const [busy, setBusy] = useState(false);
  const [saved, setSaved] = useState(false);
  const [problem, setProblem] = useState<Problem | null>(null);
  const err = fieldErrors(problem).attendee_name;
  return (
    <form
      className="space-y-2"
      onSubmit={async (e) => {
        e.preventDefault();
        setBusy(true);
        setSaved(false);
        setProblem(null);
        const r = await call(() =>
          browserApi.PATCH("/v1/tickets/{id}", {
            params: { path: { id: ticketId } },
            body: { attendee_name: name.trim() },
            headers: { "Idempotency-Key": idempotencyKey() },
          }),
        );
        setBusy(false);
        if (r.ok) setSaved(true);
        else setProblem(r.problem);
      }}
    >
      <label htmlFor={id} className="block text-sm font-medium">
        {t("attendee")}
      </label>
      <p id={`${id}-hint`} className="text-xs text-ink-muted">
        {t("attendeeHint")}
      </p>
      <div className="flex gap-2">
        <input
          id={id}
          className="field"
          value={name}
          maxLength={200}
          autoComplete="name"
          aria-describedby={`${id}-hint`}
          aria-invalid={err ? true : undefined}
          onChange={(e) => setName(e.target.value)}
        />
        <button type="submit" className="btn-secondary shrink-0" disabled={busy}>
          {tc("save")}
        </button>
      </div>
      <p role="status" className="text-sm text-ok">
        {saved ? t("attendeeSaved") : ""}
      </p>
      {problem && <ProblemAlert problem={problem} />}
    </form>
  );
}
