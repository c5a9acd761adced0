// Price-history retention: raw price points are kept for PRICE_HISTORY_RAW_DAYS, then each offer's points
// of one UTC hour become one PriceRollup row, in the transaction that deletes them.
//
// What a rolled hour keeps is what the readers need to answer as they did from the points:
// - priceHistory: count, min, max and the exact Σ of the on-demand prices, so any set of hours averages
//   exactly (src/infra/offers.ts). Per GPU, a rolled hour adds Σ ÷ GPUs where the points added each
//   price ÷ GPUs: equal to 20 significant digits (exact when the GPU count divides evenly, e.g. 1, 2, 4, 8).
// - "Price as of t" (KPI trends, movers, WindowPrice): the hour's last point. The readers' history is the
//   raw points plus each rolled hour's last point (src/infra/price-windows.ts priceAsOf, and the
//   migration's "WindowPrice_asOf"), exact for every t that falls outside the rolled hours' spans
//   (first to last point) — always true for t within the raw period, e.g. every KPI window at the
//   default 30 days. For t inside a rolled hour's span, the answer is the price at the end of an earlier
//   hour: hourly resolution.
// - Volatility: per hour, the on-demand changes' count, Σ and Σ of squared deviations from their mean,
//   which combine exactly (Chan et al.) with the raw points' (src/infra/kpi.ts); equal up to float
//   rounding (~1e-15 relative), hidden by the 6 decimals shown.
// A range (priceHistory from/to, the volatility window) counts a rolled hour only when all its points lie
// in it (`rolledWithin`): exact whenever no rolled hour straddles a bound.
//
// The job runs on the ingestion leader (src/ingestion/scheduler.ts): whole hours before
// `now − rawDays` (rounded down to the hour), in batches of about `batchSize` points, each batch one
// transaction that moves points from PricePoint to PriceRollup (one statement: what is deleted is what
// is added) and re-reads the WindowPrice rows whose anchor the moved hours could change. It locks
// PricePoint against writers for the batch (SHARE ROW EXCLUSIVE: imports and the window roll wait, no
// second job runs), so no point arrives half-counted. A point that arrives later in an already rolled
// hour (a backdated import) is merged into its hour by the next run; running again changes nothing.
// Each offer's latest hour stays raw: the insert triggers read the previous point of a new one there.
import { Prisma, type PrismaClient } from "../generated/prisma/client.ts";
import { retryOnLockConflict } from "./transactions.ts";

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

/** Raw points per batch transaction. */
export const ROLLUP_BATCH_POINTS = 20_000;

/** The first hour kept raw: points recorded before it are rolled up. */
export function rollupCutoff(now: Date, rawDays: number): Date {
  return new Date(Math.floor((now.getTime() - rawDays * DAY_MS) / HOUR_MS) * HOUR_MS);
}

/**
 * Rolled hours (alias r) whose points all lie between `from` and `to`: "[)" for [from, to), "(]" for
 * (from, to]. The hour bounds let the (offerId, hour), (hour) and (providerId, hour) indexes bound the scan.
 */
export function rolledWithin(from: Prisma.Sql, to: Prisma.Sql, bounds: "[)" | "(]"): Prisma.Sql {
  const [after, before] = bounds === "[)" ? [Prisma.sql`>=`, Prisma.sql`<`] : [Prisma.sql`>`, Prisma.sql`<=`];
  return Prisma.sql`r.hour > ${from} - interval '1 hour' AND r.hour ${before} ${to}
    AND r."firstRecordedAt" ${after} ${from} AND r."lastRecordedAt" ${before} ${to}`;
}

export interface RollUpOptions {
  rawDays: number;
  now?: Date;
  /** Points per transaction, in whole hours (one hour holding more is rolled alone). Default ROLLUP_BATCH_POINTS. */
  batchSize?: number;
  /** Checked between batches (leadership lost, shutdown): a batch in progress still commits. */
  signal?: AbortSignal;
  /** Called after each committed batch with the points it rolled up. */
  onBatch?: (points: number) => void;
}

export interface RollUpRun {
  /** Points recorded before this instant were rolled up (whole hours). */
  cutoff: Date;
  /** Raw points deleted, each now counted in its hour's PriceRollup row. */
  points: number;
  /** PriceRollup rows written or merged into. */
  hours: number;
  batches: number;
  /** WindowPrice rows re-read because a moved hour lay after their window's anchor. */
  windowRows: number;
}

