// Two API processes sharing PostgreSQL and a (private) Redis: a subscriber on A hears ticks from
// the ingestion that runs on B, and notifications raised on B; across a Redis restart every
// notification (the one raised while Redis was down included) and every tick is delivered once, in order.
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer as createNetServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import pg from "pg";
import WebSocket from "ws";
import { createClient, type Client } from "graphql-ws";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase } from "../../src/infra/db.ts";
import { privateRedis } from "../support/redis.ts";

const base = process.env.DATABASE_URL;
const root = join(import.meta.dirname, "..", "..");

async function freePort() {
  const probe = createNetServer().listen(0, "127.0.0.1");
  await once(probe, "listening");
  const { port } = probe.address() as AddressInfo;
  probe.close();
  return port;
}

async function until<T>(check: () => T | undefined | Promise<T | undefined>, what: string, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value as T;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe.runIf(!!base)("scale-out: two API processes, one PostgreSQL, one Redis", () => {
  const dbName = `gpubroker_scale_${randomBytes(4).toString("hex")}`;
  const keyDir = mkdtempSync(join(tmpdir(), "gpubroker-keys-"));
  const processes: ChildProcess[] = [];
  let redisPort = 0;
  let dbUrl = "";
  let a = "";
  let b = "";

  const ownRedis = privateRedis();
  const startRedis = () => ownRedis.start(redisPort);
  const stopRedis = () => ownRedis.stop();

  function startApi(env: Record<string, string>): Promise<string> {
    const { DATABASE_URL: _d, ...parent } = process.env;
    const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
      cwd: root,
      env: {
        ...parent, NODE_ENV: "development", LOG_LEVEL: "info", HOST: "127.0.0.1", PORT: "0",
        DATABASE_URL: dbUrl, REDIS_URL: `redis://127.0.0.1:${redisPort}`, JWT_KEY_DIR: keyDir, ...env,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    processes.push(child);
    let out = "";
    return new Promise((resolve, reject) => {
      child.stdout!.on("data", (d) => {
        out += d;
        const m = /ready at (http:\/\/[^\s"]+)/.exec(out);
        if (m) resolve(m[1]!.replace("localhost", "127.0.0.1"));
      });
      child.stderr!.on("data", (d) => { out += d; });
      child.on("exit", (code) => reject(new Error(`API exited ${code}: ${out.slice(-2000)}`)));
    });
  }

  async function gql(url: string, query: string, variables?: unknown, token?: string) {
    const res = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify({ query, variables }),
    });
    return (await res.json()) as { data?: any; errors?: unknown[] };
  }

  function subscribe(client: Client, query: string) {
    const events: any[] = [];
    const errors: unknown[] = [];
    client.subscribe({ query }, { next: (e) => events.push(e), error: (e) => errors.push(e), complete: () => {} });
    return { events, errors };
  }

  beforeAll(async () => {
    const admin = new pg.Client({ connectionString: base });
    await admin.connect();
    await admin.query(`CREATE DATABASE "${dbName}"`);
    await admin.end();
    const url = new URL(base!);
    url.pathname = `/${dbName}`;
    dbUrl = url.toString();
    await (await openDatabase({ databaseUrl: dbUrl, migrate: true })).close();
    redisPort = await freePort();
    await startRedis();
    // A serves clients and seeds the catalog; B polls (the demo market) and is the only ingester.
    a = await startApi({ INGESTION: "false", SEED_SNAPSHOT: "true" });
    b = await startApi({ INGESTION: "true", DEMO_MARKET: "true", DEMO_MARKET_INTERVAL_SECONDS: "1", SEED_SNAPSHOT: "false" });
  }, 120_000);

  afterAll(async () => {
    await Promise.all(processes.map(async (p) => {
      if (p.exitCode !== null) return;
      const exited = once(p, "exit");
      p.kill("SIGTERM");
      await exited;
    }));
    await stopRedis();
    const admin = new pg.Client({ connectionString: base });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`);
    await admin.end();
    rmSync(keyDir, { recursive: true, force: true });
  });

  it("delivers B's ticks and notifications to A's subscribers, across a Redis restart, and loses no notification", async () => {
    const reg = await gql(a, `mutation { register(email: "scale@example.com", password: "a long and lovely passphrase", name: "S") { accessToken } }`);
    const token = reg.data.register.accessToken as string;
    const client = createClient({ url: a.replace("http", "ws"), webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${token}` }, retryAttempts: 5 });
    try {
      const ticks = subscribe(client, "subscription { priceTicks { cursor offerId provider newOnDemandPrice } }");
      const notes = subscribe(client, "subscription { notifications { id title } }");
      // ingestion runs only on B; A has INGESTION=false, so every tick A streams crossed Redis
      await until(() => ticks.events.length > 0, "a price tick from B's ingestion");
      expect(ticks.errors).toEqual([]);

      const alert = `mutation($n: String!) { createPriceAlert(name: $n, filter: {}, threshold: "100000") { id } }`;
      expect((await gql(b, alert, { n: "before restart" }, token)).errors).toBeUndefined();
      await until(() => notes.events.find((e) => e.data.notifications.title), "a notification raised on B");

      await stopRedis();
      expect((await gql(b, alert, { n: "while Redis is down" }, token)).errors).toBeUndefined();
      await startRedis();

      const seen = ticks.events.length;
      await until(() => ticks.events.length > seen, "ticks after the Redis restart", 30_000);
      expect((await gql(b, alert, { n: "after restart" }, token)).errors).toBeUndefined();
      // the outbox: all three delivered live, in order, once — the one raised while Redis was down included
      await until(() => notes.events.length >= 3, "every notification, the one raised while Redis was down included", 30_000);
      const titles = (events: typeof notes.events) => events.map((e) => (e.data.notifications.title as string).split(":")[0]);
      expect(titles(notes.events)).toEqual(["before restart", "while Redis is down", "after restart"]);
      // ticks: each once, in order (cursors strictly increasing)
      const seqOf = (e: (typeof ticks.events)[number]) => Number(Buffer.from(e.data.priceTicks.cursor as string, "base64url").toString().split(":")[2]);
      const seqs = ticks.events.map(seqOf);
      expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
      expect(new Set(seqs).size).toBe(seqs.length);

      // and the list has one notification per alert
      const listed = await gql(a, `{ notifications(first: 10) { unreadCount edges { node { title } } } }`, undefined, token);
      expect(listed.data.notifications.unreadCount).toBe(3);
      expect(ticks.errors).toEqual([]);
      expect(notes.errors).toEqual([]);
    } finally {
      await client.dispose();
    }
  }, 120_000);
});
