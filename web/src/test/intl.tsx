import { NextIntlClientProvider } from "next-intl";
import en from "../../messages/en.json";
import de from "../../messages/de.json";

export const messages = { en, de };

export function WithIntl({ children, locale = "en" }: { children: React.ReactNode; locale?: "en" | "de" }) {
  return (
    <NextIntlClientProvider locale={locale} messages={messages[locale]} timeZone="UTC">
      {children}
    </NextIntlClientProvider>
  );
}
