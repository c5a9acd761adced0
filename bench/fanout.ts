// `npm run bench -- fanout [--profile]`
//   N WebSocket subscribers on `priceTicks` while this process writes ticks at a fixed rate the way
//   ingestion does: each in a PostgreSQL transaction to the event log's "market" stream (the outbox), then
//   a kick, whose relay adds it to the stream's Redis Stream. GPUBroker (graphql-yoga + graphql-ws and its
//   event log reading that Redis Stream, in a child process) against a bare `ws` server (child process too)
//   that reads the same Redis Stream and sends the same graphql-ws `next` frames. By default the
//   subscribers use a realistic mix of filters (lib/fanout-mix.ts: model / provider / region / max price,
//   some identical, some unique), which the baseline applies by hand; each client's frames are counted
//   against what its filter should get. Then the same with two servers of each kind behind the same Redis.
//   --profile: also a V8 CPU profile of each single server's measured window (self time per package and function).
// Env: BENCH_SUBSCRIBERS (1000,5000,10000), BENCH_TWO_NODES (5000: subscribers per server in the two-server
//      phase; 0 skips it), BENCH_MIX (realistic | none: every client without a filter), BENCH_TICK_RATE
//      (20 ticks/s), BENCH_DURATION (10 s), BENCH_WARMUP (2 s of ticks first, then drained), BENCH_DRAIN
//      (10 s at most after the last tick), BENCH_CLIENTS (thread: the subscribers in a worker thread of this
//      process | inline: on the publisher's event loop), REDIS_URL (redis://127.0.0.1:6379), BENCH_DATABASE_URL
//      (admin URL, see lib/database.ts).
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import { priceTick } from "./lib/price-ticks.ts";
import { appendEvents, createEventLog, type EventLog } from "../src/infra/event-log.ts";
import type { PrismaClient } from "../src/generated/prisma/client.ts";
import type { PriceTick } from "../src/infra/pubsub-types.ts";
import { withBenchDatabase, type BenchDatabase } from "./lib/database.ts";
import { fileDescriptorLimit, FleetError, openFleet, percentile, type Fleet } from "./lib/fanout-clients.ts";
import { clientFilters, MIX_MODELS, MIX_PROVIDERS, MIX_REGIONS, probePlaces, tickPlace, wants, type MixFilter } from "./lib/fanout-mix.ts";
import { summarizeProfile } from "./lib/fanout-profile.ts";
import type { FanoutCommand, FanoutReply, HeapMemory, LoopDelay, ServerKind } from "./lib/fanout-server.ts";
import { tableText, writeResults, type Curve, type GoalResult } from "./lib/results.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const SERVER_ENTRY = fileURLToPath(new URL("./lib/fanout-server.ts", import.meta.url));
/** Issue 16's goals, at the largest N (10,000). */
const GOAL = { p99Ms: 250, msgsRatio: 0.8, cpuRatio: 1.5 };
/** Descriptors a process needs besides its sockets (stdio, Redis, PostgreSQL, node internals). */
const SPARE_FDS = 200;

const TICK_FIELDS = `offerId provider gpuModel region gpuCount kind
  oldOnDemandPrice newOnDemandPrice oldSpotPrice newSpotPrice oldAvailability newAvailability pricePerGpuHour changePercent at`;
const PRICE_TICKS = /* GraphQL */ `subscription ($filter: PriceTickFilter) { priceTicks(filter: $filter) { ${TICK_FIELDS} } }`;

interface Options {
  subscribers: number[];
  /** Subscribers per server in the two-server phase (0: none). */
  twoNodes: number;
  mix: boolean;
  rate: number;
  duration: number;
  warmup: number;
  drain: number;
  redisUrl: string;
  profile: boolean;
  /** The subscribers in a worker thread (default) or on this thread's event loop. */
  clientThread: boolean;
}

function optionsFromEnv(args: string[]): Options {
  const num = (name: string, fallback: number) => {
    const value = Number(process.env[name] ?? fallback);
    if (!(value >= 0)) throw new Error(`${name} must be a non-negative number (got ${process.env[name]})`);
    return value;
  };
  const subscribers = (process.env.BENCH_SUBSCRIBERS ?? "1000,5000,10000").split(",").map((s) => Number(s.trim()));
  if (!subscribers.every((n) => Number.isInteger(n) && n > 0)) throw new Error(`BENCH_SUBSCRIBERS must be positive integers, e.g. "1000,5000,10000"`);
  const rate = num("BENCH_TICK_RATE", 20);
  if (!(rate > 0) || rate > 1000) throw new Error("BENCH_TICK_RATE must be in (0, 1000] ticks/s");
  const mix = process.env.BENCH_MIX ?? "realistic";
  if (mix !== "realistic" && mix !== "none") throw new Error(`BENCH_MIX must be "realistic" or "none" (got ${mix})`);
  const clients = process.env.BENCH_CLIENTS ?? "thread";
  if (clients !== "thread" && clients !== "inline") throw new Error(`BENCH_CLIENTS must be "thread" or "inline" (got ${clients})`);
  const twoNodes = num("BENCH_TWO_NODES", 5000);
  if (!Number.isInteger(twoNodes)) throw new Error("BENCH_TWO_NODES must be a whole number of subscribers per server (0: skip)");
  return {
    subscribers, twoNodes, mix: mix === "realistic", rate, duration: num("BENCH_DURATION", 10), warmup: num("BENCH_WARMUP", 2), drain: num("BENCH_DRAIN", 10),
    redisUrl: process.env.REDIS_URL ?? "redis://127.0.0.1:6379", profile: args.includes("--profile"),
    clientThread: clients === "thread",
  };
}

