"use client";
import { useEffect, useRef, useState } from "react";
import { useTranslations } from "next-intl";
import { useRouter } from "next/navigation";
import Link from "next/link";
import { browserApi, call, idempotencyKey } from "@/lib/api/browser";
import { fieldErrors, type Problem } from "@/lib/problem";
import { Field } from "./Field";
import { goToSignIn } from "@/lib/signin";
import { ProblemAlert } from "./ProblemAlert";

/** /verify-email?token=…: confirms on open (a script runs it, so mail scanners fetching the link do not). */
export function VerifyEmail({ token }: { token: string | null }) {
  const t = useTranslations("account");
  const [state, setState] = useState<"working" | "done" | Problem>(token ? "working" : { status: 400, code: "invalid_token" });
  const started = useRef(false);
  useEffect(() => {
    if (!token || started.current) return;
    started.current = true;
    void call(() => browserApi.POST("/v1/auth/verify-email", { body: { token }, headers: { "Idempotency-Key": idempotencyKey() } })).then((r) =>
      setState(r.ok ? "done" : r.problem),
    );
  }, [token]);
  return (
    <div aria-live="polite" className="space-y-4">
      {state === "working" && <p>{t("verifying")}</p>}
      {state === "done" && (
        <>
          <p className="rounded-xl bg-ok-bg p-4 font-medium text-ok">{t("verified")}</p>
          <a href="/auth/signin?returnTo=%2Fme%2Fprofile" className="btn-primary w-full">
            {t("signInLink")}
          </a>
        </>
      )}
      {typeof state === "object" && (
        <>
          {!token ? <p className="font-medium text-bad">{t("verifyMissing")}</p> : <ProblemAlert problem={state} />}
          <ResendVerification />
        </>
      )}
    </div>
  );
}

export function ResendVerification() {
  const t = useTranslations("account");
  const [sent, setSent] = useState(false);
  const [problem, setProblem] = useState<Problem | null>(null);
  const [busy, setBusy] = useState(false);
  return (
    <div className="space-y-2">
      <button
        type="button"
        className="btn-secondary w-full sm:w-auto"
        disabled={busy || sent}
        onClick={async () => {
          setBusy(true);
          setProblem(null);
          const r = await call(() => browserApi.POST("/v1/auth/verify-email/resend", { headers: { "Idempotency-Key": idempotencyKey() } }));
          setBusy(false);
          if (r.ok) setSent(true);
          else if (r.problem.code === "unauthorized") goToSignIn("/me/profile");
          else setProblem(r.problem);
        }}
      >
        {t("resend")}
      </button>
      <p role="status" className="text-sm text-ok">
        {sent ? t("resent") : ""}
      </p>
      {problem && <ProblemAlert problem={problem} onRetryAllowed={() => setProblem(null)} />}
    </div>
  );
}

export function ForgotPassword() {
  const t = useTranslations("account");
  const [email, setEmail] = useState("");
  const [sent, setSent] = useState(false);
  const [problem, setProblem] = useState<Problem | null>(null);
  const [busy, setBusy] = useState(false);
  if (sent) return <p role="status" className="rounded-xl bg-ok-bg p-4 font-medium text-ok">{t("linkSent")}</p>;
  return (
    <form
      className="space-y-4"
      onSubmit={async (e) => {
        e.preventDefault();
        setBusy(true);
        setProblem(null);
        const r = await call(() =>
          browserApi.POST("/v1/auth/password-reset", { body: { email: email.trim() }, headers: { "Idempotency-Key": idempotencyKey() } }),
        );
        setBusy(false);
        if (r.ok) setSent(true);
        else setProblem(r.problem);
      }}
    >
      <Field id="email" label={t("email")} error={fieldErrors(problem).email}>
        {(a) => <input {...a} type="email" required className="field" autoComplete="email" value={email} onChange={(e) => setEmail(e.target.value)} />}
      </Field>
      {problem && <ProblemAlert problem={problem} onRetryAllowed={() => setProblem(null)} />}
      <button type="submit" className="btn-primary w-full" disabled={busy}>
        {t("sendLink")}
      </button>
    </form>
  );
}