// One statement per batch: delete the batch's points (but each offer's latest hour), add them up per offer
// and hour, and write or merge the PriceRollup rows. Merging (a point backdated into a rolled hour)
// combines the counts and sums, keeps the later last point and combines the squared deviations (Chan et al.).
const ROLL_UP_BATCH = Prisma.sql`
  gone AS (
    DELETE FROM "PricePoint" pp
    WHERE pp."recordedAt" >= (SELECT lo FROM batch) AND pp."recordedAt" < (SELECT hi FROM batch)
      AND pp."recordedAt" < (SELECT date_trunc('hour', max(q."recordedAt")) FROM "PricePoint" q WHERE q."offerId" = pp."offerId")
    RETURNING pp.*
  ), hours AS (
    SELECT g."offerId", date_trunc('hour', g."recordedAt") AS hour, max(g."providerId") AS "providerId", count(*)::int AS points,
           min(g."onDemandPrice") AS "onDemandMin", max(g."onDemandPrice") AS "onDemandMax", sum(g."onDemandPrice") AS "onDemandSum",
           min(g."recordedAt") AS "firstRecordedAt", max(g."recordedAt") AS "lastRecordedAt",
           (array_agg(g."onDemandPrice" ORDER BY g."recordedAt" DESC, g.id DESC))[1] AS "lastOnDemandPrice",
           (array_agg(g."spotPrice" ORDER BY g."recordedAt" DESC, g.id DESC))[1] AS "lastSpotPrice",
           (array_agg(g.availability ORDER BY g."recordedAt" DESC, g.id DESC))[1] AS "lastAvailability",
           count(*) FILTER (WHERE g."changeRatio" <> 0)::int AS "priceChanges",
           coalesce(sum(g."changeRatio") FILTER (WHERE g."changeRatio" <> 0), 0) AS "changeRatioSum",
           coalesce(var_pop(g."changeRatio") FILTER (WHERE g."changeRatio" <> 0) * count(*) FILTER (WHERE g."changeRatio" <> 0), 0) AS "changeRatioSquaredDeviations"
    FROM gone g GROUP BY 1, 2
  ), merged AS (
    INSERT INTO "PriceRollup" AS r ("offerId", hour, "providerId", points, "onDemandMin", "onDemandMax", "onDemandSum",
      "firstRecordedAt", "lastRecordedAt", "lastOnDemandPrice", "lastSpotPrice", "lastAvailability",
      "priceChanges", "changeRatioSum", "changeRatioSquaredDeviations")
    SELECT * FROM hours
    ON CONFLICT ("offerId", hour) DO UPDATE SET
      "providerId" = coalesce(r."providerId", EXCLUDED."providerId"),
      points = r.points + EXCLUDED.points,
      "onDemandMin" = least(r."onDemandMin", EXCLUDED."onDemandMin"),
      "onDemandMax" = greatest(r."onDemandMax", EXCLUDED."onDemandMax"),
      "onDemandSum" = r."onDemandSum" + EXCLUDED."onDemandSum",
      "firstRecordedAt" = least(r."firstRecordedAt", EXCLUDED."firstRecordedAt"),
      "lastRecordedAt" = greatest(r."lastRecordedAt", EXCLUDED."lastRecordedAt"),
      "lastOnDemandPrice" = CASE WHEN EXCLUDED."lastRecordedAt" > r."lastRecordedAt" THEN EXCLUDED."lastOnDemandPrice" ELSE r."lastOnDemandPrice" END,
      "lastSpotPrice" = CASE WHEN EXCLUDED."lastRecordedAt" > r."lastRecordedAt" THEN EXCLUDED."lastSpotPrice" ELSE r."lastSpotPrice" END,
      "lastAvailability" = CASE WHEN EXCLUDED."lastRecordedAt" > r."lastRecordedAt" THEN EXCLUDED."lastAvailability" ELSE r."lastAvailability" END,
      "priceChanges" = r."priceChanges" + EXCLUDED."priceChanges",
      "changeRatioSum" = r."changeRatioSum" + EXCLUDED."changeRatioSum",
      "changeRatioSquaredDeviations" = r."changeRatioSquaredDeviations" + EXCLUDED."changeRatioSquaredDeviations" + CASE
        WHEN r."priceChanges" > 0 AND EXCLUDED."priceChanges" > 0
        THEN (r."changeRatioSum" / r."priceChanges" - EXCLUDED."changeRatioSum" / EXCLUDED."priceChanges") ^ 2
             * r."priceChanges"::float8 * EXCLUDED."priceChanges" / (r."priceChanges" + EXCLUDED."priceChanges")
        ELSE 0 END
    RETURNING r."offerId", r.hour
  )
  SELECT (SELECT count(*) FROM gone)::int AS points, (SELECT count(*) FROM merged)::int AS hours,
         coalesce(array_agg(l."offerId"), '{}') AS "offerIds", coalesce(array_agg(l.hour::text), '{}') AS "lastHours"
  FROM (SELECT "offerId", max(hour) AS hour FROM merged GROUP BY 1) l`;

