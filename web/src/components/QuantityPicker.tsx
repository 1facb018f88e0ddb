"use client";
import { useTranslations } from "next-intl";

/** A number field between − and + buttons, clamped to [0, max]. Arrow keys work on the field. */
export function QuantityPicker({
  id,
  name,
  value,
  max,
  onChange,
  disabled,
}: {
  id: string;
  name: string;
  value: number;
  max: number;
  onChange: (n: number) => void;
  disabled?: boolean;
}) {
  const t = useTranslations("event");
  const clamp = (n: number) => Math.max(0, Math.min(max, Number.isFinite(n) ? Math.trunc(n) : 0));
  const off = disabled || max <= 0;
  return (
    <div className="flex items-center gap-1" role="group" aria-label={t("quantityFor", { name })}>
      <button
        type="button"
        className="flex size-11 items-center justify-center rounded-full border border-gray-400 bg-white text-xl font-semibold text-ink hover:bg-brand-50 disabled:opacity-40"
        aria-label={t("decrease", { name })}
        disabled={off || value <= 0}
        onClick={() => onChange(clamp(value - 1))}
      >
        <span aria-hidden="true">−</span>
      </button>
      <input
        id={id}
        type="number"
        inputMode="numeric"
        min={0}
        max={max}
        step={1}
        value={value}
        disabled={off}
        aria-label={t("quantityFor", { name })}
        onChange={(e) => onChange(clamp(e.target.valueAsNumber))}
        className="h-11 w-14 rounded-lg border border-gray-400 bg-white text-center text-lg font-semibold [appearance:textfield] disabled:bg-gray-100 [&::-webkit-inner-spin-button]:appearance-none"
      />
      <button
        type="button"
        className="flex size-11 items-center justify-center rounded-full border border-gray-400 bg-white text-xl font-semibold text-ink hover:bg-brand-50 disabled:opacity-40"
        aria-label={t("increase", { name })}
        disabled={off || value >= max}
        onClick={() => onChange(clamp(value + 1))}
      >
        <span aria-hidden="true">+</span>
      </button>
    </div>
  );
}
