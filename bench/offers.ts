// `npm run bench -- offers [--explain | --overhead]`
//   default:    GPUBroker's `offers` query over HTTP vs a bare node:http + pg baseline, same page, same load.
//   --explain:  EXPLAIN (ANALYZE, BUFFERS) of the SQL behind `offers` / `totalCount` / `offerFacets`,
//               plus the index changes proposed in bench/README.md, measured before/after.
//   --overhead: only the observability table (metrics and tracing off / each alone / both), BENCH_OVERHEAD_ROUNDS rounds.
// Env: BENCH_OFFERS (100000), BENCH_DURATION (10 s), BENCH_WARMUP (3 s), BENCH_CONNECTIONS (20),
//      BENCH_DATABASE_URL (admin URL, default postgresql://root@127.0.0.1:5432/postgres).
import { benchRateLimiter } from "./lib/rate-limit.ts";
import assert from "node:assert/strict";
import type pg from "pg";
import { startServer } from "../src/server.ts";
import { createApp } from "../src/yoga.ts";
import { createSchema, createYoga } from "graphql-yoga";
import { useGraphQlJit } from "@envelop/graphql-jit";
import { createServer as createHttpServer } from "node:http";
import { once } from "node:events";
import type { AddressInfo } from "node:net";
import { createMetrics } from "../src/infra/metrics.ts";
import { startTracing } from "../src/infra/tracing.ts";
import { countOffers, findOfferPage, offerFacets, type OfferCursor, type OfferFilter, type OfferOrder } from "../src/infra/offers.ts";
import { resolveNames } from "../src/infra/names.ts";
import { startBaselineServer } from "./lib/baseline.ts";
import { startServerProcess, type ServerProcess, type ServerSpec } from "./lib/server-process.ts";
import { PAGE_SIZE, type BenchFilter, type Variables } from "./lib/offers-baseline.ts";
import { withBenchDatabase, type BenchDatabase } from "./lib/database.ts";
import { captureSql, explain, type CapturedSql, type ExplainResult } from "./lib/explain.ts";
import { loadOptionsFromEnv, measure, measureAlternating, pairedSequentialCost, printTable, sequentialCost, type LoadResult } from "./lib/load.ts";
import { writeResults, type GoalResult } from "./lib/results.ts";
import { loadMarketplace, type LoadSummary } from "./lib/marketplace.ts";


export async function run(args: string[]): Promise<void> {
  if (args.includes("--explain") || args.includes("--overhead")) {
    await withLoadedDatabase(Number(process.env.BENCH_OFFERS ?? 100_000), async (bench, data) => {
      if (args.includes("--explain")) await indexStudy(bench, data);
      else await observabilityOverhead(bench, { filter: benchFilter(data) }, loadOptionsFromEnv(), Number(process.env.BENCH_OVERHEAD_ROUNDS ?? 2));
    });
    return;
  }
  // The curve: page 1 at every size; at the main size (100k) also page 2, the CPU breakdown and the variants.
  const sizes = (process.env.BENCH_OFFERS_SIZES ?? process.env.BENCH_OFFERS ?? "10000,100000,1000000").split(",").map((x) => Number(x.trim()));
  if (!sizes.every((n) => Number.isInteger(n) && n >= 1000)) throw new Error("BENCH_OFFERS_SIZES must be whole numbers ≥ 1000, e.g. 10000,100000,1000000");
  const main = sizes.includes(100_000) ? 100_000 : sizes[Math.floor((sizes.length - 1) / 2)]!;
  const points: SizePoint[] = [];
  const markdown: string[] = [];
  let detail: MainResults | undefined;
  for (const size of sizes) {
    await withLoadedDatabase(size, async (bench, data) => {
      const r = await httpBenchmark(bench, data, size === main);
      points.push({ size, ...r.page1 });
      markdown.push(`### ${size.toLocaleString("en")} offers\n\n${r.markdown}`);
      if (size === main) detail = r;
    });
  }
  console.log(`\nCurve (page 1):\n`);
  const curveRows = points.map((p) => [p.size, p.baseline.requestsPerSec.toFixed(0), p.gpubroker.requestsPerSec.toFixed(0), (p.gpubroker.requestsPerSec / p.baseline.requestsPerSec).toFixed(2), p.baseline.p50Ms, p.gpubroker.p50Ms]);
  const curveHeader = ["offers", "baseline req/s", "GPUBroker req/s", "ratio", "baseline p50 ms", "GPUBroker p50 ms"];
  printTable(curveHeader, curveRows);
  markdown.push(`### Curve (page 1)\n\n${markdownTable(curveHeader, curveRows)}`);
  const goals: GoalResult[] = [];
  if (detail) {
    const ratio = (g: LoadResult, b: LoadResult) => ({ rps: g.requestsPerSec / b.requestsPerSec, cpu: g.serverCpuMs / b.serverCpuMs });
    for (const [name, page] of [["page 1", detail.page1], ["page 2", detail.page2!]] as const) {
      const r = ratio(page.gpubroker, page.baseline);
      goals.push({ metric: `offers ${name} req/s ÷ baseline (${main / 1000}k offers, uncached)`, value: r.rps, unit: "×", goal: "≥ 0.8", met: r.rps >= 0.8 });
      goals.push({ metric: `offers ${name} CPU/req ÷ baseline`, value: r.cpu, unit: "×", goal: "≤ 1.5", met: r.cpu <= 1.5 });
    }
    if (detail.cached) {
      const r = detail.cached.requestsPerSec / detail.page1.baseline.requestsPerSec;
      goals.push({ metric: "offers page 1 cached req/s ÷ baseline", value: r, unit: "×", goal: "≥ 2", met: r >= 2 });
    }
  }
  writeResults({
    bench: "offers",
    goals,
    curves: [
      { id: "rps", title: "offers page 1: requests/s", xLabel: "offers in the catalog", yLabel: "req/s", logX: true,
        series: [{ label: "baseline (node:http + pg)", points: points.map((p) => [p.size, p.baseline.requestsPerSec]) },
          { label: "GPUBroker", points: points.map((p) => [p.size, p.gpubroker.requestsPerSec]) }] },
      { id: "p50", title: "offers page 1: p50 latency under load", xLabel: "offers in the catalog", yLabel: "ms", logX: true,
        series: [{ label: "baseline (node:http + pg)", points: points.map((p) => [p.size, p.baseline.p50Ms]) },
          { label: "GPUBroker", points: points.map((p) => [p.size, p.gpubroker.p50Ms]) }] },
    ],
    markdown: markdown.join("\n\n"),
  });
}

