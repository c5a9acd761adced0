// Price-history retention: raw points older than the raw period become one PriceRollup row per offer and
// hour, and every reader (priceHistory, gpuKpis, providerKpis, marketOverview, marketInsights, the
// WindowPrice rows) answers for old windows as it did from the points.
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Prisma, type PrismaClient } from "../../src/generated/prisma/client.ts";
import { getGpuSpec } from "../../src/domain/gpu/specs.ts";
import type { Database } from "../../src/infra/db.ts";
import { gpuKpis, marketInsights, marketOverview, providerKpis } from "../../src/infra/kpi.ts";
import { logger } from "../../src/infra/logger.ts";
import { createMetrics } from "../../src/infra/metrics.ts";
import { priceHistory, type HistoryBucket } from "../../src/infra/offers.ts";
import { rollupCutoff, rollUpPriceHistory } from "../../src/infra/price-retention.ts";
import { PRICE_WINDOW_MS, priceAsOf, rollPriceWindows, type PriceWindowKey } from "../../src/infra/price-windows.ts";
import { applyCatalog } from "../../src/ingestion/catalog-sync.ts";
import { createIngestion } from "../../src/ingestion/scheduler.ts";
import { openTestDatabase } from "../support/db.ts";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const WINDOWS = Object.keys(PRICE_WINDOW_MS) as PriceWindowKey[];
const floorHour = (t: number) => Math.floor(t / HOUR) * HOUR;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Deterministic pseudo-random numbers (LCG), so a failure replays. */
function rng(seed: number) {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

type Availability = "AVAILABLE" | "LIMITED" | "UNAVAILABLE";
interface Point { at: Date; price: string; spot: string | null; availability: Availability }

const specRow = (name: string) => { const { sources: _s, ...spec } = getGpuSpec(name)!; return spec; };

/**
 * Random walks over ~40 days before `now`: a point every 2 hours to 3 days, a third of them with 1–3 more
 * points later in the same hour; 1 in 5 changes availability only. Some offers stop 33 days ago (their
 * latest hour is old and stays raw), one has no points, one is withdrawn.
 */
function history(random: () => number, now: number, i: number): Point[] {
  if (i === 11) return [];
  const points: Point[] = [];
  let t = now - 40 * DAY + Math.floor(random() * 2 * DAY);
  const end = i % 5 === 4 ? now - 33 * DAY : now - HOUR;
  let price = 1 + Math.floor(random() * 400) / 100;
  let availability: Availability = "AVAILABLE";
  const push = (at: number) => {
    if (random() < 0.2) availability = (["AVAILABLE", "LIMITED", "UNAVAILABLE"] as const)[Math.floor(random() * 3)]!;
    else price = Math.max(0.1, Math.round(price * (1 + (random() - 0.5) * 0.16) * 100) / 100);
    points.push({ at: new Date(at), price: price.toFixed(2), spot: i % 2 ? null : (price * 0.6).toFixed(2), availability });
  };
  while (t < end) {
    push(t);
    if (random() < 0.33) {
      const hourEnd = floorHour(t) + HOUR;
      for (let k = Math.floor(random() * 3); k >= 0; k--) {
        const next = t + 1 + Math.floor(random() * (hourEnd - t - 1));
        if (next <= t || next >= hourEnd) break;
        t = next;
        push(t);
      }
    }
    t += 2 * HOUR + Math.floor(random() * 3 * DAY);
  }
  return points;
}

interface Market { offers: number[]; models: Map<string, number>; providers: Map<string, number> }

/** 12 offers of two providers and two GPU models (1–8 GPUs), with `history`, plus `extra` offers. */
async function seedMarket(prisma: PrismaClient, now: number, seed: number, extra: Array<{ key: string; model: string; provider: string; points: Point[] }> = []): Promise<Market> {
  await prisma.gpuModel.createMany({ data: ["H100-SXM-80GB", "A100-SXM-80GB", "RTX-4090"].map(specRow) });
  await prisma.provider.createMany({ data: ["alpha", "beta", "delta"].map((slug) => ({ slug, name: slug, kind: "NEOCLOUD" as const })) });
  const models = new Map((await prisma.gpuModel.findMany()).map((m) => [m.name, m.id]));
  const providers = new Map((await prisma.provider.findMany()).map((p) => [p.slug, p.id]));
  const random = rng(seed);
  const offers: number[] = [];
  const rows = [
    ...Array.from({ length: 12 }, (_, i) => ({ key: `o${i}`, model: i % 3 ? "H100-SXM-80GB" : "A100-SXM-80GB", provider: i % 2 ? "beta" : "alpha", points: history(random, now, i) })),
    ...extra,
  ];
  for (const [i, o] of rows.entries()) {
    const gpus = [1, 2, 4, 8][i % 4]!;
    const last = o.points.at(-1) ?? { price: "2.00", spot: null, availability: "AVAILABLE" as const };
    const per = (v: string) => new Prisma.Decimal(v).div(gpus).toFixed(4);
    const offer = await prisma.gpuOffer.create({ data: {
      providerId: providers.get(o.provider)!, externalId: o.key, instanceType: `${gpus}x`, gpuModelId: models.get(o.model)!, gpuName: o.model,
      gpuCount: gpus, vramPerGpuGb: 80, vramTotalGb: 80 * gpus, region: "us-east-1",
      onDemandPrice: last.price, pricePerGpuHour: per(last.price), spotPrice: last.spot, spotPricePerGpuHour: last.spot ? per(last.spot) : null,
      availability: last.availability, active: i !== 10,
    } });
    // One statement in time order: the insert trigger gives every point its change against the previous one.
    if (o.points.length) {
      await prisma.pricePoint.createMany({ data: o.points.map((p) => ({
        offerId: offer.id, onDemandPrice: p.price, spotPrice: p.spot, availability: p.availability, recordedAt: p.at })) });
    }
    offers.push(offer.id);
  }
  return { offers, models, providers };
}

/** Every reader of the history, as JSON: the KPIs at `now` and priceHistory over old and mixed ranges. */
async function readers(prisma: PrismaClient, market: Market, now: Date): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const [name, id] of market.models) out[`gpuKpis ${name}`] = JSON.stringify(await gpuKpis(prisma, id, now));
  for (const [slug, id] of market.providers) out[`providerKpis ${slug}`] = JSON.stringify(await providerKpis(prisma, id, now));
  out.marketOverview = JSON.stringify(await marketOverview(prisma));
  for (const w of WINDOWS) out[`marketInsights ${w}`] = JSON.stringify(await marketInsights(prisma, now, w, 5));
  // Bounds in rolled-up time on the hour (no rolled hour straddles them); the last range starts in the raw period.
  const t = now.getTime();
  const ranges: Array<[HistoryBucket, number, number]> = [
    ["HOUR", floorHour(t - 34 * DAY), t - 29 * DAY],
    ["DAY", floorHour(t - 41 * DAY), t],
    ["WEEK", floorHour(t - 45 * DAY), t],
    ["DAY", floorHour(t - 38 * DAY), floorHour(t - 20 * DAY)],
    ["HOUR", t - 29.5 * DAY, t - 28 * DAY],
  ];
  for (const [bucket, from, to] of ranges) {
    const range = { from: new Date(from), to: new Date(to), bucket };
    for (const offerId of market.offers) out[`priceHistory offer ${offerId} ${bucket} ${from}`] = JSON.stringify(await priceHistory(prisma, { offerId, ...range }));
    for (const [name, gpuModelId] of market.models) out[`priceHistory ${name} ${bucket} ${from}`] = JSON.stringify(await priceHistory(prisma, { gpuModelId, ...range }));
  }
  return out;
}

