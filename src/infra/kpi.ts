// Market KPIs, computed in SQL from the offers table and its price history.
//
// Definitions (every figure that cannot be computed from data is null with a reason, never guessed):
// - Per-GPU prices: an offer's on-demand price ÷ its gpuCount (GpuOffer.pricePerGpuHour for current
//   offers, PricePoint.onDemandPrice ÷ gpuCount for history). Medians and p90 are as percentile_cont
//   (linear interpolation between neighbours), rounded to 4 decimals.
// - "As of t": each offer's last PricePoint at or before t. A point is written only on change, so a
//   price holds until the next point; an offer with no point at or before t did not exist yet.
// - Price change over a window W at `now`: like-for-like over the active offers that have a point at
//   or before now − W: median of their per-GPU prices now ÷ median as of now − W, minus 1. "Now" is
//   the listed price, equal to the offer's last point (catalog sync writes both together; WindowPrice
//   keeps a copy of it), so `now` must be the present: it places the window, it does not replay the past.
// - Volatility of a provider: sample standard deviation of the relative on-demand changes (new ÷ previous
//   − 1) recorded in the last 30 days across its offers (withdrawn ones too: it is history); points that
//   changed only availability are not price changes.
// - History older than PRICE_HISTORY_RAW_DAYS is read from hourly roll-ups (src/infra/price-retention.ts):
//   "as of t" and volatility answer as from the points, at hourly resolution where a window starts
//   inside a rolled hour (only when the raw period is shorter than the window).
// - Ratios (changes, shares, discounts, indexes) are plain fractions (−0.05 = 5 % down), rounded to 6 decimals.
//   Lists ranked by a change rank by it as rounded, so changes equal as shown list by offer id / model name.
import { Prisma, type GpuOffer, type PrismaClient } from "../generated/prisma/client.ts";
import { costPerMillionTokens, estimateInference, LlmInputError, type InferenceEstimate } from "../domain/math/llm.ts";
import { anchoredWindows, PRICE_WINDOW_MS, priceAsOf, priceThen, windowPriceJoin, type PriceWindowKey } from "./price-windows.ts";
import { rawChangeParts } from "./provider-hour-stats.ts";
import { rolledWithin } from "./price-retention.ts";

type Decimal = Prisma.Decimal;

export const WINDOW_MS = PRICE_WINDOW_MS;
export type InsightWindow = PriceWindowKey;
const WINDOW_WORDS: Record<InsightWindow, string> = { HOURS_24: "24-hour", DAYS_7: "7-day", DAYS_30: "30-day" };

/** Volatility looks at this much history before `now`. */
export const VOLATILITY_WINDOW: InsightWindow = "DAYS_30";

/** The headline GPU families of the overview: any variant whose canonical name matches the pattern. */
export const HEADLINE_GPUS = [
  { key: "H100", pattern: "H100-%" },
  { key: "A100", pattern: "A100-%" },
  { key: "RTX4090", pattern: "RTX-4090" },
] as const;
export type HeadlineGpu = (typeof HEADLINE_GPUS)[number]["key"];

const iso = (d: Date) => d.toISOString();
const since = (now: Date, w: InsightWindow) => new Date(now.getTime() - WINDOW_MS[w]);
/** More than one 6-decimal rounding step: changes equal as shown lie closer than this unrounded. */
const TIE_MARGIN = 2e-6;

// ---------------------------------------------------------------- SQL building blocks

/** Round a double or numeric expression to a 6-decimal float (ratios). */
const ratio = (expr: Prisma.Sql) => Prisma.sql`round((${expr})::numeric, 6)::float8`;
const median = (expr: Prisma.Sql) => Prisma.sql`percentile_cont(0.5) WITHIN GROUP (ORDER BY ${expr})`;

/**
 * The median per-GPU price of the n active offers matching `where` (on alias o), read in price order
 * from an index whose prefix is `where`'s columns then (active, pricePerGpuHour): skip to the middle
 * and average the one or two middle values. Equal to percentile_cont(0.5), exact in numeric, and it
 * reads half the offers instead of sorting them all (bench/README.md, kpi).
 */
const indexedMedian = (where: Prisma.Sql, n: Prisma.Sql) => Prisma.sql`(
  SELECT avg(x.p) FROM (
    SELECT o."pricePerGpuHour" AS p FROM "GpuOffer" o WHERE ${where} AND o.active
    ORDER BY o."pricePerGpuHour" OFFSET (${n} - 1) / 2 LIMIT 2 - ${n} % 2) x)`;