// ---------------------------------------------------------------- ticks

const PROBE_AT = "2026-11-26T10:00:00.000Z";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The bench database's ids of the mix's GPU models and providers (the ticks carry them, as ingestion's do). */
interface Catalog { modelIds: number[]; providerIds: number[] }

async function seedCatalog(prisma: PrismaClient): Promise<Catalog> {
  await prisma.gpuModel.createMany({ data: MIX_MODELS.map((m) => ({ ...m })), skipDuplicates: true });
  await prisma.provider.createMany({ data: MIX_PROVIDERS.map((p) => ({ ...p })), skipDuplicates: true });
  const models = new Map((await prisma.gpuModel.findMany()).map((m) => [m.name, m.id]));
  const providers = new Map((await prisma.provider.findMany()).map((p) => [p.slug, p.id]));
  return { modelIds: MIX_MODELS.map((m) => models.get(m.name)!), providerIds: MIX_PROVIDERS.map((p) => providers.get(p.slug)!) };
}

/** A tick listed at a place of the mix's catalog. */
function placed(tick: PriceTick, place: { model: number; provider: number; region: number }, catalog: Catalog): PriceTick {
  return {
    ...tick, gpuModel: MIX_MODELS[place.model]!.name, gpuModelId: catalog.modelIds[place.model]!,
    provider: MIX_PROVIDERS[place.provider]!.slug, providerId: catalog.providerIds[place.provider]!, region: MIX_REGIONS[place.region]!,
  };
}

/** Tick `seq`: a realistic repricing, spread over the catalog when the mix is on (the H100 / runpod / US-TX-3 of price-ticks.ts otherwise). */
function benchTick(seq: number, at: string, o: Options, catalog: Catalog): PriceTick {
  const tick = priceTick(seq, at);
  return o.mix ? placed(tick, tickPlace(seq), catalog) : { ...tick, providerId: catalog.providerIds[0]!, gpuModelId: catalog.modelIds[0]! };
}

/** The probe: one tick every client's filter wants (every place of the catalog with the mix, cheap enough for every max price). */
function probeTicks(o: Options, catalog: Catalog): PriceTick[] {
  const base = { ...priceTick(0, PROBE_AT), gpuCount: 1, oldOnDemandPrice: "1.2000", newOnDemandPrice: "1.0000", pricePerGpuHour: "1.0000", changePercent: -16.67 };
  if (!o.mix) return [benchTick(0, PROBE_AT, o, catalog)];
  return probePlaces().map((place, j) => placed({ ...base, offerId: 999_000 + j }, place, catalog));
}

/** Frames each client must get for these ticks. */
function expectedPerClient(filters: (MixFilter | null)[], ticks: PriceTick[]): Uint32Array {
  const out = new Uint32Array(filters.length);
  filters.forEach((f, i) => { out[i] = ticks.reduce((n, t) => n + (wants(f, t) ? 1 : 0), 0); });
  return out;
}
const sum = (a: Uint32Array) => a.reduce((n, v) => n + v, 0);

/** Writes ticks as an import does: one transaction on the "market" stream each, then a kick (this process's relay adds them to Redis). */
function tickWriter(prisma: PrismaClient, events: EventLog) {
  return async (ticks: PriceTick[]): Promise<void> => {
    // Generous waits: with thousands of clients in this process the event loop is busy, and a late tick is measured as such.
    await prisma.$transaction((tx) => appendEvents(tx, "market", ticks), { maxWait: 30_000, timeout: 30_000 });
    events.kick();
  };
}
type WriteTicks = ReturnType<typeof tickWriter>;

/** Writes `count` ticks at `rate`/s on a fixed schedule (a late tick does not shift the next ones). */
async function publishTicks(write: WriteTicks, make: (seq: number, at: string) => PriceTick, rate: number, count: number, firstSeq: number) {
  const interval = 1000 / rate;
  const start = performance.now();
  const pending: Promise<void>[] = [];
  let maxLateMs = 0;
  for (let i = 0; i < count; i++) {
    const due = start + i * interval;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    maxLateMs = Math.max(maxLateMs, performance.now() - due);
    pending.push(write([make(firstSeq + i, new Date().toISOString())]));
  }
  await Promise.all(pending);
  return { maxLateMs, lastPublishedMs: Date.now() };
}

async function until(check: () => boolean | Promise<boolean>, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) return false;
    await sleep(20);
  }
  return true;
}