/** The same readers with every then-price probed from the history (the window anchors set aside). */
async function readersFromHistory(prisma: PrismaClient, market: Market, now: Date) {
  const anchors = await prisma.windowAnchor.findMany();
  await prisma.windowAnchor.deleteMany();
  try {
    return await readers(prisma, market, now);
  } finally {
    await prisma.windowAnchor.createMany({ data: anchors });
  }
}

/** WindowPrice rows that differ from what the history now says (the "WindowPrice_fresh" view). */
const staleWindowRows = (prisma: PrismaClient) => prisma.$queryRaw<unknown[]>`
  SELECT wp.*, f.price AS "freshPrice", f."nextAt" AS "freshNextAt" FROM "WindowPrice" wp
  JOIN "WindowPrice_fresh" f ON f."offerId" = wp."offerId" AND f."window" = wp."window"
  WHERE (wp.price, wp."nextAt", wp.change) IS DISTINCT FROM (f.price, f."nextAt", f.change)`;

interface RawPoint {
  id: bigint; offerId: number; providerId: number | null; onDemandPrice: Prisma.Decimal; spotPrice: Prisma.Decimal | null;
  availability: string; changeRatio: number | null; recordedAt: Date;
}
const rawPoints = (prisma: PrismaClient) => prisma.pricePoint.findMany({ orderBy: [{ offerId: "asc" }, { recordedAt: "asc" }, { id: "asc" }] }) as Promise<RawPoint[]>;
const rollups = (prisma: PrismaClient) => prisma.priceRollup.findMany({ orderBy: [{ offerId: "asc" }, { hour: "asc" }] });
const totalPoints = async (prisma: PrismaClient) =>
  (await prisma.pricePoint.count()) + ((await prisma.priceRollup.aggregate({ _sum: { points: true } }))._sum.points ?? 0);