/**
 * CTEs ending in `pair(key, id, "gpuCount", "gpuModelId", "providerId", now_price, then_price)`: for every
 * offer of `offers` (a SELECT over "GpuOffer" yielding those columns and "onDemandPrice") and every
 * window start, its on-demand price now and as of the start; then_price is null for an offer without a
 * point that old, and readers leave those out (filtering here would evaluate the probe twice).
 * "Now" is the listed price: catalog sync writes the row and its price point in one transaction, so it
 * equals the last point, and reading it saves one index probe per offer (bench/README.md, kpi).
 * "Then" comes from WindowPrice where the window's anchor allows, else from one backward probe of the
 * (offerId, recordedAt) index (src/infra/price-windows.ts).
 */
function pricePairs(offers: Prisma.Sql, windows: Array<[InsightWindow, Date]>): Prisma.Sql {
  const rows = Prisma.join(windows.map(([key, at]) => Prisma.sql`(${key}::text, ${at}::timestamp(3))`));
  return Prisma.sql`
    w(key, since) AS (VALUES ${rows}),
    pair AS (
      SELECT w.key, o.id, o."gpuCount", o."gpuModelId", o."providerId", o."onDemandPrice" AS now_price, ${priceThen} AS then_price
      FROM (${offers}) o CROSS JOIN ${anchoredWindows} ${windowPriceJoin}
    )`;
}

// Per-GPU prices as float8, the argument type of percentile_cont (a numeric division would be cast anyway).
const thenPerGpu = Prisma.sql`p.then_price::float8 / p."gpuCount"`;
const nowPerGpu = Prisma.sql`p.now_price::float8 / p."gpuCount"`;

/**
 * `pair` with each then_price computed once: OFFSET 0 keeps the planner from inlining the CTE into the
 * filter and every aggregate, each of which would evaluate the then-price expression again (bench kpi).
 */
const evaluated = Prisma.sql`(SELECT * FROM pair OFFSET 0)`;

/** Per-GPU median then / now and the change, over `pair` rows (then_price not null) grouped by the caller. */
const medianChange = Prisma.sql`
  count(*)::int AS "offersCompared",
  (${median(thenPerGpu)})::numeric(12,4) AS "medianThen",
  (${median(nowPerGpu)})::numeric(12,4) AS "medianNow",
  ${ratio(Prisma.sql`${median(nowPerGpu)} / NULLIF(${median(thenPerGpu)}, 0) - 1`)} AS change`;

/** Share of AVAILABLE or LIMITED among offers whose availability is known, and the counts behind it. */
const availabilityColumns = Prisma.sql`
  count(*) FILTER (WHERE o.availability IN ('AVAILABLE', 'LIMITED'))::int AS "availableOffers",
  count(*) FILTER (WHERE o.availability <> 'UNKNOWN')::int AS "knownAvailability"`;

function availabilityShare(r: { availableOffers: number; knownAvailability: number; activeOffers: number }) {
  if (r.activeOffers === 0) return { availabilityShare: null, availabilityShareReason: "No active offers." };
  if (r.knownAvailability === 0) return { availabilityShare: null, availabilityShareReason: `All ${r.activeOffers} active offers report availability UNKNOWN.` };
  return { availabilityShare: Math.round((r.availableOffers / r.knownAvailability) * 1e6) / 1e6, availabilityShareReason: null };
}

/**
 * Provider price index: for each GPU model the provider sells (active offers), the provider's median
 * per-GPU price ÷ the whole market's median for that model (all providers, the provider included);
 * the index is the geometric mean of those ratios weighted by the provider's offers per model, so a
 * model at 2× and one at 0.5× with as many offers average to 1.0. Below 1 = cheaper than the market.
 */