export function ResetPassword({ token }: { token: string | null }) {
  const t = useTranslations("account");
  const [pw, setPw] = useState("");
  const [pw2, setPw2] = useState("");
  const [local, setLocal] = useState<Record<string, string>>({});
  const [problem, setProblem] = useState<Problem | null>(token ? null : { status: 400, code: "invalid_token" });
  const [busy, setBusy] = useState(false);
  const [done, setDone] = useState(false);
  const server = fieldErrors(problem);
  if (done) {
    return (
      <div role="status" className="space-y-4">
        <p className="rounded-xl bg-ok-bg p-4 font-medium text-ok">{t("resetDone")}</p>
        <a href="/auth/signin?returnTo=%2F" className="btn-primary w-full">
          {t("signInLink")}
        </a>
      </div>
    );
  }
  return (
    <form
      noValidate
      className="space-y-4"
      onSubmit={async (e) => {
        e.preventDefault();
        const v: Record<string, string> = {};
        if (pw.length < 12) v.password = t("passwordTooShort");
        else if (pw !== pw2) v.confirm = t("passwordsDiffer");
        setLocal(v);
        if (Object.keys(v).length || !token) return;
        setBusy(true);
        setProblem(null);
        const r = await call(() =>
          browserApi.POST("/v1/auth/password-reset/confirm", { body: { token, password: pw }, headers: { "Idempotency-Key": idempotencyKey() } }),
        );
        setBusy(false);
        if (r.ok) setDone(true);
        else setProblem(r.problem);
      }}
    >
      <Field id="password" label={t("newPassword")} hint={t("passwordHint")} error={local.password ?? server.password}>
        {(a) => <input {...a} type="password" className="field" autoComplete="new-password" value={pw} onChange={(e) => setPw(e.target.value)} />}
      </Field>
      <Field id="confirm" label={t("confirmPassword")} error={local.confirm}>
        {(a) => <input {...a} type="password" className="field" autoComplete="new-password" value={pw2} onChange={(e) => setPw2(e.target.value)} />}
      </Field>
      {problem && <ProblemAlert problem={problem} />}
      {problem?.code === "invalid_token" && (
        <Link href="/forgot-password" className="inline-flex min-h-11 items-center font-semibold text-brand-700 underline underline-offset-4">
          {t("sendLink")}
        </Link>
      )}
      <button type="submit" className="btn-primary w-full" disabled={busy || !token}>
        {t("resetDo")}
      </button>
    </form>
  );
}

type ProfileValues = { name: string; phone: string; language: string };

export function ProfileForm({ initial }: { initial: ProfileValues }) {
  const t = useTranslations("account");
  const tc = useTranslations("common");
  const router = useRouter();
  const [v, setV] = useState(initial);
  const [problem, setProblem] = useState<Problem | null>(null);
  const [saved, setSaved] = useState(false);
  const [busy, setBusy] = useState(false);
  const errs = fieldErrors(problem);
  return (
    <form
      className="space-y-4"
      onSubmit={async (e) => {
        e.preventDefault();
        setBusy(true);
        setSaved(false);
        setProblem(null);
        const r = await call(() =>
          browserApi.PATCH("/v1/me", {
            body: { name: v.name.trim(), phone: v.phone.trim() ? v.phone.trim() : null, language: v.language },
            headers: { "Idempotency-Key": idempotencyKey() },
          }),
        );
        if (r.ok && v.language !== initial.language) {
          await fetch("/api/locale", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ locale: v.language }) });
          document.documentElement.lang = v.language;
        }
        setBusy(false);
        if (r.ok) {
          setSaved(true);
          router.refresh();
        } else setProblem(r.problem);
      }}
    >
      <Field id="name" label={t("name")} error={errs.name}>
        {(a) => <input {...a} className="field" autoComplete="name" required value={v.name} onChange={(e) => setV({ ...v, name: e.target.value })} />}
      </Field>
      <Field id="phone" label={t("phone")} hint={t("phoneHint")} optional={tc("optional")} error={errs.phone}>
        {(a) => <input {...a} type="tel" className="field" autoComplete="tel" value={v.phone} onChange={(e) => setV({ ...v, phone: e.target.value })} />}
      </Field>
      <Field id="language" label={t("language")} error={errs.language}>
        {(a) => (
          <select {...a} className="field" value={v.language} onChange={(e) => setV({ ...v, language: e.target.value })}>
            <option value="en" lang="en">
              English
            </option>
            <option value="de" lang="de">
              Deutsch
            </option>
          </select>
        )}
      </Field>
      {problem && <ProblemAlert problem={problem} />}
      <p role="status" className="text-sm font-medium text-ok">
        {saved ? t("profileSaved") : ""}
      </p>
      <button type="submit" className="btn-primary w-full sm:w-auto" disabled={busy}>
        {tc("save")}
      </button>
    </form>
  );
}