/** What the roll-up must write, computed here from the raw points: per offer and hour before `cutoff`, all but each offer's latest hour. */
function expectedRollups(points: RawPoint[], cutoff: Date) {
  const latestHour = new Map<number, number>();
  for (const p of points) latestHour.set(p.offerId, Math.max(latestHour.get(p.offerId) ?? 0, floorHour(p.recordedAt.getTime())));
  const groups = new Map<string, RawPoint[]>();
  for (const p of points) {
    const hour = floorHour(p.recordedAt.getTime());
    if (p.recordedAt >= cutoff || hour >= latestHour.get(p.offerId)!) continue;
    const key = `${p.offerId} ${hour}`;
    groups.set(key, [...(groups.get(key) ?? []), p]);
  }
  return [...groups.values()].map((g) => {
    const prices = g.map((p) => p.onDemandPrice);
    const last = g.at(-1)!; // ordered by recordedAt, id
    const changes = g.map((p) => p.changeRatio).filter((r): r is number => r !== null && r !== 0);
    const mean = changes.reduce((a, b) => a + b, 0) / (changes.length || 1);
    return {
      offerId: g[0]!.offerId, hour: new Date(floorHour(g[0]!.recordedAt.getTime())), providerId: g[0]!.providerId, points: g.length,
      onDemandMin: Prisma.Decimal.min(...prices).toFixed(4), onDemandMax: Prisma.Decimal.max(...prices).toFixed(4),
      onDemandSum: prices.reduce((a, b) => a.plus(b), new Prisma.Decimal(0)).toFixed(4),
      firstRecordedAt: g[0]!.recordedAt, lastRecordedAt: last.recordedAt, lastOnDemandPrice: last.onDemandPrice.toFixed(4),
      lastSpotPrice: last.spotPrice?.toFixed(4) ?? null, lastAvailability: last.availability,
      priceChanges: changes.length, changeRatioSum: changes.reduce((a, b) => a + b, 0),
      changeRatioSquaredDeviations: changes.reduce((a, r) => a + (r - mean) ** 2, 0),
    };
  }).sort((a, b) => a.offerId - b.offerId || a.hour.getTime() - b.hour.getTime());
}

const plainRollup = (r: Awaited<ReturnType<typeof rollups>>[number]) => ({
  ...r, onDemandMin: r.onDemandMin.toFixed(4), onDemandMax: r.onDemandMax.toFixed(4), onDemandSum: r.onDemandSum.toFixed(4),
  lastOnDemandPrice: r.lastOnDemandPrice.toFixed(4), lastSpotPrice: r.lastSpotPrice?.toFixed(4) ?? null,
});

