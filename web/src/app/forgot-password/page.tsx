import { getTranslations } from "next-intl/server";
import { ForgotPassword } from "@/components/AccountForms";

export async function generateMetadata() {
  const t = await getTranslations("account");
  return { title: t("forgotTitle") };
}

export default async function Page() {
  const t = await getTranslations("account");
  return (
    <div className="mx-auto max-w-md space-y-6">
      <header className="space-y-1">
        <h1 className="text-3xl font-bold tracking-tight">{t("forgotTitle")}</h1>
        <p className="text-ink-muted">{t("forgotLead")}</p>
      </header>
      <div className="card p-6">
        <ForgotPassword />
      </div>
    </div>
  );
}
