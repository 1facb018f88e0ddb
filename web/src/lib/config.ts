import "server-only";

/** Runtime configuration of the web server, read from the environment on each call (never baked at build). */
export function serverConfig() {
  const apiUrl = trimSlash(process.env.TICKETGW_API_URL ?? "http://127.0.0.1:8080");
  const webUrl = trimSlash(process.env.WEB_URL ?? "http://localhost:3000");
  return {
    apiUrl,
    webUrl,
    issuer: trimSlash(process.env.OIDC_ISSUER ?? apiUrl),
    clientId: process.env.OIDC_CLIENT_ID ?? "ticketgw-web",
    scopes: process.env.OIDC_SCOPES ?? "openid profile email offline_access",
    stripePublishableKey: process.env.STRIPE_PUBLISHABLE_KEY || null,
    recaptchaSiteKey: process.env.RECAPTCHA_SITE_KEY || null,
    production: process.env.NODE_ENV === "production",
  };
}

function trimSlash(s: string): string {
  return s.replace(/\/+$/, "");
}
