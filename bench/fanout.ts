// `npm run bench -- fanout [--profile]`
//   N WebSocket subscribers on `priceTicks` (no filter) while this process writes ticks at a fixed rate the
//   way ingestion does: each in a PostgreSQL transaction to the event log's "market" stream (the outbox),
//   then a kick, whose relay adds it to the stream's Redis Stream. GPUBroker (graphql-yoga + graphql-ws and
//   its event log reading that Redis Stream, in a child process) against a bare `ws` server (child process
//   too) that reads the same Redis Stream and sends the same graphql-ws `next` frames.
//   --profile: also a V8 CPU profile of each server's measured window (self time per package and function).
// Env: BENCH_SUBSCRIBERS (1000,5000), BENCH_TICK_RATE (20 ticks/s), BENCH_DURATION (10 s),
//      BENCH_WARMUP (2 s of ticks first, then drained), BENCH_DRAIN (10 s at most after the last tick),
//      REDIS_URL (redis://127.0.0.1:6379), BENCH_DATABASE_URL (admin URL, see lib/database.ts).
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
import { summarizeProfile } from "./lib/fanout-profile.ts";
import type { FanoutCommand, FanoutReply, LoopDelay, ServerKind } from "./lib/fanout-server.ts";
import { printTable } from "./lib/load.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const SERVER_ENTRY = fileURLToPath(new URL("./lib/fanout-server.ts", import.meta.url));
const TARGET = { ratio: 0.4, ratioAt: 1000, p99Ms: 250 };
/** Descriptors a process needs besides its sockets (stdio, Redis, PostgreSQL, node internals). */
const SPARE_FDS = 200;

const PRICE_TICKS = /* GraphQL */ `subscription { priceTicks { offerId provider gpuModel region gpuCount kind
  oldOnDemandPrice newOnDemandPrice oldSpotPrice newSpotPrice oldAvailability newAvailability pricePerGpuHour changePercent at } }`;

interface Options {
  subscribers: number[];
  rate: number;
  duration: number;
  warmup: number;
  drain: number;
  redisUrl: string;
  profile: boolean;
}

function optionsFromEnv(args: string[]): Options {
  const num = (name: string, fallback: number) => {
    const value = Number(process.env[name] ?? fallback);
    if (!(value >= 0)) throw new Error(`${name} must be a non-negative number (got ${process.env[name]})`);
    return value;
  };
  const subscribers = (process.env.BENCH_SUBSCRIBERS ?? "1000,5000").split(",").map((s) => Number(s.trim()));
  if (!subscribers.every((n) => Number.isInteger(n) && n > 0)) throw new Error(`BENCH_SUBSCRIBERS must be positive integers, e.g. "1000,5000"`);
  const rate = num("BENCH_TICK_RATE", 20);
  if (!(rate > 0) || rate > 1000) throw new Error("BENCH_TICK_RATE must be in (0, 1000] ticks/s");
  return {
    subscribers, rate, duration: num("BENCH_DURATION", 10), warmup: num("BENCH_WARMUP", 2), drain: num("BENCH_DRAIN", 10),
    redisUrl: process.env.REDIS_URL ?? "redis://127.0.0.1:6379", profile: args.includes("--profile"),
  };
}

// ---------------------------------------------------------------- ticks

