import Link from "next/link";
import { getTranslations } from "next-intl/server";

export default async function NotFound() {
  const t = await getTranslations("common");
  return (
    <div className="card mx-auto max-w-lg space-y-3 p-8 text-center">
      <h1 className="text-2xl font-bold">{t("notFoundTitle")}</h1>
      <p className="text-ink-muted">{t("notFoundBody")}</p>
      <Link href="/" className="btn-primary">
        {t("home")}
      </Link>
    </div>
  );
}