function priceIndexSql(providerId?: number): Prisma.Sql {
  const scope = providerId === undefined ? Prisma.empty : Prisma.sql`AND "providerId" = ${providerId}`;
  return Prisma.sql`
    WITH cell AS (
      SELECT "providerId", "gpuModelId", count(*)::int AS n FROM "GpuOffer"
      WHERE active AND "gpuModelId" IS NOT NULL ${scope} GROUP BY 1, 2
    ), market AS (
      SELECT "gpuModelId", count(*)::int AS n FROM "GpuOffer"
      WHERE active AND "gpuModelId" IN (SELECT "gpuModelId" FROM cell) GROUP BY 1
    ), cell_median AS MATERIALIZED (
      SELECT c.*, ${indexedMedian(Prisma.sql`o."gpuModelId" = c."gpuModelId" AND o."providerId" = c."providerId"`, Prisma.sql`c.n`)} AS med FROM cell c
    ), market_median AS MATERIALIZED (
      SELECT m.*, ${indexedMedian(Prisma.sql`o."gpuModelId" = m."gpuModelId"`, Prisma.sql`m.n`)} AS med FROM market m
    )
    -- MATERIALIZED: each median is read once (inlined, the planner would re-run it per reference and join row).
    SELECT c."providerId", count(*)::int AS "gpuModels", sum(c.n)::int AS offers,
           ${ratio(Prisma.sql`exp(sum(c.n * ln((c.med / m.med)::float8)) / sum(c.n))`)} AS "priceIndex"
    FROM cell_median c JOIN market_median m USING ("gpuModelId") JOIN "Provider" p ON p.id = c."providerId"
    WHERE c.med > 0 AND m.med > 0
    GROUP BY c."providerId", p.slug ORDER BY "priceIndex", p.slug`;
}

export interface ProviderPriceIndex { providerId: number; gpuModels: number; offers: number; priceIndex: number }

// ---------------------------------------------------------------- marketOverview

export interface ModelMedianPrice { gpuModelId: number; offers: number; medianPricePerGpuHour: Decimal }
export interface CheapestOffer { offer: GpuOffer; pricePerGpuHour: Decimal }
export interface MarketOverview {
  activeOffers: number;
  providers: number;
  gpuModels: number;
  /** Sorted by GPU model name. */
  medianPricePerGpuHour: ModelMedianPrice[];
  cheapest: Record<HeadlineGpu, { offer: CheapestOffer | null; reason: string | null }>;
}

export async function marketOverview(prisma: PrismaClient): Promise<MarketOverview> {
  const [counts, medians, cheapest] = await Promise.all([
    prisma.$queryRaw<{ activeOffers: number; providers: number; gpuModels: number }[]>`
      SELECT count(*)::int AS "activeOffers", count(DISTINCT "providerId")::int AS providers,
             count(DISTINCT "gpuModelId")::int AS "gpuModels"
      FROM "GpuOffer" WHERE active`,
    prisma.$queryRaw<ModelMedianPrice[]>`
      SELECT c."gpuModelId", c.n AS offers, ${indexedMedian(Prisma.sql`o."gpuModelId" = c."gpuModelId"`, Prisma.sql`c.n`)}::numeric(12,4) AS "medianPricePerGpuHour"
      FROM (SELECT "gpuModelId", count(*)::int AS n FROM "GpuOffer" WHERE active AND "gpuModelId" IS NOT NULL GROUP BY 1) c
      JOIN "GpuModel" m ON m.id = c."gpuModelId"
      ORDER BY m.name`,
    // One index probe per model of the family on (gpuModelId, active, pricePerGpuHour, id).
    prisma.$queryRaw<(GpuOffer & { family: HeadlineGpu })[]>`
      SELECT DISTINCT ON (f.family) f.family, o.*
      FROM unnest(${HEADLINE_GPUS.map((g) => g.key)}::text[], ${HEADLINE_GPUS.map((g) => g.pattern)}::text[]) AS f(family, pattern)
      JOIN "GpuModel" m ON m.name LIKE f.pattern
      CROSS JOIN LATERAL (
        SELECT * FROM "GpuOffer" o WHERE o."gpuModelId" = m.id AND o.active ORDER BY o."pricePerGpuHour", o.id LIMIT 1) o
      ORDER BY f.family, o."pricePerGpuHour", o.id`,
  ]);
  const byFamily = new Map(cheapest.map(({ family, ...offer }) => [family, offer as GpuOffer]));
  return {
    ...counts[0]!,
    medianPricePerGpuHour: medians,
    cheapest: Object.fromEntries(HEADLINE_GPUS.map(({ key }) => {
      const offer = byFamily.get(key);
      return [key, offer
        ? { offer: { offer, pricePerGpuHour: offer.pricePerGpuHour }, reason: null }
        : { offer: null, reason: `No active ${key === "RTX4090" ? "RTX 4090" : `${key} (any variant)`} offer.` }];
    })) as MarketOverview["cheapest"],
  };
}

// ---------------------------------------------------------------- gpuKpis

