// Issue 12 ("nothing lost"), the races: alert writes against alert evaluation in an import, lock
// conflicts retried then coded, and a provider poll that fetched before a catalog import finished.
// Every interleaving is forced (a gate the test opens, a lock wait seen in pg_locks), never slept for.
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import pg from "pg";
import { openTestDatabase } from "../support/db.ts";
import { testClient, testServices, userActor } from "../support/app.ts";
import type { Database } from "../../src/infra/db.ts";
import { logger } from "../../src/infra/logger.ts";
import type { CatalogOffer } from "../../src/domain/catalog/types.ts";
import type { Notification } from "../../src/generated/prisma/client.ts";
import { applyCatalog } from "../../src/ingestion/catalog-sync.ts";
import { syncGpuModels } from "../../src/ingestion/gpu-models.ts";
import type { FetchReport, ProviderAdapter } from "../../src/ingestion/adapter.ts";
import { createIngestion } from "../../src/ingestion/scheduler.ts";
import { withTxRetry } from "../../src/infra/transactions.ts";
import { evaluateAlerts, lockAlertEvaluation } from "../../src/services/alerts.ts";
import type { UserActor } from "../../src/services/actor.ts";

const PG = !!process.env.DATABASE_URL;
const ALERT_LOCK_KEY = "7453565553868108404"; // src/services/alerts.ts
const quiet = logger.child({ component: "races-test" });

const h100 = (id: string, price: string): CatalogOffer => ({
  externalId: id, instanceType: `${id}-type`, gpuName: "H100 SXM", gpuCount: 1, region: "US-CA-1", country: "US", onDemandPrice: price,
});

/** A promise the test resolves when it chooses. */
function gate<T = void>() {
  let open!: (value: T) => void;
  const opened = new Promise<T>((resolve) => { open = resolve; });
  return { open, opened };
}

