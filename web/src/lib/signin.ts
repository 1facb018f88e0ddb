"use client";

/**
 * Sign-in is a route handler that redirects to the identity provider, not a page: it needs a
 * full document navigation (a client-side router push would not leave the app).
 */
export function goToSignIn(returnTo: string): void {
  const url = new URL("/auth/signin", window.location.origin);
  url.searchParams.set("returnTo", returnTo);
  window.location.assign(url.toString());
}