export interface PriceTrend { since: Date; offersCompared: number; medianThen: Decimal; medianNow: Decimal; change: number }
export interface GpuKpis {
  gpuModelId: number;
  asOf: Date;
  activeOffers: number;
  providers: number;
  pricePerGpuHour: { min: Decimal; median: Decimal; p90: Decimal } | null;
  pricePerGpuHourReason: string | null;
  spotOffers: number;
  spotDiscount: number | null;
  spotDiscountReason: string | null;
  availabilityShare: number | null;
  availabilityShareReason: string | null;
  priceChange: Record<InsightWindow, { trend: PriceTrend | null; reason: string | null }>;
}

type TrendRow = { key: string; offersCompared: number; medianThen: Decimal | null; medianNow: Decimal | null; change: number | null };

function trendOf(row: TrendRow | undefined, w: InsightWindow, start: Date, what: string) {
  if (!row?.offersCompared || row.medianThen == null || row.medianNow == null) {
    return { trend: null, reason: `No ${what} has a price point at or before ${iso(start)}, so there is no ${WINDOW_WORDS[w]} comparison.` };
  }
  if (row.change == null) return { trend: null, reason: `The median price at ${iso(start)} was 0, so a relative change is undefined.` };
  return { trend: { since: start, offersCompared: row.offersCompared, medianThen: row.medianThen, medianNow: row.medianNow, change: row.change }, reason: null };
}

export async function gpuKpis(prisma: PrismaClient, gpuModelId: number, now: Date): Promise<GpuKpis> {
  const windows = (Object.keys(WINDOW_MS) as InsightWindow[]).map((w) => [w, since(now, w)] as [InsightWindow, Date]);
  const [[cur], trends] = await Promise.all([
    prisma.$queryRaw<Array<{
      activeOffers: number; providers: number; min: Decimal | null; median: Decimal | null; p90: Decimal | null;
      spotOffers: number; spotDiscount: number | null; availableOffers: number; knownAvailability: number;
    }>>`
      SELECT count(*)::int AS "activeOffers", count(DISTINCT o."providerId")::int AS providers,
             min(o."pricePerGpuHour") AS min,
             (${median(Prisma.sql`o."pricePerGpuHour"`)})::numeric(12,4) AS median,
             (percentile_cont(0.9) WITHIN GROUP (ORDER BY o."pricePerGpuHour"))::numeric(12,4) AS p90,
             count(o."spotPricePerGpuHour")::int AS "spotOffers",
             ${ratio(median(Prisma.sql`1 - o."spotPricePerGpuHour" / NULLIF(o."pricePerGpuHour", 0)`))} AS "spotDiscount",
             ${availabilityColumns}
      FROM "GpuOffer" o WHERE o."gpuModelId" = ${gpuModelId} AND o.active`,
    prisma.$queryRaw<TrendRow[]>`
      WITH ${pricePairs(Prisma.sql`SELECT id, "gpuCount", "gpuModelId", "providerId", "onDemandPrice" FROM "GpuOffer" WHERE "gpuModelId" = ${gpuModelId} AND active`, windows)}
      SELECT p.key, ${medianChange} FROM ${evaluated} p WHERE p.then_price IS NOT NULL GROUP BY p.key`,
  ]);
  const c = cur!;
  const byKey = new Map(trends.map((t) => [t.key, t]));
  return {
    gpuModelId,
    asOf: now,
    activeOffers: c.activeOffers,
    providers: c.providers,
    pricePerGpuHour: c.activeOffers ? { min: c.min!, median: c.median!, p90: c.p90! } : null,
    pricePerGpuHourReason: c.activeOffers ? null : "No active offers.",
    spotOffers: c.spotOffers,
    spotDiscount: c.spotDiscount,
    spotDiscountReason: c.spotDiscount != null ? null
      : c.activeOffers ? `None of the ${c.activeOffers} active offers has a spot price.` : "No active offers.",
    ...availabilityShare(c),
    priceChange: Object.fromEntries(windows.map(([w, start]) => [w, trendOf(byKey.get(w), w, start, "active offer of this model")])) as GpuKpis["priceChange"],
  };
}

// ---------------------------------------------------------------- providerKpis

