// `npm run bench -- rank`
//   GPUBroker's `rankOffers` over HTTP (TOPSIS over every offer, 4 criteria) against a baseline in the same
//   run: one `pg` query for the same columns and the same TOPSIS in a plain loop over Float64Arrays.
//   A curve: every catalogue size gets its own throwaway database, loaded and measured the same way.
//   rankOffers caches its ranking data per catalog epoch: measured with the epoch bumped before each call
//   (uncached, as after an ingestion cycle) and without (cached).
// Env: BENCH_RANK_SIZES (10000,100000,1000000 offers), BENCH_RANK_CALLS (at most 30 measured calls per
//      variant, after up to 5 warm-up calls), BENCH_RANK_BUDGET (20 s per variant: stop measuring after
//      it once 10 calls are in), BENCH_DATABASE_URL (admin URL, default postgresql://root@127.0.0.1:5432/postgres).
import { benchRateLimiter } from "./lib/rate-limit.ts";
import assert from "node:assert/strict";
import type pg from "pg";
import { startServer } from "../src/server.ts";
import { createApp } from "../src/yoga.ts";
import { captureSql } from "./lib/explain.ts";
import { withBenchDatabase } from "./lib/database.ts";
import { median } from "./lib/load.ts";
import { loadMarketplace } from "./lib/marketplace.ts";
import { formatNumber } from "./lib/chart.ts";
import { tableText, writeResults, type Curve, type GoalResult } from "./lib/results.ts";

const FIRST = 20;
const GOAL_MS = 50;
const GOAL_AT = 100_000;
const MIN_CALLS = 10;
/** The planner settings rankOffers gave its ranking statement until session 13 (a diagnostic now). */
const LOWER_PARALLEL_COSTS = "SELECT set_config('parallel_setup_cost', '100', true), set_config('parallel_tuple_cost', '0.01', true)";
const CRITERIA = [
  { criterion: "PRICE_PER_GPU_HOUR", weight: 0.4, benefit: false, sql: `o."pricePerGpuHour"` },
  { criterion: "TOTAL_VRAM", weight: 0.2, benefit: true, sql: `o."vramTotalGb"` },
  { criterion: "FP16_TFLOPS", weight: 0.2, benefit: true, sql: `m."fp16Tflops"` },
  { criterion: "MEMORY_BANDWIDTH", weight: 0.2, benefit: true, sql: `m."memoryBandwidthGbps"` },
] as const;

// Every offer, active or not, whose GPU model has datasheet figures: what rankOffers(filter: { includeInactive: true }) ranks.
const FROM = `FROM "GpuOffer" o JOIN "GpuModel" m ON m.id = o."gpuModelId" WHERE m."vramGb" > 0 AND m."memoryBandwidthGbps" > 0 AND m."fp16Tflops" > 0`;
const BASELINE_SQL = `SELECT o.id, ${CRITERIA.map((c) => `${c.sql}::float8`).join(", ")} ${FROM}`;

const RANK_QUERY = /* GraphQL */ `
  query Rank($criteria: [RankCriterionInput!]!, $model: String) {
    rankOffers(filter: { includeInactive: true }, criteria: $criteria, model: $model, first: ${FIRST}) {
      considered excluded
      ranked { offer { id gpuName gpuCount pricePerGpuHour } closeness rank }
    }
  }`;

interface Top { ids: number[]; closeness: number[]; considered: number }