async function withLoadedDatabase(count: number, fn: (bench: BenchDatabase, data: LoadSummary) => Promise<void>): Promise<void> {
  await withBenchDatabase("gpubroker_bench_offers", async (bench) => {
    const data = await loadMarketplace(bench, count);
    console.log(`Loaded ${data.offers} offers (${data.activeOffers} active) and ${data.pricePoints} price points in ${data.loadMs} ms`);
    console.log(`  from ${data.catalogRows} GPU rows of ${data.providers.join(", ")} catalogs; GPU models via ${data.gpuModelsFrom}; ` +
      `most common: ${data.models.slice(0, 3).map(([m, n]) => `${m} (${n})`).join(", ")}\n`);
    await fn(bench, data);
  });
}

type Measured = LoadResult & { wallMs: number; cpuMs: number };
interface PagePair { baseline: Measured; gpubroker: Measured }
interface SizePoint extends PagePair { size: number }
interface MainResults { page1: PagePair; page2?: PagePair; cached?: Measured; markdown: string }

const markdownTable = (header: string[], rows: (string | number)[][]) =>
  [`| ${header.join(" | ")} |`, `|${header.map(() => "---").join("|")}|`, ...rows.map((r) => `| ${r.join(" | ")} |`)].join("\n");

// ---------------------------------------------------------------- HTTP: GPUBroker vs baseline

const offersQuery = ({ totalCount = true, relations = true } = {}) => /* GraphQL */ `
  query Offers($filter: OfferFilter, $after: String) {
    offers(filter: $filter, orderBy: { field: PRICE_PER_GPU, direction: ASC }, first: ${PAGE_SIZE}, after: $after) {
      ${totalCount ? "totalCount" : ""}
      pageInfo { hasNextPage endCursor }
      edges { node {
        id instanceType gpuCount vramPerGpuGb vcpus ramGb region availability
        onDemandPrice spotPrice pricePerGpuHour lastSeenAt ${relations ? "provider { name } gpuModel { name }" : ""}
      } }
    }
  }`;
const OFFERS_QUERY = offersQuery();

interface OffersPage {
  data?: { offers: { totalCount: number; pageInfo: { hasNextPage: boolean; endCursor: string | null }; edges: { node: { id: string } }[] } };
  errors?: unknown[];
}

async function post(url: string, variables: Variables): Promise<OffersPage> {
  const res = await fetch(url, {
    method: "POST", headers: { "content-type": "application/json", accept: "application/json" },
    body: JSON.stringify({ query: OFFERS_QUERY, variables }),
  });
  if (!res.ok) throw new Error(`${url} answered ${res.status}: ${await res.text()}`);
  return (await res.json()) as OffersPage;
}

/** Both servers must return the same offers in the same order — in fact the same JSON — or we stop. */
async function verifySamePage(urls: { gpubroker: string; baseline: string }, variables: Variables, what: string) {
  const [ours, base] = [await post(urls.gpubroker, variables), await post(urls.baseline, variables)];
  if (ours.errors || !ours.data) throw new Error(`GPUBroker answered errors for ${what}: ${JSON.stringify(ours.errors)}`);
  const ids = (p: OffersPage) => p.data!.offers.edges.map((e) => Buffer.from(e.node.id, "base64").toString().split(":")[1]).join(",");
  if (ids(ours) !== ids(base)) throw new Error(`${what}: the servers disagree on the offers.\n  GPUBroker: ${ids(ours)}\n  baseline:  ${ids(base)}`);
  if (ours.data.offers.edges.length !== PAGE_SIZE) throw new Error(`${what}: expected a full page of ${PAGE_SIZE}, got ${ours.data.offers.edges.length}`);
  assert.deepEqual(base, ours, `${what}: same offer ids, but the JSON differs`);
  return ours.data.offers;
}

