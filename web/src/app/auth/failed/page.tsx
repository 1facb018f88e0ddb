import { getTranslations } from "next-intl/server";

export const metadata = { robots: { index: false } };

export default async function SignInFailed() {
  const t = await getTranslations("account");
  return (
    <div className="mx-auto max-w-md space-y-4 text-center">
      <h1 className="text-2xl font-bold">{t("signInFailed")}</h1>
      <a href="/auth/signin?returnTo=%2F" className="btn-primary">
        {t("signInAgain")}
      </a>
    </div>
  );
}
