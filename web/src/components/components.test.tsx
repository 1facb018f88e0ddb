import { describe, expect, it, vi, beforeEach, afterEach } from "vitest";
import { act, fireEvent, render, screen } from "@testing-library/react";
import { useState } from "react";
import { WithIntl } from "@/test/intl";
import { QuantityPicker } from "./QuantityPicker";
import { Countdown, announceAt } from "./Countdown";
import { ProblemAlert } from "./ProblemAlert";

function Picker({ max, start = 0 }: { max: number; start?: number }) {
  const [v, setV] = useState(start);
  return <QuantityPicker id="q" name="Standing" value={v} max={max} onChange={setV} />;
}

describe("QuantityPicker", () => {
  it("steps within 0..max with labelled buttons", () => {
    render(
      <WithIntl>
        <Picker max={2} />
      </WithIntl>,
    );
    const field = screen.getByRole("spinbutton", { name: "Quantity for Standing" });
    const more = screen.getByRole("button", { name: "More Standing tickets" });
    const fewer = screen.getByRole("button", { name: "Fewer Standing tickets" });
    expect(fewer).toHaveProperty("disabled", true);
    fireEvent.click(more);
    fireEvent.click(more);
    expect(field).toHaveProperty("value", "2");
    expect(more).toHaveProperty("disabled", true);
    fireEvent.click(fewer);
    expect(field).toHaveProperty("value", "1");
  });

  it("clamps typed values", () => {
    render(
      <WithIntl locale="de">
        <Picker max={4} />
      </WithIntl>,
    );
    const field = screen.getByRole("spinbutton", { name: "Anzahl für Standing" });
    fireEvent.change(field, { target: { value: "9" } });
    expect(field).toHaveProperty("value", "4");
    fireEvent.change(field, { target: { value: "-3" } });
    expect(field).toHaveProperty("value", "0");
  });

  it("is disabled when nothing is left", () => {
    render(
      <WithIntl>
        <Picker max={0} />
      </WithIntl>,
    );
    expect(screen.getByRole("spinbutton")).toHaveProperty("disabled", true);
    expect(screen.getByRole("button", { name: "More Standing tickets" })).toHaveProperty("disabled", true);
  });
});

describe("Countdown", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("announces at full minutes, 30 s and 10 s only", () => {
    const spoken = Array.from({ length: 200 }, (_, i) => 200 - i).filter(announceAt);
    expect(spoken).toEqual([180, 120, 60, 30, 10]);
  });

  it("ticks visibly, speaks sparingly and calls onExpire once", () => {
    const start = Date.parse("2030-01-01T00:00:00Z");
    vi.setSystemTime(start);
    const onExpire = vi.fn();
    render(
      <Countdown
        until={new Date(start + 62_000).toISOString()}
        label="Time left"
        announce={(c) => `${c} left`}
        expiredText="Time is up"
        onExpire={onExpire}
      />,
    );
    const visible = screen.getByTestId("countdown");
    expect(visible.textContent).toBe("1:02");
    const live = document.querySelector("[aria-live=polite]")!;
    expect(live.textContent).toBe("");
    act(() => vi.advanceTimersByTime(2000));
    expect(visible.textContent).toBe("1:00");
    expect(live.textContent).toBe("1:00 left");
    act(() => vi.advanceTimersByTime(5000));
    expect(live.textContent).toBe("1:00 left");
    act(() => vi.advanceTimersByTime(25_000));
    expect(live.textContent).toBe("0:30 left");
    act(() => vi.advanceTimersByTime(31_000));
    expect(visible.textContent).toBe("0:00");
    expect(live.textContent).toBe("Time is up");
    act(() => vi.advanceTimersByTime(5000));
    expect(onExpire).toHaveBeenCalledTimes(1);
  });
});

describe("ProblemAlert", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("counts Retry-After down live and then allows another try", () => {
    const allowed = vi.fn();
    render(
      <WithIntl>
        <ProblemAlert problem={{ status: 429, code: "rate_limited", retryAfter: 3 }} onRetryAllowed={allowed} />
      </WithIntl>,
    );
    expect(screen.getByRole("alert").textContent).toBe("Too many attempts. You can try again in 3 seconds.");
    act(() => vi.advanceTimersByTime(1000));
    expect(screen.getByTestId("retry-countdown").textContent).toContain("2 seconds");
    act(() => vi.advanceTimersByTime(2000));
    expect(allowed).toHaveBeenCalledTimes(1);
  });

  it("lists validation errors per field", () => {
    render(
      <WithIntl locale="de">
        <ProblemAlert problem={{ status: 422, code: "validation_failed", errors: [{ field: "email", message: "not an email" }] }} />
      </WithIntl>,
    );
    expect(screen.getByRole("alert").textContent).toBe("Bitte prüfe die markierten Felder.");
    expect(screen.getByRole("listitem").textContent).toBe("email: not an email");
  });
});
