"use client";

/** The few parts of Stripe.js this app calls (loaded from js.stripe.com only when Stripe is configured). */
interface StripeElement {
  mount(el: HTMLElement): void;
  destroy(): void;
}
interface StripeElements {
  create(type: "payment"): StripeElement;
}
export interface StripeJs {
  elements(opts: { clientSecret: string; locale?: string; appearance?: Record<string, unknown> }): StripeElements;
  confirmPayment(opts: { elements: StripeElements; confirmParams: { return_url: string } }): Promise<{ error?: { message?: string; type?: string } }>;
}
declare global {
  interface Window {
    Stripe?: (key: string) => StripeJs;
  }
}

let loading: Promise<void> | null = null;

export function loadStripe(publishableKey: string): Promise<StripeJs> {
  loading ??= new Promise<void>((resolve, reject) => {
    const s = document.createElement("script");
    s.src = "https://js.stripe.com/v3/";
    s.async = true;
    s.onload = () => resolve();
    s.onerror = () => {
      loading = null;
      reject(new Error("Stripe.js did not load"));
    };
    document.head.appendChild(s);
  });
  return loading.then(() => {
    if (!window.Stripe) throw new Error("Stripe.js missing");
    return window.Stripe(publishableKey);
  });
}
