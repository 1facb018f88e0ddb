import { describe, expect, it, vi, beforeEach, afterEach } from "vitest";
import { fireEvent, render, screen, waitFor } from "@testing-library/react";
import { WithIntl } from "@/test/intl";
import type { TicketTypeView } from "@/lib/api/types";

const push = vi.fn();
vi.mock("next/navigation", () => ({ useRouter: () => ({ push, refresh: vi.fn() }) }));

const { TicketPicker } = await import("./TicketPicker");

const EVENT = "0b7f1a52-2d2e-4b8e-9a59-1f3c3c1b2a10";
const GA: TicketTypeView = {
  id: "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f",
  event_id: EVENT,
  name: "General admission",
  price_cents: 3500,
  currency: "EUR",
  capacity: 100,
  available: 3,
  max_per_order: 4,
  sales_start: null,
  sales_end: null,
};

function picker(signedIn: boolean) {
  return render(
    <WithIntl>
      <TicketPicker eventId={EVENT} timezone="Europe/Berlin" types={[GA]} signedIn={signedIn} initialSelection={{}} serverNow={Date.now()} />
    </WithIntl>,
  );
}

describe("TicketPicker", () => {
  const assign = vi.fn();
  const realLocation = window.location;
  beforeEach(() => {
    push.mockReset();
    assign.mockReset();
    Object.defineProperty(window, "location", { configurable: true, value: { ...realLocation, origin: "http://localhost", assign } });
  });
  afterEach(() => {
    Object.defineProperty(window, "location", { configurable: true, value: realLocation });
    vi.unstubAllGlobals();
  });

  it("caps the quantity at what is left and totals in the currency", () => {
    picker(true);
    const more = screen.getByRole("button", { name: "More General admission tickets" });
    for (let i = 0; i < 5; i++) fireEvent.click(more);
    expect(screen.getByRole("spinbutton", { name: "Quantity for General admission" })).toHaveProperty("value", "3");
    expect(document.querySelector("output")?.textContent).toBe("€105.00");
  });

  it("sends a signed-out buyer to sign in and back with the selection", () => {
    picker(false);
    fireEvent.click(screen.getByRole("button", { name: "More General admission tickets" }));
    fireEvent.click(screen.getByRole("button", { name: "Sign in to hold tickets" }));
    expect(assign).toHaveBeenCalledTimes(1);
    const url = new URL(assign.mock.calls[0]![0] as string);
    expect(url.pathname).toBe("/auth/signin");
    expect(url.searchParams.get("returnTo")).toBe(`/events/${EVENT}?sel=${encodeURIComponent(`${GA.id}:1`)}`);
  });

  it("holds through the proxy with an Idempotency-Key and opens the booking", async () => {
    const fetchMock = vi.fn(async (req: Request) => {
      expect(new URL(req.url).pathname).toBe("/api/v1/bookings");
      expect(req.headers.get("idempotency-key")).toMatch(/^[0-9a-f-]{36}$/);
      expect(await req.json()).toEqual({ event_id: EVENT, items: [{ ticket_type_id: GA.id, quantity: 2 }] });
      return new Response(JSON.stringify({ id: "b-1", status: "held" }), { status: 201, headers: { "content-type": "application/json" } });
    });
    vi.stubGlobal("fetch", fetchMock);
    picker(true);
    const more = screen.getByRole("button", { name: "More General admission tickets" });
    fireEvent.click(more);
    fireEvent.click(more);
    fireEvent.click(screen.getByRole("button", { name: "Hold tickets" }));
    await waitFor(() => expect(push).toHaveBeenCalledWith("/bookings/b-1"));
  });

  it("says sold out in words when the database refused the hold", async () => {
    vi.stubGlobal(
      "fetch",
      vi.fn(async (req: Request) =>
        new URL(req.url).pathname === "/api/v1/bookings"
          ? new Response(JSON.stringify({ status: 409, code: "sold_out", title: "Sold out" }), { status: 409, headers: { "content-type": "application/problem+json" } })
          : new Response(JSON.stringify({ ticket_types: [{ ...GA, available: 0 }] }), { status: 200, headers: { "content-type": "application/json" } }),
      ),
    );
    picker(true);
    fireEvent.click(screen.getByRole("button", { name: "More General admission tickets" }));
    fireEvent.click(screen.getByRole("button", { name: "Hold tickets" }));
    expect(await screen.findByText(/not enough tickets left/)).toBeTruthy();
    expect(push).not.toHaveBeenCalled();
    // availability re-read: the type now shows sold out and has no picker
    expect(await screen.findAllByText("Sold out")).not.toHaveLength(0);
  });
});
