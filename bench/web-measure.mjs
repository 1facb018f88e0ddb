// Browser-side figures of the web app, driven by bench/web.sh (which starts
// the platform and passes its URLs). Chromium is Debian's; Playwright's
// library (playwright-core, from web/node_modules) only drives it.
//
//   node bench/web-measure.mjs   (env: WEB_URL, API_URL, EVENT_ID, CHROMIUM_PATH, RUNS, BUYER_EMAIL, BUYER_PASSWORD)
//
// Prints one JSON object on stdout:
//   firstLoadJs: per route, the JavaScript a first visit downloads (same
//                origin scripts), raw bytes and gzip bytes (zlib level 6,
//                what a server's gzip would send);
//   eventPage:   Largest Contentful Paint and Total Blocking Time of the event
//                page at a phone viewport (390x844, touch) with 4x CPU
//                throttling (CDP Emulation.setCPUThrottlingRate), RUNS runs,
//                median and all;
//   purchase:    milliseconds a scripted buyer takes from landing on / to the
//                confirmation of a paid ticket (sign-in at the provider, event
//                page, hold, simulated provider, confirmation), RUNS runs.
import { createRequire } from 'node:module';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '../web/package.json'));
const { chromium } = require('playwright-core');

const WEB_URL = process.env.WEB_URL;
const EVENT_ID = process.env.EVENT_ID;
const RUNS = Number(process.env.RUNS ?? 5);
if (!WEB_URL || !EVENT_ID) throw new Error('WEB_URL and EVENT_ID are required');

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
const phone = {
  viewport: { width: 390, height: 844 },
  deviceScaleFactor: 2,
  isMobile: true,
  hasTouch: true,
  userAgent: 'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Mobile Safari/537.36',
};

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor((s.length - 1) / 2)] : null;
};

async function firstLoadJs(route) {
  const context = await browser.newContext(phone);
  const page = await context.newPage();
  const bodies = new Map();
  page.on('response', (res) => {
    if (res.request().resourceType() === 'script' && new URL(res.url()).origin === new URL(WEB_URL).origin) {
      bodies.set(res.url(), res.body().catch(() => null));
    }
  });
  const nav = await page.goto(`${WEB_URL}${route}`, { waitUntil: 'networkidle' });
  // First-load JS: the scripts the server's HTML itself names (what the page needs to
  // start); "by network idle" adds what the page fetched afterwards (prefetches, lazy chunks).
  const html = await nav.text();
  // (`noModule` scripts are the legacy polyfills a modern browser never downloads.)
  const initial = new Set(
    [...html.matchAll(/<script([^>]*)\ssrc="([^"]+)"([^>]*)>/g)]
      .filter((m) => !/\bnomodule\b/i.test(`${m[1]} ${m[3]}`))
      .map((m) => new URL(m[2].replace(/&amp;/g, '&'), WEB_URL).toString()),
  );
  const sizes = async (urls) => {
    let raw = 0;
    let gzip = 0;
    for (const url of urls) {
      let body = await (bodies.get(url) ?? Promise.resolve(null));
      if (!body) body = await (await page.request.get(url)).body();
      raw += body.length;
      gzip += gzipSync(body, { level: 6 }).length;
    }
    return { files: urls.length, rawBytes: raw, gzipBytes: gzip };
  };
  const first = await sizes([...initial]);
  const all = await sizes([...new Set([...initial, ...bodies.keys()])]);
  await context.close();
  return { route, ...first, byNetworkIdle: all };
}

async function vitals() {
  const context = await browser.newContext(phone);
  const page = await context.newPage();
  await page.addInitScript(() => {
    window.__lcp = 0;
    window.__long = [];
    window.__fcp = 0;
    new PerformanceObserver((l) => { for (const e of l.getEntries()) window.__lcp = e.startTime; })
      .observe({ type: 'largest-contentful-paint', buffered: true });
    new PerformanceObserver((l) => { for (const e of l.getEntries()) window.__long.push([e.startTime, e.duration]); })
      .observe({ type: 'longtask', buffered: true });
    new PerformanceObserver((l) => {
      for (const e of l.getEntries()) if (e.name === 'first-contentful-paint') window.__fcp = e.startTime;
    }).observe({ type: 'paint', buffered: true });
  });
  const cdp = await context.newCDPSession(page);
  await cdp.send('Emulation.setCPUThrottlingRate', { rate: 4 });
  await page.goto(`${WEB_URL}/events/${EVENT_ID}`, { waitUntil: 'networkidle' });
  // LCP is final at the first input; TBT counts long tasks after FCP until the page is quiet (network idle).
  await page.mouse.move(1, 1);
  const v = await page.evaluate(() => ({
    lcp: window.__lcp,
    fcp: window.__fcp,
    tbt: window.__long.filter(([s]) => s >= window.__fcp).reduce((n, [, d]) => n + Math.max(0, d - 50), 0),
  }));
  await context.close();
  return v;
}

async function purchase() {
  const context = await browser.newContext(phone);
  const page = await context.newPage();
  const t0 = performance.now();
  await page.goto(`${WEB_URL}/`);
  await page.getByRole('link', { name: 'Sign in', exact: true }).first().click();
  await page.waitForURL((u) => u.pathname.endsWith('/v1/auth/authorize'));
  await page.getByLabel(/e-?mail/i).fill(process.env.BUYER_EMAIL);
  await page.getByLabel(/password/i).fill(process.env.BUYER_PASSWORD);
  await page.getByRole('button', { name: /sign in/i }).click();
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'My tickets' }).waitFor();
  await page.goto(`${WEB_URL}/events/${EVENT_ID}`);
  await page.getByRole('button', { name: /^More .* tickets$/ }).first().click();
  await page.getByRole('button', { name: 'Hold tickets' }).click();
  await page.getByRole('heading', { name: 'Your tickets are held' }).waitFor();
  const bookingUrl = page.url();
  const popup = context.waitForEvent('page');
  await page.getByRole('button', { name: /^Pay / }).click();
  const provider = await Promise.race([
    popup,
    page.waitForURL((u) => u.pathname.startsWith('/v1/payments/simulated/')).then(() => page),
  ]);
  await provider.getByRole('button', { name: 'Pay', exact: true }).click();
  await provider.getByText(/"received"/).first().waitFor();
  if (provider !== page) await provider.close();
  else await page.goto(bookingUrl);
  await page.getByRole('heading', { name: "You're going!" }).waitFor({ timeout: 60_000 });
  const ms = performance.now() - t0;
  await context.close();
  return ms;
}

const out = { firstLoadJs: [], eventPage: null, purchase: null };
for (const route of ['/', `/events/${EVENT_ID}`, '/register', '/forgot-password']) {
  out.firstLoadJs.push(await firstLoadJs(route));
}
const runs = [];
for (let i = 0; i < RUNS; i++) runs.push(await vitals());
out.eventPage = {
  cpuThrottling: 4,
  viewport: '390x844',
  lcpMs: { median: median(runs.map((r) => r.lcp)), runs: runs.map((r) => Math.round(r.lcp)) },
  tbtMs: { median: median(runs.map((r) => r.tbt)), runs: runs.map((r) => Math.round(r.tbt)) },
  fcpMs: { median: median(runs.map((r) => r.fcp)) },
};
if (process.env.BUYER_EMAIL) {
  const times = [];
  try {
    for (let i = 0; i < RUNS; i++) times.push(await purchase());
    out.purchase = { medianMs: median(times), runsMs: times.map(Math.round) };
  } catch (e) {
    out.purchase = { error: String(e).split('\n')[0], runsMs: times.map(Math.round) };
  }
}
await browser.close();
process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