/** The most common GPU model, at least one GPU, at most $5 per GPU-hour: a typical shopper's page. */
const benchFilter = (data: LoadSummary): BenchFilter => ({ gpuModels: [data.models[0]![0]], gpuCount: { min: 1 }, pricePerGpu: { max: "5" } });

async function httpBenchmark(bench: BenchDatabase, data: LoadSummary, full: boolean): Promise<MainResults> {
  const load = loadOptionsFromEnv();
  const filter = benchFilter(data);
  // Every measured server runs in a process of its own (lib/server-process.ts), its CPU read from that process.
  // The app in this process only counts the SQL statements of a request (Prisma's log and the pool's counter).
  const inProcess = await startServer(createApp({ db: bench.db, rateLimiter: benchRateLimiter() }), { port: 0, host: "127.0.0.1" });
  const started: ServerProcess[] = [];
  const spawn = async (spec: ServerSpec) => { const s = await startServerProcess(spec); started.push(s); return s; };
  try {
    const [gpubroker, baseline, interpreted, cached] = await Promise.all([
      spawn({ kind: "gpubroker", databaseUrl: bench.url }),
      spawn({ kind: "offers-baseline", databaseUrl: bench.url }),
      full ? spawn({ kind: "gpubroker", databaseUrl: bench.url, jit: false }) : null,
      full ? spawn({ kind: "gpubroker", databaseUrl: bench.url, responseCache: true }) : null,
    ]);
    const urls = { gpubroker: gpubroker.url, baseline: baseline.url };
    const statements = await captureSql(bench.db, () => post(inProcess.url, { filter }));
    const page1 = await verifySamePage(urls, { filter }, "page 1");
    const after = page1.pageInfo.endCursor!;
    await verifySamePage(urls, { filter, after }, "page 2");
    await verifySamePage({ gpubroker: inProcess.url, baseline: baseline.url }, { filter, after }, "page 2 (the app in the bench's process)");
    const before = bench.db.stats.statements; // Prisma's and the direct reads (captureSql sees only Prisma's log)
    await post(inProcess.url, { filter, after });
    const warm = { length: bench.db.stats.statements - before };
    if (cached) await verifySamePage({ gpubroker: cached.url, baseline: baseline.url }, { filter }, "page 1 (response cache on)");

    console.log(`Query: offers(filter: ${JSON.stringify(filter).replace(/"(\w+)":/g, "$1: ").replace(/,/g, ", ")}, orderBy: PRICE_PER_GPU ASC, first: ${PAGE_SIZE})`);
    console.log(`  selecting totalCount, pageInfo { hasNextPage endCursor }, 12 offer fields, provider { name }, gpuModel { name };`);
    console.log(`  ${page1.totalCount} offers match. Both servers return identical JSON for page 1 and page 2 (checked).`);
    console.log(`GPUBroker: graphql-yoga + graphql-jit + Pothos + Prisma (adapter-pg, pool 10); SQL statements: first request ${statements.length}, warm ${warm.length}`);
    console.log(`  (names into the cache on the first; then the page, its count and its providers and GPU models as one JSON value in one statement).`);
    console.log(`Baseline:  node:http + one pg.Pool (10) query (count + page JOIN provider, GpuModel via LATERAL) + JSON.stringify;`);
    console.log(`  same request body, same response JSON, no GraphQL parsing/validation, no name normalisation.`);
    console.log(`Servers: each in a process of its own; CPU = that process's (lib/server-process.ts).`);
    console.log(`Load: autocannon in a child process, ${load.connections} connections, ${load.warmup} s and at least ${load.warmupRequests} requests of warm-up + ${load.duration} s measured, loopback;`);
    console.log(`  baseline and GPUBroker in ${process.env.BENCH_ROUNDS ?? 4} alternating rounds each (warm-up in the first only), the variants once.\n`);

    const rows: (string | number)[][] = [];
    const fmt = (r: Measured) => [r.requestsPerSec.toFixed(0), r.p50Ms, r.p99Ms, r.requests, r.serverCpuMs.toFixed(2), r.wallMs.toFixed(1), r.cpuMs.toFixed(1)];
    const pairs: PagePair[] = [];
    let cachedPage1: Measured | undefined;
    const pages = full ? [["page 1", { filter }], ["page 2 (after)", { filter, after }]] as const : [["page 1", { filter }]] as const;
    for (const [variant, variables] of pages) {
      const body = JSON.stringify({ query: OFFERS_QUERY, variables });
      // The sequential costs first, every server of this variant in alternating rounds; then the load runs.
      const servers = [baseline, gpubroker, interpreted, variant === "page 1" ? cached : null].filter((x): x is ServerProcess => !!x);
      const costs = new Map((await pairedSequentialCost(servers, body)).map((cost, i) => [servers[i]!, cost]));
      const result = async (label: string, server: ServerProcess): Promise<Measured> => ({ ...costs.get(server)!, ...(await measure(label, server.url, body, load, server.cpuMs)) });
      // The goal's pair in alternating rounds; the diagnostic variants once each.
      const [bLoad, gLoad] = await measureAlternating([
        { label: `baseline ${variant}`, url: baseline.url, cpuMs: baseline.cpuMs }, { label: `GPUBroker ${variant}`, url: gpubroker.url, cpuMs: gpubroker.cpuMs },
      ], body, load);
      const b: Measured = { ...costs.get(baseline)!, ...bLoad! };
      const g: Measured = { ...costs.get(gpubroker)!, ...gLoad! };
      pairs.push({ baseline: b, gpubroker: g });
      rows.push([variant, "baseline", ...fmt(b)], [variant, "GPUBroker", ...fmt(g)]);
      if (interpreted) rows.push([variant, "GPUBroker, graphql-jit off", ...fmt(await result(`GPUBroker jit off ${variant}`, interpreted))]);
      if (cached && variant === "page 1") {
        cachedPage1 = await result(`GPUBroker cached ${variant}`, cached);
        rows.push([variant, "GPUBroker, response cache on", ...fmt(cachedPage1)]);
        rows.push([variant, "ratio cached/baseline", (cachedPage1.requestsPerSec / b.requestsPerSec).toFixed(2), "", "", "", (cachedPage1.serverCpuMs / b.serverCpuMs).toFixed(2), "", (cachedPage1.cpuMs / b.cpuMs).toFixed(2)]);
      }
      rows.push([variant, "ratio GPUBroker/baseline", (g.requestsPerSec / b.requestsPerSec).toFixed(2), "", "", "", (g.serverCpuMs / b.serverCpuMs).toFixed(2), "", (g.cpuMs / b.cpuMs).toFixed(2)]);
    }
    const header = ["variant", "server", "req/s", "p50 ms", "p99 ms", "requests", "server CPU ms/req", "1-by-1 ms", "1-by-1 CPU ms/req"];
    printTable(header, rows);
    console.log(`\nreq/s, p50, p99, server CPU ms/req: under load (autocannon in a child process); server CPU is the server process's`);
    console.log(`CPU time (its main thread, GC and libuv threads; no client, no PostgreSQL) per request answered: the goal's figure.`);
    console.log(`1-by-1 ms and 1-by-1 CPU ms/req: sequential requests from a fetch client in the bench's process, the server process's`);
    console.log(`CPU per request; the median of 5 rounds of 40, each round over every server of the variant in turn (the order`);
    console.log(`reversed every other round), before its load runs.`);
    const rss = await Promise.all([baseline, gpubroker, interpreted, cached].map((s) => s?.peakRssMb()));
    const rssLine = `Peak RSS of each server process: baseline ${rss[0]!.toFixed(0)} MB, GPUBroker ${rss[1]!.toFixed(0)} MB` +
      (full ? `, graphql-jit off ${rss[2]!.toFixed(0)} MB, response cache on ${rss[3]!.toFixed(0)} MB` : "") + ` (each holds the whole app's modules; tsx compiles them).`;
    console.log(rssLine);
    let markdown = `${markdownTable(header, rows)}\n\n${rssLine}`;
    if (full) {
      console.log(`\nWhere GPUBroker's CPU goes: page 2, 100 sequential requests per selection:\n`);
      const selections = [
        ["as above", {}], ["without provider/gpuModel", { relations: false }],
        ["without totalCount", { totalCount: false }], ["without either", { relations: false, totalCount: false }],
      ] as const;
      const costs: (string | number)[][] = [];
      for (const [name, selection] of selections) {
        const cost = await sequentialCost(gpubroker.url, JSON.stringify({ query: offersQuery(selection), variables: { filter, after } }), 100, gpubroker.cpuMs);
        costs.push([name, cost.wallMs.toFixed(1), cost.cpuMs.toFixed(1)]);
      }
      printTable(["selection", "1-by-1 ms", "CPU ms/req"], costs);
      markdown += `\n\n${markdownTable(["selection (page 2)", "1-by-1 ms", "CPU ms/req"], costs)}`;
      markdown += `\n\n${await frameworkFloor(await post(urls.baseline, { filter }), { filter }, load)}`;
    }
    return { page1: pairs[0]!, page2: pairs[1], cached: cachedPage1, markdown };
  } finally {
    await Promise.all(started.map((s) => s.stop()));
    await inProcess.stop();
  }
}