describe("price history retention (30 days raw, the default)", () => {
  let db: Database;
  let market: Market;
  // 30 s past an hour: the leader's last window roll (a minute ago) put the 30-day anchor 30 s before the
  // first hour kept raw, inside the last rolled hour, where the "edge" offer has points on both sides of it.
  const NOW = new Date(floorHour(Date.now()) + 30_000);
  const CUTOFF = rollupCutoff(NOW, 30);
  const edgePoints: Point[] = [
    { at: new Date(NOW.getTime() - 38 * DAY), price: "2.90", spot: null, availability: "AVAILABLE" },
    { at: new Date(CUTOFF.getTime() - 50 * MINUTE), price: "3.00", spot: null, availability: "AVAILABLE" },
    { at: new Date(CUTOFF.getTime() - 10_000), price: "3.30", spot: null, availability: "LIMITED" },
    { at: new Date(NOW.getTime() - 5 * DAY), price: "3.60", spot: null, availability: "AVAILABLE" },
  ];
  let before: Record<string, string>;
  let pointsBefore: RawPoint[];

  beforeAll(async () => {
    db = await openTestDatabase();
    market = await seedMarket(db.prisma, NOW.getTime(), 11, [{ key: "edge", model: "H100-SXM-80GB", provider: "alpha", points: edgePoints }]);
    await rollPriceWindows(db.prisma, new Date(NOW.getTime() - MINUTE));
    before = await readers(db.prisma, market, NOW);
    pointsBefore = await rawPoints(db.prisma);
  });
  afterAll(async () => { await db?.close(); });

  it("rolls each offer's points of every whole hour before the cutoff into one row: count, min, max, Σ, last point, changes", async () => {
    const expected = expectedRollups(pointsBefore, CUTOFF);
    expect(expected.length).toBeGreaterThan(50);
    expect(expected.some((r) => r.points > 1 && r.priceChanges > 1)).toBe(true); // hours with several points and changes
    const run = await rollUpPriceHistory(db.prisma, { rawDays: 30, now: NOW, batchSize: 40 });
    expect(run).toMatchObject({ cutoff: CUTOFF, points: expected.reduce((n, r) => n + r.points, 0), hours: expected.length });
    expect(run.batches).toBeGreaterThan(2);
    const written = (await rollups(db.prisma)).map(plainRollup);
    const floats = ({ changeRatioSum: _s, changeRatioSquaredDeviations: _d, ...rest }: Record<string, unknown>) => rest;
    expect(written.map(floats)).toEqual(expected.map(floats));
    written.forEach((w, i) => {
      expect(w.changeRatioSum).toBeCloseTo(expected[i]!.changeRatioSum, 12);
      expect(w.changeRatioSquaredDeviations).toBeCloseTo(expected[i]!.changeRatioSquaredDeviations, 12);
    });
  });

  it("keeps every point of the raw period and each offer's latest hour, untouched", async () => {
    const kept = await rawPoints(db.prisma);
    const rolled = new Set(expectedRollups(pointsBefore, CUTOFF).map((r) => `${r.offerId} ${r.hour.getTime()}`));
    expect(kept).toEqual(pointsBefore.filter((p) => !rolled.has(`${p.offerId} ${floorHour(p.recordedAt.getTime())}`)));
    expect(kept.filter((p) => p.recordedAt >= CUTOFF)).toEqual(pointsBefore.filter((p) => p.recordedAt >= CUTOFF));
    // The offers that stopped changing 33 days ago keep their last hour raw, old as it is.
    expect(kept.some((p) => p.recordedAt < CUTOFF)).toBe(true);
    expect(new Set(kept.map((p) => p.offerId))).toEqual(new Set(pointsBefore.map((p) => p.offerId)));
    expect(await totalPoints(db.prisma)).toBe(pointsBefore.length);
  });

  it("answers every KPI and priceHistory as before, from WindowPrice and from history probes", async () => {
    const after = await readers(db.prisma, market, NOW);
    for (const key of Object.keys(before)) expect([key, after[key]]).toEqual([key, before[key]]);
    const probed = await readersFromHistory(db.prisma, market, NOW);
    for (const key of Object.keys(before)) expect([key, probed[key]]).toEqual([key, before[key]]);
    // The comparisons reach into rolled-up time: some 30-day then-prices come from a roll-up row now, and
    // the old priceHistory ranges have buckets.
    const since = new Date(NOW.getTime() - 30 * DAY);
    const [{ fromRollups }] = await db.prisma.$queryRaw<[{ fromRollups: number }]>`
      SELECT count(*)::int AS "fromRollups" FROM "GpuOffer" o
      WHERE (SELECT pp."onDemandPrice" FROM "PricePoint" pp WHERE pp."offerId" = o.id AND pp."recordedAt" <= ${since}::timestamp(3)
             ORDER BY pp."recordedAt" DESC LIMIT 1) IS DISTINCT FROM ${priceAsOf(Prisma.sql`o.id`, Prisma.sql`${since}::timestamp(3)`)}`;
    expect(fromRollups).toBeGreaterThan(2);
    expect(JSON.parse(before[`priceHistory H100-SXM-80GB DAY ${floorHour(NOW.getTime() - 38 * DAY)}`]!).length).toBeGreaterThan(5);
    expect(JSON.parse(before["marketInsights DAYS_30"]!).risers.length).toBeGreaterThan(0);
  });

  it("re-reads the WindowPrice rows whose anchor lies in a rolled hour", async () => {
    // The 30-day anchor (a minute's roll ago) is 30 s before the cutoff: the edge offer's row changed.
    const edge = market.offers.at(-1)!;
    const row = await db.prisma.windowPrice.findUniqueOrThrow({ where: { offerId_window: { offerId: edge, window: "DAYS_30" } } });
    expect([row.price?.toFixed(2), row.nextAt]).toEqual(["2.90", edgePoints[2]!.at]); // the hour's last point now stands for the hour
    expect(await staleWindowRows(db.prisma)).toEqual([]);
  });

  it("is idempotent: a second run finds nothing to do and changes nothing", async () => {
    const [points, rows, windowRows] = [await rawPoints(db.prisma), await rollups(db.prisma), await db.prisma.windowPrice.findMany()];
    expect(await rollUpPriceHistory(db.prisma, { rawDays: 30, now: NOW })).toMatchObject({ points: 0, hours: 0, windowRows: 0 });
    expect(await rollUpPriceHistory(db.prisma, { rawDays: 30, now: new Date(NOW.getTime() + 30 * MINUTE) })).toMatchObject({ points: 0, hours: 0 });
    expect([await rawPoints(db.prisma), await rollups(db.prisma), await db.prisma.windowPrice.findMany()]).toEqual([points, rows, windowRows]);
  });

  it("merges a point backdated into a rolled hour on the next run", async () => {
    const [row] = await db.prisma.priceRollup.findMany({ where: { points: { gt: 1 } }, orderBy: [{ offerId: "asc" }, { hour: "asc" }], take: 1 });
    const at = new Date(row!.lastRecordedAt.getTime() + 1);
    expect(floorHour(at.getTime())).toBe(row!.hour.getTime());
    await db.prisma.pricePoint.create({ data: { offerId: row!.offerId, onDemandPrice: "99.99", spotPrice: "50.00", availability: "UNAVAILABLE", recordedAt: at } });
    const total = await totalPoints(db.prisma);
    expect(await rollUpPriceHistory(db.prisma, { rawDays: 30, now: NOW })).toMatchObject({ points: 1, hours: 1 });
    const merged = await db.prisma.priceRollup.findUniqueOrThrow({ where: { offerId_hour: { offerId: row!.offerId, hour: row!.hour } } });
    expect(plainRollup(merged)).toEqual({
      ...plainRollup(row!), points: row!.points + 1, onDemandMax: "99.9900", onDemandSum: row!.onDemandSum.plus("99.99").toFixed(4),
      lastRecordedAt: at, lastOnDemandPrice: "99.9900", lastSpotPrice: "50.0000", lastAvailability: "UNAVAILABLE",
    });
    expect(await db.prisma.pricePoint.count({ where: { recordedAt: at } })).toBe(0);
    expect(await totalPoints(db.prisma)).toBe(total);
  });

  it("runs alongside imports without losing or double-counting a point", async () => {
    // A backlog of old points for a new offer (many small batches), and imports of alpha's catalog meanwhile.
    const alpha = market.providers.get("alpha")!;
    const backlog = await db.prisma.gpuOffer.create({ data: {
      providerId: alpha, externalId: "backlog", instanceType: "1x", gpuModelId: market.models.get("H100-SXM-80GB")!, gpuName: "H100-SXM-80GB",
      gpuCount: 1, vramPerGpuGb: 80, vramTotalGb: 80, region: "us-east-1", onDemandPrice: "2.00", pricePerGpuHour: "2.00", availability: "AVAILABLE",
    } });
    await db.prisma.pricePoint.createMany({ data: Array.from({ length: 400 }, (_, k) => ({
      offerId: backlog.id, onDemandPrice: (2 + (k % 7) / 10).toFixed(2), availability: "AVAILABLE" as const,
      recordedAt: new Date(NOW.getTime() - 39 * DAY + k * 20 * MINUTE), // 39 to 33.5 days ago
    })) });
    const catalog = async (bump: number) => (await db.prisma.gpuOffer.findMany({ where: { providerId: alpha }, include: { gpuModel: true } }))
      .map((o) => ({ externalId: o.externalId, instanceType: o.instanceType, gpuName: o.gpuName, gpuModel: o.gpuModel?.name ?? null, gpuCount: o.gpuCount,
        vramPerGpuGb: Number(o.vramPerGpuGb), region: o.region, onDemandPrice: o.onDemandPrice.plus(bump).toFixed(2), availability: o.availability }));
    const total = await totalPoints(db.prisma);
    const offers = [await catalog(0.01), await catalog(0.02), await catalog(0.03)];
    const [run, ...imports] = await Promise.all([
      rollUpPriceHistory(db.prisma, { rawDays: 30, now: NOW, batchSize: 15 }),
      ...offers.map(async (o, k) => { await sleep(k * 5); return applyCatalog(db.prisma, "alpha", o, { now: new Date(NOW.getTime() + (k + 1) * 1000) }); }),
    ]);
    const imported = imports.reduce((n, s) => n + s.pricePoints, 0);
    expect(imported).toBe(3 * offers[0]!.length);
    expect(run.points).toBeGreaterThan(300);
    expect(await totalPoints(db.prisma)).toBe(total + imported);
    // Every imported point is raw, with its change against the offer's previous point.
    const fresh = await db.prisma.pricePoint.findMany({ where: { recordedAt: { gt: NOW } } });
    expect(fresh).toHaveLength(imported);
    expect(fresh.every((p) => p.changeRatio !== null)).toBe(true);
    // The backlog's rolled hours hold exactly its rolled points.
    const [sum] = await db.prisma.$queryRaw<{ points: number; total: string }[]>`
      SELECT sum(points)::int AS points, sum("onDemandSum")::text AS total FROM "PriceRollup" WHERE "offerId" = ${backlog.id}`;
    // Its latest old hour stays raw unless an import gave it a newer point before the batch reached that hour.
    const backlogAt = (k: number) => NOW.getTime() - 39 * DAY + k * 20 * MINUTE;
    const raw = new Set((await db.prisma.pricePoint.findMany({ where: { offerId: backlog.id, recordedAt: { lt: NOW } } })).map((p) => p.recordedAt.getTime()));
    const lastHour = Array.from({ length: 400 }, (_, k) => k).filter((k) => floorHour(backlogAt(k)) === floorHour(backlogAt(399)));
    expect([0, lastHour.length]).toContain(raw.size);
    const rolled = Array.from({ length: 400 }, (_, k) => k).filter((k) => !raw.has(backlogAt(k)));
    expect(sum).toEqual({ points: rolled.length, total: rolled.reduce((a, k) => a.plus((2 + (k % 7) / 10).toFixed(2)), new Prisma.Decimal(0)).toFixed(4) });
    expect(await staleWindowRows(db.prisma)).toEqual([]);
  });
});

