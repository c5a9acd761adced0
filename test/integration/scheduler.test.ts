import { spawn, type ChildProcess } from "node:child_process";
import { randomInt } from "node:crypto";
import { fileURLToPath } from "node:url";
import { execute, parse } from "graphql";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openTestDatabase } from "../support/db.ts";
import { testClient, testServices, userActor } from "../support/app.ts";
import type { UserActor } from "../../src/services/actor.ts";
import type { Database } from "../../src/infra/db.ts";
import { logger } from "../../src/infra/logger.ts";
import { createLoaders } from "../../src/infra/loaders.ts";
import { createEventLog, type EventLog } from "../../src/infra/event-log.ts";
import type { NotificationEvent, PriceTick } from "../../src/infra/pubsub-types.ts";
import { verifyAuditLog } from "../../src/infra/audit.ts";
import type { CatalogOffer } from "../../src/domain/catalog/types.ts";
import type { FetchReport, ProviderAdapter } from "../../src/ingestion/adapter.ts";
import { syncGpuModels } from "../../src/ingestion/gpu-models.ts";
import { createIngestion, type Ingestion } from "../../src/ingestion/scheduler.ts";
import { schema } from "../../src/graphql/index.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 10_000) {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

const h100 = (id: string, price: string): CatalogOffer => ({
  externalId: id, instanceType: `${id}-type`, gpuName: "H100 SXM", gpuCount: 1, region: "us-east-1", country: "US", onDemandPrice: price,
});

/** A provider that answers with `offers` after `delayMs`, or throws `failure` while it is set. */
function fakeAdapter(slug: string, offers: CatalogOffer[] = [], delayMs = 25) {
  const adapter = {
    slug, offers, calls: 0, failure: null as string | null,
    async fetchOffers(): Promise<FetchReport> {
      adapter.calls++;
      await sleep(delayMs);
      if (adapter.failure) throw new Error(adapter.failure);
      return { offers: adapter.offers, skipped: 0, skipReasons: [], requests: 1 };
    },
  };
  return adapter satisfies ProviderAdapter;
}

const quiet = logger.child({ component: "ingestion-test" });