// The same page from memory (no database), to show what the HTTP and GraphQL layers alone cost: bare node:http
// writing the JSON, Yoga answering it as one JSON scalar (HTTP, parse and validation caches, envelop: no field
// execution), and Yoga with graphql-jit executing the very selection over the in-memory page.
const FLOOR_SDL = /* GraphQL */ `
  scalar JSON
  enum OfferSortField { PRICE_PER_GPU }
  enum SortDirection { ASC DESC }
  input OfferOrder { field: OfferSortField!, direction: SortDirection! }
  input IntRange { min: Int, max: Int }
  input MoneyRange { min: String, max: String }
  input OfferFilter { gpuModels: [String!], gpuCount: IntRange, pricePerGpu: MoneyRange }
  type PageInfo { hasNextPage: Boolean!, endCursor: String }
  type Named { name: String! }
  type Offer {
    id: ID!, instanceType: String!, gpuCount: Int!, vramPerGpuGb: Float!, vcpus: Int, ramGb: Float, region: String!, availability: String!
    onDemandPrice: String!, spotPrice: String, pricePerGpuHour: String!, lastSeenAt: String!, provider: Named!, gpuModel: Named
  }
  type OfferEdge { node: Offer! }
  type OfferConnection { totalCount: Int!, pageInfo: PageInfo!, edges: [OfferEdge!]! }
  type Query { offers(filter: OfferFilter, orderBy: OfferOrder, first: Int, after: String): OfferConnection!, page(filter: OfferFilter, after: String): JSON }`;

