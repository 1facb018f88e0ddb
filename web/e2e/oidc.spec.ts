/**
 * Sign-in through an OpenID Provider we did not write, standing in for
 * Keycloak: `oidc-provider` (web/e2e/oidc/provider.mjs). The web app is
 * configured with that issuer (OIDC_ISSUER) and `ticketgw` trusts it
 * (TICKETGW_OIDC_ISSUER, audience `ticketgw`), exactly as a cluster is
 * configured with Keycloak. The buyer signs in at the provider, lands back
 * signed in, and `/v1/me` answers through the web app's proxy with the
 * provider's account. Desktop only (one run is enough).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { createInterface } from "node:readline";

import { expect, test } from "./support/fixtures";
import { signedIn } from "./support/flows";
import { type Platform, freePort, startPlatform, webDir } from "./support/platform";

const providerDir = path.join(webDir, "e2e/oidc");

async function startProvider(webUrl: string): Promise<{ issuer: string; child: ChildProcess }> {
  if (!existsSync(path.join(providerDir, "node_modules/oidc-provider/package.json"))) {
    throw new Error(`oidc-provider is not installed: npm ci --prefix ${providerDir} (.ci/web-tests does it)`);
  }
  const child = spawn(process.execPath, ["provider.mjs"], {
    cwd: providerDir,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", WEB_URL: webUrl },
    stdio: ["pipe", "pipe", "pipe"],
  });
  child.stderr?.on("data", (d: Buffer) => process.stderr.write(`[oidc-provider] ${d}`));
  const lines = createInterface({ input: child.stdout! });
  const issuer = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("oidc-provider did not start within 30 s")), 30_000);
    child.once("exit", (code) => reject(new Error(`oidc-provider exited with ${code}`)));
    lines.on("line", (line) => {
      if (line.startsWith("LISTENING ")) {
        clearTimeout(timer);
        resolve(line.slice("LISTENING ".length).trim());
      }
    });
  });
  return { issuer, child };
}

test("a buyer signs in at an external OpenID Provider and the API knows them", { tag: "@desktop" }, async ({
  page,
  look,
  backend,
}) => {
  const webPort = await freePort();
  const webUrl = `http://127.0.0.1:${webPort}`;
  const provider = await startProvider(webUrl);
  let platform: Platform | null = null;
  try {
    platform = await startPlatform({
      backend,
      label: `oidc-${backend}`,
      webPort,
      apiEnv: { TICKETGW_OIDC_ISSUER: provider.issuer, TICKETGW_OIDC_AUDIENCE: "ticketgw" },
      webEnv: { OIDC_ISSUER: provider.issuer },
    });
    const login = `kc-buyer-${Date.now().toString(36)}@example.test`;

    await page.goto(`${platform.webUrl}/`);
    await page.getByRole("link", { name: "Sign in", exact: true }).first().click();
    // The provider's own sign-in and consent pages (not ours: no axe gate).
    await page.waitForURL((u) => u.origin === provider.issuer);
    await page.getByPlaceholder(/login/i).fill(login);
    await page.getByPlaceholder(/password/i).fill("any password at all");
    await page.getByRole("button", { name: /sign-?in/i }).click();
    await page.getByRole("button", { name: /continue/i }).click();

    await page.waitForURL((u) => u.origin === platform!.webUrl);
    await expect(signedIn(page)).toBeVisible();
    await look(page, "signed-in-external");

    // The browser's calls go through the web app's proxy, which adds the token.
    const me = await page.evaluate(async () => {
      const r = await fetch("/api/v1/me", { headers: { accept: "application/json" } });
      return { status: r.status, body: await r.json() };
    });
    expect(me.status).toBe(200);
    expect(me.body.email).toBe(login);
    expect(me.body.roles).toContain("user");
    // No token ever reaches the page's JavaScript.
    const cookies = await page.evaluate(() => document.cookie);
    expect(cookies).not.toMatch(/eyJ/);
  } finally {
    await platform?.stop();
    provider.child.kill("SIGTERM");
  }
});