/** The baseline's TOPSIS: vector normalisation, weights summing to 1, Euclidean distances, top FIRST by closeness (ties: lower id). */
function plainTopsis(ids: Float64Array, columns: Float64Array[]): Top {
  const n = ids.length;
  const weights = CRITERIA.map((c) => c.weight / CRITERIA.reduce((s, x) => s + x.weight, 0));
  const factor = columns.map((x, j) => {
    let scale = 0;
    for (let i = 0; i < n; i++) if (x[i]! > scale) scale = x[i]!;
    let sum = 0;
    for (let i = 0; i < n; i++) sum += (x[i]! / scale) ** 2;
    return { norm: scale * Math.sqrt(sum), w: weights[j]! };
  });
  const ideal = new Float64Array(columns.length);
  const anti = new Float64Array(columns.length);
  columns.forEach((x, j) => {
    let max = -Infinity, min = Infinity;
    for (let i = 0; i < n; i++) {
      const v = (x[i]! / factor[j]!.norm) * factor[j]!.w;
      if (v > max) max = v;
      if (v < min) min = v;
    }
    ideal[j] = CRITERIA[j]!.benefit ? max : min;
    anti[j] = CRITERIA[j]!.benefit ? min : max;
  });
  const closeness = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0, worst = 0;
    for (let j = 0; j < columns.length; j++) {
      const v = (columns[j]![i]! / factor[j]!.norm) * factor[j]!.w;
      best += (v - ideal[j]!) ** 2;
      worst += (v - anti[j]!) ** 2;
    }
    const sPlus = Math.sqrt(best), sMinus = Math.sqrt(worst);
    closeness[i] = sPlus + sMinus === 0 ? 0.5 : sMinus / (sPlus + sMinus);
  }
  const top: number[] = [];
  for (let i = 0; i < n; i++) {
    const better = (a: number, b: number) => closeness[a]! > closeness[b]! || (closeness[a] === closeness[b] && ids[a]! < ids[b]!);
    if (top.length === FIRST && !better(i, top[FIRST - 1]!)) continue;
    if (top.length === FIRST) top.pop();
    let at = top.length;
    while (at > 0 && better(i, top[at - 1]!)) at--;
    top.splice(at, 0, i);
  }
  return { ids: top.map((i) => ids[i]!), closeness: top.map((i) => closeness[i]!), considered: n };
}

async function baselineRows(pool: pg.Pool): Promise<Top> {
  const { rows } = await pool.query<number[]>({ text: BASELINE_SQL, rowMode: "array" });
  const ids = new Float64Array(rows.length);
  const columns = CRITERIA.map(() => new Float64Array(rows.length));
  rows.forEach((r, i) => {
    ids[i] = r[0]!;
    for (let j = 0; j < columns.length; j++) columns[j]![i] = r[j + 1]!;
  });
  return plainTopsis(ids, columns);
}

async function gpubroker(url: string, model?: string): Promise<Top> {
  const criteria = [...CRITERIA.map(({ criterion, weight }) => ({ criterion, weight })), ...(model ? [{ criterion: "COST_PER_MTOK", weight: 0.2 }] : [])];
  const res = await fetch(url, {
    method: "POST", headers: { "content-type": "application/json", accept: "application/json" },
    body: JSON.stringify({ query: RANK_QUERY, variables: { criteria, model } }),
  });
  const body = (await res.json()) as { data?: { rankOffers: { considered: number; ranked: { offer: { id: string }; closeness: number }[] } }; errors?: unknown };
  if (!res.ok || body.errors || !body.data) throw new Error(`rankOffers answered ${res.status}: ${JSON.stringify(body.errors)}`);
  const { ranked, considered } = body.data.rankOffers;
  return { ids: ranked.map((r) => Number(Buffer.from(r.offer.id, "base64").toString().split(":")[1])), closeness: ranked.map((r) => r.closeness), considered };
}

interface Timing { median: number; p90: number; calls: number }

/**
 * Up to 5 warm-up calls (at most ~5 s of them), then up to `calls` measured calls: at least MIN_CALLS, more while
 * within `budgetMs`. `before` runs ahead of every call, untimed.
 */