async function frameworkFloor(page: OffersPage, variables: Variables, load: ReturnType<typeof loadOptionsFromEnv>): Promise<string> {
  const offers = page.data!.offers;
  const bare = await startBaselineServer(async () => page);
  const yoga = (jit: boolean) => createYoga({
    schema: createSchema({ typeDefs: FLOOR_SDL, resolvers: { Query: { offers: async () => offers, page: async () => offers } } }),
    logging: false, landingPage: false, graphiql: false, plugins: jit ? [useGraphQlJit()] : [],
  } as Parameters<typeof createYoga>[0]);
  const listen = async (handler: ReturnType<typeof yoga>) => {
    const server = createHttpServer(handler);
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`, stop: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }) };
  };
  const scalar = await listen(yoga(false));
  const executed = await listen(yoga(true));
  try {
    const scalarBody = JSON.stringify({ query: `query Offers($filter: OfferFilter, $after: String) { offers: page(filter: $filter, after: $after) }`, variables });
    const body = JSON.stringify({ query: OFFERS_QUERY, variables });
    // The executed page must be the page itself, byte for byte.
    const same = await (await fetch(executed.url, { method: "POST", headers: { "content-type": "application/json" }, body })).json();
    assert.deepEqual(same, page, "the framework floor's executed page differs from the baseline's");
    const rows: (string | number)[][] = [];
    const runs = [["bare node:http, page from memory", bare.url, body], ["Yoga, page as one JSON scalar", scalar.url, scalarBody], ["Yoga + graphql-jit, the selection executed over the page", executed.url, body]] as const;
    const results: LoadResult[] = [];
    for (const [label, url, b] of runs) results.push(await measure(`floor: ${label}`, url, b, load));
    for (const [i, r] of results.entries()) rows.push([runs[i]![0], r.requestsPerSec.toFixed(0), r.p50Ms, r.serverCpuMs.toFixed(2), (r.serverCpuMs / results[0]!.serverCpuMs).toFixed(2)]);
    const header = ["framework floor, page 1 from memory", "req/s", "p50 ms", "server CPU ms/req", "÷ node:http"];
    console.log(`\nThe framework floor: the same page 1 from memory, no database, same load:\n`);
    printTable(header, rows);
    return markdownTable(header, rows);
  } finally {
    await bare.stop();
    await scalar.stop();
    await executed.stop();
  }
}

type Observability = "off" | "metrics" | "tracing" | "metrics + tracing" | "metrics + tracing 10 %";

/**
 * What metrics and tracing cost on `offers` page 1, in this run: the same app with GraphQL metrics and
 * tracing off, with each alone and with both on (Prometheus plugins; every request traced, exported over
 * OTLP/HTTP in batches to a local sink that discards), and both with 10 % of requests traced. The variants are alternated round by round so
 * drift in the machine's speed (it is shared) falls on all of them. Ratio = mean req/s ÷ mean req/s off.
 * `--overhead` runs only this table, with BENCH_OVERHEAD_ROUNDS rounds (default 2; 1 in the full run).
 */
async function observabilityOverhead(bench: BenchDatabase, variables: Variables, load: ReturnType<typeof loadOptionsFromEnv>, rounds: number) {
  const body = JSON.stringify({ query: OFFERS_QUERY, variables });
  const sink = createHttpServer((req, res) => { req.resume(); req.on("end", () => res.writeHead(200, { "content-type": "application/json" }).end("{}")); });
  sink.listen(0, "127.0.0.1");
  await once(sink, "listening");
  const run = async (label: string, variant: Observability) => {
    const metricsOn = variant.startsWith("metrics");
    const tracingOn = variant.includes("tracing");
    const sampleRatio = variant.endsWith("10 %") ? 0.1 : 1;
    const tracing = tracingOn ? startTracing({ endpoint: `http://127.0.0.1:${(sink.address() as AddressInfo).port}`, serviceName: "gpubroker-bench", sampleRatio }) : null;
    const app = createApp({ db: bench.db, rateLimiter: benchRateLimiter(), graphqlMetrics: metricsOn, tracing: tracingOn, ...(metricsOn ? { metrics: createMetrics({ processMetrics: true }) } : {}) });
    const server = await startServer(app, { port: 0, host: "127.0.0.1" });
    try {
      return { ...(await sequentialCost(server.url, body)), ...(await measure(label, server.url, body, load)) };
    } finally {
      await server.stop();
      await app.dispose();
      await tracing?.shutdown();
    }
  };
  try {
    const variants: Observability[] = ["off", "metrics", "tracing", "metrics + tracing", "metrics + tracing 10 %"];
    const order = [...Array.from({ length: rounds }, () => variants).flat(), "off" as const];
    const results: { variant: Observability; r: Awaited<ReturnType<typeof run>> }[] = [];
    // Not counted: the first run after loading meets cold PostgreSQL caches and a cold JIT.
    await run("GPUBroker warm-up run (not counted)", "off");
    for (const [i, variant] of order.entries()) results.push({ variant, r: await run(`GPUBroker ${i + 1}/${order.length}, ${variant}`, variant) });
    const mean = (variant: Observability, pick: (r: Awaited<ReturnType<typeof run>>) => number) => {
      const xs = results.filter((x) => x.variant === variant).map((x) => pick(x.r));
      return xs.reduce((a, b) => a + b, 0) / xs.length;
    };
    const fmt = (r: Awaited<ReturnType<typeof run>>) => [r.requestsPerSec.toFixed(0), r.p50Ms, r.p99Ms, r.requests, r.serverCpuMs.toFixed(2), r.wallMs.toFixed(1), r.cpuMs.toFixed(1)];
    console.log(`\nObservability overhead, page 1 (variants alternated; tracing = every request traced, or 10 % with OTEL_TRACES_SAMPLER_ARG=0.1, OTLP/HTTP in batches to a local sink):\n`);
    printTable(["server", "req/s", "p50 ms", "p99 ms", "requests", "server CPU ms/req", "1-by-1 ms", "1-by-1 CPU ms/req"], results.map((x) => [x.variant, ...fmt(x.r)]));
    console.log("");
    printTable(["variant", "ratio req/s vs off", "ratio server CPU ms/req vs off"], variants.slice(1).map((v) => [v,
      (mean(v, (r) => r.requestsPerSec) / mean("off", (r) => r.requestsPerSec)).toFixed(3),
      (mean(v, (r) => r.serverCpuMs) / mean("off", (r) => r.serverCpuMs)).toFixed(3)]));
  } finally {
    sink.close();
  }
}

