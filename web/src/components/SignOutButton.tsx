"use client";

/** A plain form post (works without JavaScript); first asks the service worker to forget personal pages. */
export function SignOutButton({ label, className }: { label: string; className?: string }) {
  return (
    <form
      method="post"
      action="/auth/signout"
      onSubmit={() => {
        navigator.serviceWorker?.controller?.postMessage({ type: "signed-out" });
      }}
    >
      <button type="submit" className={className ?? "inline-flex min-h-11 items-center rounded-lg px-3 text-sm font-medium text-ink hover:bg-brand-50"}>
        {label}
      </button>
    </form>
  );
}
