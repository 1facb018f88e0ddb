// Draws the app icons as real PNGs with no network and no dependencies:
// public/icons/icon-192.png, icon-512.png (rounded), maskable-512.png (full bleed,
// motif inside the 80% safe zone), apple-touch-icon.png (180, opaque).
// Usage: npm run icons
import { deflateSync } from "node:zlib";
import { writeFileSync, mkdirSync } from "node:fs";

const BRAND = [0x43, 0x38, 0xca];
const WHITE = [0xff, 0xff, 0xff];

const crcTable = new Uint32Array(256).map((_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function chunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, "ascii"), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}
function png(size, pixel) {
  const raw = Buffer.alloc(size * (size * 4 + 1));
  for (let y = 0; y < size; y++) {
    raw[y * (size * 4 + 1)] = 0;
    for (let x = 0; x < size; x++) {
      // 4x4 supersampling for smooth edges
      let r = 0, g = 0, b = 0, a = 0;
      for (let sy = 0; sy < 4; sy++)
        for (let sx = 0; sx < 4; sx++) {
          const p = pixel((x + (sx + 0.5) / 4) / size, (y + (sy + 0.5) / 4) / size);
          if (p) { r += p[0] * p[3]; g += p[1] * p[3]; b += p[2] * p[3]; a += p[3]; }
        }
      const o = y * (size * 4 + 1) + 1 + x * 4;
      raw[o] = a ? Math.round(r / a) : 0;
      raw[o + 1] = a ? Math.round(g / a) : 0;
      raw[o + 2] = a ? Math.round(b / a) : 0;
      raw[o + 3] = Math.round((a / 16) * 255);
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0);
  ihdr.writeUInt32BE(size, 4);
  ihdr[8] = 8; ihdr[9] = 6; ihdr[10] = 0; ihdr[11] = 0; ihdr[12] = 0;
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", deflateSync(raw, { level: 9 })),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}
function inRoundRect(x, y, x0, y0, x1, y1, r) {
  if (x < x0 || x > x1 || y < y0 || y > y1) return false;
  const cx = Math.min(Math.max(x, x0 + r), x1 - r);
  const cy = Math.min(Math.max(y, y0 + r), y1 - r);
  return (x - cx) ** 2 + (y - cy) ** 2 <= r * r;
}
// A ticket: a rounded rectangle with a half-circle notch on each side and a perforation.
function ticket(x, y, scale) {
  const c = 0.5, w = 0.62 * scale, h = 0.4 * scale;
  const x0 = c - w / 2, x1 = c + w / 2, y0 = c - h / 2, y1 = c + h / 2;
  if (!inRoundRect(x, y, x0, y0, x1, y1, 0.05 * scale)) return false;
  const nr = 0.07 * scale;
  if ((x - x0) ** 2 + (y - c) ** 2 < nr * nr || (x - x1) ** 2 + (y - c) ** 2 < nr * nr) return false;
  const px = x0 + w * 0.68;
  if (Math.abs(x - px) < 0.012 * scale && Math.floor((y - y0) / (0.05 * scale)) % 2 === 1) return false;
  return true;
}
const rounded = (x, y) => (inRoundRect(x, y, 0, 0, 1, 1, 0.22) ? [...(ticket(x, y, 1) ? WHITE : BRAND), 1] : null);
const fullBleed = (scale) => (x, y) => [...(ticket(x, y, scale) ? WHITE : BRAND), 1];

mkdirSync("public/icons", { recursive: true });
writeFileSync("public/icons/icon-192.png", png(192, rounded));
writeFileSync("public/icons/icon-512.png", png(512, rounded));
writeFileSync("public/icons/maskable-512.png", png(512, fullBleed(0.8)));
writeFileSync("public/icons/apple-touch-icon.png", png(180, fullBleed(0.9)));
console.log("icons written to public/icons");
