/**
 * The installable app: the web app manifest is served and valid, its icons
 * are real PNGs of the declared sizes, the service worker registers and
 * controls the page, and Chromium reports no installability error.
 */
import { expect, test } from "./support/fixtures";

function pngSize(buf: Buffer): { width: number; height: number } {
  expect(buf.subarray(0, 8).toString("hex"), "PNG signature").toBe("89504e470d0a1a0a");
  expect(buf.subarray(12, 16).toString("latin1"), "IHDR first").toBe("IHDR");
  return { width: buf.readUInt32BE(16), height: buf.readUInt32BE(20) };
}

test("the manifest is valid and the service worker controls the page", async ({ page, platform, look }) => {
  await page.goto("/");
  const href = await page.locator('link[rel="manifest"]').getAttribute("href");
  expect(href).toBeTruthy();
  const manifestUrl = new URL(href as string, platform.webUrl).toString();
  const res = await page.request.get(manifestUrl);
  expect(res.status()).toBe(200);
  expect(res.headers()["content-type"]).toMatch(/application\/(manifest\+)?json/);
  const manifest = await res.json();
  expect(manifest.name).toBeTruthy();
  expect(manifest.short_name).toBeTruthy();
  expect(manifest.display).toBe("standalone");
  expect(manifest.theme_color).toMatch(/^#[0-9a-fA-F]{3,8}$/);
  expect(manifest.background_color).toMatch(/^#[0-9a-fA-F]{3,8}$/);
  const start = new URL(manifest.start_url, manifestUrl);
  expect(start.origin).toBe(new URL(platform.webUrl).origin);

  const icons = manifest.icons as { src: string; sizes: string; type?: string; purpose?: string }[];
  for (const wanted of ["192x192", "512x512"]) {
    expect(icons.some((i) => i.sizes.split(" ").includes(wanted)), `an icon of ${wanted}`).toBe(true);
  }
  expect(icons.some((i) => (i.purpose ?? "").split(" ").includes("maskable")), "a maskable icon").toBe(true);
  for (const icon of icons) {
    const r = await page.request.get(new URL(icon.src, manifestUrl).toString());
    expect(r.status(), icon.src).toBe(200);
    const { width, height } = pngSize(await r.body());
    expect(`${width}x${height}`).toBe(icon.sizes.split(" ")[0]);
  }

  // The service worker: registered, active, and controlling after a reload.
  // `ready` resolves as soon as a worker is active, which may still be
  // "activating" (precaching and claiming take longer on a loaded machine):
  // wait for "activated" rather than read the state once.
  const scope = await page.evaluate(async () => (await navigator.serviceWorker.ready).scope);
  expect(scope).toBe(`${platform.webUrl}/`);
  await expect
    .poll(() => page.evaluate(async () => (await navigator.serviceWorker.ready).active?.state ?? null), {
      timeout: 60_000,
    })
    .toBe("activated");
  await page.reload();
  await expect
    .poll(() => page.evaluate(() => navigator.serviceWorker.controller?.state ?? null), { timeout: 60_000 })
    .toBe("activated");

  // Chromium's own installability check (the manifest, icons, the service worker).
  // Playwright's browser contexts are off-the-record profiles, where Chromium
  // never offers an install ("in-incognito"): that one is about the test's
  // profile, not the site, and is the only error allowed.
  const cdp = await page.context().newCDPSession(page);
  await expect
    .poll(async () => {
      const { installabilityErrors } = await cdp.send("Page.getInstallabilityErrors");
      return installabilityErrors.map((e) => e.errorId).filter((id) => id !== "in-incognito");
    }, { timeout: 60_000 })
    .toEqual([]);
  await look(page, "home-installable");
});
