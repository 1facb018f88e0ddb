/* Ticket Gateway service worker (hand-written).
 *
 * - Precaches the app shell (the start page, the offline page, icons, manifest) at install.
 * - Pages of the catalog (/, /events/…) and "my tickets" are network-first, falling back to the
 *   copy from the last visit, then to the offline page.
 * - Ticket QR images (/api/v1/tickets/{id}/qr.svg) are cache-first: once seen, they open in a
 *   basement. Build assets (/_next/static/…, immutable) are cache-first.
 * - Only GET is ever cached; API writes, sign-in and everything else go to the network untouched.
 * - Caches carry VERSION; activation deletes every other version. Signing out drops the
 *   personal caches (tickets).
 */
const VERSION = "v1";
const SHELL = `tg-shell-${VERSION}`;
const PAGES = `tg-pages-${VERSION}`;
const TICKETS = `tg-tickets-${VERSION}`;
const ASSETS = `tg-assets-${VERSION}`;
const KEEP = [SHELL, PAGES, TICKETS, ASSETS];
const OFFLINE = "/offline.html";
const PRECACHE = ["/", OFFLINE, "/manifest.webmanifest", "/icons/icon-192.png", "/icons/icon-512.png", "/icons/maskable-512.png"];

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches
      .open(SHELL)
      .then((c) => c.addAll(PRECACHE.map((u) => new Request(u, { cache: "reload", credentials: "same-origin" }))))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) => Promise.all(keys.filter((k) => k.startsWith("tg-") && !KEEP.includes(k)).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("message", (event) => {
  if (event.data && event.data.type === "signed-out") {
    event.waitUntil(Promise.all([caches.delete(TICKETS), caches.delete(PAGES)]));
  }
});

const isCatalogPage = (p) => p === "/" || p.startsWith("/events/");
const isTicketsPage = (p) => p === "/me/tickets";
const isQr = (p) => /^\/api\/v1\/tickets\/[0-9a-f-]{36}\/qr\.svg$/i.test(p);

async function networkFirst(request, cacheName, fallbackToOffline) {
  const cache = await caches.open(cacheName);
  try {
    const res = await fetch(request);
    if (res.ok && res.type === "basic" && !res.redirected) {
      await cache.put(request, res.clone());
      await trim(cache, cacheName);
    }
    return res;
  } catch (err) {
    const hit = (await cache.match(request, { ignoreVary: true })) || (await caches.match(request, { ignoreVary: true }));
    if (hit) return hit;
    if (fallbackToOffline) {
      const offline = await caches.match(OFFLINE);
      if (offline) return offline;
    }
    throw err;
  }
}

// Build assets are content-hashed, so each deploy adds new names: keep the newest ones only.
const MAX_ENTRIES = { [ASSETS]: 120, [TICKETS]: 200, [PAGES]: 60 };

async function trim(cache, cacheName) {
  const max = MAX_ENTRIES[cacheName];
  if (!max) return;
  const keys = await cache.keys();
  for (const old of keys.slice(0, Math.max(0, keys.length - max))) await cache.delete(old);
}

async function cacheFirst(request, cacheName) {
  const cache = await caches.open(cacheName);
  const hit = await cache.match(request);
  if (hit) return hit;
  const res = await fetch(request);
  if (res.ok && res.type === "basic") {
    await cache.put(request, res.clone());
    await trim(cache, cacheName);
  }
  return res;
}

self.addEventListener("fetch", (event) => {
  const { request } = event;
  if (request.method !== "GET") return; // writes are never cached
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  const path = url.pathname;

  if (path.startsWith("/_next/static/")) {
    event.respondWith(cacheFirst(request, ASSETS));
    return;
  }
  if (isQr(path)) {
    event.respondWith(cacheFirst(request, TICKETS));
    return;
  }
  if (request.mode === "navigate") {
    if (isTicketsPage(path)) event.respondWith(networkFirst(request, TICKETS, true));
    else if (isCatalogPage(path)) event.respondWith(networkFirst(request, PAGES, true));
    else
      event.respondWith(
        fetch(request).catch(async () => (await caches.match(OFFLINE)) || Response.error()),
      );
  }
});
