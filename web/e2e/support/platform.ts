/**
 * The real platform under test, started per Playwright worker: the debug
 * `ticketgw` (every function in one process) on SQLite or on a fresh
 * PostgreSQL database, and the web app's production build (Next.js
 * standalone `server.js`), each on a free port of 127.0.0.1. The web
 * server's `WEB_URL` and the API's `TICKETGW_WEB_URL` are the same URL, so
 * the OIDC redirect URI and the links in mails point at this web server.
 *
 * Nothing here is mocked: the browser talks to the web server, which talks
 * to `ticketgw`, which talks to the database.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createWriteStream, existsSync, mkdirSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import path from "node:path";

export type Backend = "sqlite" | "postgres";

/** The repository root (web/e2e/support -> ../../..). */
export const repoRoot = path.resolve(__dirname, "../../..");
export const webDir = path.join(repoRoot, "web");

export interface PlatformOptions {
  backend: Backend;
  /** Extra environment for `ticketgw` (e.g. an external OIDC issuer to trust). */
  apiEnv?: Record<string, string>;
  /** Extra environment for the web server (e.g. another OIDC issuer). */
  webEnv?: Record<string, string>;
  /** A label for the data folder and logs. */
  label?: string;
  /** The web server's port, when something must know its URL before it starts. */
  webPort?: number;
}

export interface Platform {
  backend: Backend;
  apiUrl: string;
  webUrl: string;
  dataDir: string;
  mailDir: string;
  databaseUrl: string;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      if (addr && typeof addr === "object") {
        const { port } = addr;
        srv.close(() => resolve(port));
      } else {
        srv.close(() => reject(new Error("no port")));
      }
    });
  });
}

function ticketgwBin(): string {
  const bin = process.env.E2E_TICKETGW_BIN ?? path.join(repoRoot, "target/debug/ticketgw");
  if (!existsSync(bin)) {
    throw new Error(`${bin} does not exist: build it with \`cargo build -p ticketgw\` (or run .ci/web-tests)`);
  }
  return bin;
}

/** The standalone build (E2E_STANDALONE_DIR: a build made elsewhere, e.g. in a copy of web/). */
function standaloneDir(): string {
  return process.env.E2E_STANDALONE_DIR ?? path.join(webDir, ".next/standalone");
}

function webServerJs(): string {
  const server = path.join(standaloneDir(), "server.js");
  const statics = path.join(standaloneDir(), ".next/static");
  if (!existsSync(server) || !existsSync(statics)) {
    throw new Error(
      `${server} (with .next/static copied beside it) is missing: run \`npm run build\` in web/ ` +
        "and copy .next/static and public into .next/standalone (.ci/web-tests does both)",
    );
  }
  return server;
}

/** The PostgreSQL server the tests may create databases on. */
export function postgresAdminUrl(): string {
  return process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
}

function withDatabase(url: string, db: string): string {
  const u = new URL(url);
  u.pathname = `/${db}`;
  return u.toString();
}

function psql(url: string, sql: string): void {
  execFileSync("psql", ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql], {
    stdio: ["ignore", "pipe", "pipe"],
    timeout: 30_000,
  });
}

