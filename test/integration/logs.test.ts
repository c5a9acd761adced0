// Logs an operator can live with: one clear line (no stack) for the conditions they fix at start,
// ingestion's steady state at debug with a periodic info summary, readable lines when asked, and a
// shutdown that gives ingestion leadership away first.
import type { ChildProcess } from "node:child_process";
import { once } from "node:events";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { connect, createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import pg from "pg";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startMain } from "../support/main-process.ts";
import { openTestDatabase } from "../support/db.ts";
import { openDatabase, type Database } from "../../src/infra/db.ts";
import type { CatalogOffer } from "../../src/domain/catalog/types.ts";
import type { FetchReport, ProviderAdapter } from "../../src/ingestion/adapter.ts";
import { syncGpuModels } from "../../src/ingestion/gpu-models.ts";
import { createIngestion, type PollCounts } from "../../src/ingestion/scheduler.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const dataDirs: string[] = [];
afterAll(() => { for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true }); });

/** src/main.ts with a fresh embedded data folder. */
function start(env: Record<string, string>) {
  const dataDir = mkdtempSync(join(tmpdir(), "gpubroker-logs-"));
  dataDirs.push(dataDir);
  return startMain(dataDir, env);
}

const kill = (child: ChildProcess) => { if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL"); };

async function occupiedPort(): Promise<{ port: number; close: () => void }> {
  const server = createServer().listen(0, "127.0.0.1");
  await once(server, "listening");
  return { port: (server.address() as AddressInfo).port, close: () => server.close() };
}

describe("expected conditions at start: one line, no stack, exit code 1", () => {
  it("the port is in use", async () => {
    const taken = await occupiedPort();
    try {
      const app = start({ PORT: String(taken.port) });
      expect(await app.exited).toBe(1);
      const { stdout, stderr } = app.output();
      expect(stderr.trim().split("\n")).toEqual([`cannot listen on 127.0.0.1:${taken.port}: the port is in use (PORT=${taken.port})`]);
      expect(stdout + stderr).not.toMatch(/\n\s+at /);
      expect(stdout).not.toContain("EADDRINUSE");
    } finally {
      taken.close();
    }
  }, 60_000);

  it("the metrics port is in use", async () => {
    const taken = await occupiedPort();
    try {
      const app = start({ METRICS_PORT: String(taken.port), INGESTION: "false" });
      expect(await app.exited).toBe(1);
      const { stdout, stderr } = app.output();
      expect(stderr.trim().split("\n")).toEqual([`cannot listen on 127.0.0.1:${taken.port}: the port is in use (METRICS_PORT=${taken.port})`]);
      expect(stdout + stderr).not.toMatch(/\n\s+at /);
    } finally {
      taken.close();
    }
  }, 60_000);

  it("the database is unreachable: names the server tried, never the password", async () => {
    const app = start({ DATABASE_URL: "postgresql://gpubroker:s3cr3t-passw0rd@127.0.0.1:1/market" });
    expect(await app.exited).toBe(1);
    const { stdout, stderr } = app.output();
    expect(stderr.trim().split("\n")).toEqual([
      'cannot connect to PostgreSQL at 127.0.0.1:1, database "market", user "gpubroker" (DATABASE_URL): connection refused (is PostgreSQL running and listening there?)',
    ]);
    expect(stdout + stderr).not.toContain("s3cr3t");
    expect(stdout + stderr).not.toMatch(/\n\s+at /);
  }, 60_000);

  it.runIf(!!process.env.DATABASE_URL)("the database does not exist", async () => {
    const url = new URL(process.env.DATABASE_URL!);
    url.pathname = `/gpubroker_missing_${randomBytes(4).toString("hex")}`;
    const app = start({ DATABASE_URL: url.toString() });
    expect(await app.exited).toBe(1);
    const { stdout, stderr } = app.output();
    expect(stderr.trim().split("\n")).toEqual([expect.stringMatching(new RegExp(`^cannot connect to PostgreSQL at ${url.hostname}:\\d+, database "${url.pathname.slice(1)}".*: database ".*" does not exist$`))]);
    expect(stdout + stderr).not.toMatch(/\n\s+at /);
  }, 60_000);

  it("a bad LOG_FORMAT is a configuration problem like any other", async () => {
    const app = start({ LOG_FORMAT: "xml" });
    expect(await app.exited).toBe(1);
    expect(app.output().stderr.trim().split("\n")).toEqual(["Invalid configuration:", expect.stringMatching(/^ {2}- LOG_FORMAT: .*\(got "xml"\)$/)]);
  }, 60_000);
});

describe("LOG_FORMAT=pretty", () => {
  it("writes readable lines (not JSON) and still stops cleanly", async () => {
    const app = start({ LOG_FORMAT: "pretty", INGESTION: "false" });
    try {
      await app.ready;
      app.child.kill("SIGTERM");
      expect(await app.exited).toBe(0);
      const lines = app.output().stdout.trim().split("\n");
      expect(lines.length).toBeGreaterThan(2);
      for (const line of lines) expect(line).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] (INFO|WARN|DEBUG): /);
      expect(lines).toContainEqual(expect.stringMatching(/INFO: GPUBroker ready at http:\/\/127\.0\.0\.1:\d+\/graphql/));
      expect(lines).toContainEqual(expect.stringMatching(/INFO: shutting down \{"signal":"SIGTERM"\}$/));
    } finally {
      kill(app.child);
    }
  }, 60_000);
});

