/**
 * The local platform writes every mail it sends as an `.eml` file (RFC 5322,
 * MIME) under `$TICKETGW_DATA_DIR/mail/`. These helpers read those files the
 * way a mail client would: headers (RFC 2047 encoded words), multipart bodies,
 * quoted-printable and base64 transfer encodings.
 */
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";

export interface Mail {
  file: string;
  headers: Record<string, string>;
  to: string;
  subject: string;
  /** Every text/plain and text/html part, decoded. */
  texts: string[];
}

function splitHeadBody(raw: string): [string, string] {
  const m = /\r?\n\r?\n/.exec(raw);
  if (!m) return [raw, ""];
  return [raw.slice(0, m.index), raw.slice(m.index + m[0].length)];
}

function parseHeaders(head: string): Record<string, string> {
  const out: Record<string, string> = {};
  const unfolded = head.replace(/\r?\n[ \t]+/g, " ");
  for (const line of unfolded.split(/\r?\n/)) {
    const i = line.indexOf(":");
    if (i <= 0) continue;
    const name = line.slice(0, i).trim().toLowerCase();
    const value = decodeWords(line.slice(i + 1).trim());
    out[name] = out[name] ? `${out[name]}, ${value}` : value;
  }
  return out;
}

/** RFC 2047 encoded words (`=?utf-8?b?...?=`, `=?utf-8?q?...?=`). */
function decodeWords(value: string): string {
  return value
    .replace(/\?=\s+=\?/g, "?==?")
    .replace(/=\?([^?]+)\?([bBqQ])\?([^?]*)\?=/g, (_, _charset: string, enc: string, text: string) => {
      if (enc.toLowerCase() === "b") return Buffer.from(text, "base64").toString("utf8");
      const bytes = text.replace(/_/g, " ");
      return Buffer.from(qpBytes(bytes)).toString("utf8");
    });
}

function qpBytes(s: string): number[] {
  const out: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === "=" && /^[0-9A-Fa-f]{2}$/.test(s.slice(i + 1, i + 3))) {
      out.push(parseInt(s.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      out.push(...Buffer.from(c ?? "", "utf8"));
    }
  }
  return out;
}

function decodeBody(body: string, encoding: string | undefined): string {
  switch ((encoding ?? "7bit").toLowerCase()) {
    case "base64":
      return Buffer.from(body.replace(/\s+/g, ""), "base64").toString("utf8");
    case "quoted-printable":
      return Buffer.from(qpBytes(body.replace(/=\r?\n/g, ""))).toString("utf8");
    default:
      return body;
  }
}

function param(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  const m = new RegExp(`${name}\\s*=\\s*(?:"([^"]*)"|([^;\\s]+))`, "i").exec(header);
  return m ? (m[1] ?? m[2]) : undefined;
}

function collectTexts(headers: Record<string, string>, body: string, out: string[]): void {
  const type = (headers["content-type"] ?? "text/plain").toLowerCase();
  if (type.startsWith("multipart/")) {
    const boundary = param(headers["content-type"], "boundary");
    if (!boundary) return;
    const parts = body.split(`--${boundary}`).slice(1);
    for (const part of parts) {
      if (part.startsWith("--")) break;
      const [h, b] = splitHeadBody(part.replace(/^\r?\n/, ""));
      collectTexts(parseHeaders(h), b, out);
    }
  } else if (type.startsWith("text/")) {
    out.push(decodeBody(body, headers["content-transfer-encoding"]));
  }
}

export function parseMail(file: string): Mail {
  const raw = readFileSync(file, "utf8");
  const [head, body] = splitHeadBody(raw);
  const headers = parseHeaders(head);
  const texts: string[] = [];
  collectTexts(headers, body, texts);
  return { file, headers, to: headers["to"] ?? "", subject: headers["subject"] ?? "", texts };
}

/** Every mail written so far to `to` (case-insensitive), oldest file name first. */
export function mailsTo(mailDir: string, to: string): Mail[] {
  let files: string[];
  try {
    files = readdirSync(mailDir).filter((f) => f.endsWith(".eml"));
  } catch {
    return [];
  }
  return files
    .sort()
    .map((f) => parseMail(path.join(mailDir, f)))
    .filter((m) => m.to.toLowerCase().includes(to.toLowerCase()));
}

/** The first link in a mail to `to` whose URL starts with `prefix` (HTML entities undone). */
export function linkIn(mails: Mail[], prefix: string): string | undefined {
  for (const mail of mails) {
    for (const text of mail.texts) {
      for (const m of text.matchAll(/https?:\/\/[^\s"'<>)\]]+/g)) {
        const url = m[0].replace(/&amp;/g, "&");
        if (url.startsWith(prefix)) return url;
      }
    }
  }
  return undefined;
}
