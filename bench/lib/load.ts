// HTTP load with autocannon, run in a worker thread so the load generator does not share the
// event loop of the servers under test (they run in this process).
import autocannon from "autocannon";
import { context } from "@opentelemetry/api";
import { suppressTracing } from "@opentelemetry/core";

export interface LoadOptions {
  connections: number;
  /** Seconds of measured load. */
  duration: number;
  /** Seconds of unmeasured load first (JIT, connection pools, PostgreSQL caches). */
  warmup: number;
}

export interface LoadResult {
  label: string;
  requests: number;
  requestsPerSec: number;
  p50Ms: number;
  p99Ms: number;
}

export const loadOptionsFromEnv = (): LoadOptions => ({
  connections: Number(process.env.BENCH_CONNECTIONS ?? 20),
  duration: Number(process.env.BENCH_DURATION ?? 10),
  warmup: Number(process.env.BENCH_WARMUP ?? 3),
});

function fire(url: string, body: string, connections: number, duration: number) {
  return autocannon({
    url, method: "POST", body, connections, duration, workers: 1,
    headers: { "content-type": "application/json", accept: "application/json" },
  });
}

/** POSTs `body` to `url` for warm-up + duration seconds; fails on any error or non-2xx response. */
export async function measure(label: string, url: string, body: string, o: LoadOptions): Promise<LoadResult> {
  if (o.warmup > 0) await fire(url, body, o.connections, o.warmup);
  const r = await fire(url, body, o.connections, o.duration);
  if (r.errors || r.non2xx) throw new Error(`${label}: ${r.errors} errors, ${r.non2xx} non-2xx responses of ${r.requests.total}`);
  return { label, requests: r.requests.total, requestsPerSec: r.requests.total / r.duration, p50Ms: r.latency.p50, p99Ms: r.latency.p99 };
}

/**
 * Sends `n` requests one after another and returns the mean wall time and the mean CPU time of this
 * process per request (server and fetch client together: the same client cost for every server).
 */
export async function sequentialCost(url: string, body: string, n = 100): Promise<{ wallMs: number; cpuMs: number }> {
  // This client shares the process with the server: while tracing is on, its fetches must not be traced
  // (an unsampled client span would also send a traceparent that turns the server's sampling off).
  const send = () => context.with(suppressTracing(context.active()), async () => {
    const res = await fetch(url, { method: "POST", body, headers: { "content-type": "application/json", accept: "application/json" } });
    if (!res.ok) throw new Error(`${url} answered ${res.status}`);
    await res.arrayBuffer();
  });
  for (let i = 0; i < 10; i++) await send();
  const cpu = process.cpuUsage();
  const start = performance.now();
  for (let i = 0; i < n; i++) await send();
  const used = process.cpuUsage(cpu);
  return { wallMs: (performance.now() - start) / n, cpuMs: (used.user + used.system) / 1000 / n };
}

/**
 * sequentialCost of several servers in alternating rounds (the order reversed every other round), the median
 * round of each. One window right after a load run (its garbage still to collect, PostgreSQL still busy) or after
 * another server's window would otherwise charge one server for another's debt.
 */
export async function pairedSequentialCost(urls: readonly string[], body: string, rounds = 5, n = 40): Promise<{ wallMs: number; cpuMs: number }[]> {
  const samples = urls.map(() => [] as { wallMs: number; cpuMs: number }[]);
  for (let round = 0; round < rounds; round++) {
    const order = urls.map((_, i) => i);
    if (round % 2) order.reverse();
    for (const i of order) samples[i]!.push(await sequentialCost(urls[i]!, body, n));
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