// ---------------------------------------------------------------------------------------------------

interface Line { level: number; msg: string; provider?: string; providers?: Record<string, PollCounts>; [key: string]: unknown }

/** A pino logger at debug whose lines land in `lines`, parsed. */
function capturedLogger() {
  const lines: Line[] = [];
  const stream = new Writable({ write(chunk, _enc, done) { for (const l of String(chunk).split("\n")) if (l) lines.push(JSON.parse(l) as Line); done(); } });
  return { log: pino({ level: "debug" }, stream), lines };
}

const INFO = 30;
const offer = (id: string, price: string): CatalogOffer => ({
  externalId: id, instanceType: `${id}-type`, gpuName: "H100 SXM", gpuCount: 1, region: "us-east-1", country: "US", onDemandPrice: price,
});

/** A provider answering `offers()` each poll (or throwing `failure`); `simulated` marks a demo market. */
function adapter(slug: string, offers: () => CatalogOffer[], extra: { failure?: string; simulated?: true } = {}): ProviderAdapter {
  return {
    slug,
    ...(extra.simulated ? { simulated: true } : {}),
    async fetchOffers(): Promise<FetchReport> {
      await sleep(5);
      if (extra.failure) throw new Error(extra.failure);
      return { offers: offers(), skipped: 0, skipReasons: [], requests: 1 };
    },
  };
}

describe("ingestion logs: steady state at debug, a periodic summary at info", () => {
  let db: Database;
  beforeAll(async () => {
    db = await openTestDatabase();
    await syncGpuModels(db.prisma);
  });
  afterAll(async () => { await db?.close(); });

  it("a poll that changed offers is info, quiet and simulated polls are debug, failures warn; the summary counts them all", async () => {
    const { log, lines } = capturedLogger();
    let demoPrice = 100;
    const ingestion = createIngestion({
      prisma: db.prisma, log, summaryMs: 400, tickMs: 60_000, windowRollMs: 0,
      adapters: [
        adapter("lambda", () => [offer("a", "2.50"), offer("b", "3.00")]),
        adapter("vast", () => [], { failure: "connect ECONNREFUSED 127.0.0.1:9" }),
        // the demo market moves a price on every poll
        adapter("runpod", () => [offer("r", (demoPrice++ / 100).toFixed(2))], { simulated: true }),
      ],
    });
    try {
      // First polls, before start(): afterwards no provider is due, so only the polls below run.
      expect((await ingestion.runProvider("lambda")).summary?.inserted).toBe(2);
      expect((await ingestion.runProvider("vast")).ok).toBe(false);
      expect((await ingestion.runProvider("runpod")).summary?.inserted).toBe(1);
      const firstPolls = lines.filter((l) => l.msg === "provider polled");
      expect(firstPolls.map((l) => [l.provider, l.level])).toEqual([["lambda", INFO], ["runpod", 20]]);

      const quietFrom = lines.length;
      ingestion.start();
      const quietPolls = 6;
      for (let i = 0; i < quietPolls; i++) {
        expect((await ingestion.runProvider("lambda")).summary?.unchanged).toBe(2);
        expect((await ingestion.runProvider("runpod")).summary?.updated).toBe(1);
      }
      expect((await ingestion.runProvider("vast")).error).toBe("connect ECONNREFUSED 127.0.0.1:9");

      const summaries = () => lines.filter((l) => l.msg.startsWith("ingestion: "));
      const total = () => {
        const sum: Record<string, PollCounts> = {};
        for (const s of summaries()) {
          for (const [slug, c] of Object.entries(s.providers!)) {
            const t = (sum[slug] ??= { polls: 0, changes: 0, errors: 0, stale: 0 });
            for (const k of ["polls", "changes", "errors", "stale"] as const) t[k] += c[k];
          }
        }
        return sum;
      };
      const expected = {
        lambda: { polls: 1 + quietPolls, changes: 2, errors: 0, stale: 0 },
        runpod: { polls: 1 + quietPolls, changes: 1 + quietPolls, errors: 0, stale: 0 },
        vast: { polls: 2, changes: 0, errors: 2, stale: 0 },
      };
      const deadline = Date.now() + 5_000;
      while (JSON.stringify(total()) !== JSON.stringify(expected) && Date.now() < deadline) await sleep(50);
      expect(total()).toEqual(expected);
      for (const s of summaries()) expect(s.level).toBe(INFO);

      // The quiet phase wrote no info line but the leader's and the summaries.
      const quiet = lines.slice(quietFrom);
      expect(quiet.filter((l) => l.level === INFO && !l.msg.startsWith("ingestion: ")).map((l) => l.msg)).toEqual(["ingestion leader: polling providers"]);
      expect(quiet.filter((l) => l.msg === "provider polled" && l.level === 20)).toHaveLength(2 * quietPolls);
      expect(quiet.filter((l) => l.level === 40).map((l) => [l.msg, l.provider])).toEqual([["provider poll failed", "vast"]]);
      expect(summaries().at(-1)!.msg).toMatch(/^ingestion: \d+ polls? of \d providers?, \d+ offers? changed, \d+ failed$/);

      // Nothing happened since: no more summaries.
      const count = summaries().length;
      await sleep(1_000);
      expect(summaries()).toHaveLength(count);
    } finally {
      await ingestion.stop();
    }
    // stop() releases leadership with an info line, not a warning
    expect(lines.filter((l) => /leadership/.test(l.msg)).map((l) => [l.level, l.msg])).toEqual([[INFO, "ingestion stopped: leadership released"]]);
  }, 30_000);
});

