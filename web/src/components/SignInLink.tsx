"use client";
import { usePathname } from "next/navigation";

// Pages that make no sense to come back to once signed in.
const ACCOUNT_PAGES = /^\/(auth\/|register|verify-email|forgot-password|reset-password)/;

/** "Sign in" that comes back to the page it was pressed on (query included). */
export function SignInLink({ label }: { label: string }) {
  const pathname = usePathname() || "/";
  const href = (path: string) => `/auth/signin?returnTo=${encodeURIComponent(ACCOUNT_PAGES.test(path) ? "/" : path)}`;
  return (
    <a
      href={href(pathname)}
      className="btn-primary min-h-11 px-3 text-sm sm:px-4"
      onClick={(e) => {
        e.currentTarget.href = href(window.location.pathname + window.location.search);
      }}
    >
      {label}
    </a>
  );
}