const PROBE_AT = "2026-11-26T10:00:00.000Z";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Writes ticks as an import does: one transaction on the "market" stream each, then a kick (this process's relay adds them to Redis). */
function tickWriter(prisma: PrismaClient, events: EventLog) {
  return async (tick: PriceTick): Promise<void> => {
    await prisma.$transaction((tx) => appendEvents(tx, "market", [tick]));
    events.kick();
  };
}
type WriteTick = ReturnType<typeof tickWriter>;

/** Writes `count` ticks at `rate`/s on a fixed schedule (a late tick does not shift the next ones). */
async function publishTicks(write: WriteTick, rate: number, count: number, firstSeq: number) {
  const interval = 1000 / rate;
  const start = performance.now();
  const pending: Promise<void>[] = [];
  let maxLateMs = 0;
  for (let i = 0; i < count; i++) {
    const due = start + i * interval;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    maxLateMs = Math.max(maxLateMs, performance.now() - due);
    pending.push(write(priceTick(firstSeq + i, new Date().toISOString())));
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
  const child: ChildProcess = spawn(process.execPath, ["--import", "tsx", SERVER_ENTRY, kind], {
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

// ---------------------------------------------------------------- one server, one N

interface PhaseResult {
  kind: ServerKind;
  subscribers: number;
  skipped?: string;
  openSeconds?: number;
  frame?: string;
  expected?: number;
  /** Frames of the measured ticks. */
  delivered?: number;
  /** Every frame received in the window (with any backlog of warm-up ticks). */
  frames?: number;
  msgsPerSec?: number;
  p50?: number;
  p99?: number;
  max?: number;
  /** Server CPU time (user + sys) and wall time of the window. */
  cpuMs?: number;
  wallMs?: number;
  idleRssBytes?: number;
  peakRssBytes?: number;
  /** Undefined when the server did not answer in time: its event loop was blocked longer. */
  loop?: LoopDelay;
  loopTimeoutMs?: number;
  loadBefore?: number;
  benchCpuPercent?: number;
  publishLateMs?: number;
  warmupDrained?: boolean;
  problems?: string[];
  profile?: string;
}

async function phase(kind: ServerKind, n: number, o: Options, bench: BenchDatabase, prefix: string, profileDir?: string): Promise<PhaseResult> {
  const label = `${kind === "gpubroker" ? "GPUBroker" : "baseline"} × ${n}`;
  const profile = profileDir ? join(profileDir, `${kind}-${n}.cpuprofile`) : undefined;
  const child = await startChild(kind, {
    REDIS_URL: o.redisUrl, FANOUT_PREFIX: prefix, DATABASE_URL: bench.url, ...(profile ? { FANOUT_CPU_PROFILE: profile } : {}),
  });
  // The writer's event log: its relay moves what this process commits to the phase's Redis Stream at once.
  const events = createEventLog({ prisma: bench.db.prisma, redisUrl: o.redisUrl, prefix });
  const write = tickWriter(bench.db.prisma, events);
  const idleRssBytes = rssOf(child.pid).rss;
  let fleet: Fleet | undefined;
  try {
    const opening = performance.now();
    fleet = await openFleet({
      url: `ws://127.0.0.1:${child.port}/graphql`, count: n, protocol: kind === "gpubroker" ? "graphql-ws" : "plain", query: PRICE_TICKS,
    });
    // GPUBroker shares one upstream subscription among identical public streams, so it reports ≥ 1;
    // that every client is live is proven by the probe tick below.
    const wanted = kind === "gpubroker" ? 1 : n;
    const subscribed = await until(async () => ((await child.request("subscribers")).subscribers ?? 0) >= wanted, 60_000);
    if (!subscribed) throw new Error(`${label}: the server reports ${(await child.request("subscribers")).subscribers} live subscriptions, expected ${wanted === 1 ? "at least 1" : n}`);
    const openSeconds = (performance.now() - opening) / 1000;
    const clients = fleet;

    // One tick every client must receive: every subscription works end to end; its frame is compared across servers.
    // Repeated until every client has one: a subscription may still be joining when the first goes out.
    const probing = setInterval(() => { write(priceTick(0, PROBE_AT)).catch(() => {}); }, 250); // a failure shows in the awaited one
    await write(priceTick(0, PROBE_AT));
    const probed = await until(() => clients.perClient.every((c) => c >= 1), 30_000);
    clearInterval(probing);
    if (!probed) {
      const missing = clients.perClient.filter((c) => c === 0).length;
      throw new Error(`${label}: ${missing} clients never received the first tick. ${clients.stats().problems.join("; ")}`);
    }
    const frame = clients.firstFrame();

    // Warm-up (JIT, buffers), then let it drain so the measured window starts with empty queues.
    const warmupTicks = Math.round(o.warmup * o.rate);
    await publishTicks(write, o.rate, warmupTicks, 1);
    const warmupDrained = await until(() => clients.total() >= n * (1 + warmupTicks), o.drain * 1000);

    const ticks = Math.max(1, Math.round(o.duration * o.rate));
    const expected = ticks * n;
    const loadBefore = loadavg()[0]!;
    await child.request("measure");
    const cpu = process.cpuUsage();
    const serverCpu = cpuMsOf(child.pid);
    const started = performance.now();
    const since = Date.now();
    clients.count(since);
    const published = await publishTicks(write, o.rate, ticks, 1 + warmupTicks);
    await until(() => clients.stats().delivered >= expected, o.drain * 1000);
    const cpuMs = cpuMsOf(child.pid) - serverCpu;
    const wallMs = performance.now() - started;
    const benchCpu = process.cpuUsage(cpu);
    const peakRssBytes = rssOf(child.pid).peak;
    const { delivered, frames, lastReceivedMs, histogram, problems } = clients.stats();
    // A server whose event loop is stuck in a backlog answers late or not at all; that is a result too.
    const loopTimeoutMs = profile ? 120_000 : 10_000;
    const loop = await child.request("usage", loopTimeoutMs).then((r) => r.loop, () => undefined);
    const windowSeconds = (Math.max(lastReceivedMs, published.lastPublishedMs) - since) / 1000;
    return {
      kind, subscribers: n, openSeconds, frame, expected, delivered, frames, msgsPerSec: frames / windowSeconds,
      p50: percentile(histogram, 50), p99: percentile(histogram, 99), max: percentile(histogram, 100),
      cpuMs, wallMs, idleRssBytes, peakRssBytes, loop, loopTimeoutMs, loadBefore,
      benchCpuPercent: ((benchCpu.user + benchCpu.system) / 1000 / wallMs) * 100,
      publishLateMs: published.maxLateMs, warmupDrained, problems, profile: loop ? profile : undefined,
    };
  } catch (err) {
    if (err instanceof FleetError) return { kind, subscribers: n, skipped: err.message };
    throw err;
  } finally {
    await fleet?.close();
    await events.close();
    await child.stop();
  }
}

// ---------------------------------------------------------------- run

const mb = (bytes: number | undefined) => (bytes === undefined ? "" : (bytes / 2 ** 20).toFixed(0));
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
  const largest = Math.max(...o.subscribers);
  console.log(`File descriptors: ulimit -n ${fds.soft} (hard ${fds.hard}); each side of ${largest} subscribers needs about ${largest + SPARE_FDS}.`);
  const runnable = o.subscribers.filter((n) => n + SPARE_FDS <= fds.soft);
  for (const n of o.subscribers.filter((n) => !runnable.includes(n))) {
    const want = Math.ceil((n + SPARE_FDS) / 1000) * 1000;
    console.log(`  ${n} subscribers cannot be opened with ulimit -n ${fds.soft}: ` + (fds.hard >= want
      ? `run \`ulimit -n ${want}\` in this shell and run again.`
      : `the hard limit (${fds.hard}) is below ${want} too: raise it (/etc/security/limits.conf, systemd LimitNOFILE, docker --ulimit nofile=${want}) and run again.`) +
      " Skipped.");
  }

  const profileDir = o.profile ? mkdtempSync(join(tmpdir(), "gpubroker-fanout-")) : undefined;
  const results: PhaseResult[] = [];
  try {
    await withBenchDatabase("gpubroker_bench_fanout", async (bench) => {
      console.log(`Database ${bench.name} (migrated, empty: ticks are written to its outbox). Redis ${o.redisUrl}, prefix ${bench.name}.`);
      console.log(`Ticks: ${o.rate}/s, ${o.warmup} s warm-up (drained), then ${o.duration} s measured (${Math.round(o.duration * o.rate)} ticks), ` +
        `≤ ${o.drain} s to drain. Subscription: priceTicks without a filter, 15 fields.${o.profile ? " Both servers are profiled (V8 sampling, 0.5 ms): slower than unprofiled." : ""}\n`);
      try {
        for (const n of runnable) {
          for (const kind of ["baseline", "gpubroker"] as const) {
            process.stdout.write(`  ${kind === "gpubroker" ? "GPUBroker" : "baseline"} × ${n} … `);
            const r = await phase(kind, n, o, bench, `${bench.name}:${kind}:${n}`, profileDir);
            results.push(r);
            console.log(r.skipped ? `skipped: ${r.skipped}` :
              `opened in ${fixed(r.openSeconds, 1)} s, ${r.delivered}/${r.expected} delivered${r.warmupDrained ? "" : " (warm-up had not drained)"}` +
              `${r.problems?.length ? `; problems: ${r.problems.join("; ")}` : ""}`);
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
    : `\nWARNING: the servers' frames differ:\n${done.map((r) => `  ${r.kind} × ${r.subscribers}: ${r.frame}`).join("\n")}\n`);

  const rows: (string | number)[][] = [];
  for (const n of [...new Set(results.map((r) => r.subscribers))]) {
    const pair = results.filter((r) => r.subscribers === n);
    for (const r of pair) {
      const name = r.kind === "gpubroker" ? "GPUBroker" : "baseline";
      if (r.skipped) { rows.push([n, name, "skipped", ...blank(13)]); continue; }
      const missing = r.expected! - r.delivered!;
      const atLeast = missing ? "≥" : "";
      rows.push([n, name, fixed(r.msgsPerSec), r.expected!, r.delivered!, missing, `${atLeast}${r.p50}`, `${atLeast}${r.p99}`, `${atLeast}${r.max}`,
        fixed((r.cpuMs! / r.wallMs!) * 100), fixed((r.cpuMs! * 1000) / r.frames!, 1), mb(r.idleRssBytes), mb(r.peakRssBytes),
        r.loop ? fixed(r.loop.p99Ms) : `>${r.loopTimeoutMs! / 1000} s`, fixed(r.benchCpuPercent), r.loadBefore!.toFixed(1)]);
    }
    const [b, g] = [pair.find((r) => r.kind === "baseline"), pair.find((r) => r.kind === "gpubroker")];
    if (b?.msgsPerSec && g?.msgsPerSec) {
      const cost = (r: PhaseResult) => r.cpuMs! / r.frames!;
      rows.push([n, "ratio GPUBroker/baseline", (g.msgsPerSec / b.msgsPerSec).toFixed(2), ...blank(7), (cost(g) / cost(b)).toFixed(1), ...blank(5)]);
    }
  }
  printTable(["subscribers", "server", "delivered msg/s", "expected", "delivered", "missing", "p50 ms", "p99 ms", "max ms",
    "server CPU %", "CPU µs/msg", "RSS idle MB", "RSS peak MB", "loop p99 ms", "bench CPU %", "load"], rows);
  console.log(`\ndelivered msg/s: frames received ÷ seconds from the first measured publish to the last receipt (at most ${o.drain} s`);
  console.log(`after the last publish); it includes frames of warm-up ticks still queued, if any. delivered / missing: frames of the`);
  console.log(`measured ticks received / not received by then ("≥": the latencies of missing frames are not in the percentiles).`);
  console.log(`Latency: receipt (Date.now() in this process, at the 'message' event) − the tick's \`at\` (Date.now() before its write), ms.`);
  console.log(`server CPU %: user+sys of the server process over the window (/proc/<pid>/stat; 100 = one core); CPU µs/msg: that`);
  console.log(`CPU time ÷ delivered frames (the ratio row: GPUBroker's cost per frame ÷ the baseline's). RSS: VmRSS before the`);
  console.log(`clients connect, VmHWM (lifetime peak) after the window. loop p99: the server's event-loop delay in the window`);
  console.log(`(">10 s": it did not answer within 10 s). bench CPU %: this process (publisher + all clients). load: the machine's`);
  console.log(`1-min load average before the window (this benchmark's processes and anyone else's; ${cpus().length} CPUs).`);
  const late = done.filter((r) => r.publishLateMs! > 1000 / o.rate);
  if (late.length) {
    console.log(`Note: ticks went out late (this process was busy receiving; each tick carries its real publish time): ` +
      late.map((r) => `${r.kind === "gpubroker" ? "GPUBroker" : "baseline"} × ${r.subscribers} up to ${r.publishLateMs!.toFixed(0)} ms`).join(", ") + ".");
  }

  const target = (() => {
    const b = done.find((r) => r.kind === "baseline" && r.subscribers === TARGET.ratioAt);
    const g = done.find((r) => r.kind === "gpubroker" && r.subscribers === TARGET.ratioAt);
    if (!b || !g) return `not measured at ${TARGET.ratioAt} subscribers`;
    const ratio = g.msgsPerSec! / b.msgsPerSec!;
    const lossless = g.delivered === g.expected;
    const met = ratio >= TARGET.ratio && g.p99! < TARGET.p99Ms && lossless;
    return `${met ? "met" : "MISSED"} — ratio ${ratio.toFixed(2)} (≥ ${TARGET.ratio}), p99 ${g.p99} ms (< ${TARGET.p99Ms})${lossless ? "" : `, ${g.expected! - g.delivered!} missing`}`;
  })();
  console.log(`\nTarget at ${TARGET.ratioAt} subscribers (GPUBroker ≥ ${TARGET.ratio} × baseline msg/s, p99 < ${TARGET.p99Ms} ms): ${target}`);
  for (const r of done.filter((r) => r.kind === "gpubroker" && r.subscribers !== TARGET.ratioAt)) {
    console.log(`  (${r.subscribers} subscribers: p99 ${r.p99} ms${r.p99! < TARGET.p99Ms ? " < " : " ≥ "}${TARGET.p99Ms} ms${r.delivered === r.expected ? "" : `, ${r.expected! - r.delivered!} missing`})`);
  }

  for (const r of done.filter((r) => r.profile)) {
    const p = summarizeProfile(r.profile!);
    console.log(`\n${r.kind === "gpubroker" ? "GPUBroker" : "baseline"} × ${r.subscribers}: CPU profile of the measured window (${(p.sampledMs / 1000).toFixed(1)} s, ` +
      `idle ${p.idlePercent.toFixed(0)} %), self time as % of the busy samples\n`);
    printTable(["package / area", "% busy"], p.byPackage.map(([k, v]) => [k, v.toFixed(1)]));
    console.log("");
    printTable(["function", "area", "% busy"], p.byFunction.map(([k, a, v]) => [k, a, v.toFixed(1)]));
  }
}