export interface ProviderKpis {
  providerId: number;
  asOf: Date;
  activeOffers: number;
  priceIndex: number | null;
  priceIndexReason: string | null;
  /** GPU models the index compares. */
  priceIndexModels: number;
  availabilityShare: number | null;
  availabilityShareReason: string | null;
  reliabilityScore: number | null;
  reliabilityScoreReason: string | null;
  volatility: number | null;
  volatilityReason: string | null;
  /** On-demand price changes behind the volatility. */
  priceChanges: number;
  volatilitySince: Date;
}

export async function providerKpis(prisma: PrismaClient, providerId: number, now: Date): Promise<ProviderKpis> {
  const from = since(now, VOLATILITY_WINDOW);
  const [[offers], index, [vol], provider] = await Promise.all([
    prisma.$queryRaw<{ activeOffers: number; availableOffers: number; knownAvailability: number }[]>`
      SELECT count(*)::int AS "activeOffers", ${availabilityColumns}
      FROM "GpuOffer" o WHERE o."providerId" = ${providerId} AND o.active`,
    prisma.$queryRaw<ProviderPriceIndex[]>(priceIndexSql(providerId)),
    // Each point carries its change against the offer's previous point (PricePoint.changeRatio, kept by
    // the insert trigger); availability-only points (0) are not price changes. The raw points come as
    // one part per completed hour from ProviderHourStat where it has the hour, else from the points
    // (src/infra/provider-hour-stats.ts); rolled-up hours in the window add their count, Σ and squared
    // deviations. Parts combine as Σ M2ᵢ + Σ nᵢ (meanᵢ − mean)² (a raw part's M2 = var_pop × n).
    prisma.$queryRaw<{ priceChanges: number; volatility: number | null }[]>`
      WITH part AS (
        ${rawChangeParts(providerId, Prisma.sql`${from}::timestamp(3)`, Prisma.sql`${now}::timestamp(3)`)}
        UNION ALL
        SELECT r."priceChanges", r."changeRatioSum", r."changeRatioSquaredDeviations" FROM "PriceRollup" r
        WHERE r."providerId" = ${providerId} AND r."priceChanges" > 0
          AND ${rolledWithin(Prisma.sql`${from}::timestamp(3)`, Prisma.sql`${now}::timestamp(3)`, "(]")}
      ), total AS (SELECT sum(n)::int AS n, sum(s) / NULLIF(sum(n), 0) AS mean FROM part)
      SELECT coalesce(t.n, 0) AS "priceChanges",
             CASE WHEN t.n > 1 THEN ${ratio(Prisma.sql`sqrt(greatest((SELECT sum(p.m2 + p.n * (p.s / p.n - t.mean) ^ 2) FROM part p WHERE p.n > 0), 0) / (t.n - 1))`)} END AS volatility
      FROM total t`,
    prisma.provider.findUniqueOrThrow({ where: { id: providerId }, select: { reliabilityScore: true } }),
  ]);
  const o = offers!;
  const idx = index[0];
  const v = vol!;
  return {
    providerId,
    asOf: now,
    activeOffers: o.activeOffers,
    priceIndex: idx?.priceIndex ?? null,
    priceIndexReason: idx ? null : "The provider has no active offer of a known GPU model to compare with the market.",
    priceIndexModels: idx?.gpuModels ?? 0,
    ...availabilityShare(o),
    reliabilityScore: provider.reliabilityScore?.toNumber() ?? null,
    reliabilityScoreReason: provider.reliabilityScore ? null : "No reliability score has been recorded for this provider.",
    volatility: v.volatility,
    volatilityReason: v.volatility != null ? null
      : `Volatility needs at least 2 on-demand price changes of this provider's offers between ${iso(from)} and ${iso(now)}; found ${v.priceChanges}.`,
    priceChanges: v.priceChanges,
    volatilitySince: from,
  };
}

// ---------------------------------------------------------------- marketInsights

export interface OfferMove { offer: GpuOffer; priceThen: Decimal; priceNow: Decimal; change: number }
export interface ModelMove { gpuModelId: number; offersCompared: number; medianThen: Decimal; medianNow: Decimal; change: number }
export interface BestValue { offer: GpuOffer; gpuModelId: number; costPerMillionTokens: number; tokensPerSecond: number }
export interface MarketInsights {
  window: InsightWindow;
  since: Date;
  asOf: Date;
  /** Largest relative on-demand price rises, largest first. */
  risers: OfferMove[];
  /** Largest relative on-demand price falls, largest fall first. */
  fallers: OfferMove[];
  modelsCheaper: ModelMove[];
  modelsDearer: ModelMove[];
  /** Per GPU model with active offers, by model name. */
  cheapestPerModel: CheapestOffer[];
  /** Cheapest provider first. */
  providerPriceIndex: ProviderPriceIndex[];
  bestValue: BestValue[];
}

