// `npm run bench -- kpi [--explain]`
//   The KPI functions of src/infra/kpi.ts at several history sizes (a curve: 1M and 10M price points by
//   default), each against a baseline measured in the same run: the very statements the function sent
//   (captured from Prisma's query log), run with `pg`. --explain also prints the full EXPLAIN (ANALYZE,
//   BUFFERS) plan of every statement.
//   The price windows are rolled as the ingestion leader does (once a minute), the last roll a minute
//   before the measured calls, and the provider hour stats (volatility) written after it, as the leader does; then the as-of KPIs are measured again without anchors (history probes).
//   Every size gets its own throwaway database with the same offers.
// Env: BENCH_OFFERS (20000), BENCH_POINTS (1000000,10000000: a comma list), BENCH_RUNS (15),
//      BENCH_VERIFY_POINTS (1000000: sizes up to this also load through the PricePoint triggers and
//      check the tables are identical), BENCH_DATABASE_URL.
import type pg from "pg";
import { gpuKpis, marketInsights, marketOverview, providerKpis, VOLATILITY_WINDOW, WINDOW_MS } from "../src/infra/kpi.ts";
import { fillProviderHourStats } from "../src/infra/provider-hour-stats.ts";
import { rollPriceWindows } from "../src/infra/price-windows.ts";
import { formatNumber } from "./lib/chart.ts";
import { withBenchDatabase, type BenchDatabase } from "./lib/database.ts";
import { captureSql, explain, type CapturedSql } from "./lib/explain.ts";
import { median } from "./lib/load.ts";
import { loadMarketplace } from "./lib/marketplace.ts";
import { tableText, writeResults, type Curve, type GoalResult } from "./lib/results.ts";

const DAYS = 60;
const GOAL_MS = 100;
const GOAL_AT = 10_000_000;
/** Points generated per INSERT: the chunks split on offers, so each offer's walk is in one statement. */
const CHUNK_POINTS = 1_000_000;

interface SizeResult { points: number; kpis: KpiTiming[]; loadMs: number }

