import { describe, expect, it } from "vitest";
import { deriveKey, fromBase64Url, seal, toBase64Url, unseal } from "./crypto";
import { jwtClaims, pkceChallenge, randomToken, safeReturnTo } from "./pkce";
import { readChunks, writeChunks, clearChunks, type CookieJar } from "./store";
import { isSameOriginMutation } from "./origin";
import { checkIdToken } from "./oidc";

const SECRET = "a-test-secret-that-is-long-enough-0123456789";

describe("session cookie encryption (AES-GCM)", () => {
  it("round-trips and authenticates", async () => {
    const key = await deriveKey(SECRET);
    const sealed = await seal(key, { at: "token", exp: 1 }, "tg_session");
    expect(sealed).not.toContain("token");
    expect(await unseal(key, sealed, "tg_session")).toEqual({ at: "token", exp: 1 });
  });

  it("uses a fresh IV each time", async () => {
    const key = await deriveKey(SECRET);
    expect(await seal(key, 1, "a")).not.toBe(await seal(key, 1, "a"));
  });

  it("refuses a tampered value, another key, or another purpose", async () => {
    const key = await deriveKey(SECRET);
    const sealed = await seal(key, { at: "x" }, "tg_session");
    const bytes = fromBase64Url(sealed);
    bytes[bytes.length - 1]! ^= 1;
    expect(await unseal(key, toBase64Url(bytes), "tg_session")).toBeNull();
    expect(await unseal(await deriveKey(`${SECRET}!`), sealed, "tg_session")).toBeNull();
    expect(await unseal(key, sealed, "tg_signin")).toBeNull();
    expect(await unseal(key, "not*base64", "tg_session")).toBeNull();
    expect(await unseal(key, "", "tg_session")).toBeNull();
  });

  it("refuses a short secret", async () => {
    await expect(deriveKey("short")).rejects.toThrow(/32/);
  });

  it("splits a large session over several cookies and joins it back", () => {
    const store = new Map<string, string>();
    const jar: CookieJar = {
      get: (n) => (store.has(n) ? { value: store.get(n)! } : undefined),
      set: (n, v) => store.set(n, v),
      delete: (n) => store.delete(n),
    };
    const big = "x".repeat(9000);
    writeChunks(jar, "tg_session", big, { httpOnly: true, secure: false, sameSite: "lax", path: "/" });
    expect([...store.keys()]).toEqual(["tg_session", "tg_session.1", "tg_session.2"]);
    expect(readChunks(jar, "tg_session")).toBe(big);
    writeChunks(jar, "tg_session", "small", { httpOnly: true, secure: false, sameSite: "lax", path: "/" });
    expect([...store.keys()]).toEqual(["tg_session"]);
    clearChunks(jar, "tg_session");
    expect(store.size).toBe(0);
  });
});

describe("PKCE", () => {
  it("matches RFC 7636's example (appendix B)", async () => {
    expect(await pkceChallenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")).toBe("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
  });

  it("makes 43-character url-safe verifiers", () => {
    const v = randomToken(32);
    expect(v).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(randomToken(32)).not.toBe(v);
  });

  it("returns only to local paths after sign-in", () => {
    expect(safeReturnTo("/events/1?sel=a:1")).toBe("/events/1?sel=a:1");
    expect(safeReturnTo("//evil.example")).toBe("/");
    expect(safeReturnTo("/\\evil.example")).toBe("/");
    expect(safeReturnTo("https://evil.example")).toBe("/");
    expect(safeReturnTo(null)).toBe("/");
  });

  it("checks the ID token's issuer, audience, nonce and expiry", () => {
    const enc = (o: object) => toBase64Url(new TextEncoder().encode(JSON.stringify(o)));
    const d = { issuer: "https://idp", authorization_endpoint: "", token_endpoint: "" };
    const now = Math.floor(Date.now() / 1000);
    const tok = (c: object) => `${enc({ alg: "ES256" })}.${enc(c)}.sig`;
    const good = { iss: "https://idp", aud: "web", nonce: "n1", exp: now + 300 };
    expect(jwtClaims(tok(good))).toMatchObject(good);
    expect(checkIdToken(tok(good), d, "web", "n1")).toBe(true);
    expect(checkIdToken(tok({ ...good, nonce: "other" }), d, "web", "n1")).toBe(false);
    expect(checkIdToken(tok({ ...good, aud: ["x"] }), d, "web", "n1")).toBe(false);
    expect(checkIdToken(tok({ ...good, iss: "https://evil" }), d, "web", "n1")).toBe(false);
    expect(checkIdToken(tok({ ...good, exp: now - 600 }), d, "web", "n1")).toBe(false);
  });
});

describe("cross-site mutation check", () => {
  const h = (o: Record<string, string>) => new Headers(o);
  const allowed = ["http://localhost:3000"];
  it("lets reads through and same-origin writes", () => {
    expect(isSameOriginMutation("GET", h({ origin: "https://evil.example" }), allowed)).toBe(true);
    expect(isSameOriginMutation("POST", h({ origin: "http://localhost:3000" }), allowed)).toBe(true);
    expect(isSameOriginMutation("PATCH", h({ "sec-fetch-site": "same-origin" }), allowed)).toBe(true);
  });
  it("refuses cross-site and origin-less writes", () => {
    expect(isSameOriginMutation("POST", h({ origin: "https://evil.example" }), allowed)).toBe(false);
    expect(isSameOriginMutation("DELETE", h({ "sec-fetch-site": "cross-site" }), allowed)).toBe(false);
    expect(isSameOriginMutation("POST", h({}), allowed)).toBe(false);
  });
});
