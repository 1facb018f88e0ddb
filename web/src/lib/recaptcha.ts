"use client";

declare global {
  interface Window {
    grecaptcha?: { ready(cb: () => void): void; execute(key: string, opts: { action: string }): Promise<string> };
  }
}

let loading: Promise<void> | null = null;

/** A reCAPTCHA v3 token for `action`; the script is loaded only when a site key is configured. */
export function recaptchaToken(siteKey: string, action: string): Promise<string> {
  loading ??= new Promise<void>((resolve, reject) => {
    const s = document.createElement("script");
    s.src = `https://www.google.com/recaptcha/api.js?render=${encodeURIComponent(siteKey)}`;
    s.async = true;
    s.onload = () => resolve();
    s.onerror = () => {
      loading = null;
      reject(new Error("reCAPTCHA did not load"));
    };
    document.head.appendChild(s);
  });
  return loading.then(
    () =>
      new Promise<string>((resolve, reject) => {
        const g = window.grecaptcha;
        if (!g) return reject(new Error("reCAPTCHA missing"));
        g.ready(() => g.execute(siteKey, { action }).then(resolve, reject));
      }),
  );
}