describe("a raw period shorter than the KPI windows", () => {
  let db: Database;
  let market: Market;
  // On the hour: every window starts on an hour, where no rolled hour straddles it.
  const NOW = new Date(floorHour(Date.now()));
  const RAW_DAYS = 3;
  // And half an hour later, mid-hour: the 7-day and 30-day windows start inside rolled hours.
  const LATER = new Date(NOW.getTime() + 30 * MINUTE);
  const h7 = floorHour(LATER.getTime() - 7 * DAY);
  const h30 = floorHour(LATER.getTime() - 30 * DAY);
  const at = (t: number) => new Date(t);
  // Straddle: points 10 and 50 minutes into the hour the mid-hour windows start in.
  const straddle: Point[] = [
    { at: at(LATER.getTime() - 35 * DAY), price: "1.00", spot: null, availability: "AVAILABLE" },
    { at: at(h30 + 10 * MINUTE), price: "1.10", spot: null, availability: "AVAILABLE" },
    { at: at(h30 + 50 * MINUTE), price: "1.20", spot: null, availability: "AVAILABLE" },
    { at: at(h7 - 5 * HOUR), price: "1.50", spot: null, availability: "AVAILABLE" },
    { at: at(h7 + 10 * MINUTE), price: "2.00", spot: null, availability: "AVAILABLE" },
    { at: at(h7 + 50 * MINUTE), price: "3.00", spot: null, availability: "AVAILABLE" },
    { at: at(NOW.getTime() - DAY), price: "4.00", spot: null, availability: "AVAILABLE" },
  ];
  let before: Record<string, string>;

  beforeAll(async () => {
    db = await openTestDatabase();
    market = await seedMarket(db.prisma, NOW.getTime() - MINUTE, 23, [{ key: "straddle", model: "RTX-4090", provider: "delta", points: straddle }]);
    await rollPriceWindows(db.prisma, NOW);
    before = await readers(db.prisma, market, NOW);
  });
  afterAll(async () => { await db?.close(); });

  it("answers every KPI (volatility included) and priceHistory as before when the windows start on the hour", async () => {
    const laterBefore = {
      rtx: await gpuKpis(db.prisma, market.models.get("RTX-4090")!, LATER),
      delta: await providerKpis(db.prisma, market.providers.get("delta")!, LATER),
    };
    const run = await rollUpPriceHistory(db.prisma, { rawDays: RAW_DAYS, now: NOW });
    expect(run.points).toBeGreaterThan(100);
    expect(run.windowRows).toBeGreaterThan(0); // the 7- and 30-day anchors lie in rolled-up time
    expect(await staleWindowRows(db.prisma)).toEqual([]);
    const after = await readers(db.prisma, market, NOW);
    for (const key of Object.keys(before)) expect([key, after[key]]).toEqual([key, before[key]]);
    const probed = await readersFromHistory(db.prisma, market, NOW);
    for (const key of Object.keys(before)) expect([key, probed[key]]).toEqual([key, before[key]]);
    // Volatility combined rolled hours with raw points: hundreds of changes, most of them rolled up.
    const beta = JSON.parse(after["providerKpis beta"]!);
    expect(beta.priceChanges).toBeGreaterThan(20);
    expect(beta.volatility).toBeGreaterThan(0);

    // Mid-hour, the resolution is the hour, as documented in src/infra/price-retention.ts:
    const rtx = await gpuKpis(db.prisma, market.models.get("RTX-4090")!, LATER);
    // from the points, the price 30 minutes into the hour is the one of 10 minutes in (2.00); rolled up,
    // the hour's last point (50 minutes in) is after the window start, so the price at the end of the hour
    // before it stands (1.50).
    expect(laterBefore.rtx.priceChange.DAYS_7.trend?.medianThen.toFixed(2)).toBe("2.00");
    expect(rtx.priceChange.DAYS_7.trend?.medianThen.toFixed(2)).toBe("1.50");
    expect(laterBefore.rtx.priceChange.DAYS_30.trend?.medianThen.toFixed(2)).toBe("1.10");
    expect(rtx.priceChange.DAYS_30.trend?.medianThen.toFixed(2)).toBe("1.00");
    // The volatility window starts inside a rolled hour with a change on each side of it: that hour is left
    // out (its change 50 minutes in, counted from the points, is not).
    const delta = await providerKpis(db.prisma, market.providers.get("delta")!, LATER);
    expect(laterBefore.delta.priceChanges).toBe(5);
    expect(delta.priceChanges).toBe(4);
    expect({ ...delta, priceChanges: 5, volatility: null, volatilityReason: null })
      .toEqual({ ...laterBefore.delta, volatility: null, volatilityReason: null });
  });
});

