// `npm run bench -- kpi [--explain]`
//   The KPI functions of src/infra/kpi.ts on ~1M price points, each against a baseline measured in the
//   same run: the very statements the function sent (captured from Prisma's query log), run with `pg`.
//   --explain also prints the full EXPLAIN (ANALYZE, BUFFERS) plan of every statement.
//   The price windows are rolled as the ingestion leader does (once a minute), the last roll a minute
//   before the measured calls; then the as-of KPIs are measured again without anchors (history probes).
// Env: BENCH_OFFERS (20000), BENCH_POINTS (1000000), BENCH_RUNS (15), BENCH_DATABASE_URL.
import type pg from "pg";
import { gpuKpis, marketInsights, marketOverview, providerKpis } from "../src/infra/kpi.ts";
import { rollPriceWindows } from "../src/infra/price-windows.ts";
import { withBenchDatabase, type BenchDatabase } from "./lib/database.ts";
import { captureSql, explain, type CapturedSql } from "./lib/explain.ts";
import { median, printTable } from "./lib/load.ts";
import { loadMarketplace } from "./lib/marketplace.ts";

const DAYS = 60;

export async function run(args: string[]): Promise<void> {
  const offers = Number(process.env.BENCH_OFFERS ?? 20_000);
  const points = Number(process.env.BENCH_POINTS ?? 1_000_000);
  const runs = Number(process.env.BENCH_RUNS ?? 15);
  await withBenchDatabase("gpubroker_bench_kpi", async (bench) => {
    const data = await loadMarketplace(bench, offers);
    const history = await loadHistory(bench.pool, points);
    console.log(`Loaded ${data.offers} offers (${data.activeOffers} active, ${data.models.length} GPU models, ${data.providers.length} providers) in ${data.loadMs} ms`);
    console.log(`Generated ${history.points} price points over ${DAYS} days (${history.perOffer} per offer on average, ${history.changes} on-demand price changes) in ${history.ms} ms`);
    const now = new Date();
    for (const [what, at] of [["first roll (builds every row)", now.getTime() - 120_000], ["next roll, a minute later", now.getTime() - 60_000]] as const) {
      const t0 = performance.now();
      const rolls = await rollPriceWindows(bench.db.prisma, new Date(at));
      console.log(`Price windows, ${what}: ${Math.round(performance.now() - t0)} ms, rows re-read ${rolls.map((r) => `${r.window} ${r.reread}`).join(", ")}`);
    }
    await bench.pool.query(`VACUUM (ANALYZE) "WindowPrice"`);
    console.log();
    await measureAll(bench, now, runs, args.includes("--explain"));
  });
}

/**
 * Replaces the loader's few points with a random walk per offer, ending at the offer's current price (as
 * ingestion leaves it): k points (uniform 1 … 2·avg − 1), the first when the offer appeared (at most
 * 60 days ago), the others at random later times; each step moves the price by up to ±5 %, or (1 in 5)
 * only changes availability; the latest point carries the offer's current price and availability. One INSERT … SELECT over generate_series, seeded so every run is the same.
 */
export async function loadHistory(pool: pg.Pool, target: number) {
  const started = performance.now();
  const client = await pool.connect();
  try {
    await client.query(`TRUNCATE "PricePoint"`);
    await client.query("SELECT setseed(0.42)");
    const n = (await client.query<{ n: number }>(`SELECT count(*)::int AS n FROM "GpuOffer"`)).rows[0]!.n;
    const avg = target / n;
    const inserted = await client.query(`
      WITH o AS (
        SELECT id, "onDemandPrice" AS price, "spotPrice" AS spot, availability::text AS availability,
               greatest("firstSeenAt", now() - interval '${DAYS} days') AS start,
               1 + floor(random() * (2 * $1::float8 - 1))::int AS k
        FROM "GpuOffer" ORDER BY id
      ), walk AS (
        SELECT o.id, o.price, o.spot, o.availability AS current, g.i,
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
      INSERT INTO "PricePoint" ("offerId", "onDemandPrice", "spotPrice", availability, "recordedAt")
      SELECT id, round(price * factor, 4), round(spot * factor, 4), (CASE WHEN seq = k THEN current ELSE availability END)::"Availability", at
      FROM priced ORDER BY id, at`, [avg]);
    const { rows: [c] } = await client.query<{ changes: number }>(`
      SELECT count(*) FILTER (WHERE "onDemandPrice" <> prev)::int AS changes FROM (
        SELECT "onDemandPrice", lag("onDemandPrice") OVER (PARTITION BY "offerId" ORDER BY "recordedAt", id) AS prev FROM "PricePoint") x`);
    await client.query(`VACUUM (ANALYZE) "PricePoint"`);
    const count = inserted.rowCount ?? 0;
    return { points: count, perOffer: (count / n).toFixed(1), changes: c!.changes, ms: Math.round(performance.now() - started) };
  } finally {
    client.release();
  }
}

