// `npm run bench -- facets`
//   GPUBroker's `offerFacets` over HTTP (counts and min/median/max price per GPU-hour by GPU model, provider
//   and region), without a filter and with a model filter, at several catalogue sizes. The first call of
//   each variant is reported on its own (cold: nothing cached yet), then the median of sequential calls.
//   The service caches facets per catalog epoch: also measured with the epoch bumped before each call (as after
//   an ingestion cycle). Diagnostic: the facet SQL alone (src/infra/offers.ts `offerFacets`, no HTTP, no cache).
// Env: BENCH_FACET_SIZES (10000,100000 offers), BENCH_FACET_CALLS (30 measured calls per variant, after 3
//      warm-up calls), BENCH_DATABASE_URL (admin URL, default postgresql://root@127.0.0.1:5432/postgres).
import { benchRateLimiter } from "./lib/rate-limit.ts";
import { startServer } from "../src/server.ts";
import { createApp } from "../src/yoga.ts";
import { offerFacets } from "../src/infra/offers.ts";
import { resolveNames } from "../src/infra/names.ts";
import { formatNumber } from "./lib/chart.ts";
import { withBenchDatabase } from "./lib/database.ts";
import { median } from "./lib/load.ts";
import { loadMarketplace } from "./lib/marketplace.ts";
import { tableText, writeResults, type Curve, type GoalResult } from "./lib/results.ts";

const GOAL_MS = 20;
const GOAL_AT = 100_000;
const WARMUP_CALLS = 3;

const FACETS_QUERY = /* GraphQL */ `
  query Facets($filter: OfferFilter) {
    offerFacets(filter: $filter) {
      gpuModels { value count minPricePerGpuHour medianPricePerGpuHour maxPricePerGpuHour }
      providers { value count minPricePerGpuHour medianPricePerGpuHour maxPricePerGpuHour }
      regions { value count minPricePerGpuHour medianPricePerGpuHour maxPricePerGpuHour }
    }
  }`;

interface Timing { cold: number; median: number; p90: number; calls: number }
interface Facets { gpuModels: unknown[]; providers: unknown[]; regions: unknown[] }
interface SizeResult {
  offers: number; active: number; model: string; modelOffers: number; groups: string;
  unfiltered: Timing; filtered: Timing;
  /** The catalog changed before each call: the service computes the facets again, as after an ingestion cycle. */
  unfilteredNewCatalog: Timing;
  sqlUnfiltered: Timing; sqlFiltered: Timing;
}

async function facets(url: string, filter: object | null): Promise<Facets> {
  const res = await fetch(url, {
    method: "POST", headers: { "content-type": "application/json", accept: "application/json" },
    body: JSON.stringify({ query: FACETS_QUERY, variables: { filter } }),
  });
  const body = (await res.json()) as { data?: { offerFacets: Facets }; errors?: unknown };
  if (!res.ok || body.errors || !body.data) throw new Error(`offerFacets answered ${res.status}: ${JSON.stringify(body.errors)}`);
  return body.data.offerFacets;
}