// ---------------------------------------------------------------- /proc: the server's CPU time and RSS

const CLOCK_TICKS = (() => {
  try { return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100; } catch { return 100; }
})();

/** utime + stime of a process, in ms (from /proc/<pid>/stat; the name field may contain spaces). */
function cpuMsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return ((Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS) * 1000;
}

/** Write syscalls (write, writev, sendmsg …) a process has made, from /proc/<pid>/io: frames per syscall show how well writes coalesce. */
function writeCallsOf(pid: number): number {
  try {
    return Number(/^syscw:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/io`, "utf8"))?.[1] ?? NaN);
  } catch {
    return NaN;
  }
}

/** VmRSS (now) and VmHWM (the peak over the process's life) in bytes, from /proc/<pid>/status. */
function rssOf(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? NaN) * 1024;
  return { rss: kb("VmRSS"), peak: kb("VmHWM") };
}

// ---------------------------------------------------------------- server child

interface ChildServer {
  pid: number;
  port: number;
  request(cmd: FanoutCommand["cmd"], timeoutMs?: number): Promise<Extract<FanoutReply, { type: "reply" }>>;
  stop(): Promise<void>;
}

async function startChild(kind: ServerKind, env: Record<string, string>): Promise<ChildServer> {
  const child: ChildProcess = spawn(process.execPath, ["--expose-gc", "--import", "tsx", SERVER_ENTRY, kind], {
    cwd: ROOT, env: { ...process.env, LOG_LEVEL: "silent", NODE_ENV: "production", ...env }, stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  let next = 0;
  const pending = new Map<number, (reply: Extract<FanoutReply, { type: "reply" }>) => void>();
  const exited = once(child, "exit");
  const ready = new Promise<Extract<FanoutReply, { type: "ready" }>>((resolve, reject) => {
    child.on("message", (m: FanoutReply) => {
      if (m.type === "ready") resolve(m);
      else pending.get(m.id)?.(m);
    });
    void exited.then(([code, signal]) => reject(new Error(`${kind} server exited (${code ?? signal}) before it was ready`)));
    setTimeout(() => reject(new Error(`${kind} server not ready after 60 s`)), 60_000).unref();
  });
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    if (child.connected) child.send({ id: next++, cmd: "exit" } satisfies FanoutCommand);
    const killer = setTimeout(() => child.kill("SIGKILL"), 15_000);
    await exited;
    clearTimeout(killer);
  };
  try {
    const { port } = await ready;
    return {
      pid: child.pid!, port, stop,
      request: (cmd, timeoutMs = 30_000) => new Promise((resolve, reject) => {
        const id = next++;
        const timer = setTimeout(() => { pending.delete(id); reject(new Error(`${kind} server did not answer "${cmd}" in ${timeoutMs / 1000} s`)); }, timeoutMs);
        pending.set(id, (reply) => { clearTimeout(timer); pending.delete(id); resolve(reply); });
        child.send({ id, cmd } satisfies FanoutCommand);
      }),
    };
  } catch (err) {
    child.kill("SIGKILL");
    throw err;
  }
}

// ---------------------------------------------------------------- one kind of server, N subscribers over 1 or 2 servers

interface PhaseResult {
  kind: ServerKind;
  subscribers: number;
  nodes: number;
  skipped?: string;
  openSeconds?: number;
  frame?: string;
  expected?: number;
  /** Frames of the measured ticks. */
  delivered?: number;
  /** Clients that got another number of measured frames than their filter asks for. */
  wrongClients?: number;
  /** Every frame received in the window (with any backlog of warm-up ticks). */
  frames?: number;
  msgsPerSec?: number;
  p50?: number;
  p99?: number;
  max?: number;
  /** Server CPU time (user + sys, all servers of the phase) and wall time of the window. */
  cpuMs?: number;
  wallMs?: number;
  /** Write syscalls of the server(s) in the window (NaN where /proc/<pid>/io is unreadable). */
  writeCalls?: number;
  idleRssBytes?: number;
  peakRssBytes?: number;
  /** Per subscriber, idle (subscribed, between events), after a full GC: V8 heap + external, and RSS. */
  heapPerSubscriber?: number;
  rssPerSubscriber?: number;
  /** The worst server's; undefined when one did not answer in time: its event loop was blocked longer. */
  loop?: LoopDelay;
  loopTimeoutMs?: number;
  loadBefore?: number;
  benchCpuPercent?: number;
  /** CPU time of the clients' thread over the window: % of a core, and µs per frame received. */
  clientCpuPercent?: number;
  clientCpuPerFrame?: number;
  /** The clients' event-loop delay p99 over the window (how late a readable socket may have been read). */
  clientLoopP99?: number;
  publishLateMs?: number;
  warmupDrained?: boolean;
  problems?: string[];
  profile?: string;
}

const kindName = (kind: ServerKind) => (kind === "gpubroker" ? "GPUBroker" : "baseline");
const sizeName = (r: { subscribers: number; nodes: number }) => (r.nodes > 1 ? `${r.nodes} × ${r.subscribers / r.nodes}` : String(r.subscribers));

async function phase(kind: ServerKind, n: number, nodes: number, o: Options, bench: BenchDatabase, catalog: Catalog, prefix: string, profileDir?: string): Promise<PhaseResult> {
  const label = `${kindName(kind)} × ${n}${nodes > 1 ? ` on ${nodes} servers` : ""}`;
  const profile = profileDir && nodes === 1 ? join(profileDir, `${kind}-${n}.cpuprofile`) : undefined;
  const children = await Promise.all(Array.from({ length: nodes }, () => startChild(kind, {
    REDIS_URL: o.redisUrl, FANOUT_PREFIX: prefix, DATABASE_URL: bench.url, FANOUT_MIX: o.mix ? "1" : "0", ...(profile ? { FANOUT_CPU_PROFILE: profile } : {}),
  })));
  // The writer's event log: its relay moves what this process commits to the phase's Redis Stream at once.
  const events = createEventLog({ prisma: bench.db.prisma, redisUrl: o.redisUrl, prefix });
  const write = tickWriter(bench.db.prisma, events);
  const make = (seq: number, at: string) => benchTick(seq, at, o, catalog);
  const filters = clientFilters(n, o.mix);
  const memory = async () => (await Promise.all(children.map((c) => c.request("memory", 60_000)))).map((r) => r.memory!)
    .reduce<HeapMemory>((a, m) => ({ heap: a.heap + m.heap, rss: a.rss + m.rss }), { heap: 0, rss: 0 });
  const idleRssBytes = children.reduce((a, c) => a + rssOf(c.pid).rss, 0);
  const memoryBefore = await memory();
  let fleet: Fleet | undefined;
  try {
    const opening = performance.now();
    fleet = await openFleet({
      url: (i) => `ws://127.0.0.1:${children[i % nodes]!.port}/graphql${kind === "baseline" ? `?client=${i}` : ""}`,
      count: n, protocol: kind === "gpubroker" ? "graphql-ws" : "plain", query: PRICE_TICKS,
      variables: (i) => (filters[i] ? { filter: filters[i] } : undefined), thread: o.clientThread,
    });
    // GPUBroker shares one event-log subscription per group of identical streams, so each server reports ≥ 1;
    // that every client is live is proven by the probe below.
    const counts = async () => Promise.all(children.map(async (c) => (await c.request("subscribers")).subscribers ?? 0));
    const subscribed = await until(async () => {
      const live = await counts();
      return kind === "gpubroker" ? live.every((c) => c >= 1) : live.reduce((a, c) => a + c, 0) >= n;
    }, 120_000);
    if (!subscribed) throw new Error(`${label}: the servers report ${(await counts()).join(" + ")} live subscriptions`);
    const openSeconds = (performance.now() - opening) / 1000;
    const clients = fleet;

    // Probe ticks that every client must receive: every subscription works end to end; client 0's first frame
    // is compared across servers. Written again every 3 s until every client has one: subscriptions may still be joining.
    const probe = probeTicks(o, catalog);
    await write(probe);
    const probing = setInterval(() => { write(probe).catch(() => {}); }, 3000); // a failure shows in the awaited one
    const probed = await until(() => clients.perClient.every((c) => c >= 1), 120_000);
    clearInterval(probing);
    if (!probed) {
      const missing = clients.perClient.filter((c) => c === 0).length;
      throw new Error(`${label}: ${missing} clients never received a probe tick. ${clients.stats().problems.join("; ")}`);
    }
    const frame = clients.firstFrame();
    // Settled: no frame for 1 s. Then idle: every client subscribed, nothing in flight.
    for (let seen = -1; seen !== clients.total(); ) { seen = clients.total(); await sleep(1000); }
    const memoryIdle = await memory();

    // Warm-up (JIT, buffers), then let it drain so the measured window starts with empty queues.
    const warmupTicks = Math.round(o.warmup * o.rate);
    const warmExpected = sum(expectedPerClient(filters, Array.from({ length: warmupTicks }, (_, k) => make(1 + k, PROBE_AT))));
    const beforeWarmup = clients.total();
    await publishTicks(write, make, o.rate, warmupTicks, 1);
    const warmupDrained = await until(() => clients.total() >= beforeWarmup + warmExpected, o.drain * 1000);

    const ticks = Math.max(1, Math.round(o.duration * o.rate));
    const perClient = expectedPerClient(filters, Array.from({ length: ticks }, (_, k) => make(1 + warmupTicks + k, PROBE_AT)));
    const expected = sum(perClient);
    const loadBefore = loadavg()[0]!;
    await Promise.all(children.map((c) => c.request("measure")));
    const cpu = process.cpuUsage();
    const clientCpu = clients.cpuMs();
    const serverCpu = children.reduce((a, c) => a + cpuMsOf(c.pid), 0);
    const serverWrites = children.reduce((a, c) => a + writeCallsOf(c.pid), 0);
    const started = performance.now();
    const since = Date.now();
    clients.count(since);
    const published = await publishTicks(write, make, o.rate, ticks, 1 + warmupTicks);
    await until(() => clients.stats().delivered >= expected, o.drain * 1000);
    const cpuMs = children.reduce((a, c) => a + cpuMsOf(c.pid), 0) - serverCpu;
    const writeCalls = children.reduce((a, c) => a + writeCallsOf(c.pid), 0) - serverWrites;
    const wallMs = performance.now() - started;
    const benchCpu = process.cpuUsage(cpu);
    const clientCpuMs = clients.cpuMs() - clientCpu;
    const clientLoop = clients.loopDelay();
    const peakRssBytes = children.reduce((a, c) => a + rssOf(c.pid).peak, 0);
    const { delivered, frames, lastReceivedMs, histogram, problems } = clients.stats();
    let wrongClients = 0;
    for (let i = 0; i < n; i++) if (clients.measuredPerClient[i] !== perClient[i]) wrongClients++;
    // A server whose event loop is stuck in a backlog answers late or not at all; that is a result too.
    const loopTimeoutMs = profile ? 120_000 : 10_000;
    const loops = await Promise.all(children.map((c) => c.request("usage", loopTimeoutMs).then((r) => r.loop, () => undefined)));
    const loop = loops.every((l) => l) ? loops.reduce((a, l) => (l!.p99Ms > a!.p99Ms ? l : a)) : undefined;
    const windowSeconds = (Math.max(lastReceivedMs, published.lastPublishedMs) - since) / 1000;
    return {
      kind, subscribers: n, nodes, openSeconds, frame, expected, delivered, wrongClients, frames, msgsPerSec: frames / windowSeconds,
      p50: percentile(histogram, 50), p99: percentile(histogram, 99), max: percentile(histogram, 100),
      cpuMs, wallMs, writeCalls, idleRssBytes, peakRssBytes, loop, loopTimeoutMs, loadBefore,
      heapPerSubscriber: (memoryIdle.heap - memoryBefore.heap) / n, rssPerSubscriber: (memoryIdle.rss - memoryBefore.rss) / n,
      benchCpuPercent: ((benchCpu.user + benchCpu.system) / 1000 / wallMs) * 100,
      clientCpuPercent: (clientCpuMs / wallMs) * 100, clientCpuPerFrame: (clientCpuMs * 1000) / frames,
      clientLoopP99: clientLoop.p99Ms,
      publishLateMs: published.maxLateMs, warmupDrained, problems, profile: loop ? profile : undefined,
    };
  } catch (err) {
    if (err instanceof FleetError) return { kind, subscribers: n, nodes, skipped: err.message };
    throw err;
  } finally {
    await fleet?.close();
    await events.close();
    await Promise.all(children.map((c) => c.stop()));
  }
}

