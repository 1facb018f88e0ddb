/**
 * The suite's fixtures: one real platform per worker (see platform.ts), and
 * per test a `look` step that screenshots the page a person sees and checks it
 * with axe (0 serious or critical violations), plus small API helpers for the
 * set-up a test needs but does not test (an organizer's event, a buyer's
 * account).
 */
import { mkdirSync } from "node:fs";
import path from "node:path";

import AxeBuilder from "@axe-core/playwright";
import { type APIRequestContext, type Page, expect, test as base, request } from "@playwright/test";

import { linkIn, mailsTo } from "./mail";
import { type Backend, type Platform, repoRoot, startPlatform } from "./platform";

export const DEMO_ORGANIZER = { email: "organizer@demo.test", password: "demo-organizer-pass" };
export const DEMO_BUYER = { email: "buyer@demo.test", password: "demo-buyer-pass" };

export interface Person {
  name: string;
  email: string;
  password: string;
}

/** Pages from elsewhere (the simulated payment provider's hosted page stands in for Stripe's). */
const THIRD_PARTY = new Set(["provider"]);

interface WorkerFixtures {
  backend: Backend;
  platform: Platform;
}

interface TestFixtures {
  viewportName: string;
  /** Screenshot the page as `<name>.png` and check it with axe. */
  look: (page: Page, name: string) => Promise<void>;
  api: Api;
}

export class Api {
  private organizerToken: string | null = null;

  constructor(
    readonly platform: Platform,
    readonly http: APIRequestContext,
  ) {}

  async login(email: string, password: string): Promise<string> {
    const res = await this.http.post(`${this.platform.apiUrl}/v1/auth/login`, { data: { email, password } });
    expect(res.status(), await res.text()).toBe(200);
    return (await res.json()).access_token as string;
  }

  async organizer(): Promise<string> {
    this.organizerToken ??= await this.login(DEMO_ORGANIZER.email, DEMO_ORGANIZER.password);
    return this.organizerToken;
  }

  /** A fresh account through the public API (mails go to the data folder). */
  async register(prefix: string): Promise<Person> {
    const person = newPerson(prefix);
    const res = await this.http.post(`${this.platform.apiUrl}/v1/auth/register`, {
      data: { email: person.email, password: person.password, name: person.name },
    });
    expect(res.status(), await res.text()).toBe(201);
    return person;
  }

  /**
   * A published event of the demo organizer with one ticket type, starting in
   * 30 days. `holdMinutes` is the event's hold length (the API allows 1 to 60).
   */
  async createEvent(opts: {
    title: string;
    capacity: number;
    priceCents?: number;
    holdMinutes?: number;
    city?: string;
    category?: string;
  }): Promise<{ id: string; ticketTypeId: string; title: string }> {
    const token = await this.organizer();
    const headers = { authorization: `Bearer ${token}` };
    const starts = new Date(Date.now() + 30 * 24 * 3600 * 1000);
    starts.setUTCHours(18, 0, 0, 0);
    const ends = new Date(starts.getTime() + 4 * 3600 * 1000);
    const ev = await this.http.post(`${this.platform.apiUrl}/v1/events`, {
      headers,
      data: {
        title: opts.title,
        description: `${opts.title}: an evening created by the browser tests.`,
        venue: "Test Hall",
        city: opts.city ?? "Berlin",
        category: opts.category ?? "music",
        timezone: "Europe/Berlin",
        starts_at: starts.toISOString(),
        ends_at: ends.toISOString(),
        ...(opts.holdMinutes ? { hold_minutes: opts.holdMinutes } : {}),
      },
    });
    expect(ev.status(), await ev.text()).toBe(201);
    const id = (await ev.json()).id as string;
    const tt = await this.http.post(`${this.platform.apiUrl}/v1/events/${id}/ticket-types`, {
      headers,
      data: {
        name: "General admission",
        price_cents: opts.priceCents ?? 2500,
        currency: "EUR",
        capacity: opts.capacity,
        max_per_order: Math.min(opts.capacity, 4),
      },
    });
    expect(tt.status(), await tt.text()).toBe(201);
    const ticketTypeId = (await tt.json()).id as string;
    const pub = await this.http.post(`${this.platform.apiUrl}/v1/events/${id}/publish`, { headers });
    expect(pub.status(), await pub.text()).toBe(200);
    return { id, ticketTypeId, title: opts.title };
  }

