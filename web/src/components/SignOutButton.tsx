"use client";

/** A plain form post (works without JavaScript); first asks the service worker to forget personal pages. */
export function SignOutButton({ label }: { label: string }) {
  return (
    <form
      method="post"
      action="/auth/signout"
      onSubmit={() => {
        navigator.serviceWorker?.controller?.postMessage({ type: "signed-out" });
      }}
    >
      <button type="submit" className="btn-secondary min-h-11 px-4 text-sm">
        {label}
      </button>
    </form>
  );
}
