// "Price as of now − window" for every active offer, without one history probe per offer.
//
// The KPI queries compare each offer's price now with its price at the start of a window (24 h, 7 d,
// 30 d). Read from the history alone, that is one backward index probe into PricePoint per offer and
// window: ~19k probes for the whole market, well over 100 ms (bench/README.md, kpi). Instead, per window:
//
// - WindowAnchor.at is an instant (the last roll's time − the window) and WindowPrice holds, for every
//   offer with price points, its price as of `at` (null: no point yet), `nextAt`, the time of its first
//   point after `at` (null: none), and `change`, its latest price ÷ that price − 1.
// - The price as of any s ≥ at is then WindowPrice.price whenever nextAt is null or later than s: no
//   point lies in (at, s]. Only offers that changed in between need the probe, so a stale anchor costs
//   probes, never correctness. The movers of a window are read from the (window, change) index.
// - The PricePoint insert trigger keeps the rows exact between rolls, whoever inserts and in whatever
//   order (migration 20261126130000_price_history_rollups): it rewrites the rows of the offers that got
//   points.
// - rollPriceWindows moves the anchors to now − window, re-reading only the rows whose next point the
//   anchor passed. The ingestion leader runs it when it takes over and once a minute.
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

/** The on-demand price of offer `offer` as of `at` (its last point at or before it), or null. */
export const priceAsOf = (offer: Prisma.Sql, at: Prisma.Sql) => Prisma.sql`(
  SELECT pp."onDemandPrice" FROM "PricePoint" pp
  WHERE pp."offerId" = ${offer} AND pp."recordedAt" <= ${at} ORDER BY pp."recordedAt" DESC LIMIT 1)`;

/**
 * Moves every window's anchor to `now` − window (one transaction; price inserts wait for it). Cheap when
 * run often: it re-reads only the offers with a point between the old and the new anchor. The row values
 * come from the migration's "WindowPrice_row" function, as the insert trigger's do.
 */
export async function rollPriceWindows(prisma: PrismaClient, now: Date = new Date()): Promise<WindowRoll[]> {
  return prisma.$transaction(async (tx) => {
    // While the rows are re-read no point may arrive (the trigger would write rows this transaction is
    // rewriting): SHARE conflicts with the ROW EXCLUSIVE lock of an INSERT, and waits for imports in flight.
    await tx.$executeRawUnsafe(`LOCK TABLE "PricePoint" IN SHARE MODE`);
    const rolls: WindowRoll[] = [];
    for (const [window, ms] of Object.entries(PRICE_WINDOW_MS) as [PriceWindowKey, number][]) {
      const at = new Date(now.getTime() - ms);
      const w = Prisma.sql`${window}::"PriceWindow"`;
      const atSql = Prisma.sql`${at}::timestamp(3)`;
      const [anchor] = await tx.$queryRaw<{ at: Date }[]>`SELECT "at" FROM "WindowAnchor" WHERE "window" = ${w} FOR UPDATE`;
      const rebuilt = !anchor || anchor.at > at;
      let reread = 0;
      if (rebuilt) {
        await tx.$executeRaw`DELETE FROM "WindowPrice" WHERE "window" = ${w}`;
      } else {
        // A row whose next point is after the new anchor still holds: no point lies between the two anchors.
        reread = await tx.$executeRaw`
          UPDATE "WindowPrice" wp SET (price, "nextAt", change) = (SELECT r.price, r."nextAt", r.change FROM "WindowPrice_row"(wp."offerId", ${atSql}) r)
          WHERE wp."window" = ${w} AND wp."nextAt" <= ${atSql}`;
      }
      // Every offer with points has a row (the trigger adds the others' as their first points arrive).
      reread += await tx.$executeRaw`
        INSERT INTO "WindowPrice" ("offerId", "window", price, "nextAt", change)
        SELECT o.id, ${w}, r.price, r."nextAt", r.change
        FROM "GpuOffer" o CROSS JOIN LATERAL "WindowPrice_row"(o.id, ${atSql}) r
        WHERE EXISTS (SELECT 1 FROM "PricePoint" pp WHERE pp."offerId" = o.id)
          AND NOT EXISTS (SELECT 1 FROM "WindowPrice" wp WHERE wp."offerId" = o.id AND wp."window" = ${w})`;
      await tx.$executeRaw`
        INSERT INTO "WindowAnchor" ("window", "at", "rolledAt") VALUES (${w}, ${atSql}, ${now}::timestamp(3))
        ON CONFLICT ("window") DO UPDATE SET "at" = EXCLUDED."at", "rolledAt" = EXCLUDED."rolledAt"`;
      rolls.push({ window, at, rebuilt, reread });
    }
    return rolls;
  }, { maxWait: 30_000, timeout: 300_000 });
}

// Fragments for the KPI queries, which read "then" prices for rows of offers `o` (with id) and of windows
// `w(key, since)`: `FROM offers o CROSS JOIN ${anchoredWindows} ${windowPriceJoin(…)}`, then ${priceThen}.

/** The windows `w`, each with `anchored`: whether its WindowPrice rows describe an instant at or before w.since. */
export const anchoredWindows = Prisma.sql`(
  SELECT w.key, w.since, EXISTS (SELECT 1 FROM "WindowAnchor" a WHERE a."window" = w.key::"PriceWindow" AND a."at" <= w.since) AS anchored
  FROM w) w`;

/**
 * The offer's WindowPrice row for the window, when the window is anchored. `lookup` "hash" suits the
 * whole market (one hash join over the window's rows); "index" a few thousand offers (one primary-key
 * lookup each, instead of hashing all 57k rows: gpuKpis for 2.9k offers 88 → 52 ms, bench kpi).
 */
export function windowPriceJoin(lookup: "hash" | "index"): Prisma.Sql {
  return lookup === "hash"
    ? Prisma.sql`LEFT JOIN "WindowPrice" wp ON w.anchored AND wp."window" = w.key::"PriceWindow" AND wp."offerId" = o.id`
    : Prisma.sql`LEFT JOIN LATERAL (
        SELECT * FROM "WindowPrice" x WHERE w.anchored AND x."offerId" = o.id AND x."window" = w.key::"PriceWindow"
        LIMIT 1) wp ON true`; // LIMIT (the key is unique anyway) keeps the planner from flattening it into a hash join
}

/**
 * The offer's on-demand price as of w.since, or null when it had no point by then: its WindowPrice row's
 * price when no point lies between the anchor and w.since, else one backward probe of the history.
 */
export const priceThen = Prisma.sql`
  CASE WHEN wp."offerId" IS NOT NULL AND (wp."nextAt" IS NULL OR wp."nextAt" > w.since) THEN wp.price
       ELSE ${priceAsOf(Prisma.sql`o.id`, Prisma.sql`w.since`)} END`;