export async function run(args: string[]): Promise<void> {
  const offers = Number(process.env.BENCH_OFFERS ?? 20_000);
  const sizes = (process.env.BENCH_POINTS ?? "1000000,10000000").split(",").map((s) => Number(s.trim())).filter((n) => n > 0).sort((a, b) => a - b);
  if (sizes.length === 0) throw new Error(`BENCH_POINTS="${process.env.BENCH_POINTS}" names no size`);
  const runs = Number(process.env.BENCH_RUNS ?? 15);
  const verifyUpTo = Number(process.env.BENCH_VERIFY_POINTS ?? 1_000_000);
  const md: string[] = [];
  const results: SizeResult[] = [];
  console.log(`KPI functions of src/infra/kpi.ts on ${formatNumber(offers)} offers with ${sizes.map(formatNumber).join(", ")} price points, each size in its own database.`);
  console.log(`History load: chunks of ~${formatNumber(CHUNK_POINTS)} generated points inserted with the PricePoint triggers off (session_replication_role = replica),`);
  console.log(`computing what the triggers set (providerId, changeRatio) in the same statement. Sizes ≤ ${formatNumber(verifyUpTo)} are then loaded`);
  console.log(`again through the triggers from the same rows and must give an identical table.`);
  for (const size of sizes) {
    const started = performance.now();
    const r = await withBenchDatabase("gpubroker_bench_kpi", async (bench) => {
      console.log(`\n──── ${formatNumber(size)} price points`);
      const data = await loadMarketplace(bench, offers);
      console.log(`Loaded ${data.offers} offers (${data.activeOffers} active, ${data.models.length} GPU models, ${data.providers.length} providers) in ${data.loadMs} ms`);
      const history = await loadHistory(bench.pool, size);
      console.log(`Generated ${history.points} price points over ${DAYS} days (${history.perOffer} per offer on average, ${history.changes} on-demand price changes) in ${history.ms} ms (triggers off, derived columns in bulk)`);
      if (size <= verifyUpTo) {
        const check = await verifyAgainstTriggers(bench.pool);
        console.log(`Check: the same rows inserted through the PricePoint triggers (${check.ms} ms) give ${check.rows} rows, ${check.differing} differing ` +
          `(all columns, by id; checksum ${check.checksum.bulk} bulk, ${check.checksum.triggers} triggers), WindowPrice rows ${check.windowPrice}: ${check.identical ? "identical" : "DIFFERENT"}`);
        md.push(`${formatNumber(size)} points: bulk load and trigger load identical: ${check.identical ? "yes" : "NO"} (${check.rows} rows, ${check.differing} differing, checksum ${check.checksum.bulk})`);
        if (!check.identical) throw new Error("the bulk history load does not give what the PricePoint triggers give");
      }
      const now = new Date();
      for (const [what, at] of [["first roll (builds every row)", now.getTime() - 120_000], ["next roll, a minute later", now.getTime() - 60_000]] as const) {
        const t0 = performance.now();
        const rolls = await rollPriceWindows(bench.db.prisma, new Date(at));
        console.log(`Price windows, ${what}: ${Math.round(performance.now() - t0)} ms, rows re-read ${rolls.map((r) => `${r.window} ${r.reread}`).join(", ")}`);
      }
      // Then, as the leader does after each roll, the volatility statistics of every completed hour.
      const t0 = performance.now();
      const stats = await fillProviderHourStats(bench.db.prisma, { keepMs: WINDOW_MS[VOLATILITY_WINDOW], now: new Date(now.getTime() - 60_000) });
      console.log(`Provider hour stats, first fill (every completed hour of ${VOLATILITY_WINDOW}): ${Math.round(performance.now() - t0)} ms, ${stats.rows} rows for ${stats.hours} hours`);
      await bench.pool.query(`VACUUM (ANALYZE) "WindowPrice"`);
      await bench.pool.query(`VACUUM (ANALYZE) "ProviderHourStat"`);
      console.log();
      const measured = await measureAll(bench, now, runs, args.includes("--explain"));
      md.push(`### ${formatNumber(history.points)} price points, ${formatNumber(offers)} offers\n\n${measured.markdown}`);
      return { points: history.points, kpis: measured.kpis, loadMs: history.ms };
    });
    results.push(r);
    console.log(`\n${formatNumber(size)} points: ${((performance.now() - started) / 1000).toFixed(0)} s for this size (history load ${(r.loadMs / 1000).toFixed(0)} s)`);
  }

  const names = results[0]?.kpis.map((k) => k.key) ?? [];
  const curveTable = tableText(["KPI", ...results.map((r) => `${formatNumber(r.points)} points ms`)], names.map((key) => [key, ...results.map((r) => r.kpis.find((k) => k.key === key)!.ms.toFixed(1))]));
  console.log(`\nCurve (GPUBroker median ms per call):\n\n${curveTable}`);
  md.push(`### Curve\n\n${curveTable}`);

  const last = results[results.length - 1]!;
  const exact = Math.abs(last.points / GOAL_AT - 1) < 0.05;
  const goals: GoalResult[] = last.kpis.map((k) => ({
    metric: `${k.key} median ms at ${formatNumber(last.points)} points`, value: k.ms, unit: "ms",
    goal: `< ${GOAL_MS} ms${exact ? "" : ` at ${formatNumber(GOAL_AT)}`}`, met: exact ? k.ms < GOAL_MS : null,
    note: `${k.name}; pg baseline ${k.baseline.toFixed(1)} ms${exact ? "" : `; ${formatNumber(GOAL_AT)} not in BENCH_POINTS`}`,
  }));
  const goalTable = tableText(["metric", "value", "goal", "met", "note"], goals.map((g) => [g.metric, `${g.value.toFixed(1)} ${g.unit}`, g.goal, g.met === null ? "–" : g.met ? "met" : "NOT met", g.note ?? ""]));
  console.log(`\nGoals:\n\n${goalTable}`);
  md.push(`### Goals\n\n${goalTable}`);

  const curves: Curve[] = [{
    id: "ms", title: `KPI functions vs. price history (${formatNumber(offers)} offers)`, xLabel: "price points", yLabel: "ms per call (median)", logX: true,
    series: names.map((key) => ({ label: key, points: results.map((r): [number, number] => [r.points, r.kpis.find((k) => k.key === key)!.ms]) })),
  }];
  for (const path of writeResults({ bench: "kpi", goals, curves, markdown: md.join("\n\n") })) console.log(`wrote ${path}`);
}