describe("ingestion runs", () => {
  let db: Database;
  const lambda = fakeAdapter("lambda", [h100("a", "2.50"), h100("b", "3.00")]);
  const vast = fakeAdapter("vast");
  vast.failure = "connect ECONNREFUSED 127.0.0.1:9";
  /** What was committed when ingestion woke the event log: the offer's price and the streams' heads. */
  const kicks: Promise<{ committedPrice: string | undefined; market: number; notification: number }>[] = [];
  let ingestion: Ingestion;
  let events: EventLog;

  beforeAll(async () => {
    db = await openTestDatabase();
    await syncGpuModels(db.prisma);
    events = createEventLog({ prisma: db.prisma, pollMs: 200 });
    ingestion = createIngestion({
      prisma: db.prisma, adapters: [lambda, vast], log: quiet, tickMs: 50,
      events: {
        kick: () => {
          // read outside the import's transaction: only committed rows are visible here
          kicks.push((async () => ({
            committedPrice: (await db.prisma.gpuOffer.findFirst({ where: { externalId: "a" } }))?.onDemandPrice.toFixed(4),
            market: await events.head("market"),
            notification: await events.head("notification"),
          }))());
          events.kick();
        },
      },
    });
  });
  afterAll(async () => { await ingestion?.stop(); await events?.close(); await db?.close(); });

  const health = (slug: string) => db.prisma.provider.findUniqueOrThrow({
    where: { slug },
    select: { healthStatus: true, lastSuccessAt: true, lastErrorAt: true, lastError: true, latencyMs: true, lastPolledAt: true, consecutiveFailures: true },
  });

  it("one provider failing does not stop the other; health records both", async () => {
    const [bad, good] = await Promise.all([ingestion.runProvider("vast"), ingestion.runProvider("lambda")]);
    expect(bad).toMatchObject({ ok: false, healthStatus: "DOWN", error: "connect ECONNREFUSED 127.0.0.1:9", summary: null });
    expect(good).toMatchObject({ ok: true, healthStatus: "HEALTHY", changes: 2, error: null, summary: { inserted: 2, pricePoints: 2 } });
    expect(await db.prisma.gpuOffer.count({ where: { provider: { slug: "lambda" }, active: true } })).toBe(2);

    expect(await health("vast")).toEqual({
      healthStatus: "DOWN", lastSuccessAt: null, lastErrorAt: expect.any(Date), lastError: "connect ECONNREFUSED 127.0.0.1:9",
      latencyMs: expect.any(Number), lastPolledAt: bad.startedAt, consecutiveFailures: 1,
    });
    const lambdaHealth = await health("lambda");
    expect(lambdaHealth).toEqual({
      healthStatus: "HEALTHY", lastSuccessAt: expect.any(Date), lastErrorAt: null, lastError: null,
      latencyMs: expect.any(Number), lastPolledAt: good.startedAt, consecutiveFailures: 0,
    });
    expect(lambdaHealth.latencyMs).toBeGreaterThanOrEqual(20);
    expect(lambdaHealth.latencyMs).toBeLessThan(5_000);
  });

  it("counts consecutive failures, keeps the last error after recovering, and refuses an empty catalog", async () => {
    await ingestion.runProvider("vast");
    expect(await health("vast")).toMatchObject({ healthStatus: "DOWN", consecutiveFailures: 2 });
    vast.failure = null;
    vast.offers = [h100("v1", "1.80")];
    expect(await ingestion.runProvider("vast")).toMatchObject({ ok: true, healthStatus: "HEALTHY" });
    expect(await health("vast")).toMatchObject({ healthStatus: "HEALTHY", consecutiveFailures: 0, lastSuccessAt: expect.any(Date), lastError: "connect ECONNREFUSED 127.0.0.1:9" });

    vast.offers = [];
    expect(await ingestion.runProvider("vast")).toMatchObject({ ok: false, healthStatus: "DOWN", error: expect.stringMatching(/returned no offers/) });
    expect(await db.prisma.gpuOffer.count({ where: { provider: { slug: "vast" }, active: true } })).toBe(1);
  });

  it("writes the import's ticks and notifications in its transaction and wakes the event log after commit", async () => {
    const user = await db.prisma.user.create({ data: { email: "ada@example.com", name: "Ada", passwordHash: "x" } });
    const alert = await db.prisma.priceAlert.create({ data: { userId: user.id, name: "H100 on Lambda", filter: { providers: ["lambda"] }, threshold: "2.00" } });
    const notifications = await events.subscribe("notification");
    const market = await events.head("market");
    const notified = await events.head("notification");
    kicks.length = 0;
    lambda.offers = [h100("a", "1.90"), h100("b", "3.00")];

    const run = await ingestion.runProvider("lambda");
    expect(run).toMatchObject({ ok: true, changes: 1, notifications: 1 });
    // one kick, after the commit: the new price and both events were visible to everyone by then
    expect(kicks).toHaveLength(1);
    expect(await kicks[0]).toEqual({ committedPrice: "1.9000", market: market + 1, notification: notified + 1 });
    expect(await db.prisma.outboxEvent.count({ where: { stream: "market", seq: { gt: market } } })).toBe(1);
    // the tick, read back from the "market" stream after the head the import started from
    const ticks = await events.subscribe("market", { after: market });
    const { seq, payload: tick } = (await ticks.next()).value as { seq: number; payload: PriceTick };
    await ticks.return?.();
    expect(seq).toBe(market + 1);
    expect(tick).toMatchObject({ provider: "lambda", gpuModel: "H100-SXM-80GB", kind: "changed", oldOnDemandPrice: "2.5000", newOnDemandPrice: "1.9000", at: run.startedAt.toISOString() });

    const event = (await notifications.next()).value!.payload as NotificationEvent;
    await notifications.return?.();
    expect(event).toEqual({
      id: expect.any(Number), userId: user.id, alertId: alert.id, kind: "price_alert",
      title: "H100 on Lambda: at or under $2.00/GPU-h", body: "lambda 1x H100 SXM at $1.90/GPU-h in us-east-1 (US).",
      data: expect.objectContaining({ price: "1.90", threshold: "2.00", provider: "lambda" }), createdAt: run.startedAt.toISOString(),
    });
    expect(await db.prisma.notification.count()).toBe(1);

    // nothing changed: no event, no notification, no kick
    expect(await ingestion.runProvider("lambda")).toMatchObject({ ok: true, changes: 0, notifications: 0 });
    expect(kicks).toHaveLength(1);
    expect(await events.head("market")).toBe(market + 1);
  });

  it("an import whose ticks cannot be written is rolled back whole: no price, no event, no gap after", async () => {
    const market = await events.head("market");
    const points = await db.prisma.pricePoint.count();
    kicks.length = 0;
    lambda.offers = [h100("a", "1.80"), h100("b", "3.00")];
    // Without its counter row, appendEvents fails inside the import's transaction.
    await db.prisma.$executeRaw`UPDATE "EventStream" SET name = 'market-off' WHERE name = 'market'`;
    try {
      expect(await ingestion.runProvider("lambda")).toMatchObject({ ok: false, error: expect.stringMatching(/event stream "market" is missing/) });
    } finally {
      await db.prisma.$executeRaw`UPDATE "EventStream" SET name = 'market' WHERE name = 'market-off'`;
    }
    expect((await db.prisma.gpuOffer.findFirstOrThrow({ where: { externalId: "a" } })).onDemandPrice.toFixed(4)).toBe("1.9000");
    expect(await db.prisma.pricePoint.count()).toBe(points);
    expect(await db.prisma.outboxEvent.count({ where: { stream: "market", seq: { gt: market } } })).toBe(0);
    expect(kicks).toHaveLength(0);

    // the next run writes it, numbered right after the last
    expect(await ingestion.runProvider("lambda")).toMatchObject({ ok: true, changes: 1 });
    expect((await db.prisma.outboxEvent.findMany({ where: { stream: "market", seq: { gt: market } } })).map((e) => Number(e.seq))).toEqual([market + 1]);
    expect(kicks).toHaveLength(1);
    await db.prisma.provider.update({ where: { slug: "lambda" }, data: { lastError: null, lastErrorAt: null } }); // the tests below expect a clean record
  });

  it("refreshProvider (admin) polls now, is audited, and says so when the server has no ingestion", async () => {
    const admin = await db.prisma.user.create({ data: { email: "root@example.com", name: "Root", passwordHash: "x", role: "ADMIN" } });
    const doc = parse(`mutation { refreshProvider(slug: " Lambda ") { slug health { status latencyMs lastError } } }`);
    const context = (actor: UserActor, withIngestion = true) => ({
      actor: { ...actor, meta: { ip: "127.0.0.1" } }, services: testServices(db, withIngestion ? { ingestion } : {}),
      prisma: db.prisma, loaders: createLoaders(db.prisma),
    });
    const calls = lambda.calls;
    const res = await execute({ schema, document: doc, contextValue: context(userActor(admin.id, "ADMIN")) });
    expect(res.errors).toBeUndefined();
    expect(res.data).toEqual({ refreshProvider: { slug: "lambda", health: { status: "HEALTHY", latencyMs: expect.any(Number), lastError: null } } });
    expect(lambda.calls).toBe(calls + 1);
    const audit = await db.prisma.auditLogEntry.findFirstOrThrow({ where: { action: "provider.refresh" } });
    expect(audit).toMatchObject({ actorUserId: admin.id, targetType: "Provider", targetId: "lambda", details: expect.objectContaining({ ok: true, healthStatus: "HEALTHY" }) });
    expect((await verifyAuditLog(db.prisma)).ok).toBe(true);

    const user = await execute({ schema, document: doc, contextValue: context(userActor(admin.id, "USER")) });
    expect(user.errors![0]!.extensions.code).toBe("FORBIDDEN");
    const unknown = await execute({ schema, document: parse(`mutation { refreshProvider(slug: "nope") { slug } }`), contextValue: context(userActor(admin.id, "ADMIN")) });
    expect(unknown.errors![0]!.extensions.code).toBe("NOT_FOUND");
    const absent = await execute({ schema, document: doc, contextValue: context(userActor(admin.id, "ADMIN"), false) });
    expect(absent.errors![0]).toMatchObject({ message: expect.stringMatching(/not running/), extensions: { code: "SERVICE_UNAVAILABLE" } });
    // through the real app (no ingestion in its context): the same clear error
    const app = testClient(db);
    const token = (await app.request(`mutation { register(email: "ops@example.com", password: "a long and lovely passphrase", name: "Ops") { accessToken } }`)).data.register.accessToken;
    await db.prisma.user.update({ where: { email: "ops@example.com" }, data: { role: "ADMIN" } });
    const http = await app.request(`mutation { refreshProvider(slug: "lambda") { slug } }`, undefined, { authorization: `Bearer ${token}` });
    expect(http.errors![0]!.extensions!.code).toBe("SERVICE_UNAVAILABLE");
    await app.yoga.dispose();
  });

  it("start() polls each enabled provider on its own interval (embedded mode leads at once) and stop() ends it", async () => {
    await db.prisma.provider.update({ where: { slug: "lambda" }, data: { pollIntervalSeconds: 1 } });
    await db.prisma.provider.update({ where: { slug: "vast" }, data: { enabled: false, pollIntervalSeconds: 1 } });
    const before = { lambda: lambda.calls, vast: vast.calls };
    ingestion.start();
    expect(ingestion.isLeader).toBe(true);
    await sleep(2_600);
    // The leader rolled the KPI price windows forward on taking over (once a minute after that).
    const anchors = await db.prisma.windowAnchor.findMany({ orderBy: { window: "asc" } });
    expect(anchors.map((a) => a.window)).toEqual(["HOURS_24", "DAYS_7", "DAYS_30"]);
    for (const a of anchors) expect(Date.now() - a.rolledAt.getTime()).toBeLessThan(10_000);
    await ingestion.stop();
    expect(ingestion.isLeader).toBe(false);
    const polled = lambda.calls - before.lambda;
    expect(polled).toBeGreaterThanOrEqual(2);
    expect(polled).toBeLessThanOrEqual(4);
    expect(vast.calls).toBe(before.vast);
    await sleep(1_200);
    expect(lambda.calls - before.lambda).toBe(polled);
  });
});

