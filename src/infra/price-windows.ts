// "Price as of now − window" for every active offer, without one history probe per offer.
//
// The KPI queries compare each offer's price now with its price at the start of a window (24 h, 7 d,
// 30 d). Read from the history alone, that is one backward index probe into PricePoint per offer and
// window: ~19k probes for the whole market, well over 100 ms (bench/README.md, kpi). Instead, per window:
//
// - WindowAnchor.at is an instant (the last roll's time − the window) and WindowPrice holds, for every
//   offer with price points, its price as of `at` (null: no point yet), `nextAt`, the time of its first
//   point after `at` (null: none), `change`, its listed price ÷ that price − 1, and copies of what the
//   KPIs read of the offer (GPU model, count, listed price, active), so the model medians read one table.
// - The price as of any s ≥ at is then WindowPrice.price whenever nextAt is null or later than s: no
//   point lies in (at, s]. Only offers that changed in between need the probe, so a stale anchor costs
//   probes, never correctness. The movers of a window are read from the (window, change) index.
// - Triggers keep the rows exact between rolls, whoever writes and in whatever order (migration
//   20261126130000_price_history_rollups): a PricePoint insert rewrites the rows of the offers that got
//   points, a GpuOffer update their copies of the offer. WindowAnchor is written by the roll only.
// - rollPriceWindows moves the anchors to now − window, re-reading only the rows whose next point the
//   anchor passed. The ingestion leader runs it when it takes over and once a minute.
// - The history is the raw points plus the last point of each hour rolled up after PRICE_HISTORY_RAW_DAYS
//   (priceAsOf; src/infra/price-retention.ts, which re-reads the rows a roll-up could change).
import { Prisma, type PrismaClient } from "../generated/prisma/client.ts";

export type PriceWindowKey = "HOURS_24" | "DAYS_7" | "DAYS_30";

const DAY = 86_400_000;
export const PRICE_WINDOW_MS: Record<PriceWindowKey, number> = { HOURS_24: DAY, DAYS_7: 7 * DAY, DAYS_30: 30 * DAY };

export interface WindowRoll {
  window: PriceWindowKey;
  /** The new anchor: `now` − the window. */
  at: Date;
  /** Whether every row was rebuilt (first roll, or the anchor moved backwards). */
  rebuilt: boolean;
  /** Rows re-read from the history: the anchor passed their next point, or the offer had no row. */
  reread: number;
}

/**
 * The on-demand price of offer `offer` as of `at` (its last point at or before it), or null. The history
 * is the raw points plus the last point of each rolled-up hour (src/infra/price-retention.ts): the later
 * of one probe into each. The migration's "WindowPrice_asOf" reads the same history.
 */
export const priceAsOf = (offer: Prisma.Sql, at: Prisma.Sql) => Prisma.sql`(
  SELECT h.price FROM (
    (SELECT pp."onDemandPrice" AS price, pp."recordedAt" AS at FROM "PricePoint" pp
     WHERE pp."offerId" = ${offer} AND pp."recordedAt" <= ${at} ORDER BY pp."recordedAt" DESC LIMIT 1)
    UNION ALL
    (SELECT r."lastOnDemandPrice", r."lastRecordedAt" FROM "PriceRollup" r
     WHERE r."offerId" = ${offer} AND r.hour <= ${at} AND r."lastRecordedAt" <= ${at} ORDER BY r.hour DESC LIMIT 1)
  ) h ORDER BY h.at DESC LIMIT 1)`;

/**
 * Moves every window's anchor to `now` − window (one transaction; price inserts wait for it). Cheap when
 * run often: it re-reads only the offers with a point between the old and the new anchor. The row values
 * come from the migration's "WindowPrice_fresh" view, as the insert trigger's do.
 */