/**
 * The history of the offers with lo ≤ id < hi as rows (offerId, providerId, seq, onDemandPrice, spotPrice,
 * availability, recordedAt), seq = the point's place in the offer's history. A random walk per offer, ending
 * at the offer's current price (as ingestion leaves it): k points (uniform 1 … 2·avg − 1), the first when the
 * offer appeared (at most 60 days ago), the others at random later times; each step moves the price by up to
 * ±5 %, or (1 in 5) only changes availability; the latest point carries the offer's current price and
 * availability. Seeded (setseed) by the caller, so every run is the same.
 */
const historySql = `
  WITH o AS (
    SELECT id, "providerId", "onDemandPrice" AS price, "spotPrice" AS spot, availability::text AS availability,
           greatest("firstSeenAt", now() - interval '${DAYS} days') AS start,
           1 + floor(random() * (2 * $1::float8 - 1))::int AS k
    FROM "GpuOffer" WHERE id >= $2 AND id < $3 ORDER BY id
  ), walk AS (
    SELECT o.id, o."providerId", o.price, o.spot, o.availability AS current, g.i,
           CASE WHEN g.i = 0 THEN o.start ELSE o.start + (now() - o.start) * random() END AS at,
           CASE WHEN g.i > 0 AND random() < 0.2 THEN 0 ELSE (random() - 0.5) * 0.1 END AS step,
           CASE WHEN g.i = 0 THEN o.availability ELSE (ARRAY['AVAILABLE', 'AVAILABLE', 'LIMITED', 'UNAVAILABLE'])[1 + floor(random() * 4)::int] END AS availability
    FROM o CROSS JOIN LATERAL generate_series(0, o.k - 1) AS g(i)
  ), ordered AS (
    SELECT *, row_number() OVER (PARTITION BY id ORDER BY at, i) AS seq, count(*) OVER (PARTITION BY id) AS k FROM walk
  ), priced AS (
    -- walk backwards from the current price, so the latest point is what the offer row says
    SELECT *, exp(-coalesce(sum(step) OVER (PARTITION BY id ORDER BY seq DESC ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0))::numeric AS factor
    FROM ordered
  )
  SELECT id AS "offerId", "providerId", seq, round(price * factor, 4)::numeric(12, 4) AS "onDemandPrice", round(spot * factor, 4)::numeric(12, 4) AS "spotPrice",
         (CASE WHEN seq = k THEN current ELSE availability END)::"Availability" AS availability, at::timestamp(3) AS "recordedAt"
  FROM priced`;

/**
 * Replaces the loader's few points with `target` generated ones (see historySql), without the PricePoint
 * triggers: per row they would look up the offer's provider and its previous point (50–130 s per 1M points here).
 * The same statement sets what they set. "providerId" = the offer's; "changeRatio" = price ÷ the offer's
 * previous price by (recordedAt, id) − 1 in float8, which is the previous point in the walk (rows are inserted
 * in walk order, so ids follow it, and recordedAt only rounds the walk's times); WindowPrice gets no rows
 * (the after-insert trigger only writes rows for anchored windows, and there are none yet: checked).
 * The secondary indexes are dropped for the load and built again after it, as a restore does (at 1M points:
 * 7.5 s + 1.8 s to build against 16 s maintained row by row; at 10M the gap grows with the random-order
 * recordedAt indexes). So the indexes are freshly built, without the page splits of a live table.
 */
