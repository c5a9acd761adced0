// Hourly volatility statistics per provider (ProviderHourStat), so that providerKpis reads ~720 rows for
// its 30-day window instead of every price change in it (about a million index entries for a large
// provider at 10M points: 180 ms, bench kpi).
//
// A row holds, for one provider and one completed UTC hour, what the hour's raw points contribute to
// volatility: the count of on-demand changes (changeRatio neither null nor 0), their Σ and their Σ of
// squared deviations from their mean — the same three figures PriceRollup keeps per offer-hour, which
// combine exactly (Chan et al.; src/infra/kpi.ts). Rows exist only for completed hours: the current hour
// is still being written.
//
// Exactness: the ingestion leader writes the rows under a SHARE lock on PricePoint (no write in flight,
// none starts), and anything that changes a point afterwards deletes its hour's row in the same
// statement (triggers of migration 20261207120000_provider_hour_stats: inserts, the ratio repair of a
// backdated insert, deletes, TRUNCATE). A reader therefore counts each hour once: from its row when it
// has one, else from its points; a missing row costs a range scan, never a wrong figure. The leader
// writes the missing rows again on its next run (once a minute, after rolling the price windows).
import { Prisma, type PrismaClient } from "../generated/prisma/client.ts";

const HOUR_MS = 3_600_000;

/** Consecutive hours written per transaction: a first run over 30 days of history is ~30 short transactions. */
export const STAT_HOURS_PER_BATCH = 24;

export interface HourStatRun {
  /** Hours that lacked a row for at least one provider, now written. */
  hours: number;
  /** Rows written (providers × hours, zero counts included: a row says "nothing changed" too). */
  rows: number;
  /** Rows dropped as older than the kept span. */
  pruned: number;
}

export interface HourStatOptions {
  /** How far back rows are kept and written (the volatility window). */
  keepMs: number;
  now?: Date;
  /** Checked between batches (leadership lost, shutdown): a batch in progress still commits. */
  signal?: AbortSignal;
}

const floorHour = (t: number) => Math.floor(t / HOUR_MS) * HOUR_MS;

/**
 * Writes the rows missing for the completed hours of the last `keepMs` (every provider, zero counts
 * included) and drops older ones. Cheap when run often: it looks up which hours lack a row, and reads the
 * points of those hours only.
 */
export async function fillProviderHourStats(prisma: PrismaClient, o: HourStatOptions): Promise<HourStatRun> {
  const now = (o.now ?? new Date()).getTime();
  const first = new Date(floorHour(now - o.keepMs));
  const end = new Date(floorHour(now)); // exclusive: the current hour is not complete
  const run: HourStatRun = { hours: 0, rows: 0, pruned: 0 };
  // Under the same lock as the writes below: a point written into an old hour deletes that hour's row
  // from its trigger, and two statements deleting the same rows in different orders can deadlock.
  run.pruned = await prisma.$transaction(async (tx) => {
    await tx.$executeRawUnsafe(`LOCK TABLE "PricePoint" IN SHARE MODE`);
    return tx.$executeRaw`DELETE FROM "ProviderHourStat" WHERE hour < ${first}::timestamp(3)`;
  }, { maxWait: 30_000, timeout: 120_000 });
  if (end <= first) return run;
  const missing = await prisma.$queryRaw<{ hour: Date }[]>`
    SELECT h.hour FROM generate_series(${first}::timestamp(3), ${end}::timestamp(3) - interval '1 hour', interval '1 hour') h(hour)
    WHERE EXISTS (SELECT 1 FROM "Provider" p
                  WHERE NOT EXISTS (SELECT 1 FROM "ProviderHourStat" s WHERE s."providerId" = p.id AND s.hour = h.hour))
    ORDER BY 1`;
  for (const [from, to] of ranges(missing.map((m) => m.hour.getTime()))) {
    o.signal?.throwIfAborted();
    const rows = await prisma.$transaction(async (tx) => {
      // SHARE conflicts with every write's ROW EXCLUSIVE: imports in flight finish first, new ones wait,
      // so the rows describe committed points that no trigger has yet to invalidate.
      await tx.$executeRawUnsafe(`LOCK TABLE "PricePoint" IN SHARE MODE`);
      return tx.$executeRaw`
        INSERT INTO "ProviderHourStat" ("providerId", hour, "priceChanges", "changeRatioSum", "changeRatioSquaredDeviations")
        SELECT p.id, h.hour, x.n, coalesce(x.s, 0), coalesce(x.m2, 0)
        FROM generate_series(${new Date(from)}::timestamp(3), ${new Date(to)}::timestamp(3), interval '1 hour') h(hour)
        CROSS JOIN "Provider" p
        CROSS JOIN LATERAL (
          SELECT count(*)::int AS n, sum(pp."changeRatio") AS s, var_pop(pp."changeRatio") * count(*) AS m2
          FROM "PricePoint" pp
          WHERE pp."providerId" = p.id AND pp."recordedAt" >= h.hour AND pp."recordedAt" < h.hour + interval '1 hour'
            AND pp."changeRatio" <> 0) x
        WHERE NOT EXISTS (SELECT 1 FROM "ProviderHourStat" s WHERE s."providerId" = p.id AND s.hour = h.hour)
        ON CONFLICT DO NOTHING`;
    }, { maxWait: 30_000, timeout: 120_000 });
    run.hours += (to - from) / HOUR_MS + 1;
    run.rows += rows;
  }
  return run;
}

