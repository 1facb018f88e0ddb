/**
 * A whole purchase with the keyboard alone: Tab to move, Enter and Space to
 * act, typing into fields. No mouse click anywhere (desktop viewport).
 */
import type { Page } from "@playwright/test";

import { expect, test } from "./support/fixtures";
import { TICKET_TYPE, escape, signedIn, tabTo } from "./support/flows";

async function press(page: Page, target: ReturnType<Page["getByRole"]>, key: "Enter" | "Space") {
  await tabTo(page, target);
  await expect(target).toBeFocused();
  await page.keyboard.press(key);
}

test("a buyer signs in, finds, holds and pays for a ticket with the keyboard only", { tag: "@desktop" }, async ({
  page,
  api,
  look,
}) => {
  const event = await api.createEvent({ title: `Keys Night ${Date.now().toString(36)}`, capacity: 5 });
  const buyer = await api.register("keyboard");

  await page.goto("/");
  // Sign in at the provider's page.
  await press(page, page.getByRole("link", { name: "Sign in", exact: true }).first(), "Enter");
  await page.waitForURL((u) => u.pathname.endsWith("/v1/auth/authorize"));
  await tabTo(page, page.getByLabel(/e-?mail/i));
  await page.keyboard.type(buyer.email);
  await tabTo(page, page.getByLabel(/password/i));
  await page.keyboard.type(buyer.password);
  await page.keyboard.press("Enter");
  await expect(signedIn(page)).toBeVisible();

  // Search and open the event.
  await tabTo(page, page.getByRole("searchbox", { name: "Search" }));
  await page.keyboard.type(event.title);
  await page.keyboard.press("Enter");
  await expect(page).toHaveURL(/[?&]q=/);
  await press(page, page.getByRole("link", { name: new RegExp(escape(event.title)) }), "Enter");
  await expect(page.getByRole("heading", { level: 1, name: event.title })).toBeVisible();

  // One ticket, held.
  await press(page, page.getByRole("button", { name: `More ${TICKET_TYPE} tickets` }), "Space");
  await expect(page.getByRole("spinbutton", { name: `Quantity for ${TICKET_TYPE}` })).toHaveValue("1");
  await press(page, page.getByRole("button", { name: "Hold tickets" }), "Enter");
  await expect(page.getByRole("heading", { name: "Your tickets are held" })).toBeVisible();
  await look(page, "hold-keyboard");

  // Pay on the provider's page.
  const bookingUrl = page.url();
  const popup = page.context().waitForEvent("page");
  await press(page, page.getByRole("button", { name: /^Pay / }), "Enter");
  const provider = await Promise.race([
    popup,
    page.waitForURL((u) => u.pathname.startsWith("/v1/payments/simulated/")).then(() => page),
  ]);
  await expect(provider.getByRole("heading", { name: "Simulated payment" })).toBeVisible();
  await press(provider, provider.getByRole("button", { name: "Pay", exact: true }), "Enter");
  await expect(provider.getByText(/"received"/).first()).toBeVisible();
  if (provider !== page) await provider.close();
  else await page.goto(bookingUrl);

  await expect(page.getByRole("heading", { name: "You're going!" })).toBeVisible({ timeout: 30_000 });
  await look(page, "confirmation-keyboard");
});