  /**
   * A paid booking for `person` through the public API, as a phone app would
   * make it: hold, checkout, pay on the simulated provider. Returns the booking id.
   */
  async buyViaApi(person: Person, eventId: string, ticketTypeId: string, quantity: number): Promise<string> {
    const token = await this.login(person.email, person.password);
    const headers = { authorization: `Bearer ${token}` };
    const hold = await this.http.post(`${this.platform.apiUrl}/v1/bookings`, {
      headers: { ...headers, "idempotency-key": `e2e-${Date.now()}-${Math.random()}` },
      data: { event_id: eventId, items: [{ ticket_type_id: ticketTypeId, quantity }] },
    });
    expect(hold.status(), await hold.text()).toBe(201);
    const booking = (await hold.json()).id as string;
    const pay = await this.http.post(`${this.platform.apiUrl}/v1/bookings/${booking}/checkout`, { headers });
    expect(pay.status(), await pay.text()).toBe(201);
    const sim = ((await pay.json()).redirect_url as string).split("/").pop();
    const ok = await this.http.post(`${this.platform.apiUrl}/v1/payments/simulated/${sim}/succeed`);
    expect(ok.status(), await ok.text()).toBe(200);
    await expect
      .poll(async () => {
        const b = await this.http.get(`${this.platform.apiUrl}/v1/bookings/${booking}`, { headers });
        return (await b.json()).status;
      })
      .toBe("confirmed");
    return booking;
  }

  /** The event as anyone sees it (live availability). */
  async event(id: string): Promise<{ ticket_types: { id: string; capacity: number; available: number }[] }> {
    const res = await this.http.get(`${this.platform.apiUrl}/v1/events/${id}`);
    expect(res.status()).toBe(200);
    return res.json();
  }

  /** Every booking of an event, as its organizer sees them. */
  async eventBookings(id: string): Promise<{ id: string; status: string; items: { quantity: number }[] }[]> {
    const token = await this.organizer();
    const items: { id: string; status: string; items: { quantity: number }[] }[] = [];
    let cursor: string | null = null;
    do {
      const q: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : "";
      const res = await this.http.get(`${this.platform.apiUrl}/v1/events/${id}/bookings?limit=100${q}`, {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(res.status()).toBe(200);
      const body = await res.json();
      items.push(...body.items);
      cursor = body.next_cursor;
    } while (cursor);
    return items;
  }

  /** The link to `${webUrl}${pathPrefix}` in the newest mail to `to`, once it is there. */
  async linkInMail(to: string, pathPrefix: string): Promise<string> {
    const prefix = `${this.platform.webUrl}${pathPrefix}`;
    let link: string | undefined;
    await expect
      .poll(
        () => {
          link = linkIn(mailsTo(this.platform.mailDir, to).reverse(), prefix);
          return link;
        },
        { message: `a mail to ${to} with a link to ${prefix}`, timeout: 20_000 },
      )
      .toBeTruthy();
    return link as string;
  }
}

let counter = 0;
export function newPerson(prefix: string): Person {
  counter += 1;
  const tag = `${Date.now().toString(36)}${counter}${Math.floor(Math.random() * 1e6).toString(36)}`;
  return {
    name: `${prefix[0]?.toUpperCase()}${prefix.slice(1)} Tester`,
    email: `${prefix}-${tag}@example.test`,
    password: `correct horse ${tag} battery`,
  };
}

function slug(s: string): string {
  return s
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-|-$/g, "")
    .slice(0, 60);
}

export const test = base.extend<TestFixtures, WorkerFixtures>({
  backend: ["sqlite", { option: true, scope: "worker" }],
  viewportName: ["desktop", { option: true }],

  platform: [
    async ({ backend }, use) => {
      const platform = await startPlatform({ backend });
      await use(platform);
      await platform.stop();
    },
    { scope: "worker", timeout: 180_000 },
  ],

  // Pages open on this worker's web server.
  baseURL: async ({ platform }, use) => {
    await use(platform.webUrl);
  },

  api: async ({ platform }, use) => {
    const http = await request.newContext();
    await use(new Api(platform, http));
    await http.dispose();
  },

  look: async ({ backend, viewportName }, use, testInfo) => {
    const dir = path.join(repoRoot, "target/web-screenshots", backend, viewportName);
    mkdirSync(dir, { recursive: true });
    const prefix = path.basename(testInfo.file).replace(/\.spec\.ts$/, "");
    await use(async (page, name) => {
      const file = path.join(dir, `${prefix}--${slug(name)}.png`);
      await page.screenshot({ path: file, fullPage: true });
      const results = await new AxeBuilder({ page })
        .withTags(["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"])
        .analyze();
      const bad = results.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
      const summary = bad
        .map((v) => `${v.impact} ${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(" ")).join("; ")})`)
        .join("\n");
      if (THIRD_PARTY.has(name)) {
        if (bad.length) testInfo.annotations.push({ type: "axe (third-party page, not ours)", description: summary });
        return;
      }
      expect(bad, `axe on ${name} (${page.url()}):\n${summary}`).toEqual([]);
    });
  },
});

export { expect };