/** The workload behind `bestValue`: Llama 3 8B, FP16 weights and KV cache, one sequence at a time. */
export const BEST_VALUE_WORKLOAD = { model: "llama-3-8b", precision: "FP16", batch: 1, contextTokens: 2048, promptTokens: 1024 } as const;

export async function marketInsights(prisma: PrismaClient, now: Date, window: InsightWindow, limit: number): Promise<MarketInsights> {
  const start = since(now, window);
  type MoveRow = GpuOffer & { direction: "UP" | "DOWN"; priceThen: Decimal; priceNow: Decimal; change: number };
  type ModelRow = Omit<ModelMove, "change"> & { name: string; change: number | null };
  const w = Prisma.sql`${window}::"PriceWindow"`;
  const startSql = Prisma.sql`${start}::timestamp(3)`;
  // The active offers split in two. Served: the window's anchor holds their then-price, and their
  // WindowPrice row carries the change and copies of the offer. Probed: a point lies between the anchor and
  // the window start (or there is no anchor yet), so one history probe each; OFFSET 0 evaluates it once.
  const anchored = Prisma.sql`EXISTS (SELECT 1 FROM "WindowAnchor" a WHERE a."window" = ${w} AND a."at" <= ${startSql})`;
  const served = Prisma.sql`"WindowPrice" wp
    WHERE ${anchored} AND wp."window" = ${w} AND (wp."nextAt" IS NULL OR wp."nextAt" > ${startSql}) AND wp.active`;
  const probed = Prisma.sql`(
    SELECT o.id, o."gpuModelId", o."gpuCount", o."onDemandPrice" AS now_price, t.then_price
    FROM "GpuOffer" o CROSS JOIN LATERAL (SELECT ${priceAsOf(Prisma.sql`o.id`, startSql)} AS then_price OFFSET 0) t
    WHERE o.active AND (NOT ${anchored} OR o.id IN (
      SELECT wp."offerId" FROM "WindowPrice" wp WHERE wp."window" = ${w} AND wp."nextAt" <= ${startSql})))`;
  // The largest served changes come from the (window, change, offerId) index, which holds unrounded
  // changes; movers rank by the change as shown (6 decimals), then id. Rows tied with the limit-th as
  // shown differ from it by less than TIE_MARGIN unrounded, so that band is read as well.
  const topServed = (up: boolean) => {
    const [sign, order, edge, toward] = up
      ? [Prisma.sql`>`, Prisma.sql`DESC`, Prisma.sql`min`, Prisma.sql`>= -`]
      : [Prisma.sql`<`, Prisma.empty, Prisma.sql`max`, Prisma.sql`<= +`];
    return Prisma.sql`(
    SELECT wp."offerId" AS id, wp.price AS then_price, wp.change FROM ${served} AND wp.change ${sign} 0
      AND wp.change ${toward} ${TIE_MARGIN}::float8 + (
        SELECT ${edge}(k.change) FROM (SELECT wp.change FROM ${served} AND wp.change ${sign} 0 ORDER BY wp.change ${order} LIMIT ${limit}) k))`;
  };
  const [moves, models, cheapest, index] = await Promise.all([
    prisma.$queryRaw<MoveRow[]>`
      WITH moved AS (
        ${topServed(true)} UNION ALL ${topServed(false)}
        UNION ALL SELECT x.id, x.then_price, x.change FROM (
          SELECT id, then_price, now_price::float8 / NULLIF(then_price::float8, 0) - 1 AS change FROM ${probed} p) x
        WHERE x.change <> 0
      ), shown AS (SELECT m.*, ${ratio(Prisma.sql`m.change`)} AS shown FROM moved m)
      SELECT o.*, t.direction, t.then_price AS "priceThen", o."onDemandPrice" AS "priceNow", t.shown AS change
      FROM (
        (SELECT 'UP' AS direction, * FROM shown WHERE change > 0 ORDER BY shown DESC, id LIMIT ${limit})
        UNION ALL
        (SELECT 'DOWN', * FROM shown WHERE change < 0 ORDER BY shown, id LIMIT ${limit})
      ) t JOIN "GpuOffer" o ON o.id = t.id
      ORDER BY t.direction DESC, abs(t.shown) DESC, t.id`,
    // Model medians read the served rows' copies of the offer: no join of all offers.
    prisma.$queryRaw<ModelRow[]>`
      SELECT g.*, m.name FROM (
        SELECT p."gpuModelId", ${medianChange}
        FROM (
          SELECT wp."gpuModelId", wp."gpuCount", wp."nowPrice" AS now_price, wp.price AS then_price FROM ${served}
          UNION ALL
          SELECT "gpuModelId", "gpuCount", now_price, then_price FROM ${probed} x
        ) p
        WHERE p.then_price IS NOT NULL AND p."gpuModelId" IS NOT NULL GROUP BY p."gpuModelId"
      ) g JOIN "GpuModel" m ON m.id = g."gpuModelId"`,
    prisma.$queryRaw<(GpuOffer & { spec: GpuFigures })[]>`
      SELECT o.*, json_build_object('vramGb', m."vramGb", 'memoryBandwidthGbps', m."memoryBandwidthGbps",
                                    'fp16Tflops', m."fp16Tflops", 'fp8Tflops', m."fp8Tflops") AS spec
      FROM "GpuModel" m CROSS JOIN LATERAL (
        SELECT * FROM "GpuOffer" o WHERE o."gpuModelId" = m.id AND o.active ORDER BY o."pricePerGpuHour", o.id LIMIT 1) o
      ORDER BY m.name`,
    prisma.$queryRaw<ProviderPriceIndex[]>(priceIndexSql()),
  ]);
  const move = ({ direction: _d, priceThen, priceNow, change, ...offer }: MoveRow): OfferMove => ({ offer, priceThen, priceNow, change });
  const changed = models.filter((m): m is ModelRow & ModelMove => m.change != null && m.change !== 0);
  // Changes arrive rounded to 6 decimals, so equal as shown is equal here; ties list by model name.
  const byName = (a: { name: string }, b: { name: string }) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  const ranked = (sign: 1 | -1) => changed.filter((m) => Math.sign(m.change) === sign)
    .sort((a, b) => sign * (b.change - a.change) || byName(a, b)).slice(0, limit).map(({ name: _n, ...m }): ModelMove => m);
  return {
    window, since: start, asOf: now,
    risers: moves.filter((m) => m.direction === "UP").map(move),
    fallers: moves.filter((m) => m.direction === "DOWN").map(move),
    modelsCheaper: ranked(-1),
    modelsDearer: ranked(1),
    cheapestPerModel: cheapest.map(({ spec: _s, ...offer }) => ({ offer: offer as GpuOffer, pricePerGpuHour: offer.pricePerGpuHour })),
    providerPriceIndex: index,
    bestValue: bestValue(cheapest).slice(0, limit),
  };
}