type Tx = Prisma.TransactionClient;

/** Rolls up the raw points recorded before `now − rawDays` (whole hours). Idempotent; see the top of this file. */
export async function rollUpPriceHistory(prisma: PrismaClient, opts: RollUpOptions): Promise<RollUpRun> {
  const cutoff = rollupCutoff(opts.now ?? new Date(), opts.rawDays);
  const batchSize = Math.max(1, opts.batchSize ?? ROLLUP_BATCH_POINTS);
  const run: RollUpRun = { cutoff, points: 0, hours: 0, batches: 0, windowRows: 0 };
  const [oldest] = await prisma.$queryRaw<{ at: Date | null }[]>`
    SELECT min("recordedAt") AS at FROM "PricePoint" WHERE "recordedAt" < ${cutoff}::timestamp(3)`;
  let lo = oldest?.at ?? null;
  while (lo && !opts.signal?.aborted) {
    const from = lo;
    const batch = await retryOnLockConflict(
      () => prisma.$transaction((tx) => rollUpBatch(tx, from, cutoff, batchSize), { maxWait: 30_000, timeout: 300_000 }),
      { what: "rolling up the price history" },
    );
    run.points += batch.points;
    run.hours += batch.hours;
    run.windowRows += batch.windowRows;
    run.batches++;
    opts.onBatch?.(batch.points);
    lo = batch.hi < cutoff ? batch.hi : null;
  }
  return run;
}

async function rollUpBatch(tx: Tx, lo: Date, cutoff: Date, batchSize: number) {
  // Imports wait for this batch (their points would otherwise land in hours being moved), and so do the
  // window roll and any other run of this job: the lock conflicts with their ROW EXCLUSIVE / SHARE / itself.
  await tx.$executeRawUnsafe(`LOCK TABLE "PricePoint" IN SHARE ROW EXCLUSIVE MODE`);
  // The batch ends at the start of the hour holding its batchSize-th point (whole hours), or after the
  // first hour when that hour alone holds more.
  const firstHour = new Date(Math.floor(lo.getTime() / HOUR_MS) * HOUR_MS);
  const [edge] = await tx.$queryRaw<{ hour: Date }[]>`
    SELECT date_trunc('hour', "recordedAt") AS hour FROM "PricePoint"
    WHERE "recordedAt" >= ${lo}::timestamp(3) AND "recordedAt" < ${cutoff}::timestamp(3)
    ORDER BY "recordedAt" OFFSET ${batchSize} LIMIT 1`;
  const hi = !edge ? cutoff : edge.hour > firstHour ? edge.hour : new Date(firstHour.getTime() + HOUR_MS);
  const [moved] = await tx.$queryRaw<{ points: number; hours: number; offerIds: number[]; lastHours: string[] }[]>`
    WITH batch AS (SELECT ${lo}::timestamp(3) AS lo, ${hi}::timestamp(3) AS hi), ${ROLL_UP_BATCH}`;
  // A rolled hour ending after a window's anchor can change that offer's row there (its price as of the
  // anchor, its next point): re-read those rows from the history as the readers now see it.
  const windowRows = moved!.hours === 0 ? 0 : await tx.$executeRaw`
    UPDATE "WindowPrice" wp SET (price, "nextAt", change) = (
      SELECT f.price, f."nextAt", f.change FROM "WindowPrice_fresh" f WHERE f."offerId" = wp."offerId" AND f."window" = wp."window")
    FROM unnest(${moved!.offerIds}::int[], ${moved!.lastHours}::timestamp(3)[]) AS x("offerId", "lastHour")
    JOIN "WindowAnchor" a ON a."at" < x."lastHour" + interval '1 hour'
    WHERE wp."offerId" = x."offerId" AND wp."window" = a."window"`;
  return { hi, points: moved!.points, hours: moved!.hours, windowRows };
}
