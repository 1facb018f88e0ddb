import { getTranslations } from "next-intl/server";
import { ResetPassword } from "@/components/AccountForms";

export async function generateMetadata() {
  const t = await getTranslations("account");
  return { title: t("resetTitle"), robots: { index: false }, referrer: "no-referrer" as const };
}

export default async function Page({ searchParams }: { searchParams: Promise<Record<string, string | string[] | undefined>> }) {
  const sp = await searchParams;
  const t = await getTranslations("account");
  return (
    <div className="mx-auto max-w-md space-y-6">
      <h1 className="text-3xl font-bold tracking-tight">{t("resetTitle")}</h1>
      <div className="card p-6">
        <ResetPassword token={typeof sp.token === "string" && sp.token ? sp.token : null} />
      </div>
    </div>
  );
}
