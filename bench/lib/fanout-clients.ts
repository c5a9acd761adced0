// The subscribers of the `fanout` benchmark: N `ws` connections in this process, either speaking
// graphql-ws (connection_init → connection_ack → subscribe) or only listening (the baseline).
// Each frame is timed without JSON.parse: the tick's `at` (publish time, ms) is found by byte search.
import { readFileSync } from "node:fs";
import WebSocket from "ws";

export interface FleetOptions {
  /** The server's URL, or client i's (clients split over several servers, or telling the baseline who they are). */
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
}

const NEXT = Buffer.from(`"type":"next"`);
const AT = Buffer.from(`"at":"`);
const MAX_LATENCY_MS = 120_000;

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
  close(): Promise<void>;
}

/** Opens `count` subscribers in batches; rejects with FleetError (and closes what it opened) if they cannot all subscribe. */
export async function openFleet(o: FleetOptions): Promise<Fleet> {
  const batch = o.batch ?? 250;
  const deadline = Date.now() + (o.timeoutMs ?? 120_000);
  const sockets: WebSocket[] = [];
  const perClient = new Uint32Array(o.count);
  const measuredPerClient = new Uint32Array(o.count);
  const histogram = new Uint32Array(MAX_LATENCY_MS + 1);
  const problems: string[] = [];
  let since = Infinity;
  let delivered = 0;
  let total = 0;
  let totalAtCount = 0;
  let lastReceivedMs = 0;
  let first: string | undefined;
  let closing = false;
  const opened = Date.now();
  const problem = (p: string) => { if (problems.length < 20) problems.push(`${p} (at +${((Date.now() - opened) / 1000).toFixed(1)} s)`); };

  const subscribe = (i: number) => {
    const variables = o.variables?.(i);
    return JSON.stringify({ id: "1", type: "subscribe", payload: variables ? { query: o.query, variables } : { query: o.query } });
  };
  const onFrame = (i: number, data: Buffer) => {
    const now = Date.now();
    if (data.indexOf(NEXT) < 0) {
      problem(`client ${i}: ${data.toString("utf8").slice(0, 300)}`);
      return;
    }
    perClient[i]!++;
    total++;
    lastReceivedMs = now;
    if (i === 0 && first === undefined) first = data.toString("utf8");
    const at = data.indexOf(AT);
    const published = at < 0 ? NaN : Date.parse(data.toString("latin1", at + AT.length, at + AT.length + 24));
    if (!(published >= since)) return;
    delivered++;
    measuredPerClient[i]!++;
    histogram[Math.min(MAX_LATENCY_MS, Math.max(0, now - published))]!++;
  };

  const connect = (i: number) => new Promise<void>((resolve, reject) => {
    const ws = new WebSocket(typeof o.url === "string" ? o.url : o.url(i), o.protocol === "graphql-ws" ? "graphql-transport-ws" : undefined, { perMessageDeflate: false });
    sockets.push(ws);
    let live = false;
    const ready = () => { live = true; resolve(); };
    ws.once("error", (err) => { if (!live) reject(err); else problem(`client ${i}: ${err.message}`); });
    ws.on("close", (code, reason) => {
      if (!live) reject(new Error(`closed ${code} ${reason.toString()} before subscribing`));
      else if (!closing) problem(`client ${i}: closed ${code} ${reason.toString()}`);
    });
    ws.on("open", () => {
      if (o.protocol === "plain") ready();
      else ws.send(`{"type":"connection_init"}`);
    });
    ws.on("message", (data: Buffer) => {
      if (live) return onFrame(i, data);
      const message = JSON.parse(data.toString("utf8")) as { type: string };
      if (message.type !== "connection_ack") return reject(new Error(`expected connection_ack, got ${data.toString("utf8").slice(0, 300)}`));
      ws.send(subscribe(i));
      ready(); // the server has the subscription once it is counted (see fanout.ts)
    });
  });

  const close = async () => {
    closing = true;
    await Promise.all(sockets.map((ws) => new Promise<void>((resolve) => {
      if (ws.readyState === WebSocket.CLOSED) return resolve();
      ws.once("close", () => resolve());
      ws.terminate();
    })));
  };

  try {
    for (let start = 0; start < o.count; start += batch) {
      const end = Math.min(o.count, start + batch);
      const opening = Array.from({ length: end - start }, (_, k) => connect(start + k));
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out opening connections ${start}–${end - 1}`)), Math.max(0, deadline - Date.now()));
      });
      try { await Promise.race([Promise.all(opening), timeout]); } finally { clearTimeout(timer); }
    }
  } catch (err) {
    const opened = sockets.filter((ws) => ws.readyState === WebSocket.OPEN).length;
    await close();
    const e = err as NodeJS.ErrnoException;
    const hint = e.code === "EMFILE" || e.code === "ENFILE"
      ? ` — out of file descriptors (ulimit -n is ${fileDescriptorLimit().soft}); raise it with \`ulimit -n ${Math.max(o.count * 2 + 512, 20_000)}\` and run again`
      : e.code === "EADDRNOTAVAIL" ? " — out of local ports (see /proc/sys/net/ipv4/ip_local_port_range)" : "";
    throw new FleetError(`could open only ${opened} of ${o.count} subscribers: ${e.code ?? ""} ${e.message}${hint}`, opened);
  }

  return {
    perClient,
    measuredPerClient,
    firstFrame: () => first,
    count(sinceMs) { since = sinceMs; delivered = 0; totalAtCount = total; histogram.fill(0); measuredPerClient.fill(0); },
    stats: () => ({ delivered, frames: total - totalAtCount, lastReceivedMs, histogram, problems }),
    total: () => total,
    close,
  };
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
