/**
 * What a person does on the site, step by step, by role and accessible name
 * (the English strings of web/messages/en.json). Each step that lands on a new
 * page hands it to `look` (screenshot + axe).
 */
import type { Locator, Page } from "@playwright/test";

import { type Api, type Person, expect } from "./fixtures";

export type Look = (page: Page, name: string) => Promise<void>;

export const TICKET_TYPE = "General admission";

/** The built-in provider's sign-in page (served by the API at /v1/auth/authorize). */
export async function fillProviderSignIn(page: Page, person: Pick<Person, "email" | "password">, look?: Look) {
  await expect(page.getByRole("heading", { level: 1 })).toBeVisible();
  if (look) await look(page, "provider-sign-in");
  await page.getByLabel(/e-?mail/i).fill(person.email);
  await page.getByLabel(/password|passwort/i).fill(person.password);
  await page.getByRole("button", { name: /sign in|anmelden/i }).click();
}

/**
 * Shown only to a signed-in person: the main navigation's "My tickets" (the
 * header has no "Sign out" on a phone, so that is no signal).
 */
export function signedIn(page: Page): Locator {
  return page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "My tickets" });
}

/** Signs in through the header's "Sign in" (OIDC authorization code + PKCE at the issuer). */
export async function signIn(page: Page, person: Pick<Person, "email" | "password">, look?: Look) {
  await page.getByRole("link", { name: "Sign in", exact: true }).first().click();
  await page.waitForURL((u) => u.pathname.endsWith("/v1/auth/authorize"));
  await fillProviderSignIn(page, person, look);
  await expect(signedIn(page)).toBeVisible();
}

export async function registerInBrowser(page: Page, person: Person, look: Look) {
  await page.goto("/register");
  await expect(page.getByRole("heading", { name: "Create your account" })).toBeVisible();
  await look(page, "register");
  await page.getByLabel("Full name").fill(person.name);
  await page.getByLabel("Email").fill(person.email);
  await page.getByLabel("Password", { exact: true }).fill(person.password);
  const repeat = page.getByLabel("Repeat the password");
  if (await repeat.count()) await repeat.fill(person.password);
  await page.getByRole("button", { name: "Create account" }).click();
  await expect(page.getByText(/Account created/)).toBeVisible();
  await look(page, "registered");
}

export async function verifyEmailFromMail(page: Page, api: Api, person: Person, look: Look) {
  const link = await api.linkInMail(person.email, "/verify-email?token=");
  await page.goto(link);
  await expect(page.getByText("Your email is confirmed. Thank you!")).toBeVisible();
  await look(page, "email-verified");
}

/** Searches the catalog by title and city and opens the event. */
export async function findEvent(page: Page, title: string, city: string, look: Look) {
  await page.goto("/");
  await expect(page.getByRole("heading", { name: "Find your next event" })).toBeVisible();
  await look(page, "home");
  const filters = page.getByRole("search", { name: "Filter events" });
  await filters.getByLabel("Search").fill(title);
  await filters.getByLabel("City").fill(city);
  await filters.getByRole("button", { name: "Show events" }).click();
  await expect(page).toHaveURL(/[?&]q=/);
  const results = page.getByRole("region", { name: "Events" });
  await expect(results.getByRole("link", { name: new RegExp(escape(title)) })).toHaveCount(1);
  await look(page, "search-results");
  await results.getByRole("link", { name: new RegExp(escape(title)) }).click();
  await expect(page.getByRole("heading", { level: 1, name: title })).toBeVisible();
  await look(page, "event");
}

export function quantityField(page: Page): Locator {
  return page.getByRole("spinbutton", { name: `Quantity for ${TICKET_TYPE}` });
}

/** Picks `quantity` tickets with the + button and holds them. */
export async function holdTickets(page: Page, quantity: number, look?: Look) {
  const more = page.getByRole("button", { name: `More ${TICKET_TYPE} tickets` });
  for (let i = 0; i < quantity; i++) await more.click();
  await expect(quantityField(page)).toHaveValue(String(quantity));
  await page.getByRole("button", { name: "Hold tickets" }).click();
  await expect(page.getByRole("heading", { name: "Your tickets are held" })).toBeVisible();
  if (look) await look(page, "hold");
}

/**
 * Pays the held booking on the simulated provider's hosted page (its
 * `redirect_url`) and comes back to the booking page, which shows the
 * confirmation once the provider's webhook has confirmed the booking.
 */
export async function payOnProvider(page: Page, look: Look) {
  const bookingUrl = page.url();
  const popup = page.context().waitForEvent("page");
  await page.getByRole("button", { name: /^Pay / }).click();
  const provider = await Promise.race([
    popup,
    page.waitForURL((u) => u.pathname.startsWith("/v1/payments/simulated/")).then(() => page),
  ]);
  await expect(provider.getByRole("heading", { name: "Simulated payment" })).toBeVisible();
  await look(provider, "provider");
  await provider.getByRole("button", { name: "Pay", exact: true }).click();
  await expect(provider.getByText(/"received"|succeeded|paid/i).first()).toBeVisible();
  if (provider !== page) {
    await provider.close();
  } else {
    // The simulated provider has no return URL: the buyer goes back to the shop.
    await page.goto(bookingUrl);
  }
  await expect(page.getByRole("heading", { name: "You're going!" })).toBeVisible({ timeout: 30_000 });
  await look(page, "confirmation");
}

export function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Presses Tab until `target` has the focus (at most `max` times): keyboard-only navigation. */
export async function tabTo(page: Page, target: Locator, max = 60) {
  for (let i = 0; i < max; i++) {
    if (await target.evaluate((el) => el === document.activeElement).catch(() => false)) return;
    await page.keyboard.press("Tab");
  }
  throw new Error(`Tab never reached ${target}`);
}