// ---------------------------------------------------------------- EXPLAIN study

interface StudyCase { key: string; title: string; sql: CapturedSql }

/** The statements behind common `offers` / `totalCount` / `offerFacets` requests, captured from src/infra/offers.ts. */
async function studyCases(bench: BenchDatabase, data: LoadSummary): Promise<StudyCase[]> {
  const { db, pool } = bench;
  const byPrice: OfferOrder = { field: "PRICE_PER_GPU", direction: "ASC" };
  const model = data.models[0]![0];
  const modelIds = async (name: string) => (await resolveNames(db.prisma, "models", [name])).ids;
  const providerIds = async (slug: string) => (await resolveNames(db.prisma, "providers", [slug])).ids;
  const modelFilter: OfferFilter = { gpuModelIds: await modelIds(model), pricePerGpu: { min: "1", max: "3" } };
  const httpFilter: OfferFilter = { gpuModelIds: await modelIds(model), gpuCount: { min: 1 }, pricePerGpu: { max: "5" } };
  const { rows: [pair] } = await pool.query<{ slug: string; region: string }>(
    `SELECT p.slug, o.region FROM "GpuOffer" o JOIN "Provider" p ON p.id = o."providerId" GROUP BY 1, 2 ORDER BY count(*) DESC LIMIT 1`);
  // Worst cases for a plan that walks a price index and filters: a model with no offer in the range,
  // and the provider with the fewest offers in the busiest region.
  const { rows: [pricey] } = await pool.query<{ name: string }>(
    `SELECT m.name FROM "GpuOffer" o JOIN "GpuModel" m ON m.id = o."gpuModelId" WHERE o.active
     GROUP BY 1 HAVING min(o."pricePerGpuHour") > 3 ORDER BY count(*) DESC LIMIT 1`);
  const { rows: [odd] } = await pool.query<{ slug: string; region: string }>(
    `SELECT p.slug, r.region FROM (SELECT region FROM "GpuOffer" GROUP BY 1 ORDER BY count(*) DESC LIMIT 1) r CROSS JOIN "Provider" p
     ORDER BY (SELECT count(*) FROM "GpuOffer" o WHERE o.region = r.region AND o."providerId" = p.id), p.slug LIMIT 1`);
  const page = (filter: OfferFilter, order = byPrice, after?: OfferCursor) => () =>
    findOfferPage(db.prisma, { filter, order, after, limit: PAGE_SIZE + 1, inverted: false });
  const first = await page(modelFilter)();
  const last = first[PAGE_SIZE - 1]!;
  const byTotal: OfferOrder = { field: "PRICE", direction: "ASC" };
  const one = async (fn: () => Promise<unknown>) => (await captureSql(db, fn)).at(-1)!;
  return [
    { key: "a", title: "no filter (active), PRICE_PER_GPU, first 20",
      sql: await one(() => findOfferPage(db.prisma, { order: byPrice, limit: 21, inverted: false })) },
    { key: "b", title: `gpuModels [${model}] + pricePerGpu 1..3, PRICE_PER_GPU`, sql: await one(page(modelFilter)) },
    { key: "b2", title: `gpuModels [${pricey!.name}] + pricePerGpu 1..3 (no match), PRICE_PER_GPU`,
      sql: await one(page({ ...modelFilter, gpuModelIds: await modelIds(pricey!.name) })) },
    { key: "b3", title: `gpuModels [${model}] + gpuCount ≥ 1 + pricePerGpu ≤ 5 (the HTTP benchmark's page 1)`, sql: await one(page(httpFilter)) },
    { key: "c", title: `providers [${pair!.slug}] + regions [${pair!.region}], PRICE`,
      sql: await one(page({ providerIds: await providerIds(pair!.slug), regions: [pair!.region] }, byTotal)) },
    { key: "c2", title: `providers [${odd!.slug}] + regions [${odd!.region}] (few/no offers), PRICE`,
      sql: await one(page({ providerIds: await providerIds(odd!.slug), regions: [odd!.region] }, byTotal)) },
    { key: "d", title: "(b) page 2: after cursor",
      sql: await one(page(modelFilter, byPrice, { field: "PRICE_PER_GPU", value: last.pricePerGpuHour.toString(), id: last.id })) },
    { key: "e", title: "totalCount of (b)", sql: await one(() => countOffers(db.prisma, modelFilter)) },
    { key: "e2", title: "totalCount of (b3)", sql: await one(() => countOffers(db.prisma, httpFilter)) },
    { key: "f", title: "offerFacets, no filter (all active)", sql: await one(() => offerFacets(db.prisma, {})) },
  ];
}

