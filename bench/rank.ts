// `npm run bench -- rank`
//   GPUBroker's `rankOffers` over HTTP (TOPSIS over every offer, 4 criteria) against a baseline in the same
//   run: one `pg` query for the same columns and the same TOPSIS in a plain loop over Float64Arrays.
// Env: BENCH_OFFERS (100000), BENCH_RANK_CALLS (30 measured calls per variant, after 5 warm-up calls),
//      BENCH_DATABASE_URL (admin URL, default postgresql://root@127.0.0.1:5432/postgres).
import { benchRateLimiter } from "./lib/rate-limit.ts";
import assert from "node:assert/strict";
import type pg from "pg";
import { startServer } from "../src/server.ts";
import { createApp } from "../src/yoga.ts";
import { captureSql } from "./lib/explain.ts";
import { withBenchDatabase } from "./lib/database.ts";
import { median, printTable } from "./lib/load.ts";
import { loadMarketplace } from "./lib/marketplace.ts";

const FIRST = 20;
const TARGET_MS = 150;
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

async function timed(calls: number, fn: () => Promise<unknown>): Promise<{ median: number; p90: number }> {
  for (let i = 0; i < 5; i++) await fn();
  const times: number[] = [];
  for (let i = 0; i < calls; i++) {
    const start = performance.now();
    await fn();
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  return { median: median(times), p90: times[Math.floor(times.length * 0.9)]! };
}

export async function run(): Promise<void> {
  const count = Number(process.env.BENCH_OFFERS ?? 100_000);
  const calls = Number(process.env.BENCH_RANK_CALLS ?? 30);
  await withBenchDatabase("gpubroker_bench_rank", async (bench) => {
    const data = await loadMarketplace(bench, count);
    console.log(`Loaded ${data.offers} offers (${data.activeOffers} active) in ${data.loadMs} ms; GPU models via ${data.gpuModelsFrom}\n`);
    const server = await startServer(createApp({ db: bench.db, rateLimiter: benchRateLimiter() }), { port: 0, host: "127.0.0.1" });
    try {
      const ours = await gpubroker(server.url);
      const base = await baselineRows(bench.pool);
      assert.equal(ours.considered, base.considered, "GPUBroker and the baseline rank different offers");
      assert.deepEqual(ours.ids, base.ids, "GPUBroker and the baseline disagree on the top offers");
      ours.closeness.forEach((c, i) => assert.ok(Math.abs(c - base.closeness[i]!) <= 1e-12, `closeness ${i}: ${c} vs ${base.closeness[i]}`));
      const statements = await captureSql(bench.db, () => gpubroker(server.url));
      // Postgres' share: the ranking statement rankOffers sent, replayed as is over a bare pg pool, in a
      // transaction with the planner settings rankOffers sets for it (and once without them: serial).
      const ranking = statements.find((s) => s.sql.includes("string_agg(concat_ws(',', g.n"))!;
      const settings = statements.find((s) => s.sql.includes("set_config("))!;
      const replay = async (parallel: boolean) => {
        const client = await bench.pool.connect();
        try {
          await client.query("BEGIN");
          if (parallel) await client.query(settings.sql, settings.params);
          await client.query(ranking.sql, ranking.params);
          await client.query("COMMIT");
        } finally {
          client.release();
        }
      };

      console.log(`Query: rankOffers(filter: { includeInactive: true }, criteria: ${CRITERIA.map((c) => `${c.criterion} ${c.weight}`).join(", ")}, first: ${FIRST})`);
      console.log(`  selecting considered, excluded and ${FIRST} × { offer { id gpuName gpuCount pricePerGpuHour } closeness rank }.`);
      console.log(`  ${ours.considered} offers ranked (of ${data.offers}; the rest have no known GPU model). Top ${FIRST} ids and closeness match the baseline (checked, |Δ| ≤ 1e-12).`);
      console.log(`GPUBroker: POST over loopback HTTP to graphql-yoga + Pothos + Prisma (adapter-pg); ${statements.length} SQL statements per call`);
      console.log(`  (the planner settings, the ranking data as one text value per group of equal offers, then the ${FIRST} winning offers).`);
      console.log(`Baseline:  one pg.Pool query (rowMode array, float8 columns) → Float64Arrays → TOPSIS loop → top ${FIRST}; no HTTP, no GraphQL.`);
      console.log(`Median of ${calls} sequential calls after 5 warm-up calls.\n`);

      const rows: (string | number)[][] = [];
      const b = await timed(calls, () => baselineRows(bench.pool));
      const t = await timed(calls, () => replay(true));
      const serial = await timed(calls, () => replay(false));
      const g = await timed(calls, () => gpubroker(server.url));
      const c = await timed(calls, () => gpubroker(server.url, "llama-3-8b"));
      rows.push(["baseline: pg rows + Float64Array TOPSIS", b.median.toFixed(1), b.p90.toFixed(1), "1.00"]);
      rows.push(["diagnostic: rankOffers' ranking statement alone (pg, no parsing)", t.median.toFixed(1), t.p90.toFixed(1), (t.median / b.median).toFixed(2)]);
      rows.push(["diagnostic: the same statement with default planner costs (serial)", serial.median.toFixed(1), serial.p90.toFixed(1), (serial.median / b.median).toFixed(2)]);
      rows.push(["GPUBroker rankOffers, 4 criteria (HTTP)", g.median.toFixed(1), g.p90.toFixed(1), (g.median / b.median).toFixed(2)]);
      rows.push(["GPUBroker rankOffers, + COST_PER_MTOK llama-3-8b (HTTP)", c.median.toFixed(1), c.p90.toFixed(1), (c.median / b.median).toFixed(2)]);
      printTable(["variant", "ms/call (median)", "p90 ms", "× baseline"], rows);
      console.log(`\nTarget: rankOffers over ${count} offers in < ${TARGET_MS} ms end to end: ${g.median < TARGET_MS ? "met" : "NOT met"} (${g.median.toFixed(1)} ms).`);
    } finally {
      await server.stop();
    }
  });
}
