/**
 * "My tickets" offline: visited once online (the service worker keeps the page
 * and its QR images), then with the network gone a reload still shows the
 * tickets and their QR codes.
 */
import { expect, test } from "./support/fixtures";
import { signIn } from "./support/flows";

test("the tickets page and its QR codes work offline after one visit", async ({ page, context, api, look }) => {
  const event = await api.createEvent({ title: `Basement Gig ${Date.now().toString(36)}`, capacity: 10 });
  const buyer = await api.register("offline");
  await api.buyViaApi(buyer, event.id, event.ticketTypeId, 2);

  await page.goto("/");
  await signIn(page, buyer);
  // The service worker controls the page before the visit that it caches.
  await page.evaluate(async () => {
    await navigator.serviceWorker.ready;
  });
  await page.goto("/me/tickets");
  await expect(page.getByRole("heading", { name: "My tickets" })).toBeVisible();
  expect(await page.evaluate(() => navigator.serviceWorker.controller !== null)).toBe(true);
  const qr = page.getByRole("img", { name: /Ticket code for/ });
  await expect(qr).toHaveCount(2);
  await expect.poll(() => qr.first().evaluate((img) => (img as HTMLImageElement).naturalWidth)).toBeGreaterThan(0);
  await expect(page.getByText(event.title).first()).toBeVisible();
  await look(page, "tickets-online");

  await context.setOffline(true);
  await page.reload();
  await expect(page.getByRole("heading", { name: "My tickets" })).toBeVisible();
  await expect(page.getByText(event.title).first()).toBeVisible();
  await expect(qr).toHaveCount(2);
  for (const img of await qr.all()) {
    await expect.poll(() => img.evaluate((el) => (el as HTMLImageElement).naturalWidth)).toBeGreaterThan(0);
  }
  await look(page, "tickets-offline");
  await context.setOffline(false);
});
