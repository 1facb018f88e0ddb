/**
 * The whole journey of a new buyer: register, confirm the email from the mail
 * the platform sent, sign in, find an event by search and filter, hold, pay on
 * the provider's page, see the confirmation and the QR code, download the PDF.
 */
import { readFileSync } from "node:fs";

import { expect, newPerson, test } from "./support/fixtures";
import {
  findEvent,
  holdTickets,
  payOnProvider,
  registerInBrowser,
  signIn,
  verifyEmailFromMail,
} from "./support/flows";

test("a new buyer registers, confirms the email, finds an event, pays and gets the tickets", { tag: "@postgres" }, async ({
  page,
  api,
  look,
}) => {
  const city = "Leipzig";
  const event = await api.createEvent({ title: `Harbour Lights ${Date.now().toString(36)}`, capacity: 50, city });
  const buyer = newPerson("journey");

  await page.goto("/");
  await registerInBrowser(page, buyer, look);
  await verifyEmailFromMail(page, api, buyer, look);

  await page.goto("/");
  await signIn(page, buyer, look);
  await findEvent(page, event.title, city, look);
  await expect(page.getByText("€25.00").first()).toBeVisible();

  await holdTickets(page, 2, look);
  await expect(page.getByRole("timer").or(page.getByText("Time left to pay")).first()).toBeVisible();
  await expect(page.getByText("€50.00").first()).toBeVisible();

  await payOnProvider(page, look);

  // The confirmation shows the tickets with their QR codes.
  const tickets = page.getByRole("region", { name: "My tickets" });
  const qr = tickets.getByRole("img", { name: /Ticket code for/ });
  await expect(qr).toHaveCount(2);
  await expect(qr.first()).toBeVisible();
  // The QR image really loaded (an SVG from the API through the web server).
  await expect.poll(() => qr.first().evaluate((img) => (img as HTMLImageElement).naturalWidth)).toBeGreaterThan(0);
  await look(page, "confirmation-tickets");

  const download = page.waitForEvent("download");
  await tickets.getByRole("link", { name: /Download PDF/ }).first().click();
  const pdf = readFileSync(await (await download).path());
  expect(pdf.subarray(0, 5).toString("latin1")).toBe("%PDF-");
  expect(pdf.length).toBeGreaterThan(1_000);
  expect(pdf.subarray(-1024).toString("latin1")).toContain("%%EOF");

  // And under "My tickets".
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "My tickets" }).click();
  await expect(page.getByRole("heading", { level: 1, name: "My tickets" })).toBeVisible();
  await expect(page.getByRole("img", { name: /Ticket code for/ })).toHaveCount(2);
  await look(page, "my-tickets");

  // What the API says: one confirmed booking of two tickets for this buyer.
  const bookings = await api.eventBookings(event.id);
  expect(bookings.map((b) => b.status)).toEqual(["confirmed"]);
  expect((await api.event(event.id)).ticket_types[0]?.available).toBe(48);
});
