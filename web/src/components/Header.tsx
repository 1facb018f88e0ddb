import Link from "next/link";
import { getTranslations } from "next-intl/server";
import { getSession } from "@/lib/session/server";
import { LanguageSwitcher } from "./LanguageSwitcher";
import { SignOutButton } from "./SignOutButton";
import { SignInLink } from "./SignInLink";
import { currentLocale } from "@/i18n/request";

export async function Header() {
  const t = await getTranslations("nav");
  const session = await getSession();
  const locale = await currentLocale();
  return (
    <header className="sticky top-0 z-20 border-b border-line bg-white/95 backdrop-blur">
      <div className="mx-auto flex max-w-5xl flex-wrap items-center gap-x-4 gap-y-1 px-4 py-2">
        <Link href="/" className="flex min-h-12 items-center gap-2 rounded-lg text-base font-bold text-brand-700 sm:text-lg">
          <svg aria-hidden="true" viewBox="0 0 24 24" className="size-7" fill="currentColor">
            <path d="M3 7a2 2 0 0 1 2-2h14a2 2 0 0 1 2 2v2a2 2 0 0 0 0 4v4a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2v-4a2 2 0 0 0 0-4V7Zm11 0v2h2V7h-2Zm0 4v2h2v-2h-2Zm0 4v2h2v-2h-2Z" />
          </svg>
          <span>Ticket Gateway</span>
        </Link>
        <nav aria-label={t("primary")} className="order-3 -mx-3 w-[calc(100%+1.5rem)] sm:order-none sm:mx-0 sm:w-auto sm:flex-1">
          <ul className="flex items-center gap-0.5 overflow-x-auto whitespace-nowrap text-sm font-medium sm:flex-wrap">
            <li>
              <Link className="inline-flex min-h-11 items-center rounded-lg px-2 hover:bg-brand-50 sm:px-3" href="/">
                {t("events")}
              </Link>
            </li>
            {session && (
              <>
                <li>
                  <Link className="inline-flex min-h-11 items-center rounded-lg px-2 hover:bg-brand-50 sm:px-3" href="/me/tickets">
                    {t("tickets")}
                  </Link>
                </li>
                <li>
                  <Link className="inline-flex min-h-11 items-center rounded-lg px-2 hover:bg-brand-50 sm:px-3" href="/me/bookings">
                    {t("bookings")}
                  </Link>
                </li>
                <li>
                  <Link className="inline-flex min-h-11 items-center rounded-lg px-2 hover:bg-brand-50 sm:px-3" href="/me/profile">
                    {t("profile")}
                  </Link>
                </li>
                <li className="hidden sm:block">
                  <SignOutButton label={t("signOut")} />
                </li>
              </>
            )}
          </ul>
        </nav>
        <div className="ml-auto flex items-center gap-1.5 sm:gap-2">
          {/* On a phone the language switcher sits in the footer (one is ever displayed). */}
          <div className="hidden sm:block">
            <LanguageSwitcher current={locale} label={t("language")} />
          </div>
          {!session && (
            <SignInLink label={t("signIn")} />
          )}
        </div>
      </div>
    </header>
  );
}