/** The first call (cold), WARMUP_CALLS more, then `calls` measured calls one after another; `before` runs ahead of each, untimed. */
async function timed(calls: number, fn: () => Promise<unknown>, before?: () => Promise<unknown>): Promise<Timing> {
  await before?.();
  const t0 = performance.now();
  await fn();
  const cold = performance.now() - t0;
  for (let i = 0; i < WARMUP_CALLS; i++) {
    await before?.();
    await fn();
  }
  const times: number[] = [];
  for (let i = 0; i < calls; i++) {
    await before?.();
    const start = performance.now();
    await fn();
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  return { cold, median: median(times), p90: times[Math.min(times.length - 1, Math.floor(times.length * 0.9))]!, calls };
}

export async function run(): Promise<void> {
  const sizes = (process.env.BENCH_FACET_SIZES ?? "10000,100000").split(",").map((s) => Number(s.trim())).filter((n) => n > 0).sort((a, b) => a - b);
  if (sizes.length === 0) throw new Error(`BENCH_FACET_SIZES="${process.env.BENCH_FACET_SIZES}" names no size`);
  const calls = Number(process.env.BENCH_FACET_CALLS ?? 30);
  console.log(`offerFacets over loopback HTTP to startServer(createApp(…)), selecting all three groupings with count and min/median/max price per GPU-hour.`);
  console.log(`Per variant: the first call (cold), ${WARMUP_CALLS} warm-up calls, then the median and p90 of ${calls} sequential calls.`);
  console.log(`The server is warmed with an unrelated query first, so "cold" is the facets' own first cost, not the server's.`);
  console.log(`The service keeps facets per catalog epoch: "catalog changed before each call" bumps Provider.catalogVersion (untimed), as an`);
  console.log(`ingestion cycle does, so every call computes them again. Diagnostic rows: the facet SQL alone (src/infra/offers.ts`);
  console.log(`offerFacets through Prisma; no HTTP, no service-level cache).`);
  const results: SizeResult[] = [];
  const md: string[] = [];
  for (const size of sizes) {
    const r = await measureSize(size, calls);
    results.push(r);
    const row = (name: string, t: Timing) => [name, t.cold.toFixed(1), t.median.toFixed(1), t.p90.toFixed(1)];
    const table = tableText(["variant", "cold (first call) ms", "median ms", "p90 ms"], [
      row("offerFacets, no filter (HTTP)", r.unfiltered),
      row(`offerFacets, gpuModels: ["${r.model}"] (HTTP)`, r.filtered),
      row("offerFacets, no filter (HTTP), catalog changed before each call", r.unfilteredNewCatalog),
      row("diagnostic: facet SQL, no filter (Prisma, no HTTP)", r.sqlUnfiltered),
      row(`diagnostic: facet SQL, ${r.model} (Prisma, no HTTP)`, r.sqlFiltered),
    ]);
    const title = `${formatNumber(size)} offers (${r.active} active; ${r.model}: ${r.modelOffers} offers; ${r.groups})`;
    console.log(`\n${title}\n\n${table}`);
    md.push(`### ${title}\n\n${table}`);
  }

  const goals: GoalResult[] = [];
  const at = results.find((r) => r.offers === GOAL_AT) ?? results[results.length - 1]!;
  const exact = at.offers === GOAL_AT;
  goals.push({
    metric: `offerFacets unfiltered median ms at ${formatNumber(at.offers)}`, value: at.unfiltered.median, unit: "ms",
    goal: `< ${GOAL_MS} ms${exact ? "" : ` at ${formatNumber(GOAL_AT)}`}`, met: exact ? at.unfiltered.median < GOAL_MS : null,
    note: `cold ${at.unfiltered.cold.toFixed(1)} ms, SQL alone ${at.sqlUnfiltered.median.toFixed(1)} ms${exact ? "" : `; ${formatNumber(GOAL_AT)} not in BENCH_FACET_SIZES`}`,
  });
  goals.push({
    metric: `offerFacets unfiltered median ms at ${formatNumber(at.offers)}, catalog changed before each call`, value: at.unfilteredNewCatalog.median, unit: "ms", goal: "(diagnostic)", met: null,
    note: "the cost once per ingestion cycle",
  });
  goals.push({
    metric: `offerFacets with a model filter, median ms at ${formatNumber(at.offers)}`, value: at.filtered.median, unit: "ms", goal: "(diagnostic)", met: null,
    note: `${at.model}; cold ${at.filtered.cold.toFixed(1)} ms`,
  });
  const goalTable = tableText(["metric", "value", "goal", "met", "note"], goals.map((g) => [g.metric, `${g.value.toFixed(1)} ${g.unit}`, g.goal, g.met === null ? "–" : g.met ? "met" : "NOT met", g.note ?? ""]));
  console.log(`\nGoals:\n\n${goalTable}`);
  md.push(`### Goals\n\n${goalTable}`);

  const series = (label: string, pick: (r: SizeResult) => number) => ({ label, points: results.map((r): [number, number] => [r.offers, pick(r)]) });
  const curves: Curve[] = [
    {
      id: "unfiltered", title: "offerFacets without a filter (HTTP)", xLabel: "offers in the catalogue", yLabel: "ms per call", logX: true,
      series: [series("median", (r) => r.unfiltered.median), series("cold (first call)", (r) => r.unfiltered.cold), series("uncached (new catalog)", (r) => r.unfilteredNewCatalog.median)],
    },
    {
      id: "model", title: "offerFacets with a model filter (HTTP)", xLabel: "offers in the catalogue", yLabel: "ms per call", logX: true,
      series: [series("median", (r) => r.filtered.median), series("cold (first call)", (r) => r.filtered.cold), series("facet SQL alone, median", (r) => r.sqlFiltered.median)],
    },
  ];
  for (const path of writeResults({ bench: "facets", goals, curves, markdown: md.join("\n\n") })) console.log(`wrote ${path}`);
}

async function measureSize(count: number, calls: number): Promise<SizeResult> {
  return withBenchDatabase("gpubroker_bench_facets", async (bench) => {
    console.log(`\n──── ${formatNumber(count)} offers: loading …`);
    const data = await loadMarketplace(bench, count);
    const [model, modelOffers] = data.models[0]!;
    console.log(`  loaded in ${(data.loadMs / 1000).toFixed(1)} s; measuring …`);
    const server = await startServer(createApp({ db: bench.db, rateLimiter: benchRateLimiter() }), { port: 0, host: "127.0.0.1" });
    try {
      await warmServer(server.url);
      const unfiltered = await timed(calls, () => facets(server.url, null));
      const filtered = await timed(calls, () => facets(server.url, { gpuModels: [model] }));
      // The service keeps facets per catalog epoch (sum of Provider.catalogVersion, bumped by each catalog sync).
      const newCatalog = () => bench.pool.query(`UPDATE "Provider" SET "catalogVersion" = "catalogVersion" + 1 WHERE id = (SELECT min(id) FROM "Provider")`);
      const unfilteredNewCatalog = await timed(calls, () => facets(server.url, null), newCatalog);
      const sample = await facets(server.url, null);
      const { ids } = await resolveNames(bench.db.prisma, "models", [model]);
      const sqlUnfiltered = await timed(calls, () => offerFacets(bench.db.prisma, {}));
      const sqlFiltered = await timed(calls, () => offerFacets(bench.db.prisma, { gpuModelIds: ids }));
      return {
        offers: count, active: data.activeOffers, model, modelOffers, unfiltered, filtered, unfilteredNewCatalog, sqlUnfiltered, sqlFiltered,
        groups: `${sample.gpuModels.length} models, ${sample.providers.length} providers, ${sample.regions.length} regions`,
      };
    } finally {
      await server.stop();
    }
  });
}

/** Parses, validates and plans once through yoga and opens the pool's connections, without touching the facets. */
async function warmServer(url: string): Promise<void> {
  for (let i = 0; i < 5; i++) {
    const res = await fetch(url, {
      method: "POST", headers: { "content-type": "application/json", accept: "application/json" },
      body: JSON.stringify({ query: "{ offers(first: 1) { edges { node { id } } } }" }),
    });
    if (!res.ok) throw new Error(`warm-up query answered ${res.status}`);
    await res.arrayBuffer();
  }
}
