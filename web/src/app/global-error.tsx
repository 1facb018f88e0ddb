"use client";

/** Last resort when the root layout itself fails: plain, bilingual, no providers. */
export default function GlobalError({ reset }: { error: Error & { digest?: string }; reset: () => void }) {
  return (
    <html lang="en">
      <body style={{ fontFamily: "system-ui, sans-serif", maxWidth: "32rem", margin: "4rem auto", padding: "0 1rem" }}>
        <h1>Something went wrong · Etwas ist schiefgelaufen</h1>
        <button type="button" onClick={reset} style={{ minHeight: 48, padding: "0 1.25rem" }}>
          Try again · Erneut versuchen
        </button>
      </body>
    </html>
  );
}
