// The subscribers of the `fanout` benchmark: N WebSocket connections, either speaking graphql-ws
// (connection_init → connection_ack → subscribe) or only listening (the baseline). They are raw
// `node:net` sockets with a hand-written client side of RFC 6455 (fanout-fleet.ts), run by default in a
// worker thread of this process (fanout-fleet-worker.ts) that writes its counters to shared memory, so
// the fleet has a core's worth of event loop of its own and the publisher on the main thread neither
// delays receipts nor is delayed by them. Each frame is timed without decoding it: `"type":"next"` and
// the tick's `at` (publish time) are found by byte comparison, and `at` is parsed once per distinct tick.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { MessageChannel, receiveMessageOnPort, Worker } from "node:worker_threads";
import {
  DELIVERED, fleetMemory, LAST_RECEIVED, LOOP_MAX, LOOP_P99, OpenError, runFleet, TOTAL, TOTAL_AT_COUNT,
  type CoreOptions, type FleetMemory, type FromWorker, type ToWorker, type WorkerInput,
} from "./fanout-fleet.ts";

export interface FleetOptions {
  /** The server's URL, or client i's (clients split over several servers, or telling the baseline who they are). ws:// only. */
  url: string | ((i: number) => string);
  count: number;
  /** graphql-ws: send `query` as subscription "1"; plain: just receive. */
  protocol: "graphql-ws" | "plain";
  query?: string;
  /** Client i's variables for `query` (its filter); none when absent. */
  variables?: (i: number) => Record<string, unknown> | undefined;
  /** Connections opened at once (the next batch starts when this one is subscribed). */
  batch?: number;
  timeoutMs?: number;
  /** Run the clients in a worker thread (default) or on the calling thread's event loop. */
  thread?: boolean;
}

/** The soft and hard `ulimit -n` of this process (children inherit it). */
export function fileDescriptorLimit(): { soft: number; hard: number } {
  const line = /^Max open files\s+(\S+)\s+(\S+)/m.exec(readFileSync("/proc/self/limits", "utf8"));
  const n = (v: string | undefined) => (v === undefined || v === "unlimited" ? Infinity : Number(v));
  return { soft: n(line?.[1]), hard: n(line?.[2]) };
}

export class FleetError extends Error {
  constructor(message: string, readonly opened: number) { super(message); }
}

export interface Fleet {
  /** Frames per client since open (every tick, counted or not). */
  readonly perClient: Uint32Array;
  /** Frames per client of ticks published since count()'s `sinceMs`. */
  readonly measuredPerClient: Uint32Array;
  /** The first `next` frame client 0 received, as text. */
  readonly firstFrame: () => string | undefined;
  /** Times frames whose tick was published at or after `sinceMs` (Date.now() clock); resets the counters. */
  count(sinceMs: number): void;
  /**
   * delivered: frames of ticks published since `sinceMs`, timed in `histogram`; frames: every frame since count()
   * (a backlog of earlier ticks included); lastReceivedMs: when the last of either arrived.
   */
  stats(): { delivered: number; frames: number; lastReceivedMs: number; histogram: Uint32Array; problems: string[] };
  /** Frames received in total, all clients. */
  total(): number;
  /** CPU time (user + sys, ms) of the thread the clients run on so far: the worker's, or this thread's when inline; NaN without /proc. */
  cpuMs(): number;
  /** The clients' event-loop delay since count() (ms; NaN before): how late a readable socket may have been read. */
  loopDelay(): { p99Ms: number; maxMs: number };
  /** Whether the clients run in a worker thread. */
  readonly thread: boolean;
  close(): Promise<void>;
}

const MAX_PROBLEMS = 20;
const WORKER_ENTRY = new URL("./fanout-fleet-worker.ts", import.meta.url).href;

const CLOCK_TICKS = (() => {
  try { return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100; } catch { return 100; }
})();