const DATABASE_URL = process.env.DATABASE_URL;

describe.skipIf(!DATABASE_URL)("leader election on PostgreSQL", () => {
  let db: Database;
  // A key of our own: advisory locks are per database, and other test files may run at the same time.
  const lockKey = BigInt(randomInt(1, 2 ** 47)) * 1000n + 7n;
  const running: Ingestion[] = [];
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    db = await openTestDatabase();
    await syncGpuModels(db.prisma);
    await db.prisma.provider.create({ data: { slug: "lambda", name: "Lambda", kind: "NEOCLOUD", pollIntervalSeconds: 1 } });
  });
  afterAll(async () => {
    for (const child of children) child.kill("SIGKILL");
    await Promise.all(running.map((i) => i.stop()));
    await db?.close();
  });

  function instance() {
    const adapter = fakeAdapter("lambda", [h100("a", "2.50")], 5);
    const ingestion = createIngestion({ prisma: db.prisma, adapters: [adapter], databaseUrl: DATABASE_URL, lockKey, log: quiet, tickMs: 50, lockRetryMs: 200 });
    running.push(ingestion);
    return { adapter, ingestion };
  }

  async function holderPid(): Promise<number | null> {
    const admin = new pg.Client({ connectionString: DATABASE_URL });
    await admin.connect();
    try {
      const { rows } = await admin.query<{ pid: number }>(
        `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1
           AND classid::bigint = ($1::bigint >> 32) AND objid::bigint = ($1::bigint & 4294967295)
           AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`, [lockKey.toString()]);
      return rows[0]?.pid ?? null;
    } finally {
      await admin.end();
    }
  }

  it("only one of two instances polls; when the leader stops, the other takes over within one interval", async () => {
    const a = instance();
    const b = instance();
    a.ingestion.start();
    await waitFor("a to lead", () => a.ingestion.isLeader);
    b.ingestion.start();
    await sleep(2_300);
    expect(b.ingestion.isLeader).toBe(false);
    expect(b.adapter.calls).toBe(0);
    expect(a.adapter.calls).toBeGreaterThanOrEqual(2);

    await a.ingestion.stop();
    const stoppedAt = Date.now();
    await waitFor("b to poll", () => b.adapter.calls > 0, 3_000);
    expect(Date.now() - stoppedAt).toBeLessThan(1_500); // the 1 s interval plus the 0.2 s lock retry
    expect(b.ingestion.isLeader).toBe(true);
    const aCalls = a.adapter.calls;
    await sleep(1_200);
    expect(a.adapter.calls).toBe(aCalls);
    await b.ingestion.stop();
  });

  it("a leader whose lock session dies stops polling at once; polling resumes under exactly one leader", async () => {
    const a = instance();
    const b = instance();
    a.ingestion.start();
    await waitFor("a to lead", () => a.ingestion.isLeader);
    b.ingestion.start();
    await sleep(400);
    expect(b.ingestion.isLeader).toBe(false);
    let both = false;
    const watch = setInterval(() => { both ||= a.ingestion.isLeader && b.ingestion.isLeader; }, 5);

    // the database drops the leader's lock connection (a crash, a network cut, a failover)
    const pid = await holderPid();
    expect(pid).not.toBeNull();
    const admin = new pg.Client({ connectionString: DATABASE_URL });
    await admin.connect();
    await admin.query("SELECT pg_terminate_backend($1)", [pid]);
    await admin.end();

    await waitFor("a to notice", () => !a.ingestion.isLeader, 3_000);
    const polls = a.adapter.calls + b.adapter.calls;
    // either may win the next round (a reconnects as a follower), never both
    await waitFor("a new leader", () => a.ingestion.isLeader || b.ingestion.isLeader, 3_000);
    await waitFor("polling to resume", () => a.adapter.calls + b.adapter.calls > polls, 3_000);
    clearInterval(watch);
    expect(both).toBe(false);
    expect(await holderPid()).not.toBe(pid);
    await Promise.all([a.ingestion.stop(), b.ingestion.stop()]);
  });

  it("across OS processes: killing the leading process (SIGKILL) hands ingestion to the survivor", async () => {
    const scheduler = fileURLToPath(new URL("../../src/ingestion/scheduler.ts", import.meta.url));
    const dbModule = fileURLToPath(new URL("../../src/infra/db.ts", import.meta.url));
    const loggerModule = fileURLToPath(new URL("../../src/infra/logger.ts", import.meta.url));
    // The child keeps its data in an in-memory PGlite; only the lock lives on the shared PostgreSQL.
    const script = `
      const { createIngestion } = await import(${JSON.stringify(scheduler)});
      const { openDatabase } = await import(${JSON.stringify(dbModule)});
      const { logger } = await import(${JSON.stringify(loggerModule)});
      const db = await openDatabase({});
      await db.prisma.provider.create({ data: { slug: "lambda", name: "Lambda", kind: "NEOCLOUD", pollIntervalSeconds: 1 } });
      const adapter = { slug: "lambda", async fetchOffers() {
        console.log("polled");
        return { offers: [{ externalId: "a", instanceType: "t", gpuName: "H100 SXM", gpuCount: 1, region: "us", onDemandPrice: "2.50" }], skipped: 0, skipReasons: [], requests: 1 };
      } };
      const ingestion = createIngestion({ prisma: db.prisma, adapters: [adapter], databaseUrl: process.env.LOCK_URL, lockKey: process.env.LOCK_KEY, log: logger, tickMs: 50, lockRetryMs: 200 });
      ingestion.start();
      setInterval(() => { if (ingestion.isLeader) console.log("leader"); }, 100);
    `;
    const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
      env: { ...process.env, LOCK_URL: DATABASE_URL, LOCK_KEY: lockKey.toString(), LOG_LEVEL: "silent" },
      stdio: ["ignore", "pipe", "inherit"],
    });
    children.push(child);
    let out = "";
    child.stdout!.on("data", (chunk) => { out += chunk; });
    await waitFor("the child to lead and poll", () => out.includes("leader") && out.includes("polled"), 30_000);

    const b = instance();
    b.ingestion.start();
    await sleep(1_500);
    expect(b.ingestion.isLeader).toBe(false);
    expect(b.adapter.calls).toBe(0);

    child.kill("SIGKILL");
    const killedAt = Date.now();
    await waitFor("the survivor to poll", () => b.adapter.calls > 0, 5_000);
    expect(Date.now() - killedAt).toBeLessThan(1_500);
    await b.ingestion.stop();
  });
});