/** GpuModel datasheet figures, read through json_build_object (numbers, not Decimals). */
interface GpuFigures { vramGb: number; memoryBandwidthGbps: number; fp16Tflops: number; fp8Tflops: number | null }

/** $/Mtok of each GPU model's cheapest offer for BEST_VALUE_WORKLOAD; models it does not fit (or without specs) are left out. */
function bestValue(cheapest: Array<GpuOffer & { spec: GpuFigures }>): BestValue[] {
  const out: BestValue[] = [];
  for (const { spec, ...offer } of cheapest) {
    let estimate: InferenceEstimate;
    try {
      estimate = estimateInference({
        ...BEST_VALUE_WORKLOAD, gpuCount: offer.gpuCount,
        gpu: { vramGb: spec.vramGb, memoryBandwidthGbps: spec.memoryBandwidthGbps, fp16Tflops: spec.fp16Tflops, fp8Tflops: spec.fp8Tflops },
      });
    } catch (err) {
      if (err instanceof LlmInputError) continue; // a GPU model without datasheet figures (zero bandwidth) cannot be estimated
      throw err;
    }
    if (!estimate.fits || offer.onDemandPrice.isZero()) continue;
    const cost = costPerMillionTokens({ pricePerHour: offer.onDemandPrice.toString(), tokensPerSecond: estimate.decode.tokensPerSecond });
    out.push({ offer: offer as GpuOffer, gpuModelId: offer.gpuModelId!, costPerMillionTokens: cost.costPerMillionTokens, tokensPerSecond: estimate.decode.tokensPerSecond });
  }
  return out.sort((a, b) => a.costPerMillionTokens - b.costPerMillionTokens || a.offer.id - b.offer.id);
}