interface Case { name: string; fn: () => Promise<unknown> }

async function cases(bench: BenchDatabase, now: Date): Promise<Case[]> {
  const { db, pool } = bench;
  const { rows: [big] } = await pool.query<{ id: number; name: string; n: number }>(
    `SELECT m.id, m.name, count(*)::int AS n FROM "GpuOffer" o JOIN "GpuModel" m ON m.id = o."gpuModelId" WHERE o.active GROUP BY 1, 2 ORDER BY 3 DESC LIMIT 1`);
  const { rows: [provider] } = await pool.query<{ id: number; slug: string; n: number }>(
    `SELECT p.id, p.slug, count(*)::int AS n FROM "GpuOffer" o JOIN "Provider" p ON p.id = o."providerId" GROUP BY 1, 2 ORDER BY 3 DESC LIMIT 1`);
  return [
    { name: "marketOverview", fn: () => marketOverview(db.prisma) },
    { name: `gpuKpis(${big!.name}: ${big!.n} active offers)`, fn: () => gpuKpis(db.prisma, big!.id, now) },
    { name: `providerKpis(${provider!.slug}: ${provider!.n} offers)`, fn: () => providerKpis(db.prisma, provider!.id, now) },
    { name: "marketInsights(HOURS_24, 5)", fn: () => marketInsights(db.prisma, now, "HOURS_24", 5) },
    { name: "marketInsights(DAYS_7, 5)", fn: () => marketInsights(db.prisma, now, "DAYS_7", 5) },
    { name: "marketInsights(DAYS_30, 5)", fn: () => marketInsights(db.prisma, now, "DAYS_30", 5) },
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

async function measureAll(bench: BenchDatabase, now: Date, runs: number, verbose: boolean): Promise<void> {
  const rows: (string | number)[][] = [];
  const plans: (string | number)[][] = [];
  const all = await cases(bench, now);
  const ours = new Map<string, number>();
  for (const c of all) {
    const statements = await captureSql(bench.db, c.fn);
    // The baseline sends the same statements the same way: concurrently, as the function's Promise.all does.
    const baseline = () => Promise.all(statements.map((s) => bench.pool.query(s.sql, s.params)));
    const base = await time(baseline, runs);
    const ms = await time(c.fn, runs);
    ours.set(c.name, ms);
    rows.push([c.name, statements.length, base.toFixed(1), ms.toFixed(1), (ms / base).toFixed(2), ms < 100 ? "yes" : "NO"]);
    for (const [i, s] of statements.entries()) {
      const r = await explain(bench.pool, s);
      plans.push([`${c.name} #${i + 1}`, summary(s), r.buffers, r.ms]);
      if (verbose) console.log(`${c.name} #${i + 1} — ${r.ms} ms\n${s.sql.replace(/\s+/g, " ").trim()}\n  params ${JSON.stringify(s.params)}\n${r.text}\n`);
    }
  }
  console.log(`Median of ${runs} runs after one warm-up; baseline = the same SQL statements run with pg (no Prisma):\n`);
  printTable(["KPI", "statements", "baseline ms", "GPUBroker ms", "ratio", "< 100 ms"], rows);
  console.log(`\nEXPLAIN (ANALYZE, BUFFERS) of each statement, median of 5 runs (buffers = shared blocks hit + read):\n`);
  printTable(["statement", "what", "buffers", "ms"], plans);

  // The same as-of KPIs with no anchor: every "then" price is one backward probe of the history.
  await bench.pool.query(`DELETE FROM "WindowAnchor"`);
  const probes: (string | number)[][] = [];
  for (const c of all.filter((c) => c.name.startsWith("gpuKpis") || c.name.startsWith("marketInsights"))) {
    const ms = await time(c.fn, runs);
    probes.push([c.name, ms.toFixed(1), ours.get(c.name)!.toFixed(1), (ours.get(c.name)! / ms).toFixed(2)]);
  }
  console.log(`\nAs-of prices from WindowPrice (anchors a minute old) against history probes only (no anchors), median of ${runs} runs:\n`);
  printTable(["KPI", "history probes ms", "WindowPrice ms", "ratio"], probes);
}

/** A few words on what a captured statement computes, for the plan table. */
function summary(s: CapturedSql): string {
  const sql = s.sql;
  if (sql.includes("stddev_samp")) return "volatility (changeRatio range of one provider)";
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
