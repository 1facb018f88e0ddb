/**
 * Browser tests of the web app against the real platform (web/e2e/). Run
 * through `.ci/web-tests`, which builds everything first; by hand:
 *   cargo build -p ticketgw && (cd web && npm run build) && npx playwright test
 * (web/.next/standalone needs .next/static and public beside it; the script
 * copies them).
 *
 * Each project starts its own platform per worker (e2e/support/platform.ts):
 * `ticketgw` on SQLite or on a fresh PostgreSQL database, and the web app's
 * standalone server. Chromium is Debian's (`/usr/bin/chromium`, or
 * CHROMIUM_PATH); Playwright never downloads a browser here.
 *
 * What runs where (2 cores, about ten minutes for the whole script):
 *   sqlite-phone, sqlite-desktop  every journey at both viewports, except those
 *                                 tagged for one viewport (@phone / @desktop);
 *   postgres-phone                the core purchase and the last-ticket race (@postgres).
 */
import { defineConfig } from "@playwright/test";

import type { Backend } from "./e2e/support/platform";

const chromium = {
  executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
};

const phone = {
  viewport: { width: 390, height: 844 },
  deviceScaleFactor: 2,
  isMobile: true,
  hasTouch: true,
  userAgent:
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Mobile Safari/537.36",
};

const desktop = {
  viewport: { width: 1366, height: 900 },
  deviceScaleFactor: 1,
  isMobile: false,
  hasTouch: false,
};

interface Options {
  backend: Backend;
  viewportName: string;
}

export default defineConfig<Options>({
  testDir: "./e2e",
  outputDir: "../target/web-e2e/test-results",
  // Two cores run two servers and a browser: one test at a time.
  workers: 1,
  fullyParallel: false,
  forbidOnly: !!process.env.CI,
  retries: 0,
  timeout: 150_000,
  expect: { timeout: 15_000 },
  reporter: [
    ["list"],
    ["json", { outputFile: "../target/web-e2e/results.json" }],
  ],
  use: {
    browserName: "chromium",
    headless: true,
    launchOptions: chromium,
    locale: "en-GB",
    timezoneId: "Europe/Berlin",
    actionTimeout: 20_000,
    navigationTimeout: 30_000,
    trace: "retain-on-failure",
    screenshot: "only-on-failure",
  },
  projects: [
    {
      name: "sqlite-phone",
      grepInvert: /@desktop/,
      use: { ...phone, backend: "sqlite", viewportName: "phone" },
    },
    {
      name: "sqlite-desktop",
      grepInvert: /@phone/,
      use: { ...desktop, backend: "sqlite", viewportName: "desktop" },
    },
    {
      name: "postgres-phone",
      grep: /@postgres/,
      use: { ...phone, backend: "postgres", viewportName: "phone" },
    },
  ],
});
