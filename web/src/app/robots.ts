import type { MetadataRoute } from "next";

export default function robots(): MetadataRoute.Robots {
  const webUrl = process.env.WEB_URL ?? "http://localhost:3000";
  return {
    rules: [{ userAgent: "*", allow: ["/", "/events/"], disallow: ["/api/", "/auth/", "/me/", "/bookings/", "/verify-email", "/reset-password"] }],
    host: webUrl,
  };
}