// Proposal P1 as SQL: names resolved to ids up front, and one value compared with `=` instead of `= ANY(array)`.
const NAME_LOOKUPS = [
  { re: /o\."gpuModelId" IN \(SELECT id FROM "GpuModel" WHERE name = ANY\(\$(\d+)::text\[\]\)\)/, table: "GpuModel", key: "name", column: "gpuModelId" },
  { re: /o\."providerId" IN \(SELECT id FROM "Provider" WHERE slug = ANY\(\$(\d+)::text\[\]\)\)/, table: "Provider", key: "slug", column: "providerId" },
];
async function idsAndEquality(pool: pg.Pool, q: CapturedSql): Promise<CapturedSql> {
  let sql = q.sql;
  const params = [...q.params];
  for (const l of NAME_LOOKUPS) {
    const m = l.re.exec(sql);
    if (!m) continue;
    const i = Number(m[1]) - 1;
    const { rows } = await pool.query<{ id: number }>(`SELECT id FROM "${l.table}" WHERE ${l.key} = ANY($1::text[])`, [params[i]]);
    const one = rows.length === 1;
    sql = sql.replace(m[0], `o."${l.column}" ${one ? `= $${i + 1}::int` : `= ANY($${i + 1}::int[])`}`);
    params[i] = one ? rows[0]!.id : rows.map((r) => r.id);
  }
  sql = sql.replace(/o\."region" = ANY\(\$(\d+)::text\[\]\)/, (all, n: string) => {
    const values = params[Number(n) - 1] as string[];
    if (values.length !== 1) return all;
    params[Number(n) - 1] = values[0];
    return `o."region" = $${n}::text`;
  });
  return { sql, params };
}

// Proposal P3 as SQL: with a gpuModels filter, take the first page of each model from the
// (gpuModelId, active, pricePerGpuHour, id) index and merge them, whatever the planner thinks of price/model correlation.
async function pagePerModel(pool: pg.Pool, q: CapturedSql): Promise<CapturedSql> {
  const page = /^\s*SELECT o\.\* FROM "GpuOffer" o\s+WHERE (.*)\s+ORDER BY (.*?)\s+LIMIT (\$\d+)\s*$/s.exec(q.sql);
  const model = NAME_LOOKUPS[0]!.re.exec(q.sql);
  if (!page || !model) throw new Error(`P3 applies to a page query with a gpuModels filter, not: ${q.sql}`);
  const [, where, orderBy, limit] = page as unknown as [string, string, string, string];
  const i = Number(model[1]) - 1;
  const { rows } = await pool.query<{ id: number }>(`SELECT id FROM "GpuModel" WHERE name = ANY($1::text[])`, [q.params[i]]);
  const params = [...q.params];
  params[i] = rows.map((r) => r.id);
  return {
    sql: `SELECT o.* FROM unnest($${i + 1}::int[]) AS m(id) CROSS JOIN LATERAL (
      SELECT * FROM "GpuOffer" o WHERE ${where.replace(model[0], `o."gpuModelId" = m.id`)} ORDER BY ${orderBy} LIMIT ${limit}) o
    ORDER BY ${orderBy} LIMIT ${limit}`,
    params,
  };
}