/** utime + stime of one thread of this process in ms (/proc/self/task/<tid>/stat); NaN when unreadable. */
function threadCpuMs(tid: number): number {
  try {
    const stat = readFileSync(`/proc/self/task/${tid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS) * 1000;
  } catch {
    return NaN;
  }
}

function fleetError(count: number, message: string, code: string | undefined, opened: number): FleetError {
  const hint = code === "EMFILE" || code === "ENFILE"
    ? ` — out of file descriptors (ulimit -n is ${fileDescriptorLimit().soft}); raise it with \`ulimit -n ${Math.max(count * 2 + 512, 20_000)}\` and run again`
    : code === "EADDRNOTAVAIL" ? " — out of local ports (see /proc/sys/net/ipv4/ip_local_port_range)" : "";
  return new FleetError(`could open only ${opened} of ${count} subscribers: ${code ?? ""} ${message}${hint}`, opened);
}

/** The fleet's view of its counters, shared by both ways of running it. */
function fleetOf(memory: FleetMemory, problems: string[], pull: () => void, first: () => string | undefined, rest: Pick<Fleet, "count" | "cpuMs" | "thread" | "close">): Fleet {
  const { perClient, measuredPerClient, histogram, scalars } = memory;
  return {
    perClient,
    measuredPerClient,
    firstFrame: () => { pull(); return first(); },
    stats: () => {
      pull();
      return { delivered: scalars[DELIVERED]!, frames: scalars[TOTAL]! - scalars[TOTAL_AT_COUNT]!, lastReceivedMs: scalars[LAST_RECEIVED]!, histogram, problems };
    },
    total: () => scalars[TOTAL]!,
    loopDelay: () => ({ p99Ms: scalars[LOOP_P99]!, maxMs: scalars[LOOP_MAX]! }),
    ...rest,
  };
}

/** Opens `count` subscribers in batches; rejects with FleetError (and closes what it opened) if they cannot all subscribe. */
export async function openFleet(o: FleetOptions): Promise<Fleet> {
  const core: CoreOptions = {
    urls: typeof o.url === "string" ? o.url : Array.from({ length: o.count }, (_, i) => (o.url as (i: number) => string)(i)),
    count: o.count,
    protocol: o.protocol,
    subscribe: o.protocol === "graphql-ws" ? Array.from({ length: o.count }, (_, i) => {
      const variables = o.variables?.(i);
      return JSON.stringify({ id: "1", type: "subscribe", payload: variables ? { query: o.query, variables } : { query: o.query } });
    }) : undefined,
    batch: o.batch ?? 250,
    timeoutMs: o.timeoutMs ?? 120_000,
    startedAt: Date.now(),
  };
  return o.thread === false ? openInline(core) : openInWorker(core);
}

async function openInline(core: CoreOptions): Promise<Fleet> {
  const memory = fleetMemory(core.count, false);
  const problems: string[] = [];
  let first: string | undefined;
  try {
    const running = await runFleet(core, memory, {
      problem: (text) => { if (problems.length < MAX_PROBLEMS) problems.push(text); },
      firstFrame: (text) => { first = text; },
    });
    return fleetOf(memory, problems, () => {}, () => first, {
      count: (sinceMs) => running.count(sinceMs),
      cpuMs: () => threadCpuMs(process.pid),
      thread: false,
      close: () => running.close(),
    });
  } catch (err) {
    if (err instanceof OpenError) throw fleetError(core.count, err.message, err.code, err.opened);
    throw err;
  }
}

async function openInWorker(core: CoreOptions): Promise<Fleet> {
  const memory = fleetMemory(core.count, true);
  const acks = new Int32Array(new SharedArrayBuffer(4));
  const { port1, port2 } = new MessageChannel();
  // Worker threads do not inherit tsx's loader on Node 20: the entry loads it, then the worker's module.
  const tsx = import.meta.resolve("tsx/esm/api");
  const worker = new Worker(`import(${JSON.stringify(tsx)}).then((tsx) => tsx.tsImport(${JSON.stringify(WORKER_ENTRY)}, ${JSON.stringify(WORKER_ENTRY)}))`, {
    eval: true, workerData: { options: core, memory, port: port2, acks } satisfies WorkerInput, transferList: [port2],
  });
  const problems: string[] = [];
  let first: string | undefined;
  let tid = NaN;
  let seq = 0;
  let exited = false;
  let closed: Promise<void> | undefined;
  let opening: { resolve: () => void; reject: (err: Error) => void } | undefined;
  let closing: (() => void) | undefined;
  const problem = (text: string) => { if (problems.length < MAX_PROBLEMS) problems.push(text); };

  const handle = (m: FromWorker) => {
    if (m.type === "problem") problem(m.text);
    else if (m.type === "first") first = m.text;
    else if (m.type === "tid") tid = m.tid;
    else if (m.type === "opened") opening?.resolve();
    else if (m.type === "failed") opening?.reject(fleetError(core.count, m.message, m.code, m.opened));
    else if (m.type === "closed") closing?.();
  };
  /** Takes what the worker posted and this thread's event loop has not delivered yet. */
  const pull = () => { for (let m = receiveMessageOnPort(port1); m; m = receiveMessageOnPort(port1)) handle(m.message as FromWorker); };
  port1.on("message", handle);
  worker.on("error", (err) => {
    problem(`client worker: ${err.stack ?? err.message}`);
    opening?.reject(err);
  });
  worker.on("exit", (code) => {
    exited = true;
    if (!closing) problem(`client worker exited (${code})`);
    opening?.reject(new Error(`the client worker exited (${code}) while opening`));
    closing?.();
  });

  const close = () => closed ??= (async () => {
    if (!exited) {
      const done = new Promise<void>((resolve) => { closing = resolve; });
      port1.postMessage({ type: "close" } satisfies ToWorker);
      const timer = setTimeout(() => closing?.(), 30_000);
      await done;
      clearTimeout(timer);
    }
    port1.close();
    await worker.terminate();
  })();

  try {
    await new Promise<void>((resolve, reject) => { opening = { resolve, reject }; });
  } catch (err) {
    // The worker closed what it had opened (or died): nothing to ask it.
    opening = undefined;
    closing = () => {};
    port1.close();
    await worker.terminate();
    throw err;
  }
  opening = undefined;

  return fleetOf(memory, problems, pull, () => first, {
    count(sinceMs) {
      // Applied by the worker between two reads (no counter is reset under its feet); this thread waits for it.
      const want = ++seq;
      port1.postMessage({ type: "count", since: sinceMs, seq: want } satisfies ToWorker);
      const deadline = Date.now() + 30_000;
      for (let done = Atomics.load(acks, 0); done < want; done = Atomics.load(acks, 0)) {
        const left = deadline - Date.now();
        if (left <= 0 || exited) throw new Error(`the client worker did not take count() within 30 s`);
        Atomics.wait(acks, 0, done, Math.min(left, 100));
      }
    },
    cpuMs: () => threadCpuMs(tid),
    thread: true,
    close,
  });
}

/** The p-th percentile (0–100) of a histogram of whole milliseconds. */
export function percentile(histogram: Uint32Array, p: number): number {
  let n = 0;
  for (const c of histogram) n += c;
  if (!n) return NaN;
  const rank = Math.ceil((p / 100) * n);
  let seen = 0;
  for (let ms = 0; ms < histogram.length; ms++) {
    seen += histogram[ms]!;
    if (seen >= rank) return ms;
  }
  return histogram.length - 1;
}
