// The derived history that makes the KPI queries fast must never change their answers:
// - PricePoint's insert triggers (changeRatio, providerId, WindowPrice.nextAt) against the definitions
//   computed straight from the history, whatever the insert order;
// - "price as of now − window" served from WindowPrice against one history probe per offer, after
//   rolls, new points, backdated points, new and withdrawn offers.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Prisma } from "../../src/generated/prisma/client.ts";
import { getGpuSpec } from "../../src/domain/gpu/specs.ts";
import type { Database } from "../../src/infra/db.ts";
import { gpuKpis, marketInsights, providerKpis } from "../../src/infra/kpi.ts";
import { anchoredWindows, PRICE_WINDOW_MS, priceThen, rollPriceWindows, windowPriceJoin, type PriceWindowKey } from "../../src/infra/price-windows.ts";
import { openTestDatabase } from "../support/db.ts";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const NOW = new Date(Math.floor(Date.now() / 1000) * 1000);
const ago = (ms: number) => new Date(NOW.getTime() - ms);
const WINDOWS = Object.keys(PRICE_WINDOW_MS) as PriceWindowKey[];

/** Deterministic pseudo-random numbers (LCG), so a failure replays. */
function rng(seed: number) {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

describe("PricePoint insert triggers", () => {
  let db: Database;
  let offerId: number;
  let providerId: number;

  beforeAll(async () => {
    db = await openTestDatabase();
    const provider = await db.prisma.provider.create({ data: { slug: "alpha", name: "Alpha", kind: "NEOCLOUD" } });
    providerId = provider.id;
    const offer = await db.prisma.gpuOffer.create({ data: {
      providerId, externalId: "o1", instanceType: "1x", gpuName: "H100", gpuCount: 1, vramPerGpuGb: 80, vramTotalGb: 80,
      region: "us", onDemandPrice: "2.00", pricePerGpuHour: "2.00", availability: "AVAILABLE",
    } });
    offerId = offer.id;
  });
  afterAll(async () => { await db?.close(); });

  const ratios = async () => (await db.prisma.pricePoint.findMany({
    where: { offerId }, orderBy: [{ recordedAt: "asc" }, { id: "asc" }], select: { onDemandPrice: true, changeRatio: true, providerId: true },
  })).map((p) => [p.onDemandPrice.toFixed(2), p.changeRatio === null ? null : Math.round(p.changeRatio * 1e9) / 1e9, p.providerId]);

  it("fills the provider and the change against the previous point, even when points arrive out of order", async () => {
    const point = (h: number, price: string, availability: "AVAILABLE" | "LIMITED" = "AVAILABLE") =>
      ({ offerId, onDemandPrice: price, availability, recordedAt: ago(h * HOUR) });
    await db.prisma.pricePoint.create({ data: point(10, "2.00") });
    await db.prisma.pricePoint.create({ data: point(5, "2.50") });
    expect(await ratios()).toEqual([["2.00", null, providerId], ["2.50", 0.25, providerId]]);
    // A point between the two: its own ratio and its successor's both change.
    await db.prisma.pricePoint.create({ data: point(8, "1.00") });
    expect(await ratios()).toEqual([["2.00", null, providerId], ["1.00", -0.5, providerId], ["2.50", 1.5, providerId]]);
    // A new first point, and in one statement two points newest first; an availability-only change is 0.
    await db.prisma.pricePoint.create({ data: point(12, "4.00") });
    await db.prisma.pricePoint.createMany({ data: [point(1, "2.50", "LIMITED"), point(3, "0.00")] });
    await db.prisma.pricePoint.create({ data: point(2, "3.00") });
    expect(await ratios()).toEqual([
      ["4.00", null, providerId], ["2.00", -0.5, providerId], ["1.00", -0.5, providerId], ["2.50", 1.5, providerId],
      ["0.00", -1, providerId], ["3.00", null, providerId], // after a price of 0 the change is undefined
      ["2.50", -0.166666667, providerId],
    ]);
    // The stored ratios are exactly what LAG over the history gives.
    const [check] = await db.prisma.$queryRaw<{ mismatches: number }[]>`
      SELECT count(*)::int AS mismatches FROM (
        SELECT "changeRatio", "onDemandPrice"::float8 / NULLIF(lag("onDemandPrice"::float8) OVER (PARTITION BY "offerId" ORDER BY "recordedAt", id), 0) - 1 AS r
        FROM "PricePoint") x
      WHERE x."changeRatio" IS DISTINCT FROM x.r`;
    expect(check!.mismatches).toBe(0);
  });

  it("refuses to rewrite history", async () => {
    await expect(db.prisma.pricePoint.updateMany({ where: { offerId }, data: { onDemandPrice: "9.99" } })).rejects.toThrow(/append-only/);
    await expect(db.prisma.pricePoint.updateMany({ where: { offerId }, data: { recordedAt: NOW } })).rejects.toThrow(/append-only/);
    expect((await db.prisma.pricePoint.findMany({ where: { offerId, onDemandPrice: "9.99" } })).length).toBe(0);
  });
});

describe("price as of now − window", () => {
  let db: Database;
  let providerId: number;
  let modelId: number;
  let offers: number[];

  /** For every active offer and window: the served value, the history's value, and whether WindowPrice served it. */
  async function asOf(now: Date) {
    const rows = Prisma.join(WINDOWS.map((w) => Prisma.sql`(${w}::text, ${new Date(now.getTime() - PRICE_WINDOW_MS[w])}::timestamp(3))`));
    return db.prisma.$queryRaw<{ id: number; key: string; served: string | null; history: string | null; fromWindowPrice: boolean }[]>`
      WITH w(key, since) AS (VALUES ${rows})
      SELECT o.id, w.key, (${priceThen})::text AS served,
             (SELECT pp."onDemandPrice" FROM "PricePoint" pp WHERE pp."offerId" = o.id AND pp."recordedAt" <= w.since
              ORDER BY pp."recordedAt" DESC, pp.id DESC LIMIT 1)::text AS history,
             coalesce(wp."offerId" IS NOT NULL AND (wp."nextAt" IS NULL OR wp."nextAt" > w.since), false) AS "fromWindowPrice"
      FROM "GpuOffer" o CROSS JOIN ${anchoredWindows} ${windowPriceJoin}
      WHERE o.active ORDER BY o.id, w.key`;
  }

  async function expectExact(now = NOW) {
    const rows = await asOf(now);
    expect(rows.filter((r) => r.served !== r.history)).toEqual([]);
    // Every row's change is its offer's listed price against the row's price (what the movers read), and
    // its copies of the offer are the offer's (what the model medians read).
    const stale = await db.prisma.$queryRaw<unknown[]>`
      SELECT wp.* FROM "WindowPrice" wp JOIN "GpuOffer" o ON o.id = wp."offerId"
      WHERE wp.change IS DISTINCT FROM o."onDemandPrice"::float8 / NULLIF(wp.price::float8, 0) - 1
         OR (wp."gpuModelId", wp."gpuCount", wp."nowPrice", wp.active) IS DISTINCT FROM (o."gpuModelId", o."gpuCount", o."onDemandPrice", o.active)`;
    expect(stale.slice(0, 3)).toEqual([]); // (a few, if any, to show what differs)
    return rows.filter((r) => r.fromWindowPrice).length;
  }

  /** Every KPI that reads "then" prices, for comparison before and after the shortcut changes. */
  const kpis = async () => JSON.stringify(await Promise.all([
    gpuKpis(db.prisma, modelId, NOW), providerKpis(db.prisma, providerId, NOW),
    ...WINDOWS.map((w) => marketInsights(db.prisma, NOW, w, 5)),
  ]));

  /** The KPIs served through the anchors equal the KPIs computed from the history alone. */
  async function expectKpisAsFromHistory() {
    const served = await kpis();
    const anchors = await db.prisma.windowAnchor.findMany();
    expect(anchors.length).toBe(3);
    await db.prisma.windowAnchor.deleteMany();
    try {
      expect(served).toBe(await kpis());
    } finally {
      await db.prisma.windowAnchor.createMany({ data: anchors });
    }
  }

  /** A price point, and the offer's listed price set to its latest point's, as an import leaves them. */
  async function addPoint(offerId: number, price: string, recordedAt: Date) {
    await db.prisma.pricePoint.create({ data: { offerId, onDemandPrice: price, availability: "AVAILABLE", recordedAt } });
    await db.prisma.$executeRaw`
      UPDATE "GpuOffer" o SET "onDemandPrice" = l.price, "pricePerGpuHour" = round(l.price / o."gpuCount", 4)
      FROM (SELECT pp."onDemandPrice" AS price FROM "PricePoint" pp WHERE pp."offerId" = ${offerId} ORDER BY pp."recordedAt" DESC, pp.id DESC LIMIT 1) l
      WHERE o.id = ${offerId}`;
  }

  beforeAll(async () => {
    db = await openTestDatabase();
    const provider = await db.prisma.provider.create({ data: { slug: "alpha", name: "Alpha", kind: "NEOCLOUD" } });
    providerId = provider.id;
    const { sources: _s, ...spec } = getGpuSpec("H100-SXM-80GB")!;
    const model = await db.prisma.gpuModel.create({ data: spec });
    modelId = model.id;
    // 40 offers, each with 0–12 points over the last 45 days, ending at its listed price.
    const random = rng(7);
    offers = [];
    for (let i = 0; i < 40; i++) {
      const times = Array.from({ length: Math.floor(random() * 13) }, () => Math.floor(random() * 45 * DAY)).sort((a, b) => b - a);
      const prices = times.map(() => (1 + Math.floor(random() * 300) / 100).toFixed(2));
      const price = prices.at(-1) ?? "2.00";
      const o = await db.prisma.gpuOffer.create({ data: {
        providerId, externalId: `o${i}`, instanceType: "1x", gpuModelId: modelId, gpuName: "H100", gpuCount: 1 + (i % 4),
        vramPerGpuGb: 80, vramTotalGb: 80 * (1 + (i % 4)), region: "us", onDemandPrice: price,
        pricePerGpuHour: new Prisma.Decimal(price).div(1 + (i % 4)).toFixed(4), availability: "AVAILABLE", active: i % 10 !== 9,
        pricePoints: { create: times.map((t, k) => ({ onDemandPrice: prices[k]!, availability: "AVAILABLE" as const, recordedAt: ago(t) })) },
      } });
      offers.push(o.id);
    }
  });
  afterAll(async () => { await db?.close(); });

  let before: string;

  it("without anchors every then-price comes from the history", async () => {
    expect(await expectExact()).toBe(0);
    before = await kpis();
    expect(before).toContain('"risers":[{'); // the history moves: the comparisons below compare something
  });

  it("a roll serves the then-prices of every active offer, and the KPIs do not change", async () => {
    const rolls = await rollPriceWindows(db.prisma, ago(2 * HOUR));
    // One row per window for every offer with points, active or not.
    const withPoints = await db.prisma.gpuOffer.count({ where: { pricePoints: { some: {} } } });
    expect(rolls.map((r) => [r.window, r.rebuilt, r.reread])).toEqual(WINDOWS.map((w) => [w, true, withPoints]));
    const served = await expectExact();
    // Offers with a point between the anchor (2 hours earlier) and the window start fall back to the history.
    const activeWithPoints = await db.prisma.gpuOffer.count({ where: { active: true, pricePoints: { some: {} } } });
    expect(served).toBeGreaterThan(activeWithPoints * 3 - 10);
    expect(await kpis()).toBe(before);
  });

  it("points between the anchor and the window start, before the anchor, or newest: rows stay exact", async () => {
    const [a, b, c] = [offers[0]!, offers[1]!, offers[3]!];
    // A second after the 24-hour window start (24 h ago), so after its anchor (26 h ago): the latest point by then.
    await addPoint(a, "7.77", ago(DAY + 1000));
    // Before the 30-day anchor (30 days + 2 h ago): the price as of the anchor may change.
    await addPoint(b, "8.88", ago(31 * DAY));
    // A new latest price, as an import writes it (row and point together): a mover in every window.
    await addPoint(c, "9.99", ago(1000));
    // An offer changing without a new point (count and model re-read, withdrawn and back): its rows follow.
    await db.prisma.gpuOffer.update({ where: { id: offers[4]! }, data: { gpuCount: 3 } });
    await db.prisma.gpuOffer.update({ where: { id: offers[5]! }, data: { active: false } });
    await db.prisma.gpuOffer.update({ where: { id: offers[5]! }, data: { active: true } });
    const rows = await asOf(NOW);
    expect(rows.filter((r) => r.served !== r.history)).toEqual([]);
    expect(rows.find((r) => r.id === a && r.key === "HOURS_24")).toMatchObject({ served: "7.7700", fromWindowPrice: false });
    await expectExact();
    await expectKpisAsFromHistory();
  });

  it("new offers are served from their first point, withdrawn ones are not listed, and a roll keeps both exact", async () => {
    const fresh = await db.prisma.gpuOffer.create({ data: {
      providerId, externalId: "fresh", instanceType: "1x", gpuModelId: modelId, gpuName: "H100", gpuCount: 1, vramPerGpuGb: 80, vramTotalGb: 80,
      region: "us", onDemandPrice: "3.00", pricePerGpuHour: "3.00", availability: "AVAILABLE",
      pricePoints: { create: [{ onDemandPrice: "3.50", availability: "AVAILABLE", recordedAt: ago(3 * DAY) }, { onDemandPrice: "3.00", availability: "AVAILABLE", recordedAt: ago(HOUR) }] },
    } });
    await db.prisma.gpuOffer.update({ where: { id: offers[2]! }, data: { active: false } });
    let rows = await asOf(NOW);
    expect(rows.filter((r) => r.served !== r.history)).toEqual([]);
    expect(rows.filter((r) => r.id === fresh.id).map((r) => [r.key, r.served, r.fromWindowPrice]))
      .toEqual([["DAYS_30", null, true], ["DAYS_7", null, true], ["HOURS_24", "3.5000", true]]);
    expect(rows.some((r) => r.id === offers[2])).toBe(false);
    await expectKpisAsFromHistory();

    const rolls = await rollPriceWindows(db.prisma, NOW);
    expect(rolls.every((r) => !r.rebuilt)).toBe(true);
    rows = await asOf(NOW);
    expect(rows.filter((r) => r.served !== r.history)).toEqual([]);
    // Rolled to now, every then-price is served (offers without any point have no row and no price).
    expect(rows.filter((r) => !r.fromWindowPrice).every((r) => r.history === null)).toBe(true);
    expect(rows.filter((r) => r.fromWindowPrice).length).toBeGreaterThan(90);
    await expectExact();
    await expectKpisAsFromHistory();
  });

  it("an anchor later than the asked instant is ignored, and moving it back rebuilds", async () => {
    // Asked about an hour ago, with anchors at now − window: nothing can be served.
    expect(await expectExact(ago(HOUR))).toBe(0);
    const rolls = await rollPriceWindows(db.prisma, ago(3 * HOUR));
    expect(rolls.every((r) => r.rebuilt)).toBe(true);
    expect(await expectExact(ago(HOUR))).toBeGreaterThan(0);
    expect(await expectExact()).toBeGreaterThan(0);
    await expectKpisAsFromHistory();
  });
});