// ---------------------------------------------------------------- run

const mb = (bytes: number | undefined) => (bytes === undefined ? "" : (bytes / 2 ** 20).toFixed(0));
const kb = (bytes: number | undefined) => (bytes === undefined ? "" : (bytes / 1024).toFixed(1));
const blank = (n: number) => Array<string>(n).fill("");
const fixed = (v: number | undefined, digits = 0) => (v === undefined || Number.isNaN(v) ? "" : v.toFixed(digits));

/** Deletes every Redis key under the run's prefix (each phase's event stream, and anything else left). */
async function cleanRedis(url: string, prefix: string): Promise<number> {
  const redis = new Redis(url, { maxRetriesPerRequest: 2, lazyConnect: true });
  redis.on("error", () => {});
  try {
    await redis.connect();
    let cursor = "0";
    let removed = 0;
    do {
      const [nextCursor, keys] = await redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
      cursor = nextCursor;
      if (keys.length) removed += await redis.del(...keys);
    } while (cursor !== "0");
    return removed;
  } finally {
    redis.disconnect();
  }
}

export async function run(args: string[]): Promise<void> {
  const o = optionsFromEnv(args);
  const fds = fileDescriptorLimit();
  const sizes: { n: number; nodes: number }[] = [...o.subscribers.map((n) => ({ n, nodes: 1 })), ...(o.twoNodes ? [{ n: 2 * o.twoNodes, nodes: 2 }] : [])];
  const largest = Math.max(...sizes.map((s) => s.n));
  console.log(`File descriptors: ulimit -n ${fds.soft} (hard ${fds.hard}); this process needs about ${largest + SPARE_FDS} for ${largest} subscribers, each server its share.`);
  const runnable = sizes.filter((s) => s.n + SPARE_FDS <= fds.soft);
  for (const s of sizes.filter((s) => !runnable.includes(s))) {
    const want = Math.ceil((s.n + SPARE_FDS) / 1000) * 1000;
    console.log(`  ${s.n} subscribers cannot be opened with ulimit -n ${fds.soft}: ` + (fds.hard >= want
      ? `run \`ulimit -n ${want}\` in this shell and run again.`
      : `the hard limit (${fds.hard}) is below ${want} too: raise it (/etc/security/limits.conf, systemd LimitNOFILE, docker --ulimit nofile=${want}) and run again.`) +
      " Skipped.");
  }

  const profileDir = o.profile ? mkdtempSync(join(tmpdir(), "gpubroker-fanout-")) : undefined;
  const results: PhaseResult[] = [];
  try {
    await withBenchDatabase("gpubroker_bench_fanout", async (bench) => {
      const catalog = await seedCatalog(bench.db.prisma);
      console.log(`Database ${bench.name} (migrated; ${MIX_MODELS.length} GPU models and ${MIX_PROVIDERS.length} providers, no offers: ticks are written to its outbox). Redis ${o.redisUrl}, prefix ${bench.name}.`);
      console.log(`Ticks: ${o.rate}/s, ${o.warmup} s warm-up (drained), then ${o.duration} s measured (${Math.round(o.duration * o.rate)} ticks), ` +
        `≤ ${o.drain} s to drain. Subscription: priceTicks, 15 fields, ${o.mix ? "a realistic mix of filters (bench/lib/fanout-mix.ts)" : "no filter"}.` +
        `${o.profile ? " Single servers are profiled (V8 sampling, 0.5 ms): slower than unprofiled." : ""}\n`);
      try {
        for (const { n, nodes } of runnable) {
          for (const kind of ["baseline", "gpubroker"] as const) {
            process.stdout.write(`  ${kindName(kind)} × ${sizeName({ subscribers: n, nodes })} … `);
            const r = await phase(kind, n, nodes, o, bench, catalog, `${bench.name}:${kind}:${n}:${nodes}`, profileDir);
            results.push(r);
            console.log(r.skipped ? `skipped: ${r.skipped}` :
              `opened in ${fixed(r.openSeconds, 1)} s, ${r.delivered}/${r.expected} delivered${r.wrongClients ? ` (${r.wrongClients} clients got another count than their filter asks for)` : ""}` +
              `${r.warmupDrained ? "" : " (warm-up had not drained)"}${r.problems?.length ? `; problems: ${r.problems.join("; ")}` : ""}`);
          }
        }
      } finally {
        const removed = await cleanRedis(o.redisUrl, bench.name);
        if (removed) console.log(`Removed ${removed} Redis keys under ${bench.name}.`);
      }
    });
    report(results, o);
  } finally {
    if (profileDir) rmSync(profileDir, { recursive: true, force: true });
  }
}

