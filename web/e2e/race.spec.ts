/**
 * Two buyers, each in their own browser context, press "Hold tickets" for the
 * last ticket at the same moment. One gets it; the other is told it is sold
 * out; the API shows nothing oversold.
 *
 * Negative control: the very same race and assertions on an event with two
 * tickets left (where both buyers rightly win) must fail the "exactly one
 * winner" check, so that check is not vacuous: it catches a second hold
 * whenever one happens.
 */
import type { Browser, Page } from "@playwright/test";

import { type Api, type Person, expect, test } from "./support/fixtures";
import { TICKET_TYPE, signIn } from "./support/flows";

type Outcome = "held" | "sold_out";

async function buyerAt(browser: Browser, baseURL: string, person: Person, eventId: string): Promise<Page> {
  const context = await browser.newContext({ baseURL });
  const page = await context.newPage();
  await page.goto("/");
  await signIn(page, person);
  await page.goto(`/events/${eventId}`);
  await page.getByRole("button", { name: `More ${TICKET_TYPE} tickets` }).click();
  await expect(page.getByRole("spinbutton", { name: `Quantity for ${TICKET_TYPE}` })).toHaveValue("1");
  return page;
}

async function outcome(page: Page): Promise<Outcome> {
  const held = page.getByRole("heading", { name: "Your tickets are held" });
  const soldOut = page.getByText("Sorry, there are not enough tickets left", { exact: false });
  await expect(held.or(soldOut).first()).toBeVisible();
  return (await held.isVisible()) ? "held" : "sold_out";
}

/** Both buyers press "Hold tickets" at once; returns what each one sees. */
async function race(pages: Page[]): Promise<Outcome[]> {
  const buttons = pages.map((p) => p.getByRole("button", { name: "Hold tickets" }));
  await Promise.all(buttons.map((b) => expect(b).toBeEnabled()));
  await Promise.all(buttons.map((b) => b.click()));
  return Promise.all(pages.map(outcome));
}

/** The safety property, checked on the screens and in the API. */
async function expectOneWinner(api: Api, eventId: string, capacity: number, outcomes: Outcome[]) {
  expect(outcomes.filter((o) => o === "held")).toHaveLength(1);
  expect(outcomes.filter((o) => o === "sold_out")).toHaveLength(1);
  const bookings = await api.eventBookings(eventId);
  const taken = bookings
    .filter((b) => b.status === "held" || b.status === "confirmed")
    .reduce((n, b) => n + b.items.reduce((m, i) => m + i.quantity, 0), 0);
  expect(taken).toBe(1);
  expect(taken).toBeLessThanOrEqual(capacity);
  const tt = (await api.event(eventId)).ticket_types[0];
  expect(tt?.available).toBe(capacity - taken);
}

test.describe("the last ticket", () => {
  test("two buyers race for it: one holds it, the other sees sold out, nothing is oversold", { tag: "@postgres" }, async ({
    browser,
    platform,
    api,
    look,
  }) => {
    const event = await api.createEvent({ title: `Last Seat ${Date.now().toString(36)}`, capacity: 1 });
    const [alice, bob] = [await api.register("alice"), await api.register("bob")];
    const pages = [
      await buyerAt(browser, platform.webUrl, alice, event.id),
      await buyerAt(browser, platform.webUrl, bob, event.id),
    ];
    const outcomes = await race(pages);
    for (const [i, page] of pages.entries()) await look(page, `race-${outcomes[i]}`);
    await expectOneWinner(api, event.id, 1, outcomes);
    for (const page of pages) await page.context().close();
  });

  // Once is enough for the control: desktop only.
  test("negative control: the same check fails when both buyers get a ticket", { tag: "@desktop" }, async ({
    browser,
    platform,
    api,
  }) => {
    const event = await api.createEvent({ title: `Two Seats ${Date.now().toString(36)}`, capacity: 2 });
    const [carol, dave] = [await api.register("carol"), await api.register("dave")];
    const pages = [
      await buyerAt(browser, platform.webUrl, carol, event.id),
      await buyerAt(browser, platform.webUrl, dave, event.id),
    ];
    const outcomes = await race(pages);
    expect(outcomes).toEqual(["held", "held"]);
    let caught: unknown = null;
    try {
      await expectOneWinner(api, event.id, 2, outcomes);
    } catch (e) {
      caught = e;
    }
    expect(caught, "the one-winner check must reject two holds").not.toBeNull();
    for (const page of pages) await page.context().close();
  });
});