/** Sorted hour starts (ms) as [first, last] runs of consecutive hours, at most STAT_HOURS_PER_BATCH each. */
function ranges(hours: number[]): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const h of hours) {
    const last = out[out.length - 1];
    if (last && h === last[1] + HOUR_MS && (h - last[0]) / HOUR_MS < STAT_HOURS_PER_BATCH) last[1] = h;
    else out.push([h, h]);
  }
  return out;
}

/**
 * The volatility parts (n, s = Σ changeRatio, m2 = Σ squared deviations) of provider `providerId`'s raw
 * price changes in (`from`, `to`]: one row per completed hour inside the range that has a stat row, and
 * for every other hour touching the range (its edges, the current hour, hours whose row a write deleted)
 * the points themselves, through the (providerId, recordedAt, changeRatio) index.
 */
export function rawChangeParts(providerId: number, from: Prisma.Sql, to: Prisma.Sql): Prisma.Sql {
  return Prisma.sql`
    SELECT st."priceChanges" AS n, st."changeRatioSum" AS s, st."changeRatioSquaredDeviations" AS m2
    FROM "ProviderHourStat" st
    WHERE st."providerId" = ${providerId} AND st.hour > ${from} AND st.hour + interval '1 hour' <= ${to} AND st."priceChanges" > 0
    UNION ALL
    SELECT x.n, x.s, x.m2
    FROM (SELECT h.hour FROM generate_series(date_trunc('hour', ${from}), date_trunc('hour', ${to}), interval '1 hour') h(hour)
          WHERE NOT (h.hour > ${from} AND h.hour + interval '1 hour' <= ${to}
                     AND EXISTS (SELECT 1 FROM "ProviderHourStat" st WHERE st."providerId" = ${providerId} AND st.hour = h.hour))) h
    CROSS JOIN LATERAL (
      SELECT count(*)::int AS n, sum(pp."changeRatio") AS s, var_pop(pp."changeRatio") * count(*) AS m2
      FROM "PricePoint" pp
      WHERE pp."providerId" = ${providerId} AND pp."recordedAt" > ${from} AND pp."recordedAt" <= ${to}
        AND pp."recordedAt" >= h.hour AND pp."recordedAt" < h.hour + interval '1 hour' AND pp."changeRatio" <> 0) x
    WHERE x.n > 0`;
}