function report(results: PhaseResult[], o: Options): void {
  const done = results.filter((r) => !r.skipped);
  const frames = new Set(done.map((r) => r.frame));
  console.log(frames.size === 1
    ? `\nEvery server sent the same bytes for the first tick (${Buffer.byteLength([...frames][0] ?? "")} B frame):\n  ${[...frames][0]}\n`
    : `\nWARNING: the servers' frames differ:\n${done.map((r) => `  ${r.kind} × ${sizeName(r)}: ${r.frame}`).join("\n")}\n`);

  const cost = (r: PhaseResult) => (r.cpuMs! * 1000) / r.frames!;
  const pairOf = (r: PhaseResult) => results.filter((x) => x.subscribers === r.subscribers && x.nodes === r.nodes);
  const rows: (string | number)[][] = [];
  for (const size of [...new Set(results.map((r) => sizeName(r)))]) {
    const pair = results.filter((r) => sizeName(r) === size);
    for (const r of pair) {
      if (r.skipped) { rows.push([size, kindName(r.kind), "skipped", ...blank(20)]); continue; }
      const missing = r.expected! - r.delivered!;
      const atLeast = missing ? "≥" : "";
      rows.push([size, kindName(r.kind), fixed(r.msgsPerSec), r.expected!, r.delivered!, missing, r.wrongClients!, `${atLeast}${r.p50}`, `${atLeast}${r.p99}`, `${atLeast}${r.max}`,
        fixed((r.cpuMs! / r.wallMs!) * 100), fixed(cost(r), 1), fixed(r.frames! / r.writeCalls!, 2), kb(r.heapPerSubscriber), kb(r.rssPerSubscriber), mb(r.idleRssBytes), mb(r.peakRssBytes),
        r.loop ? fixed(r.loop.p99Ms) : `>${r.loopTimeoutMs! / 1000} s`, fixed(r.benchCpuPercent), fixed(r.clientCpuPercent), fixed(r.clientCpuPerFrame, 1), fixed(r.clientLoopP99), r.loadBefore!.toFixed(1)]);
    }
    const [b, g] = [pair.find((r) => r.kind === "baseline" && !r.skipped), pair.find((r) => r.kind === "gpubroker" && !r.skipped)];
    if (b?.msgsPerSec && g?.msgsPerSec) rows.push([size, "ratio GPUBroker/baseline", (g.msgsPerSec / b.msgsPerSec).toFixed(2), ...blank(8), (cost(g) / cost(b)).toFixed(2), ...blank(11)]);
  }
  const table = tableText(["subscribers", "server", "delivered msg/s", "expected", "delivered", "missing", "wrong clients", "p50 ms", "p99 ms", "max ms",
    "server CPU %", "CPU µs/msg", "frames/write", "idle heap KB/sub", "idle RSS KB/sub", "RSS idle MB", "RSS peak MB", "loop p99 ms", "bench CPU %", "clients CPU %", "client µs/msg", "clients loop p99 ms", "load"], rows);
  console.log(table);
  const notes = [
    `delivered msg/s: frames received ÷ seconds from the first measured publish to the last receipt (at most ${o.drain} s`,
    `after the last publish); it includes frames of warm-up ticks still queued, if any. expected: the frames the clients' filters`,
    `ask for (bench/lib/fanout-mix.ts: ${o.mix ? "a realistic mix" : "no filter"}); delivered / missing: frames of the measured ticks received / not received by then`,
    `("≥": the latencies of missing frames are not in the percentiles); wrong clients: clients whose count differs from their filter's.`,
    `Latency: receipt (Date.now() on the clients' ${o.clientThread ? "thread" : "event loop"} when it reads the frame) − the tick's \`at\` (Date.now() before its write), ms.`,
    `server CPU %: user+sys of the server process(es) over the window (/proc/<pid>/stat; 100 = one core); CPU µs/msg: that`,
    `CPU time ÷ delivered frames (the ratio row: GPUBroker's cost per frame ÷ the baseline's); frames/write: those frames ÷ the server's`,
    `write syscalls in the window (/proc/<pid>/io syscw; above 1 when a socket's frames go out together). idle heap / RSS per sub: V8 heap +`,
    `external (and RSS) after a full GC with every client subscribed and nothing in flight, minus the same before the clients`,
    `connected, ÷ subscribers. RSS idle: VmRSS before the clients connect; RSS peak: VmHWM after the window (both summed over`,
    `servers). loop p99: the worst server's event-loop delay in the window (">10 s": it did not answer within 10 s). bench CPU %:`,
    `this process (publisher${o.clientThread ? " on the main thread + the clients' worker thread" : " + all clients, one thread"}); clients CPU %: the clients' thread`,
    `${o.clientThread ? "alone" : "(inline: the main thread, publisher included)"} (/proc/self/task/<tid>/stat), client µs/msg: its CPU time ÷ frames received; clients loop p99: its`,
    `event-loop delay in the window (how late a readable socket may have been read: the instrument's own share of the latency).`,
    `load: the machine's 1-min load average before the window (${cpus().length} CPUs).`,
  ];
  for (const line of notes) console.log(line);
  const late = done.filter((r) => r.publishLateMs! > 1000 / o.rate);
  if (late.length) {
    console.log(`Note: ticks went out late (this process's ${o.clientThread ? "main thread or the machine was busy" : "event loop was busy receiving"}; each tick carries its real publish time): ` +
      late.map((r) => `${kindName(r.kind)} × ${sizeName(r)} up to ${r.publishLateMs!.toFixed(0)} ms`).join(", ") + ".");
  }

  // Goals at the largest single-server N (10,000 by default).
  const single = done.filter((r) => r.nodes === 1);
  const top = Math.max(...single.filter((r) => r.kind === "gpubroker").map((r) => r.subscribers), 0);
  const g = single.find((r) => r.kind === "gpubroker" && r.subscribers === top);
  const b = single.find((r) => r.kind === "baseline" && r.subscribers === top);
  const at = top >= 1000 ? `${top / 1000}k` : String(top);
  const goals: GoalResult[] = [];
  if (g) {
    const lossless = g.delivered === g.expected && !g.wrongClients;
    goals.push({ metric: `delivered frames at ${at}`, value: (100 * g.delivered!) / g.expected!, unit: "%", goal: "100 %", met: lossless, note: g.wrongClients ? `${g.wrongClients} clients got another count than their filter's` : undefined });
    goals.push({ metric: `p99 ms at ${at}`, value: g.p99!, unit: "ms", goal: `< ${GOAL.p99Ms}`, met: lossless && g.p99! < GOAL.p99Ms, note: lossless ? undefined : "missing frames are not in the percentile" });
    if (b) {
      goals.push({ metric: `msg/s ÷ raw ws at ${at}`, value: g.msgsPerSec! / b.msgsPerSec!, unit: "", goal: `≥ ${GOAL.msgsRatio}`, met: g.msgsPerSec! / b.msgsPerSec! >= GOAL.msgsRatio });
      goals.push({ metric: `CPU/frame ÷ raw ws at ${at}`, value: cost(g) / cost(b), unit: "", goal: `≤ ${GOAL.cpuRatio}`, met: cost(g) / cost(b) <= GOAL.cpuRatio, note: `${cost(g).toFixed(1)} µs vs ${cost(b).toFixed(1)} µs` });
    }
    goals.push({ metric: "memory per idle subscriber", value: g.heapPerSubscriber! / 1024, unit: "KB", goal: "report", met: null, note: `V8 heap + external after GC; RSS ${kb(g.rssPerSubscriber)} KB; raw ws: ${kb(b?.heapPerSubscriber)} KB heap, ${kb(b?.rssPerSubscriber)} KB RSS` });
  }
  const two = done.find((r) => r.kind === "gpubroker" && r.nodes === 2);
  if (two) {
    goals.push({ metric: `delivered frames at ${sizeName(two)} (two servers)`, value: (100 * two.delivered!) / two.expected!, unit: "%", goal: "100 %", met: two.delivered === two.expected && !two.wrongClients });
    goals.push({ metric: `p99 ms at ${sizeName(two)} (two servers)`, value: two.p99!, unit: "ms", goal: `< ${GOAL.p99Ms}`, met: two.delivered === two.expected && two.p99! < GOAL.p99Ms });
  }
  const goalTable = tableText(["metric", "value", "goal", "met", "note"], goals.map((x) => [x.metric, `${fixed(x.value, x.value < 10 ? 2 : 1)} ${x.unit}`, x.goal, x.met === null ? "–" : x.met ? "met" : "NOT met", x.note ?? ""]));
  console.log(`\nGoals (issue 16, at ${at} subscribers on one server unless stated):\n${goalTable}`);

  const series = (kind: ServerKind, nodes: number, y: (r: PhaseResult) => number) => ({
    label: `${kindName(kind)}${nodes > 1 ? `, ${nodes} servers` : ""}`,
    points: done.filter((r) => r.kind === kind && r.nodes === nodes && (r.delivered === r.expected || kind === "gpubroker")).map((r) => [r.subscribers, y(r)] as [number, number]),
  });
  const ratio = (nodes: number, y: (g: PhaseResult, b: PhaseResult) => number) => ({
    label: nodes > 1 ? `${nodes} servers` : "one server",
    points: done.filter((r) => r.kind === "gpubroker" && r.nodes === nodes).flatMap((r) => {
      const base = pairOf(r).find((x) => x.kind === "baseline" && !x.skipped);
      return base ? [[r.subscribers, y(r, base)] as [number, number]] : [];
    }),
  });
  const curves: Curve[] = [
    { id: "p99", title: `priceTicks fan-out: p99 latency (${o.rate} ticks/s)`, xLabel: "subscribers", yLabel: "p99 ms",
      series: [series("gpubroker", 1, (r) => r.p99!), series("baseline", 1, (r) => r.p99!), series("gpubroker", 2, (r) => r.p99!), series("baseline", 2, (r) => r.p99!)] },
    { id: "msgs-ratio", title: "priceTicks fan-out: delivered msg/s ÷ raw ws", xLabel: "subscribers", yLabel: "GPUBroker ÷ baseline",
      series: [ratio(1, (g, b) => g.msgsPerSec! / b.msgsPerSec!), ratio(2, (g, b) => g.msgsPerSec! / b.msgsPerSec!)] },
    { id: "cpu-per-frame", title: "priceTicks fan-out: server CPU per frame", xLabel: "subscribers", yLabel: "CPU µs per frame",
      series: [series("gpubroker", 1, cost), series("baseline", 1, cost), series("gpubroker", 2, cost), series("baseline", 2, cost)] },
  ].map((c) => ({ ...c, series: c.series.filter((s) => s.points.length) }));
  const markdown = [`Ticks ${o.rate}/s, ${o.duration} s measured; filters: ${o.mix ? "realistic mix" : "none"}.`, "```", table, "```", notes.join("\n"), "## Goals", "```", goalTable, "```"].join("\n\n");
  for (const path of writeResults({ bench: "fanout", goals, curves, markdown })) console.log(`wrote ${path}`);

  for (const r of done.filter((r) => r.profile)) {
    const p = summarizeProfile(r.profile!);
    console.log(`\n${kindName(r.kind)} × ${r.subscribers}: CPU profile of the measured window (${(p.sampledMs / 1000).toFixed(1)} s, ` +
      `idle ${p.idlePercent.toFixed(0)} %), self time as % of the busy samples\n`);
    console.log(tableText(["package / area", "% busy"], p.byPackage.map(([k, v]) => [k, v.toFixed(1)])));
    console.log("");
    console.log(tableText(["function", "area", "% busy"], p.byFunction.map(([k, a, v]) => [k, a, v.toFixed(1)])));
  }
}