interface Proposal {
  key: string;
  change: string;
  /** Diagnostics may change the result; proposals must not (checked). */
  diagnostic?: boolean;
  cases: string[];
  /** Run before, undone after (indexes are dropped again). */
  ddl?: { create: string; drop: string };
  /** Session settings for the measured statements. */
  session?: string;
  rewrite?: (q: CapturedSql) => CapturedSql | Promise<CapturedSql>;
}

const proposals = (pool: pg.Pool): Proposal[] => {
  const p2 = { create: `CREATE INDEX bench_p2 ON "GpuOffer" ("providerId", region, active, "onDemandPrice", id)`, drop: "DROP INDEX bench_p2" };
  return [
    { key: "P1", change: "filter by ids: gpuModelId/providerId = $id (ANY($ids) only for several), region = $r for one region",
      cases: ["b", "b2", "b3", "c", "c2", "d", "e", "e2"], rewrite: (q) => idsAndEquality(pool, q) },
    { key: "P2 alone", change: `index ("providerId", region, active, "onDemandPrice", id), SQL unchanged`, cases: ["c", "c2"], ddl: p2 },
    { key: "P2 + P1", change: `index ("providerId", region, active, "onDemandPrice", id) with P1's SQL`, cases: ["c", "c2"], ddl: p2,
      rewrite: (q) => idsAndEquality(pool, q) },
    { key: "P3", change: "gpuModels filter: first page per model (LATERAL over model ids, existing index), then merge",
      cases: ["b", "b2", "b3", "d"], rewrite: (q) => pagePerModel(pool, q) },
    { key: "F1", change: "diagnostic: facets with work_mem = 32MB (the sort no longer spills to disk)", cases: ["f"], diagnostic: true,
      session: "SET work_mem = '32MB'" },
    { key: "F2", change: "diagnostic: facets without the median (the cost of percentile_cont)", cases: ["f"], diagnostic: true,
      rewrite: (q) => ({ ...q, sql: q.sql.replace(/\(percentile_cont\(0\.5\)[^)]*\)\)::numeric\(12,4\)/, "NULL::numeric") }) },
  ];
};

async function indexStudy(bench: BenchDatabase, data: LoadSummary): Promise<void> {
  const { pool } = bench;
  const cases = await studyCases(bench, data);
  const before = new Map<string, ExplainResult>();
  for (const c of cases) {
    const r = await explain(pool, c.sql);
    before.set(c.key, r);
    console.log(`(${c.key}) ${c.title} — ${r.ms} ms\n${c.sql.sql.replace(/\s+/g, " ").trim()}\n  params ${JSON.stringify(c.sql.params)}\n${r.text}\n`);
  }
  console.log("EXPLAIN (ANALYZE, BUFFERS), median of 5 runs after a warm-up; buffers = shared blocks hit + read:\n");
  printTable(["case", "plan shape", "indexes used", "buffers", "ms"], cases.map((c) => {
    const r = before.get(c.key)!;
    return [`(${c.key}) ${c.title}`, r.shape, r.indexes.join(", ") || "none", r.buffers, r.ms];
  }));

  console.log("\nProposed changes, measured on the same data (indexes created for the test and dropped again;");
  console.log("every proposal returns exactly the rows of the original statement, checked):\n");
  const rows: (string | number)[][] = [];
  for (const p of proposals(pool)) {
    console.log(`  ${p.key.padEnd(8)} ${p.change}`);
    if (p.ddl) await pool.query(p.ddl.create);
    const client = await pool.connect();
    try {
      if (p.session) await client.query(p.session);
      for (const key of p.cases) {
        const c = cases.find((x) => x.key === key)!;
        const sql = p.rewrite ? await p.rewrite(c.sql) : c.sql;
        if (!p.diagnostic) {
          const [want, got] = [await client.query(c.sql.sql, c.sql.params), await client.query(sql.sql, sql.params)];
          if (JSON.stringify(want.rows) !== JSON.stringify(got.rows)) throw new Error(`${p.key} changes the result of (${key}):\n${sql.sql}`);
        }
        const after = await explain(client, sql);
        rows.push([p.key, `(${key})`, before.get(key)!.ms, after.ms, after.shape]);
      }
    } finally {
      await client.query("RESET ALL");
      client.release();
      if (p.ddl) await pool.query(p.ddl.drop);
    }
  }
  console.log("");
  printTable(["change", "case", "before ms", "after ms", "plan after"], rows);
}