async function waitFor(url: string, what: string, child: ChildProcess, log: string, timeoutMs = 90_000) {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < deadline) {
    if (child.exitCode !== null) {
      throw new Error(`${what} exited with ${child.exitCode} before answering; log ${log}:\n${tail(log)}`);
    }
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(5_000) });
      if (res.ok) return;
      last = `HTTP ${res.status}`;
    } catch (e) {
      last = String(e);
    }
    // Polling a process that is starting up; nothing to await but its socket.
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${what} did not answer ${url} within ${timeoutMs} ms (${last}); log ${log}:\n${tail(log)}`);
}

function tail(file: string, lines = 40): string {
  try {
    return readFileSync(file, "utf8").split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

function start(cmd: string, args: string[], env: Record<string, string>, cwd: string, log: string): ChildProcess {
  const out = createWriteStream(log, { flags: "a" });
  const child = spawn(cmd, args, {
    cwd,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/tmp", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout?.pipe(out);
  child.stderr?.pipe(out);
  return child;
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
  await exited;
  clearTimeout(timer);
}

export async function startPlatform(opts: PlatformOptions): Promise<Platform> {
  const id = randomBytes(4).toString("hex");
  const label = `${opts.label ?? opts.backend}-${id}`;
  const dataDir = path.join(repoRoot, "target/web-e2e", label);
  mkdirSync(dataDir, { recursive: true });
  const apiPort = await freePort();
  const webPort = opts.webPort ?? (await freePort());
  const apiUrl = `http://127.0.0.1:${apiPort}`;
  const webUrl = `http://127.0.0.1:${webPort}`;

  let databaseUrl = `sqlite://${path.join(dataDir, "ticketgw.db")}`;
  let dropDatabase: (() => void) | null = null;
  if (opts.backend === "postgres") {
    const admin = postgresAdminUrl();
    const db = `web_e2e_${id}`;
    psql(admin, `CREATE DATABASE ${db}`);
    databaseUrl = withDatabase(admin, db);
    dropDatabase = () => psql(admin, `DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
  }

  const children: ChildProcess[] = [];
  const stop = async () => {
    for (const c of children.reverse()) await stopChild(c);
    if (dropDatabase) {
      try {
        dropDatabase();
      } catch (e) {
        console.error(`dropping the test database failed: ${e}`);
      }
    }
    // The data folder (database, mail, both servers' logs) stays for a reader
    // of a failure; .ci/web-tests empties target/web-e2e before each run.
  };

  try {
    const apiLog = path.join(dataDir, "ticketgw.log");
    const api = start(
      ticketgwBin(),
      [],
      {
        PORT: String(apiPort),
        TICKETGW_BIND: "127.0.0.1",
        TICKETGW_PUBLIC_URL: apiUrl,
        TICKETGW_WEB_URL: webUrl,
        TICKETGW_DATA_DIR: dataDir,
        DATABASE_URL: databaseUrl,
        TICKETGW_DEMO: "1",
        // Every browser of the suite comes from 127.0.0.1: the per-address
        // limits are meant for the internet, not for one test machine.
        TICKETGW_AUTH_RATE_PER_IP: "10000",
        TICKETGW_AUTH_RATE_PER_ACCOUNT: "10000",
        TICKETGW_HOLD_RATE_PER_IP: "0",
        TICKETGW_EXPIRY_INTERVAL_SECS: "2",
        TICKETGW_LOG_FORMAT: "json",
        RUST_LOG: process.env.E2E_RUST_LOG ?? "info",
        ...opts.apiEnv,
      },
      repoRoot,
      apiLog,
    );
    children.push(api);
    await waitFor(`${apiUrl}/readyz`, "ticketgw", api, apiLog);

    const webLog = path.join(dataDir, "web.log");
    const web = start(
      process.execPath,
      [webServerJs()],
      {
        NODE_ENV: "production",
        PORT: String(webPort),
        HOSTNAME: "127.0.0.1",
        WEB_URL: webUrl,
        TICKETGW_API_URL: apiUrl,
        OIDC_ISSUER: apiUrl,
        OIDC_CLIENT_ID: "ticketgw-web",
        SESSION_SECRET: randomBytes(32).toString("base64url"),
        NEXT_TELEMETRY_DISABLED: "1",
        ...opts.webEnv,
      },
      standaloneDir(),
      webLog,
    );
    children.push(web);
    await waitFor(`${webUrl}/`, "the web server", web, webLog);
  } catch (e) {
    await stop();
    throw e;
  }

  return {
    backend: opts.backend,
    apiUrl,
    webUrl,
    dataDir,
    mailDir: path.join(dataDir, "mail"),
    databaseUrl,
    stop,
  };
}
