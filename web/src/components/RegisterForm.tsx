"use client";
import { useState } from "react";
import { useLocale, useTranslations } from "next-intl";
import { browserApi, call, idempotencyKey } from "@/lib/api/browser";
import { fieldErrors, type Problem } from "@/lib/problem";
import { recaptchaToken } from "@/lib/recaptcha";
import { Field } from "./Field";
import { ProblemAlert } from "./ProblemAlert";

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

export function RegisterForm({ recaptchaSiteKey }: { recaptchaSiteKey: string | null }) {
  const t = useTranslations("account");
  const locale = useLocale();
  const [values, setValues] = useState({ name: "", email: "", password: "" });
  const [local, setLocal] = useState<Record<string, string>>({});
  const [problem, setProblem] = useState<Problem | null>(null);
  const [busy, setBusy] = useState(false);
  const [done, setDone] = useState(false);
  const server = fieldErrors(problem);
  const err = (f: string) => local[f] ?? server[f];

  if (done) {
    return (
      <div role="status" className="space-y-4">
        <p className="rounded-xl bg-ok-bg p-4 font-medium text-ok">{t("registered")}</p>
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
        if (!values.name.trim()) v.name = t("nameRequired");
        if (!EMAIL.test(values.email.trim())) v.email = t("emailInvalid");
        if (values.password.length < 12) v.password = t("passwordTooShort");
        setLocal(v);
        setProblem(null);
        if (Object.keys(v).length > 0) {
          document.getElementById(Object.keys(v)[0]!)?.focus();
          return;
        }
        setBusy(true);
        const captcha_token = recaptchaSiteKey ? await recaptchaToken(recaptchaSiteKey, "register").catch(() => undefined) : undefined;
        const r = await call(() =>
          browserApi.POST("/v1/auth/register", {
            body: {
              name: values.name.trim(),
              email: values.email.trim(),
              password: values.password,
              language: locale === "de" ? "de" : "en",
              captcha_token,
            },
            headers: { "Idempotency-Key": idempotencyKey() },
          }),
        );
        setBusy(false);
        if (r.ok) setDone(true);
        else setProblem(r.problem);
      }}
    >
      <Field id="name" label={t("name")} error={err("name")}>
        {(a) => <input {...a} className="field" autoComplete="name" value={values.name} onChange={(e) => setValues({ ...values, name: e.target.value })} />}
      </Field>
      <Field id="email" label={t("email")} error={err("email")}>
        {(a) => (
          <input {...a} type="email" className="field" autoComplete="email" value={values.email} onChange={(e) => setValues({ ...values, email: e.target.value })} />
        )}
      </Field>
      <Field id="password" label={t("password")} hint={t("passwordHint")} error={err("password")}>
        {(a) => (
          <input
            {...a}
            type="password"
            className="field"
            autoComplete="new-password"
            minLength={12}
            maxLength={128}
            value={values.password}
            onChange={(e) => setValues({ ...values, password: e.target.value })}
          />
        )}
      </Field>
      {problem && <ProblemAlert problem={problem} onRetryAllowed={() => setProblem(null)} />}
      <button type="submit" className="btn-primary w-full" disabled={busy}>
        {busy ? t("creating") : t("create")}
      </button>
      {recaptchaSiteKey && <p className="text-xs text-ink-muted">{t("captchaNotice")}</p>}
    </form>
  );
}