export async function rollPriceWindows(prisma: PrismaClient, now: Date = new Date()): Promise<WindowRoll[]> {
  return prisma.$transaction(async (tx) => {
    // While the rows are re-read no point may arrive and no offer change (the triggers would write rows
    // this transaction is rewriting): SHARE conflicts with the ROW EXCLUSIVE lock of every write, and
    // waits for imports in flight.
    await tx.$executeRawUnsafe(`LOCK TABLE "PricePoint", "GpuOffer" IN SHARE MODE`);
    const rolls: WindowRoll[] = [];
    for (const [window, ms] of Object.entries(PRICE_WINDOW_MS) as [PriceWindowKey, number][]) {
      const at = new Date(now.getTime() - ms);
      const w = Prisma.sql`${window}::"PriceWindow"`;
      const atSql = Prisma.sql`${at}::timestamp(3)`;
      const [anchor] = await tx.$queryRaw<{ at: Date }[]>`SELECT "at" FROM "WindowAnchor" WHERE "window" = ${w} FOR UPDATE`;
      const rebuilt = !anchor || anchor.at > at;
      // The new anchor first: the rows below come from the "WindowPrice_fresh" view, which reads it.
      await tx.$executeRaw`
        INSERT INTO "WindowAnchor" ("window", "at", "rolledAt") VALUES (${w}, ${atSql}, ${now}::timestamp(3))
        ON CONFLICT ("window") DO UPDATE SET "at" = EXCLUDED."at", "rolledAt" = EXCLUDED."rolledAt"`;
      let reread = 0;
      if (rebuilt) {
        await tx.$executeRaw`DELETE FROM "WindowPrice" WHERE "window" = ${w}`;
      } else {
        // A row whose next point is after the new anchor still holds: no point lies between the two anchors.
        reread = await tx.$executeRaw`
          UPDATE "WindowPrice" wp SET (price, "nextAt", change) = (
            SELECT f.price, f."nextAt", f.change FROM "WindowPrice_fresh" f WHERE f."offerId" = wp."offerId" AND f."window" = wp."window")
          WHERE wp."window" = ${w} AND wp."nextAt" <= ${atSql}`;
      }
      // Every offer with points has a row (the trigger adds the others' as their first points arrive).
      reread += await tx.$executeRaw`
        INSERT INTO "WindowPrice" ("offerId", "window", price, "nextAt", change, "gpuModelId", "gpuCount", "nowPrice", active)
        SELECT f.* FROM "WindowPrice_fresh" f
        WHERE f."window" = ${w} AND EXISTS (SELECT 1 FROM "PricePoint" pp WHERE pp."offerId" = f."offerId")
          AND NOT EXISTS (SELECT 1 FROM "WindowPrice" wp WHERE wp."offerId" = f."offerId" AND wp."window" = ${w})`;
      rolls.push({ window, at, rebuilt, reread });
    }
    return rolls;
  }, { maxWait: 30_000, timeout: 300_000 });
}

// Fragments for the KPI queries, which read "then" prices for rows of offers `o` (with id) and of windows
// `w(key, since)`: `FROM offers o CROSS JOIN ${anchoredWindows} ${windowPriceJoin}`, then ${priceThen}.

/** The windows `w`, each with `anchored`: whether its WindowPrice rows describe an instant at or before w.since. */
export const anchoredWindows = Prisma.sql`(
  SELECT w.key, w.since, EXISTS (SELECT 1 FROM "WindowAnchor" a WHERE a."window" = w.key::"PriceWindow" AND a."at" <= w.since) AS anchored
  FROM w) w`;

/**
 * The offer's WindowPrice row for the window, when the window is anchored: one primary-key lookup per
 * offer and window (the LIMIT keeps the planner from flattening it into a hash join over every window's
 * rows, which costs more for the few thousand offers of one GPU model: 88 → 52 ms, bench kpi).
 */
export const windowPriceJoin = Prisma.sql`LEFT JOIN LATERAL (
  SELECT * FROM "WindowPrice" x WHERE w.anchored AND x."offerId" = o.id AND x."window" = w.key::"PriceWindow"
  LIMIT 1) wp ON true`;

/**
 * The offer's on-demand price as of w.since, or null when it had no point by then: its WindowPrice row's
 * price when no point lies between the anchor and w.since, else one backward probe of the history.
 */
export const priceThen = Prisma.sql`
  CASE WHEN wp."offerId" IS NOT NULL AND (wp."nextAt" IS NULL OR wp."nextAt" > w.since) THEN wp.price
       ELSE ${priceAsOf(Prisma.sql`o.id`, Prisma.sql`w.since`)} END`;