// ---------------------------------------------------------------------------------------------------

describe.runIf(!!process.env.DATABASE_URL)("graceful shutdown on PostgreSQL", () => {
  const base = process.env.DATABASE_URL!;
  const dbName = `gpubroker_logs_${randomBytes(4).toString("hex")}`;
  let dbUrl = "";
  let admin: pg.Client;

  beforeAll(async () => {
    admin = new pg.Client({ connectionString: base });
    await admin.connect();
    await admin.query(`CREATE DATABASE "${dbName}"`);
    const url = new URL(base);
    url.pathname = `/${dbName}`;
    dbUrl = url.toString();
    await (await openDatabase({ databaseUrl: dbUrl, migrate: true })).close();
  }, 60_000);

  afterAll(async () => {
    await admin.query(`DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`);
    await admin.end();
  });

  const lockHeld = async () => (await admin.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
     WHERE l.locktype = 'advisory' AND l.granted AND a.application_name = 'gpubroker-ingestion-lock' AND a.datname = $1`, [dbName])).rows[0]!.n > 0;

  it("SIGTERM releases the ingestion lock at once (within a second), lets a request in flight finish, and exits 0", async () => {
    const keyDir = mkdtempSync(join(tmpdir(), "gpubroker-keys-"));
    dataDirs.push(keyDir);
    // The demo market polls every second, so a poll may be under way when the signal comes.
    const app = start({ DATABASE_URL: dbUrl, INGESTION: "true", DEMO_MARKET: "true", DEMO_MARKET_INTERVAL_SECONDS: "1", JWT_KEY_DIR: keyDir });
    try {
      const url = await app.ready;
      const metricsUrl = new URL("/metrics", url).toString();
      const deadline = Date.now() + 20_000;
      for (;;) {
        const text = await (await fetch(metricsUrl)).text();
        if (/^gpubroker_ingestion_leader 1$/m.test(text)) break;
        if (Date.now() > deadline) throw new Error(`never led: ${app.output().stdout.slice(-2000)}`);
        await sleep(100);
      }
      expect(await lockHeld()).toBe(true);
      await sleep(1_500); // let the demo market poll

      // A request in flight: its body is still coming when the signal arrives (the server waits for it).
      const body = JSON.stringify({ query: "{ __typename }" });
      const socket = connect(Number(new URL(url).port), "127.0.0.1");
      await once(socket, "connect");
      let response = "";
      socket.on("data", (d) => { response += d; });
      socket.write(`POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body.slice(0, 5)}`);
      await sleep(100);

      const signalled = Date.now();
      app.child.kill("SIGTERM");
      while (await lockHeld()) {
        if (Date.now() - signalled > 5_000) break;
        await sleep(10);
      }
      const releasedAfterMs = Date.now() - signalled;
      expect(await lockHeld()).toBe(false);
      expect(releasedAfterMs).toBeLessThan(1_000);
      expect(app.child.exitCode).toBeNull(); // still serving the request in flight

      const closed = once(socket, "close");
      socket.end(body.slice(5));
      await closed;
      expect(response).toMatch(/^HTTP\/1\.1 200 /);
      expect(response).toContain('{"data":{"__typename":"Query"}}');
      expect(await app.exited).toBe(0);

      const messages = app.output().stdout.trim().split("\n").map((l) => (JSON.parse(l) as Line).msg);
      const at = (m: string) => messages.indexOf(m);
      expect(at("shutting down")).toBeGreaterThan(-1);
      // leadership went first, the rest after
      expect(at("ingestion stopped: leadership released")).toBeGreaterThan(at("shutting down"));
      expect(at("stopped")).toBeGreaterThan(at("ingestion stopped: leadership released"));
      expect(app.output().stderr).toBe("");
    } finally {
      kill(app.child);
    }
  }, 90_000);
});