async function timed(calls: number, budgetMs: number, fn: () => Promise<unknown>, before?: () => Promise<unknown>): Promise<Timing> {
  const warm = performance.now() + 5_000;
  for (let i = 0; i < 5 && (i === 0 || performance.now() < warm); i++) {
    await before?.();
    await fn();
  }
  const times: number[] = [];
  const deadline = performance.now() + budgetMs;
  while (times.length < calls && (times.length < MIN_CALLS || performance.now() < deadline)) {
    await before?.();
    const start = performance.now();
    await fn();
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  return { median: median(times), p90: times[Math.min(times.length - 1, Math.floor(times.length * 0.9))]!, calls: times.length };
}

interface SizeResult {
  offers: number;
  ranked: number;
  loadMs: number;
  baseline: Timing;
  statement: Timing;
  /** The statement with parallel_setup_cost 100 and parallel_tuple_cost 0.01 (rankOffers' setting until session 13). */
  parallel: Timing;
  /** The catalog changed before each call, so the ranking data is read again (what an ingestion cycle causes). */
  rankOffers: Timing;
  /** The same catalog: the ranking data comes from the service's per-epoch cache. */
  cached: Timing;
  withCost: Timing;
  rows: (string | number)[][];
}

export async function run(): Promise<void> {
  const sizes = (process.env.BENCH_RANK_SIZES ?? "10000,100000,1000000").split(",").map((s) => Number(s.trim())).filter((n) => n > 0).sort((a, b) => a - b);
  if (sizes.length === 0) throw new Error(`BENCH_RANK_SIZES="${process.env.BENCH_RANK_SIZES}" names no size`);
  const calls = Number(process.env.BENCH_RANK_CALLS ?? 30);
  const budgetMs = Number(process.env.BENCH_RANK_BUDGET ?? 20) * 1000;
  const md: string[] = [];
  const results: SizeResult[] = [];
  console.log(`Query: rankOffers(filter: { includeInactive: true }, criteria: ${CRITERIA.map((c) => `${c.criterion} ${c.weight}`).join(", ")}, first: ${FIRST})`);
  console.log(`  selecting considered, excluded and ${FIRST} × { offer { id gpuName gpuCount pricePerGpuHour } closeness rank }.`);
  console.log(`GPUBroker: POST over loopback HTTP to graphql-yoga + Pothos + Prisma (adapter-pg). rankOffers keeps its ranking data per`);
  console.log(`  catalog epoch, so it is measured twice: with the catalog changed before each call (Provider.catalogVersion bumped,`);
  console.log(`  untimed: the data is read again, as after every ingestion cycle) and with the same catalog (cached data).`);
  console.log(`Baseline:  one pg.Pool query (rowMode array, float8 columns) → Float64Arrays → TOPSIS loop → top ${FIRST}; no HTTP, no GraphQL.`);
  console.log(`Sizes: ${sizes.map(formatNumber).join(", ")} offers, each in its own throwaway database. Per variant: median and p90 of up to ${calls}`);
  console.log(`sequential calls (at least ${MIN_CALLS}; no new call after ${budgetMs / 1000} s) after up to 5 warm-up calls.`);
  if (sizes.some((n) => n >= 1_000_000)) console.log(`Loading ${formatNumber(Math.max(...sizes))} offers takes about ${Math.round(Math.max(...sizes) / 20_000)} s on an idle 2-core machine (~20k offers/s; several times that under load), and the baseline's calls take seconds each at that size.`);
  for (const size of sizes) {
    const r = await measureSize(size, calls, budgetMs);
    results.push(r);
    console.log(`\n${formatNumber(size)} offers: ${r.ranked} ranked (the rest have no known GPU model), loaded in ${(r.loadMs / 1000).toFixed(1)} s; top ${FIRST} ids and closeness match the baseline (|Δ| ≤ 1e-12).\n`);
    const t = tableText(["variant", "ms/call (median)", "p90 ms", "calls", "× baseline"], r.rows);
    console.log(t);
    md.push(`### ${formatNumber(size)} offers (${r.ranked} ranked)\n\n${t}`);
  }

  const curveRows = results.map((r) => [formatNumber(r.offers), r.rankOffers.median.toFixed(1), r.rankOffers.p90.toFixed(1), r.cached.median.toFixed(1), r.statement.median.toFixed(1), r.withCost.median.toFixed(1), r.baseline.median.toFixed(1), (r.rankOffers.median / r.baseline.median).toFixed(2)]);
  const curveTable = tableText(["offers", "rankOffers median ms", "p90 ms", "cached median ms", "ranking statement ms", "+ COST_PER_MTOK ms", "baseline ms", "× baseline"], curveRows);
  console.log(`\nCurve (median ms per call; rankOffers = catalog changed before each call, cached = same catalog):\n\n${curveTable}`);
  md.push(`### Curve\n\n${curveTable}`);

  const goals = rankGoals(results);
  const goalTable = tableText(["metric", "value", "goal", "met", "note"], goals.map((g) => [g.metric, `${g.value.toFixed(2)} ${g.unit}`, g.goal, g.met === null ? "–" : g.met ? "met" : "NOT met", g.note ?? ""]));
  console.log(`\nGoals:\n\n${goalTable}`);
  md.push(`### Goals\n\n${goalTable}`);

  const series = (label: string, pick: (r: SizeResult) => number) => ({ label, points: results.map((r): [number, number] => [r.offers, pick(r)]) });
  const curves: Curve[] = [
    {
      id: "ms", title: "rankOffers (4 criteria, HTTP, catalog changed before each call) vs. baseline", xLabel: "offers in the catalogue", yLabel: "ms per call", logX: true,
      series: [series("rankOffers median", (r) => r.rankOffers.median), series("rankOffers p90", (r) => r.rankOffers.p90), series("baseline median", (r) => r.baseline.median)],
    },
    {
      id: "parts", title: "rankOffers and its ranking statement", xLabel: "offers in the catalogue", yLabel: "ms per call (median)", logX: true,
      series: [series("rankOffers", (r) => r.rankOffers.median), series("ranking statement alone", (r) => r.statement.median), series("+ COST_PER_MTOK", (r) => r.withCost.median), series("rankOffers, cached data", (r) => r.cached.median)],
    },
  ];
  for (const path of writeResults({ bench: "rank", goals, curves, markdown: md.join("\n\n") })) console.log(`wrote ${path}`);
}

function rankGoals(results: SizeResult[]): GoalResult[] {
  const goals: GoalResult[] = [];
  const atGoal = results.find((r) => r.offers === GOAL_AT);
  const atTenfold = results.find((r) => r.offers === 10 * GOAL_AT);
  if (atGoal) {
    const { rankOffers: g, cached, baseline: b } = atGoal;
    goals.push({ metric: `rankOffers median ms at ${formatNumber(GOAL_AT)} offers (catalog changed before each call)`, value: g.median, unit: "ms", goal: `< ${GOAL_MS} ms`, met: g.median < GOAL_MS, note: `p90 ${g.p90.toFixed(1)} ms, baseline ${b.median.toFixed(1)} ms` });
    goals.push({ metric: `rankOffers median ms at ${formatNumber(GOAL_AT)} offers (same catalog: cached ranking data)`, value: cached.median, unit: "ms", goal: `< ${GOAL_MS} ms`, met: cached.median < GOAL_MS, note: `p90 ${cached.p90.toFixed(1)} ms` });
  } else {
    const near = results.reduce((a, b) => (Math.abs(Math.log(b.offers / GOAL_AT)) < Math.abs(Math.log(a.offers / GOAL_AT)) ? b : a));
    goals.push({ metric: `rankOffers median ms at ${formatNumber(near.offers)} offers (catalog changed before each call)`, value: near.rankOffers.median, unit: "ms", goal: `< ${GOAL_MS} ms at ${formatNumber(GOAL_AT)}`, met: null, note: `${formatNumber(GOAL_AT)} not in BENCH_RANK_SIZES` });
    goals.push({ metric: `rankOffers median ms at ${formatNumber(near.offers)} offers (same catalog: cached ranking data)`, value: near.cached.median, unit: "ms", goal: `< ${GOAL_MS} ms at ${formatNumber(GOAL_AT)}`, met: null, note: `${formatNumber(GOAL_AT)} not in BENCH_RANK_SIZES` });
  }
  const pair = atGoal && atTenfold ? [atGoal, atTenfold] : results.slice(-2);
  if (pair.length === 2) {
    const [small, big] = pair as [SizeResult, SizeResult];
    const value = big.rankOffers.median / small.rankOffers.median / (big.offers / small.offers);
    const isGoal = small.offers === GOAL_AT && big.offers === 10 * GOAL_AT;
    goals.push({
      metric: `rankOffers ms growth ${formatNumber(small.offers)}→${formatNumber(big.offers)} ÷ ${Number((big.offers / small.offers).toPrecision(3))} (≤ 1 = linear or better; catalog changed before each call)`,
      value, unit: "", goal: "≤ 1", met: isGoal ? value <= 1 : null,
      note: `${small.rankOffers.median.toFixed(1)} → ${big.rankOffers.median.toFixed(1)} ms${isGoal ? "" : `; the goal is for ${formatNumber(GOAL_AT)}→${formatNumber(10 * GOAL_AT)}`}`,
    });
  }
  return goals;
}

async function measureSize(count: number, calls: number, budgetMs: number): Promise<SizeResult> {
  return withBenchDatabase("gpubroker_bench_rank", async (bench) => {
    console.log(`\n──── ${formatNumber(count)} offers: loading …`);
    const data = await loadMarketplace(bench, count);
    const server = await startServer(createApp({ db: bench.db, rateLimiter: benchRateLimiter() }), { port: 0, host: "127.0.0.1" });
    try {
      const ours = await gpubroker(server.url);
      const base = await baselineRows(bench.pool);
      assert.equal(ours.considered, base.considered, "GPUBroker and the baseline rank different offers");
      assert.deepEqual(ours.ids, base.ids, "GPUBroker and the baseline disagree on the top offers");
      ours.closeness.forEach((c, i) => assert.ok(Math.abs(c - base.closeness[i]!) <= 1e-12, `closeness ${i}: ${c} vs ${base.closeness[i]}`));
      // rankOffers keeps its ranking data per catalog epoch (sum of Provider.catalogVersion, bumped by each
      // catalog sync); bumping it makes the next call read the data again, as after an ingestion cycle.
      const newCatalog = () => bench.pool.query(`UPDATE "Provider" SET "catalogVersion" = "catalogVersion" + 1 WHERE id = (SELECT min(id) FROM "Provider")`);
      await newCatalog();
      const statements = await captureSql(bench.db, () => gpubroker(server.url));
      // Postgres' share: the ranking statement rankOffers sent, replayed as is over a bare pg pool; and once in a
      // transaction with the parallel costs lowered (what rankOffers did until session 13: slower here).
      const ranking = statements.find((s) => s.sql.includes("string_agg(concat_ws(',', g.n"))!;
      const replay = async (parallel: boolean) => {
        if (!parallel) { await bench.pool.query(ranking.sql, ranking.params); return; }
        const client = await bench.pool.connect();
        try {
          await client.query("BEGIN");
          await client.query(LOWER_PARALLEL_COSTS);
          await client.query(ranking.sql, ranking.params);
          await client.query("COMMIT");
        } finally {
          client.release();
        }
      };
      console.log(`  loaded in ${(data.loadMs / 1000).toFixed(1)} s; measuring (${statements.length} SQL statements per rankOffers call) …`);
      const b = await timed(calls, budgetMs, () => baselineRows(bench.pool));
      const t = await timed(calls, budgetMs, () => replay(false));
      const parallel = await timed(calls, budgetMs, () => replay(true));
      const g = await timed(calls, budgetMs, () => gpubroker(server.url), newCatalog);
      const cached = await timed(calls, budgetMs, () => gpubroker(server.url));
      const c = await timed(calls, budgetMs, () => gpubroker(server.url, "llama-3-8b"), newCatalog);
      const row = (name: string, x: Timing) => [name, x.median.toFixed(1), x.p90.toFixed(1), x.calls, (x.median / b.median).toFixed(2)];
      return {
        offers: count, ranked: ours.considered, loadMs: data.loadMs, baseline: b, statement: t, parallel, rankOffers: g, cached, withCost: c,
        rows: [
          row("baseline: pg rows + Float64Array TOPSIS", b),
          row("diagnostic: rankOffers' ranking statement alone (pg, no parsing)", t),
          row("diagnostic: the same statement with parallel costs lowered", parallel),
          row("GPUBroker rankOffers, 4 criteria (HTTP), catalog changed before each call", g),
          row("GPUBroker rankOffers, 4 criteria (HTTP), same catalog (cached ranking data)", cached),
          row("GPUBroker rankOffers, + COST_PER_MTOK llama-3-8b (HTTP), catalog changed before each call", c),
        ],
      };
    } finally {
      await server.stop();
    }
  });
}
