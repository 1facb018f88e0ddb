/**
 * A hold lapses on screen: the countdown runs out, the page says so, and the
 * tickets are back on sale. The event holds tickets for 1 minute, the shortest
 * hold the API allows (`hold_minutes` 1..60), so this test waits for the
 * countdown UI itself (about a minute), never for a fixed time.
 * Phone viewport only: one run is enough for a minute-long wait.
 */
import { expect, test } from "./support/fixtures";
import { TICKET_TYPE, holdTickets, signIn } from "./support/flows";

test("a held booking lapses on screen and its tickets go back on sale", { tag: "@phone" }, async ({
  page,
  api,
  look,
}) => {
  test.setTimeout(180_000);
  const event = await api.createEvent({ title: `Quick Hold ${Date.now().toString(36)}`, capacity: 2, holdMinutes: 1 });
  const buyer = await api.register("lapse");

  await page.goto("/");
  await signIn(page, buyer);
  await page.goto(`/events/${event.id}`);
  await holdTickets(page, 2, look);
  await expect.poll(async () => (await api.event(event.id)).ticket_types[0]?.available).toBe(0);

  // The countdown reaches zero and the page says the hold lapsed.
  await expect(page.getByRole("heading", { name: "Your hold has lapsed" })).toBeVisible({ timeout: 120_000 });
  await expect(page.getByText("The time to pay ran out and the tickets are back on sale.")).toBeVisible();
  await look(page, "hold-lapsed");

  // The API agrees: both tickets are available again.
  await expect.poll(async () => (await api.event(event.id)).ticket_types[0]?.available).toBe(2);

  // And the buyer can start again from the event page.
  await page.getByRole("link", { name: "Choose tickets again" }).click();
  await expect(page.getByRole("heading", { level: 1, name: event.title })).toBeVisible();
  await expect(page.getByRole("button", { name: `More ${TICKET_TYPE} tickets` })).toBeEnabled();
  await expect(page.getByText("2 left")).toBeVisible();
});