export async function loadHistory(pool: pg.Pool, target: number) {
  const started = performance.now();
  const client = await pool.connect();
  try {
    const { rows: [state] } = await client.query<{ n: number; anchors: number; minId: number; maxId: number }>(
      `SELECT count(*)::int AS n, min(id) AS "minId", max(id) AS "maxId", (SELECT count(*)::int FROM "WindowAnchor") AS anchors FROM "GpuOffer"`);
    const { n, anchors, minId, maxId } = state!;
    if (anchors > 0) throw new Error("loadHistory: windows are anchored; a load without triggers would leave WindowPrice stale");
    await client.query(`TRUNCATE "PricePoint"`);
    const { rows: indexes } = await client.query<{ name: string; def: string }>(`
      SELECT c.relname AS name, pg_get_indexdef(i.indexrelid) AS def FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
      WHERE i.indrelid = '"PricePoint"'::regclass AND NOT i.indisprimary AND NOT i.indisunique`);
    for (const index of indexes) await client.query(`DROP INDEX "${index.name}"`);
    await client.query("SELECT setseed(0.42)");
    const avg = target / n;
    const offersPerChunk = Math.max(1, Math.ceil(CHUNK_POINTS / avg));
    let count = 0;
    for (let lo = minId; lo <= maxId; lo += offersPerChunk) {
      await client.query("BEGIN");
      await client.query("SET LOCAL session_replication_role = replica");
      await client.query("SET LOCAL work_mem = '256MB'");
      const inserted = await client.query(`
        INSERT INTO "PricePoint" ("offerId", "providerId", "onDemandPrice", "spotPrice", availability, "recordedAt", "changeRatio")
        SELECT "offerId", "providerId", "onDemandPrice", "spotPrice", availability, "recordedAt",
               "onDemandPrice"::float8 / NULLIF(lag("onDemandPrice"::float8) OVER (PARTITION BY "offerId" ORDER BY seq), 0) - 1
        FROM (${historySql}) h ORDER BY "offerId", seq`, [avg, lo, lo + offersPerChunk]);
      await client.query("COMMIT");
      count += inserted.rowCount ?? 0;
      if (target > 2 * CHUNK_POINTS) process.stdout.write(`  … ${formatNumber(count)} points, ${((performance.now() - started) / 1000).toFixed(0)} s\n`);
    }
    await client.query("SET maintenance_work_mem = '512MB'");
    for (const index of indexes) await client.query(index.def);
    await client.query("RESET maintenance_work_mem");
    await client.query(`VACUUM (ANALYZE) "PricePoint"`);
    const { rows: [c] } = await client.query<{ changes: number }>(`SELECT count(*) FILTER (WHERE "changeRatio" <> 0)::int AS changes FROM "PricePoint"`);
    return { points: count, perOffer: (count / n).toFixed(1), changes: c!.changes, ms: Math.round(performance.now() - started) };
  } catch (err) {
    await client.query("ROLLBACK").catch(() => {});
    throw err;
  } finally {
    client.release();
  }
}

/**
 * Inserts the loaded points again, this time through the PricePoint triggers (as catalog sync writes them:
 * offer, prices, availability and time; same ids, in id order), and compares every column of every row
 * with the bulk load's. Leaves the trigger-written table in place, its indexes rebuilt.
 */