describe("retention on the ingestion leader", () => {
  const quiet = logger.child({ component: "price-retention-test" });

  /** A market with 40 days of history; the test's own database. */
  async function marketDatabase() {
    const db = await openTestDatabase();
    await seedMarket(db.prisma, Date.now(), 5);
    return db;
  }

  /** The rolled points are gone from PricePoint and counted in PriceRollup and in the metric. */
  async function expectRolledUp(db: Database, metrics: ReturnType<typeof createMetrics>, total: number) {
    const rolled = (await db.prisma.priceRollup.aggregate({ _sum: { points: true } }))._sum.points ?? 0;
    expect(rolled).toBeGreaterThan(50);
    expect(await totalPoints(db.prisma)).toBe(total);
    const counter = await metrics.registry.getSingleMetricAsString("gpubroker_price_points_rolled_up_total");
    expect(counter.split("\n").at(-1)).toBe(`gpubroker_price_points_rolled_up_total ${rolled}`);
    expect((await metrics.priceRetentionLastRun.get()).values[0]!.value * 1000).toBeGreaterThan(Date.now() - 60_000);
  }

  const lastRun = async (metrics: ReturnType<typeof createMetrics>) => (await metrics.priceRetentionLastRun.get()).values[0]?.value ?? 0;

  it.skipIf(!process.env.DATABASE_URL)("does nothing on a follower, and runs once it takes the lead", async () => {
    const db = await marketDatabase();
    const lockKey = String(BigInt(Date.now()) * 1000n + BigInt(Math.floor(Math.random() * 1000)));
    const holder = new pg.Client({ connectionString: process.env.DATABASE_URL });
    await holder.connect();
    await holder.query("SELECT pg_advisory_lock($1::bigint)", [lockKey]);
    const metrics = createMetrics();
    const ingestion = createIngestion({
      prisma: db.prisma, adapters: [], databaseUrl: process.env.DATABASE_URL, lockKey, log: quiet, metrics,
      tickMs: 20, lockRetryMs: 100, windowRollMs: 0, retentionDelayMs: 0,
    });
    try {
      const total = await db.prisma.pricePoint.count();
      ingestion.start();
      await sleep(1_000);
      expect(ingestion.isLeader).toBe(false);
      expect([await db.prisma.pricePoint.count(), await db.prisma.priceRollup.count(), await lastRun(metrics)]).toEqual([total, 0, 0]);
      await holder.query("SELECT pg_advisory_unlock($1::bigint)", [lockKey]);
      const end = Date.now() + 10_000;
      while (!(await lastRun(metrics)) && Date.now() < end) await sleep(50);
      expect(ingestion.isLeader).toBe(true);
      await expectRolledUp(db, metrics, total);
    } finally {
      await ingestion.stop();
      await holder.end();
      await db.close();
    }
  });

  it("the leader rolls up shortly after taking the lead, not at once, and counts it in the metrics", async () => {
    const db = await marketDatabase();
    const metrics = createMetrics();
    const ingestion = createIngestion({ prisma: db.prisma, adapters: [], log: quiet, metrics, tickMs: 20, windowRollMs: 0, retentionDelayMs: 300 });
    try {
      const total = await db.prisma.pricePoint.count();
      ingestion.start();
      await sleep(100);
      expect(ingestion.isLeader).toBe(true);
      expect(await db.prisma.priceRollup.count()).toBe(0);
      const end = Date.now() + 10_000;
      while (!(await lastRun(metrics)) && Date.now() < end) await sleep(50);
      await expectRolledUp(db, metrics, total);
    } finally {
      await ingestion.stop();
      await db.close();
    }
  });
});
