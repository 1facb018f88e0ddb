import { getTranslations } from "next-intl/server";
import { requireSession } from "@/lib/auth";
import { api, must } from "@/lib/api/server";
import { ProfileForm, ResendVerification } from "@/components/AccountForms";
import { SignOutButton } from "@/components/SignOutButton";

export async function generateMetadata() {
  const t = await getTranslations("account");
  return { title: t("profileTitle"), robots: { index: false } };
}

export default async function Profile() {
  await requireSession("/me/profile");
  const t = await getTranslations("account");
  const tn = await getTranslations("nav");
  const me = must(await (await api()).GET("/v1/me"));
  const verified = me.email_verified;
  return (
    <div className="mx-auto max-w-md space-y-6">
      <header className="space-y-1">
        <h1 className="text-3xl font-bold tracking-tight">{t("profileTitle")}</h1>
        {me.email && (
          <p className="flex flex-wrap items-center gap-2 text-ink-muted">
            {t("signedInAs", { email: me.email })}
            {verified === true && <span className="rounded-full bg-ok-bg px-2.5 py-0.5 text-xs font-semibold text-ok">{t("verifiedBadge")}</span>}
          </p>
        )}
      </header>
      {verified === false && (
        <div className="card space-y-3 border-amber-300 bg-warn-bg p-4">
          <p className="font-medium text-warn">{t("unverified")}</p>
          <ResendVerification />
        </div>
      )}
      <div className="card p-6">
        <ProfileForm initial={{ name: me.name, phone: me.phone ?? "", language: me.language }} />
      </div>
      <div className="flex justify-center">
        <SignOutButton label={tn("signOut")} className="btn-secondary" />
      </div>
    </div>
  );
}
