// Volatility statistics per provider and completed hour (ProviderHourStat): providerKpis answers from
// them exactly as from the points, every write that changes an hour's points deletes its row, the
// leader writes the missing rows, and a row never disagrees with the points it summarises.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Prisma, type PrismaClient } from "../../src/generated/prisma/client.ts";
import { getGpuSpec } from "../../src/domain/gpu/specs.ts";
import type { Database } from "../../src/infra/db.ts";
import { providerKpis, VOLATILITY_WINDOW, WINDOW_MS } from "../../src/infra/kpi.ts";
import { logger } from "../../src/infra/logger.ts";
import { rolledWithin, rollUpPriceHistory } from "../../src/infra/price-retention.ts";
import { fillProviderHourStats } from "../../src/infra/provider-hour-stats.ts";
import { createIngestion } from "../../src/ingestion/scheduler.ts";
import { openTestDatabase } from "../support/db.ts";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const KEEP = WINDOW_MS[VOLATILITY_WINDOW];
const floorHour = (t: number) => Math.floor(t / HOUR) * HOUR;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Deterministic pseudo-random numbers (LCG), so a failure replays. */
function rng(seed: number) {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

interface Market { providers: Map<string, number>; offers: Array<{ id: number; provider: string }> }

/**
 * Three providers ("quiet" has offers but no points), 8 offers with ~36 days of points: every 20 min to
 * 9 h, several in some hours, 1 in 5 availability-only.
 */
async function seed(prisma: PrismaClient, now: number, seedValue: number): Promise<Market> {
  const { sources: _s, ...spec } = getGpuSpec("H100-SXM-80GB")!;
  const model = await prisma.gpuModel.create({ data: spec });
  await prisma.provider.createMany({ data: ["alpha", "beta", "quiet"].map((slug) => ({ slug, name: slug, kind: "NEOCLOUD" as const })) });
  const providers = new Map((await prisma.provider.findMany()).map((p) => [p.slug, p.id]));
  const random = rng(seedValue);
  const offers: Market["offers"] = [];
  for (let i = 0; i < 9; i++) {
    const provider = i === 8 ? "quiet" : i % 2 ? "beta" : "alpha";
    const offer = await prisma.gpuOffer.create({ data: {
      providerId: providers.get(provider)!, externalId: `o${i}`, instanceType: "1x", gpuModelId: model.id, gpuName: model.name,
      gpuCount: 1, vramPerGpuGb: 80, vramTotalGb: 80, region: "us-east-1", onDemandPrice: "2.00", pricePerGpuHour: "2.0000", availability: "AVAILABLE",
    } });
    offers.push({ id: offer.id, provider });
    if (provider === "quiet") continue;
    const data: Prisma.PricePointCreateManyInput[] = [];
    let price = 1 + Math.floor(random() * 400) / 100;
    for (let t = now - 36 * DAY + Math.floor(random() * HOUR); t < now - MINUTE; t += 20 * MINUTE + Math.floor(random() * 9 * HOUR)) {
      if (random() >= 0.2) price = Math.max(0.1, Math.round(price * (1 + (random() - 0.5) * 0.2) * 100) / 100);
      data.push({ offerId: offer.id, onDemandPrice: price.toFixed(2), availability: random() < 0.2 ? "LIMITED" : "AVAILABLE", recordedAt: new Date(t) });
    }
    await prisma.pricePoint.createMany({ data }); // in time order: the trigger gives each point its change
  }
  return { providers, offers };
}

/** The volatility parts read as before ProviderHourStat: one range over the raw points, plus rolled-up hours. */
async function volatilityFromPoints(prisma: PrismaClient, providerId: number, now: Date) {
  const from = new Date(now.getTime() - KEEP);
  const [row] = await prisma.$queryRaw<{ priceChanges: number; volatility: number | null }[]>`
    WITH part AS (
      SELECT count(*)::int AS n, sum(pp."changeRatio") AS s, var_pop(pp."changeRatio") * count(*) AS m2
      FROM "PricePoint" pp
      WHERE pp."providerId" = ${providerId} AND pp."recordedAt" > ${from}::timestamp(3) AND pp."recordedAt" <= ${now}::timestamp(3) AND pp."changeRatio" <> 0
      UNION ALL
      SELECT r."priceChanges", r."changeRatioSum", r."changeRatioSquaredDeviations" FROM "PriceRollup" r
      WHERE r."providerId" = ${providerId} AND r."priceChanges" > 0
        AND ${rolledWithin(Prisma.sql`${from}::timestamp(3)`, Prisma.sql`${now}::timestamp(3)`, "(]")}
    ), total AS (SELECT sum(n)::int AS n, sum(s) / NULLIF(sum(n), 0) AS mean FROM part)
    SELECT coalesce(t.n, 0) AS "priceChanges",
           CASE WHEN t.n > 1 THEN sqrt(greatest((SELECT sum(p.m2 + p.n * (p.s / p.n - t.mean) ^ 2) FROM part p WHERE p.n > 0), 0) / (t.n - 1)) END AS volatility
    FROM total t`;
  return row!;
}

/** providerKpis' volatility equals the one read from the points alone, for every provider. */
async function expectSameVolatility(prisma: PrismaClient, market: Market, now: Date) {
  for (const [slug, id] of market.providers) {
    const kpis = await providerKpis(prisma, id, now);
    const expected = await volatilityFromPoints(prisma, id, now);
    expect(kpis.priceChanges, slug).toBe(expected.priceChanges);
    if (expected.volatility === null) expect(kpis.volatility, slug).toBeNull();
    else expect(Math.abs(kpis.volatility! - expected.volatility), `${slug}: ${kpis.volatility} vs ${expected.volatility}`).toBeLessThanOrEqual(1e-6);
  }
}

/** Stat rows that disagree with their hour's points now (there must never be any). */
const staleStats = (prisma: PrismaClient) => prisma.$queryRaw<unknown[]>`
  SELECT s.*, x.* FROM "ProviderHourStat" s
  CROSS JOIN LATERAL (
    SELECT count(*)::int AS n, coalesce(sum(pp."changeRatio"), 0) AS sum, coalesce(var_pop(pp."changeRatio") * count(*), 0) AS m2
    FROM "PricePoint" pp WHERE pp."providerId" = s."providerId" AND pp."recordedAt" >= s.hour AND pp."recordedAt" < s.hour + interval '1 hour'
      AND pp."changeRatio" <> 0) x
  WHERE s."priceChanges" <> x.n OR abs(s."changeRatioSum" - x.sum) > 1e-9 OR abs(s."changeRatioSquaredDeviations" - x.m2) > 1e-9`;

const statHours = async (prisma: PrismaClient, providerId: number) =>
  new Set((await prisma.providerHourStat.findMany({ where: { providerId }, select: { hour: true } })).map((r) => r.hour.getTime()));

describe("ProviderHourStat", () => {
  let db: Database;
  let market: Market;
  const NOW = new Date(floorHour(Date.now()) + 25 * MINUTE);
  const completedHours = (now: Date) => (floorHour(now.getTime()) - floorHour(now.getTime() - KEEP)) / HOUR;

  beforeAll(async () => {
    db = await openTestDatabase();
    market = await seed(db.prisma, NOW.getTime(), 7);
  });
  afterAll(async () => { await db?.close(); });

  it("providerKpis answers from the points while there are no rows", async () => {
    expect(await db.prisma.providerHourStat.count()).toBe(0);
    await expectSameVolatility(db.prisma, market, NOW);
    const alpha = await providerKpis(db.prisma, market.providers.get("alpha")!, NOW);
    expect(alpha.priceChanges).toBeGreaterThan(100);
    expect(alpha.volatility).toBeGreaterThan(0);
  });

  it("the fill writes one row per provider and completed hour of the window, zero counts included, and nothing twice", async () => {
    const run = await fillProviderHourStats(db.prisma, { keepMs: KEEP, now: NOW });
    const hours = completedHours(NOW);
    expect(run).toEqual({ hours, rows: hours * 3, pruned: 0 });
    expect(await db.prisma.providerHourStat.count({ where: { providerId: market.providers.get("quiet")!, priceChanges: { gt: 0 } } })).toBe(0);
    expect(await staleStats(db.prisma)).toEqual([]);
    const first = await db.prisma.providerHourStat.findFirst({ orderBy: { hour: "asc" } });
    const last = await db.prisma.providerHourStat.findFirst({ orderBy: { hour: "desc" } });
    expect([first!.hour.getTime(), last!.hour.getTime()]).toEqual([floorHour(NOW.getTime() - KEEP), floorHour(NOW.getTime()) - HOUR]);
    // Σ of the rows = the raw changes of those hours.
    const alpha = market.providers.get("alpha")!;
    const sum = await db.prisma.providerHourStat.aggregate({ where: { providerId: alpha }, _sum: { priceChanges: true } });
    const raw = await db.prisma.pricePoint.count({ where: { providerId: alpha, changeRatio: { not: 0 },
      recordedAt: { gte: first!.hour, lt: new Date(last!.hour.getTime() + HOUR) } } });
    expect(sum._sum.priceChanges).toBe(raw);
    expect(await fillProviderHourStats(db.prisma, { keepMs: KEEP, now: NOW })).toEqual({ hours: 0, rows: 0, pruned: 0 });
    await expectSameVolatility(db.prisma, market, NOW);
  });

  it("answers the same when a minute later the window starts mid-hour and a new hour has completed", async () => {
    const later = new Date(NOW.getTime() + 50 * MINUTE); // the next hour completed: not yet written
    await expectSameVolatility(db.prisma, market, later);
    expect(await fillProviderHourStats(db.prisma, { keepMs: KEEP, now: later })).toEqual({ hours: 1, rows: 3, pruned: 3 });
    await expectSameVolatility(db.prisma, market, later);
    expect(await fillProviderHourStats(db.prisma, { keepMs: KEEP, now: NOW })).toEqual({ hours: 1, rows: 3, pruned: 0 });
  });

  it("a backdated point deletes the rows of its hour and of its successor's (ratio repair), and the next fill restores them", async () => {
    const offer = market.offers.find((o) => o.provider === "alpha")!;
    const alpha = market.providers.get("alpha")!;
    const at = new Date(floorHour(NOW.getTime() - 10 * DAY) + 7 * MINUTE);
    const successor = await db.prisma.pricePoint.findFirst({ where: { offerId: offer.id, recordedAt: { gt: at } }, orderBy: { recordedAt: "asc" } });
    const before = await statHours(db.prisma, alpha);
    const beta = await statHours(db.prisma, market.providers.get("beta")!);
    expect(before.has(floorHour(at.getTime()))).toBe(true);
    await db.prisma.pricePoint.create({ data: { offerId: offer.id, onDemandPrice: "9.99", availability: "AVAILABLE", recordedAt: at } });
    const after = await statHours(db.prisma, alpha);
    const gone = [...before].filter((h) => !after.has(h)).sort();
    expect(gone).toEqual([...new Set([floorHour(at.getTime()), floorHour(successor!.recordedAt.getTime())])].sort());
    expect(await statHours(db.prisma, market.providers.get("beta")!)).toEqual(beta);
    expect(await staleStats(db.prisma)).toEqual([]);
    await expectSameVolatility(db.prisma, market, NOW);
    expect((await fillProviderHourStats(db.prisma, { keepMs: KEEP, now: NOW })).rows).toBe(gone.length);
    expect(await staleStats(db.prisma)).toEqual([]);
    await expectSameVolatility(db.prisma, market, NOW);
  });

  it("rolling hours up into PriceRollup deletes their rows; the refill counts only the points left raw", async () => {
    const before = await db.prisma.providerHourStat.count();
    const run = await rollUpPriceHistory(db.prisma, { rawDays: 12, now: NOW });
    expect(run.points).toBeGreaterThan(100);
    expect(await db.prisma.providerHourStat.count()).toBeLessThan(before);
    expect(await staleStats(db.prisma)).toEqual([]);
    await expectSameVolatility(db.prisma, market, NOW);
    await fillProviderHourStats(db.prisma, { keepMs: KEEP, now: NOW });
    expect(await db.prisma.providerHourStat.count()).toBe(before);
    expect(await staleStats(db.prisma)).toEqual([]);
    await expectSameVolatility(db.prisma, market, NOW);
  });

  it("stays exact while imports (backdated points among them) run alongside fills", async () => {
    const offers = market.offers.filter((o) => o.provider !== "quiet");
    const random = rng(99);
    const imports = (async () => {
      for (let i = 0; i < 30; i++) {
        const o = offers[i % offers.length]!;
        const at = new Date(NOW.getTime() - Math.floor(random() * 20 * DAY));
        await db.prisma.pricePoint.create({ data: { offerId: o.id, onDemandPrice: (1 + random() * 3).toFixed(2), availability: "AVAILABLE", recordedAt: at } });
      }
    })();
    const fills = (async () => {
      for (let i = 0; i < 10; i++) {
        // Forget the rows so that every fill has hours to write. Under the fill's own lock, as the fill
        // prunes: deleting rows while an import's trigger deletes some of them could deadlock.
        await db.prisma.$transaction(async (tx) => {
          await tx.$executeRawUnsafe(`LOCK TABLE "PricePoint" IN SHARE MODE`);
          await tx.providerHourStat.deleteMany({ where: { hour: { gte: new Date(NOW.getTime() - 20 * DAY) } } });
        });
        await fillProviderHourStats(db.prisma, { keepMs: KEEP, now: NOW });
        expect(await staleStats(db.prisma)).toEqual([]);
      }
    })();
    // Both settle before anything is judged: a failed fill must not leave imports running into the next test.
    for (const r of await Promise.allSettled([imports, fills])) if (r.status === "rejected") throw r.reason;
    expect(await staleStats(db.prisma)).toEqual([]);
    await expectSameVolatility(db.prisma, market, NOW);
  });

  it("drops rows older than the window, and those of a deleted offer's hours", async () => {
    const later = new Date(NOW.getTime() + 2 * DAY);
    const run = await fillProviderHourStats(db.prisma, { keepMs: KEEP, now: later });
    expect(run.pruned).toBe(2 * 24 * 3);
    expect(await db.prisma.providerHourStat.count({ where: { hour: { lt: new Date(floorHour(later.getTime() - KEEP)) } } })).toBe(0);
    await expectSameVolatility(db.prisma, market, later);
    const beta = market.providers.get("beta")!;
    const victim = market.offers.find((o) => o.provider === "beta")!;
    const hoursWithPoints = await db.prisma.$queryRaw<{ n: number }[]>`
      SELECT count(DISTINCT date_trunc('hour', "recordedAt"))::int AS n FROM "PricePoint" pp
      JOIN "ProviderHourStat" s ON s."providerId" = pp."providerId" AND s.hour = date_trunc('hour', pp."recordedAt")
      WHERE pp."offerId" = ${victim.id}`;
    const before = (await statHours(db.prisma, beta)).size;
    await db.prisma.gpuOffer.delete({ where: { id: victim.id } }); // its points go with it (cascade)
    expect((await statHours(db.prisma, beta)).size).toBe(before - hoursWithPoints[0]!.n);
    expect(await staleStats(db.prisma)).toEqual([]);
    await expectSameVolatility(db.prisma, market, later);
  });

  it("TRUNCATE of the history drops every row", async () => {
    expect(await db.prisma.providerHourStat.count()).toBeGreaterThan(0);
    await db.prisma.$executeRawUnsafe(`TRUNCATE "PricePoint"`);
    expect(await db.prisma.providerHourStat.count()).toBe(0);
  });
});

describe("ProviderHourStat on the ingestion leader", () => {
  it("the leader writes the rows after rolling the windows", async () => {
    const db = await openTestDatabase();
    try {
      const market = await seed(db.prisma, Date.now(), 3);
      const ingestion = createIngestion({ prisma: db.prisma, adapters: [], log: logger.child({ component: "hour-stats-test" }), tickMs: 20, windowRollMs: 50, retentionDelayMs: 3_600_000 });
      try {
        ingestion.start();
        const want = completedHours() * 3;
        const end = Date.now() + 20_000;
        while ((await db.prisma.providerHourStat.count()) < want && Date.now() < end) await sleep(100);
        expect(await db.prisma.providerHourStat.count()).toBeGreaterThanOrEqual(want); // an hour may complete meanwhile
      } finally {
        await ingestion.stop();
      }
      expect(await staleStats(db.prisma)).toEqual([]);
      await expectSameVolatility(db.prisma, market, new Date());
    } finally {
      await db.close();
    }
    function completedHours() { const now = Date.now(); return (floorHour(now) - floorHour(now - KEEP)) / HOUR; }
  });
});
