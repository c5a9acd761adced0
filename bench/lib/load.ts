// HTTP load with autocannon, run in a child process (./load-child.ts) so the load generator shares neither the
// event loop nor the CPU accounting of the servers under test (they run in this process).
import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import { context } from "@opentelemetry/api";
import { suppressTracing } from "@opentelemetry/core";
import type { LoadChildMessage, LoadJob } from "./load-child.ts";

export interface LoadOptions {
  connections: number;
  /** Seconds of measured load. */
  duration: number;
  /** Seconds of unmeasured load first (JIT, connection pools, PostgreSQL caches). */
  warmup: number;
  /**
   * And at least this many requests of it (within WARMUP_MAX_SECONDS): V8 optimises per-request code after some
   * thousands of calls, so a server's CPU per request falls for its first ~5,000 requests (GPUBroker's by ~35 %:
   * bench/README.md, "Warm-up"), whatever their rate. Seconds alone would warm a slow server less than a fast one.
   */
  warmupRequests: number;
}

/** The most a warm-up by request count runs (a server at 30 req/s would otherwise take minutes). */
export const WARMUP_MAX_SECONDS = 40;

export const loadOptionsFromEnv = (): LoadOptions => ({
  connections: Number(process.env.BENCH_CONNECTIONS ?? 20),
  duration: Number(process.env.BENCH_DURATION ?? 10),
  warmup: Number(process.env.BENCH_WARMUP ?? 3),
  warmupRequests: Number(process.env.BENCH_WARMUP_REQUESTS ?? 5000),
});

export interface LoadResult {
  label: string;
  requests: number;
  requestsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  /**
   * CPU time per request answered in the measured run: the server process's (`cpuMs` given: ./server-process.ts),
   * else this process's (every server in it, nothing of the client).
   */
  serverCpuMs: number;
}

/** A server to load: its URL and, when it runs in a process of its own, how to read that process's CPU time (ms). */
export interface LoadTarget { label: string; url: string; cpuMs?: () => Promise<number> }

const LOAD_CHILD = fileURLToPath(new URL("./load-child.ts", import.meta.url));

/** Runs autocannon in a child process; `cpuMs` is this process's CPU time from the child's start of load to its result. */
function fire(job: LoadJob): Promise<{ result: Extract<LoadChildMessage, { type: "done" }>; cpuMs: number }> {
  return new Promise((resolve, reject) => {
    // The parent's execArgv (tsx's loader) lets the child import TypeScript as the bench does.
    const child = fork(LOAD_CHILD, { stdio: ["ignore", "inherit", "inherit", "ipc"] });
    let cpu: NodeJS.CpuUsage | undefined;
    let done = false;
    child.on("message", (m: LoadChildMessage) => {
      if (m.type === "started") cpu = process.cpuUsage();
      else {
        const used = process.cpuUsage(cpu);
        done = true;
        resolve({ result: m, cpuMs: (used.user + used.system) / 1000 });
      }
    });
    child.on("error", reject);
    child.on("exit", (code) => { if (!done) reject(new Error(`the load generator exited with code ${code} before its result`)); });
    child.send(job);
  });
}

/** `o.warmup` seconds of load, then more in chunks of 1,000 requests until `o.warmupRequests` (or WARMUP_MAX_SECONDS). */
async function warmUp(url: string, body: string, o: LoadOptions): Promise<void> {
  const start = performance.now();
  let { result: { requests } } = await fire({ url, body, connections: o.connections, duration: o.warmup });
  while (requests < o.warmupRequests && performance.now() - start < WARMUP_MAX_SECONDS * 1000) {
    requests += (await fire({ url, body, connections: o.connections, duration: WARMUP_MAX_SECONDS, amount: Math.max(o.connections, Math.min(1000, o.warmupRequests - requests)) })).result.requests;
  }
}

/**
 * POSTs `body` to `url` for warm-up + duration seconds from another process; fails on any error or non-2xx
 * response. `serverCpuMs`: CPU per request during the measured part, the server process's when `serverCpu` reads
 * it (./server-process.ts), else this process's (the servers it hosts).
 */
export async function measure(label: string, url: string, body: string, o: LoadOptions, serverCpu?: () => Promise<number>): Promise<LoadResult> {
  if (o.warmup > 0) await warmUp(url, body, o);
  const before = await serverCpu?.();
  const { result: r, cpuMs: ownCpuMs } = await fire({ url, body, connections: o.connections, duration: o.duration });
  const cpuMs = serverCpu ? (await serverCpu()) - before! : ownCpuMs;
  if (r.errors || r.non2xx) throw new Error(`${label}: ${r.errors} errors, ${r.non2xx} non-2xx responses of ${r.requests}`);
  return { label, requests: r.requests, requestsPerSec: r.requests / r.duration, p50Ms: r.p50, p99Ms: r.p99, serverCpuMs: cpuMs / r.requests };
}

