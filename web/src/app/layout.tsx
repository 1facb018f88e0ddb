import type { Metadata, Viewport } from "next";
import { NextIntlClientProvider } from "next-intl";
import { getLocale, getTranslations } from "next-intl/server";
import { Header } from "@/components/Header";
import { ServiceWorker } from "@/components/ServiceWorker";
import { LanguageSwitcher } from "@/components/LanguageSwitcher";
import "./globals.css";

export async function generateMetadata(): Promise<Metadata> {
  const t = await getTranslations("meta");
  const webUrl = process.env.WEB_URL ?? "http://localhost:3000";
  return {
    metadataBase: new URL(webUrl),
    title: { default: `${t("homeTitle")} · ${t("siteName")}`, template: `%s · ${t("siteName")}` },
    description: t("tagline"),
    applicationName: t("siteName"),
    appleWebApp: { capable: true, title: t("siteName"), statusBarStyle: "default" },
    icons: { icon: "/icons/icon-192.png", apple: "/icons/apple-touch-icon.png" },
  };
}

export const viewport: Viewport = {
  themeColor: "#4338ca",
  width: "device-width",
  initialScale: 1,
};

export default async function RootLayout({ children }: { children: React.ReactNode }) {
  const locale = await getLocale();
  const t = await getTranslations("nav");
  const tc = await getTranslations("common");
  return (
    <html lang={locale}>
      <body className="flex min-h-dvh flex-col">
        <a
          href="#main"
          className="sr-only z-50 rounded-lg bg-brand-700 px-4 py-3 text-white focus:not-sr-only focus:fixed focus:left-2 focus:top-2"
        >
          {t("skip")}
        </a>
        <NextIntlClientProvider>
          <Header />
          <main id="main" tabIndex={-1} className="mx-auto w-full max-w-5xl flex-1 px-4 pb-16 pt-6 outline-none">
            {children}
          </main>
          <footer className="border-t border-line bg-white">
            <div className="mx-auto flex max-w-5xl flex-col gap-1 px-4 py-6 text-sm text-ink-muted">
              <p className="flex items-center gap-2 font-medium text-ink">
                <svg aria-hidden="true" viewBox="0 0 24 24" className="size-5" fill="none" stroke="currentColor" strokeWidth="2">
                  <rect x="4" y="10" width="16" height="10" rx="2" />
                  <path d="M8 10V7a4 4 0 0 1 8 0v3" />
                </svg>
                {tc("secure")}
              </p>
              <p>{tc("footer")}</p>
              <div className="mt-3 sm:hidden">
                <LanguageSwitcher current={locale} label={t("language")} showLabel />
              </div>
            </div>
          </footer>
          <ServiceWorker />
        </NextIntlClientProvider>
      </body>
    </html>
  );
}