async function verifyAgainstTriggers(pool: pg.Pool) {
  const client = await pool.connect();
  try {
    const checksum = `SELECT coalesce(sum(hashtextextended(p::text, 0)), 0)::text AS sum FROM "PricePoint" p`;
    const bulk = (await client.query<{ sum: string }>(checksum)).rows[0]!.sum;
    await client.query(`CREATE TEMP TABLE bulk_points AS SELECT * FROM "PricePoint"`);
    await client.query(`TRUNCATE "PricePoint"`);
    const t0 = performance.now();
    await client.query(`
      INSERT INTO "PricePoint" (id, "offerId", "onDemandPrice", "spotPrice", availability, "recordedAt")
      SELECT id, "offerId", "onDemandPrice", "spotPrice", availability, "recordedAt" FROM bulk_points ORDER BY id`);
    const ms = Math.round(performance.now() - t0);
    const triggers = (await client.query<{ sum: string }>(checksum)).rows[0]!.sum;
    const { rows: [diff] } = await client.query<{ rows: number; differing: number; windowPrice: number }>(`
      SELECT count(*)::int AS rows, count(*) FILTER (WHERE b::text IS DISTINCT FROM p::text)::int AS differing,
             (SELECT count(*)::int FROM "WindowPrice") AS "windowPrice"
      FROM bulk_points b FULL JOIN "PricePoint" p ON p.id = b.id`);
    await client.query(`DROP TABLE bulk_points`);
    // Measured like every size: indexes built once, not grown row by row.
    await client.query(`REINDEX TABLE "PricePoint"`);
    await client.query(`VACUUM (ANALYZE) "PricePoint"`);
    const { rows, differing, windowPrice } = diff!;
    return { ms, rows, differing, windowPrice, checksum: { bulk, triggers }, identical: differing === 0 && bulk === triggers && windowPrice === 0 };
  } finally {
    client.release();
  }
}

/** `key` names the KPI the same way at every size (curve series, goal rows); `name` says which model and provider. */
interface Case { key: string; name: string; fn: () => Promise<unknown> }
interface KpiTiming { key: string; name: string; ms: number; baseline: number }

async function cases(bench: BenchDatabase, now: Date): Promise<Case[]> {
  const { db, pool } = bench;
  const { rows: [big] } = await pool.query<{ id: number; name: string; n: number }>(
    `SELECT m.id, m.name, count(*)::int AS n FROM "GpuOffer" o JOIN "GpuModel" m ON m.id = o."gpuModelId" WHERE o.active GROUP BY 1, 2 ORDER BY 3 DESC LIMIT 1`);
  const { rows: [provider] } = await pool.query<{ id: number; slug: string; n: number }>(
    `SELECT p.id, p.slug, count(*)::int AS n FROM "GpuOffer" o JOIN "Provider" p ON p.id = o."providerId" GROUP BY 1, 2 ORDER BY 3 DESC LIMIT 1`);
  return [
    { key: "marketOverview", name: "marketOverview", fn: () => marketOverview(db.prisma) },
    { key: "gpuKpis", name: `gpuKpis(${big!.name}: ${big!.n} active offers)`, fn: () => gpuKpis(db.prisma, big!.id, now) },
    { key: "providerKpis", name: `providerKpis(${provider!.slug}: ${provider!.n} offers)`, fn: () => providerKpis(db.prisma, provider!.id, now) },
    { key: "marketInsights(HOURS_24)", name: "marketInsights(HOURS_24, 5)", fn: () => marketInsights(db.prisma, now, "HOURS_24", 5) },
    { key: "marketInsights(DAYS_7)", name: "marketInsights(DAYS_7, 5)", fn: () => marketInsights(db.prisma, now, "DAYS_7", 5) },
    { key: "marketInsights(DAYS_30)", name: "marketInsights(DAYS_30, 5)", fn: () => marketInsights(db.prisma, now, "DAYS_30", 5) },
  ];
}

async function time(fn: () => Promise<unknown>, runs: number): Promise<number> {
  await fn();
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    await fn();
    ms.push(performance.now() - start);
  }
  return median(ms);
}

