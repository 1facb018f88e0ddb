import { getTranslations } from "next-intl/server";
import { serverConfig } from "@/lib/config";
import { RegisterForm } from "@/components/RegisterForm";

export async function generateMetadata() {
  const t = await getTranslations("account");
  return { title: t("registerTitle") };
}

export default async function Register() {
  const t = await getTranslations("account");
  return (
    <div className="mx-auto max-w-md space-y-6">
      <header className="space-y-1">
        <h1 className="text-3xl font-bold tracking-tight">{t("registerTitle")}</h1>
        <p className="text-ink-muted">{t("registerLead")}</p>
      </header>
      <div className="card p-6">
        <RegisterForm recaptchaSiteKey={serverConfig().recaptchaSiteKey} />
      </div>
      <p className="text-center text-sm">
        {t("haveAccount")}{" "}
        <a href="/auth/signin?returnTo=%2F" className="font-semibold text-brand-700 underline underline-offset-4">
          {t("signInLink")}
        </a>
      </p>
    </div>
  );
}