describe("races", () => {
  let db: Database;
  let services: ReturnType<typeof testServices>;
  let ada: UserActor;
  let clock = Date.UTC(2026, 10, 26, 12);
  const tick = () => new Date((clock += 60_000));

  beforeAll(async () => {
    db = await openTestDatabase();
    await syncGpuModels(db.prisma);
    await applyCatalog(db.prisma, "runpod", [h100("h1", "2.50")], { now: tick() });
    ada = userActor((await db.prisma.user.create({ data: { email: "ada@example.com", name: "Ada", passwordHash: "x" } })).id);
    services = testServices(db);
  });
  afterAll(async () => { await db?.close(); });

  /**
   * Resolves once a session of this database waits for a lock (PostgreSQL). PGlite runs one
   * transaction at a time, so there the second caller simply queues behind the first: nothing to see.
   */
  async function someoneWaitsForALock() {
    if (!PG) return;
    for (;;) {
      const [row] = await db.prisma.$queryRaw<{ waiting: number }[]>`
        SELECT count(*)::int AS waiting FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE NOT l.granted AND a.datname = current_database()`;
      if (row!.waiting > 0) return;
      await new Promise((r) => setImmediate(r));
    }
  }

  it("createPriceAlert while an import holds the alert lock and notifies the same user: both commit, no deadlock", async () => {
    // Ada's alert fires on the import below, so the import writes her a notification (FK → her User row).
    await services.alerts.createPriceAlert({ name: "H100 under 2", filter: { gpuModels: ["H100"] }, threshold: "2.00" }, ada);
    const held = gate();
    const proceed = gate();
    let notified: Notification[] = [];
    const now = tick();
    const importing = applyCatalog(db.prisma, "runpod", [h100("h1", "1.90")], {
      now,
      onChanges: async (tx, changes) => {
        await lockAlertEvaluation(tx);
        held.open();
        await proceed.opened; // the alert creation is now queued on the lock this import holds
        notified = await evaluateAlerts(tx, changes, now);
      },
    });
    await held.opened;
    const creating = services.alerts.createPriceAlert({ name: "H100 under 3", filter: { gpuModels: ["H100"] }, threshold: "3.00" }, ada);
    await someoneWaitsForALock();
    proceed.open();
    const [imported, created] = await Promise.allSettled([importing, creating]);
    expect(imported.status).toBe("fulfilled");
    expect(created).toMatchObject({ status: "fulfilled", value: { name: "H100 under 3", below: true } });
    expect(notified.map((n) => n.title)).toEqual(["H100 under 2: at or under $2.00/GPU-h"]);
    expect(await db.prisma.notification.count({ where: { userId: ada.id } })).toBe(2); // the import's, and the new alert's at creation
  });

  /** Makes every PriceAlert insert fail with `sqlstate` until `failures` inserts have failed; counts the attempts. */
  async function failAlertInserts(sqlstate: "40P01" | "40001", failures: number) {
    await db.prisma.$executeRawUnsafe(`DROP SEQUENCE IF EXISTS race_attempts`);
    await db.prisma.$executeRawUnsafe(`CREATE SEQUENCE race_attempts`);
    await db.prisma.$executeRawUnsafe(`CREATE OR REPLACE FUNCTION race_fail() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF nextval('race_attempts') <= ${failures} THEN RAISE EXCEPTION 'injected' USING ERRCODE = '${sqlstate}'; END IF;
        RETURN NEW;
      END $$`);
    await db.prisma.$executeRawUnsafe(`DROP TRIGGER IF EXISTS race_fail ON "PriceAlert"`);
    await db.prisma.$executeRawUnsafe(`CREATE TRIGGER race_fail BEFORE INSERT ON "PriceAlert" FOR EACH ROW EXECUTE FUNCTION race_fail()`);
    return async () => Number((await db.prisma.$queryRawUnsafe<{ n: bigint }[]>(`SELECT last_value AS n FROM race_attempts`))[0]!.n);
  }

  it("a deadlock or serialization failure is run again: two injected failures, then createPriceAlert succeeds through GraphQL", async () => {
    const { request } = testClient(db);
    const reg = await request(`mutation { register(email: "cy@example.com", password: "a long and lovely passphrase", name: "Cy") { accessToken } }`);
    const auth = { authorization: `Bearer ${reg.data.register.accessToken}` };
    const CREATE = `mutation ($name: String!) { createPriceAlert(name: $name, threshold: "1.00") { name } }`;
    for (const sqlstate of ["40P01", "40001"] as const) {
      const attempts = await failAlertInserts(sqlstate, 2);
      expect(await request(CREATE, { name: `after two ${sqlstate}` }, auth)).toEqual({ status: 200, data: { createPriceAlert: { name: `after two ${sqlstate}` } } });
      expect(await attempts()).toBe(3);
    }
    await db.prisma.$executeRawUnsafe(`DROP TRIGGER race_fail ON "PriceAlert"`);
  });

  it("when every run collides, the caller gets CONFLICT (retryable), never INTERNAL_SERVER_ERROR, after 3 runs", async () => {
    const { request } = testClient(db);
    const reg = await request(`mutation { register(email: "dee@example.com", password: "a long and lovely passphrase", name: "Dee") { accessToken } }`);
    const auth = { authorization: `Bearer ${reg.data.register.accessToken}` };
    for (const sqlstate of ["40P01", "40001"] as const) {
      const attempts = await failAlertInserts(sqlstate, 1_000);
      const res = await request(`mutation { createPriceAlert(name: "never", threshold: "1.00") { name } }`, {}, auth);
      expect(res.errors).toEqual([{
        message: "Creating the price alert collided with concurrent changes 3 times, so nothing was saved. Try again.",
        path: ["createPriceAlert"], locations: expect.any(Array),
        extensions: { code: "CONFLICT", retryable: true, reason: sqlstate === "40P01" ? "deadlock" : "serialization" },
      }]);
      expect(await attempts()).toBe(3);
    }
    await db.prisma.$executeRawUnsafe(`DROP TRIGGER race_fail ON "PriceAlert"`);
    expect(await db.prisma.priceAlert.count({ where: { name: "never" } })).toBe(0);
  });

  it("recognises the failure from a raw statement too (P2010), as every transaction in the service layer runs them", async () => {
    for (const sqlstate of ["40P01", "40001"]) {
      await db.prisma.$executeRawUnsafe(`DROP SEQUENCE IF EXISTS race_raw`);
      await db.prisma.$executeRawUnsafe(`CREATE SEQUENCE race_raw`);
      const value = await withTxRetry(db.prisma, async (tx) => {
        await tx.$executeRawUnsafe(`DO $$ BEGIN IF nextval('race_raw') = 1 THEN RAISE EXCEPTION 'injected' USING ERRCODE = '${sqlstate}'; END IF; END $$`);
        return "second run";
      });
      expect(value).toBe("second run");
    }
  });

  it.runIf(PG)("PostgreSQL: a real deadlock with a session that takes the locks in the wrong order is retried and the change saved", async () => {
    const alert = await services.alerts.createPriceAlert({ name: "to re-price", threshold: "0.10" }, ada);
    const [{ name }] = await db.prisma.$queryRaw<[{ name: string }]>`SELECT current_database()::text AS name`;
    const url = new URL(process.env.DATABASE_URL!);
    url.pathname = `/${name}`;
    const rogue = new pg.Client({ connectionString: url.toString() });
    await rogue.connect();
    const retried = vi.spyOn(logger, "info");
    try {
      await rogue.query("BEGIN");
      await rogue.query("SET LOCAL deadlock_timeout = '10s'"); // so the service's session (1 s) is the one that detects it
      await rogue.query(`SELECT id FROM "PriceAlert" WHERE id = $1 FOR UPDATE`, [alert.id]); // step 5 first …
      const updating = services.alerts.updatePriceAlert({ id: alert.id, threshold: "0.20" }, ada); // takes 3, waits for 5
      await someoneWaitsForALock();
      const rogueWaits = rogue.query(`SELECT pg_advisory_xact_lock(${ALERT_LOCK_KEY})`); // … then 3: a cycle
      await rogueWaits; // granted once PostgreSQL ended the service's transaction (40P01)
      await rogue.query("COMMIT");
      expect((await updating).threshold.toFixed(2)).toBe("0.20");
      expect(retried).toHaveBeenCalledWith({ kind: "deadlock", attempt: 1, what: "changing the price alert" }, "transaction lost a lock race; running it again");
    } finally {
      retried.mockRestore();
      await rogue.end();
    }
  });

  it("a poll whose fetch began before a catalog import finished is discarded, logged and counted: the import's offers stay active", async () => {
    await applyCatalog(db.prisma, "lambda", [h100("old-1", "2.00"), h100("old-2", "2.10")], { now: tick() });
    const fetching = gate();
    let answer = gate<FetchReport>();
    const lambda: ProviderAdapter = { slug: "lambda", async fetchOffers() { fetching.open(); return answer.opened; } };
    const warned = vi.spyOn(quiet, "warn");
    const ingestion = createIngestion({ prisma: db.prisma, adapters: [lambda], log: quiet });
    try {
      const polling = ingestion.runProvider("lambda");
      await fetching.opened; // the poll asks the provider …
      const imported = await applyCatalog(db.prisma, "lambda", [h100("new-1", "1.80"), h100("new-2", "1.85")], { now: tick() }); // … the operator imports …
      expect(imported).toMatchObject({ inserted: 2, deactivated: 2 });
      answer.open({ offers: [h100("old-1", "2.00"), h100("old-2", "2.10")], skipped: 0, skipReasons: [], requests: 1 }); // … and the old answer arrives
      expect(await polling).toMatchObject({ ok: true, stale: true, summary: null, changes: 0, notifications: 0, healthStatus: "HEALTHY", error: null });

      const active = () => db.prisma.gpuOffer.findMany({ where: { provider: { slug: "lambda" }, active: true }, select: { externalId: true }, orderBy: { externalId: "asc" } });
      expect(await active()).toEqual([{ externalId: "new-1" }, { externalId: "new-2" }]);
      expect(await db.prisma.provider.findUniqueOrThrow({ where: { slug: "lambda" }, select: { staleSnapshots: true, healthStatus: true } })).toEqual({ staleSnapshots: 1, healthStatus: "HEALTHY" });
      expect(warned).toHaveBeenCalledWith({ provider: "lambda", basedOnVersion: 1, latencyMs: expect.any(Number) }, "stale provider snapshot discarded: a catalog was applied while it was fetched");

      // the next poll fetched after the import: it applies
      answer = gate<FetchReport>();
      answer.open({ offers: [h100("new-1", "1.70"), h100("new-2", "1.85")], skipped: 0, skipReasons: [], requests: 1 });
      expect(await ingestion.runProvider("lambda")).toMatchObject({ ok: true, stale: false, changes: 1, summary: { updated: 1, unchanged: 1, deactivated: 0 } });
      expect(await active()).toEqual([{ externalId: "new-1" }, { externalId: "new-2" }]);
      expect((await db.prisma.provider.findUniqueOrThrow({ where: { slug: "lambda" } })).staleSnapshots).toBe(1);
    } finally {
      warned.mockRestore();
      await ingestion.stop();
    }
  });
});