/**
 * `measure` of several servers in alternating rounds (the order reversed every other round), each server's
 * rounds summed: req/s = requests ÷ seconds over its rounds, server CPU = CPU ÷ requests, p50 and p99 the
 * mean of its rounds'. The database and the machine drift (autovacuum, a busy neighbour); one window each
 * would hand the drift to whichever server ran in the worse one. Warm-up in the first round only.
 */
export async function measureAlternating(servers: readonly LoadTarget[], body: string, o: LoadOptions, rounds = Number(process.env.BENCH_ROUNDS ?? 4)): Promise<LoadResult[]> {
  const runs = servers.map(() => [] as LoadResult[]);
  for (let round = 0; round < rounds; round++) {
    const order = servers.map((_, i) => i);
    if (round % 2) order.reverse();
    for (const i of order) runs[i]!.push(await measure(servers[i]!.label, servers[i]!.url, body, { ...o, warmup: round === 0 ? o.warmup : 0 }, servers[i]!.cpuMs));
  }
  return runs.map((rs, i) => {
    const requests = rs.reduce((a, r) => a + r.requests, 0);
    const seconds = rs.reduce((a, r) => a + r.requests / r.requestsPerSec, 0);
    const mean = (pick: (r: LoadResult) => number) => rs.reduce((a, r) => a + pick(r), 0) / rs.length;
    return {
      label: servers[i]!.label, requests, requestsPerSec: requests / seconds, p50Ms: mean((r) => r.p50Ms), p99Ms: mean((r) => r.p99Ms),
      serverCpuMs: rs.reduce((a, r) => a + r.serverCpuMs * r.requests, 0) / requests,
    };
  });
}

/**
 * Sends `n` requests one after another and returns the mean wall time and the mean CPU time per request: the
 * server process's with `serverCpu`, else this process's (server and fetch client together: the same client
 * cost for every server).
 */
export async function sequentialCost(url: string, body: string, n = 100, serverCpu?: () => Promise<number>): Promise<{ wallMs: number; cpuMs: number }> {
  // This client shares the process with the server: while tracing is on, its fetches must not be traced
  // (an unsampled client span would also send a traceparent that turns the server's sampling off).
  const send = () => context.with(suppressTracing(context.active()), async () => {
    const res = await fetch(url, { method: "POST", body, headers: { "content-type": "application/json", accept: "application/json" } });
    if (!res.ok) throw new Error(`${url} answered ${res.status}`);
    await res.arrayBuffer();
  });
  for (let i = 0; i < 10; i++) await send();
  const before = await serverCpu?.();
  const cpu = process.cpuUsage();
  const start = performance.now();
  for (let i = 0; i < n; i++) await send();
  const wallMs = (performance.now() - start) / n;
  const used = process.cpuUsage(cpu);
  return { wallMs, cpuMs: serverCpu ? ((await serverCpu()) - before!) / n : (used.user + used.system) / 1000 / n };
}

/**
 * sequentialCost of several servers in alternating rounds (the order reversed every other round), the median
 * round of each. One window right after a load run (its garbage still to collect, PostgreSQL still busy) or after
 * another server's window would otherwise charge one server for another's debt.
 */
export async function pairedSequentialCost(servers: readonly Omit<LoadTarget, "label">[], body: string, rounds = 5, n = 40): Promise<{ wallMs: number; cpuMs: number }[]> {
  const samples = servers.map(() => [] as { wallMs: number; cpuMs: number }[]);
  for (let round = 0; round < rounds; round++) {
    const order = servers.map((_, i) => i);
    if (round % 2) order.reverse();
    for (const i of order) samples[i]!.push(await sequentialCost(servers[i]!.url, body, n, servers[i]!.cpuMs));
  }
  return samples.map((s) => ({ wallMs: median(s.map((x) => x.wallMs)), cpuMs: median(s.map((x) => x.cpuMs)) }));
}

/** Prints rows as an aligned Markdown table: numeric columns right-aligned, the others left. */
export function printTable(header: string[], rows: (string | number)[][]): void {
  const body = rows.map((r) => r.map(String));
  const width = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)));
  const numeric = header.map((_, i) => body.every((r) => /^(-?[\d.]+)?$/.test(r[i]!)));
  const line = (r: string[]) => `| ${r.map((c, i) => (numeric[i] ? c.padStart(width[i]!) : c.padEnd(width[i]!))).join(" | ")} |`;
  const rule = `|${width.map((w, i) => (numeric[i] ? `${"-".repeat(w + 1)}:` : "-".repeat(w + 2))).join("|")}|`;
  console.log([line(header), rule, ...body.map(line)].join("\n"));
}

/** Median of a non-empty list. */
export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}