async function measureAll(bench: BenchDatabase, now: Date, runs: number, verbose: boolean): Promise<{ kpis: KpiTiming[]; markdown: string }> {
  const rows: (string | number)[][] = [];
  const plans: (string | number)[][] = [];
  const all = await cases(bench, now);
  const kpis: KpiTiming[] = [];
  for (const c of all) {
    const statements = await captureSql(bench.db, c.fn);
    // The baseline sends the same statements the same way: concurrently, as the function's Promise.all does.
    const baseline = () => Promise.all(statements.map((s) => bench.pool.query(s.sql, s.params)));
    const base = await time(baseline, runs);
    const ms = await time(c.fn, runs);
    kpis.push({ key: c.key, name: c.name, ms, baseline: base });
    rows.push([c.name, statements.length, base.toFixed(1), ms.toFixed(1), (ms / base).toFixed(2), ms < GOAL_MS ? "yes" : "NO"]);
    for (const [i, s] of statements.entries()) {
      const r = await explain(bench.pool, s);
      plans.push([`${c.name} #${i + 1}`, summary(s), r.buffers, r.ms]);
      if (verbose) console.log(`${c.name} #${i + 1} — ${r.ms} ms\n${s.sql.replace(/\s+/g, " ").trim()}\n  params ${JSON.stringify(s.params)}\n${r.text}\n`);
    }
  }
  const md: string[] = [];
  const section = (title: string, table: string) => {
    console.log(`${md.length ? "\n" : ""}${title}\n\n${table}`);
    md.push(`${title}\n\n${table}`);
  };
  section(`Median of ${runs} runs after one warm-up; baseline = the same SQL statements run with pg (no Prisma):`,
    tableText(["KPI", "statements", "baseline ms", "GPUBroker ms", "ratio", `< ${GOAL_MS} ms`], rows));
  section(`EXPLAIN (ANALYZE, BUFFERS) of each statement, median of 5 runs (buffers = shared blocks hit + read):`,
    tableText(["statement", "what", "buffers", "ms"], plans));

  // The same as-of KPIs with no anchor: every "then" price is one backward probe of the history.
  await bench.pool.query(`DELETE FROM "WindowAnchor"`);
  const probes: (string | number)[][] = [];
  for (const c of all.filter((c) => c.key.startsWith("gpuKpis") || c.key.startsWith("marketInsights"))) {
    const ms = await time(c.fn, runs);
    const ours = kpis.find((k) => k.key === c.key)!.ms;
    probes.push([c.name, ms.toFixed(1), ours.toFixed(1), (ours / ms).toFixed(2)]);
  }
  section(`As-of prices from WindowPrice (anchors a minute old) against history probes only (no anchors), median of ${runs} runs:`,
    tableText(["KPI", "history probes ms", "WindowPrice ms", "ratio"], probes));
  return { kpis, markdown: md.join("\n\n") };
}

/** A few words on what a captured statement computes, for the plan table. */
function summary(s: CapturedSql): string {
  const sql = s.sql;
  if (sql.includes("var_pop") || sql.includes("stddev_samp")) return "volatility (ProviderHourStat hours, the points of the others, + PriceRollup)";
  if (sql.includes("WITH cell AS")) return "price index (index medians per provider × model)";
  if (sql.includes("'UP'")) return "top movers ((window, change) index + probed offers)";
  if (sql.includes("pair AS (") && sql.includes(`WHERE "gpuModelId" =`)) return "trends 24h/7d/30d (as-of pairs, one model)";
  if (sql.includes("json_build_object")) return "cheapest offer per model";
  if (sql.includes("f.family")) return "cheapest per headline family";
  if (sql.includes("percentile_cont(0.9)")) return "current spread, spot, availability";
  if (sql.includes("percentile_cont") && sql.includes("UNION ALL")) return "model medians then/now (WindowPrice rows + probed offers)";
  if (sql.includes("OFFSET")) return "median per model (index medians)";
  if (sql.includes("count(DISTINCT")) return "market counts";
  if (sql.includes("\"Provider\"")) return "provider row";
  return "counts";
}
