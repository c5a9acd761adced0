// The subscribers of the `fanout` benchmark, at the socket level: N raw `node:net` connections that do the
// WebSocket handshake (RFC 6455) themselves, send the few client frames (masked) and parse the server's
// frames straight out of one reused read buffer (the socket's `onread`): no `ws`, no stream, no Buffer per
// read, no UTF-8 decoding or JSON.parse per frame. The cost per frame is what Node must pay to read a
// socket plus a few byte comparisons, so the instrument stays far below the servers it measures.
// Runs where fanout-clients.ts puts it (a worker thread by default, or the calling thread), writing its
// counters into the typed arrays it is given (shared with the main thread when in a worker).
import { createHash, randomBytes, randomFillSync } from "node:crypto";
import { connect, type Socket } from "node:net";
import { monitorEventLoopDelay, type IntervalHistogram } from "node:perf_hooks";
import type { MessagePort } from "node:worker_threads";

export const MAX_LATENCY_MS = 120_000;
/** Slots of `FleetMemory.scalars`. */
export const SINCE = 0, DELIVERED = 1, TOTAL = 2, TOTAL_AT_COUNT = 3, LAST_RECEIVED = 4, LOOP_P99 = 5, LOOP_MAX = 6;
const SCALARS = 7;

/** The fleet's counters; over SharedArrayBuffers when the fleet runs in a worker. */
export interface FleetMemory {
  perClient: Uint32Array;
  measuredPerClient: Uint32Array;
  histogram: Uint32Array;
  /** SINCE, DELIVERED, TOTAL, TOTAL_AT_COUNT, LAST_RECEIVED, LOOP_P99 and LOOP_MAX (ms, since count(), updated every 100 ms). */
  scalars: Float64Array;
}

export function fleetMemory(count: number, shared: boolean): FleetMemory {
  const buffer = (bytes: number) => (shared ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes));
  const scalars = new Float64Array(buffer(SCALARS * 8));
  scalars[SINCE] = Infinity;
  scalars[LOOP_P99] = scalars[LOOP_MAX] = NaN;
  return {
    perClient: new Uint32Array(buffer(count * 4)),
    measuredPerClient: new Uint32Array(buffer(count * 4)),
    histogram: new Uint32Array(buffer((MAX_LATENCY_MS + 1) * 4)),
    scalars,
  };
}

/** What openFleet hands to the core: only data, so that it can be posted to a worker. */
export interface CoreOptions {
  /** One URL for all, or client i's. ws:// only. */
  urls: string | string[];
  count: number;
  protocol: "graphql-ws" | "plain";
  /** graphql-ws: client i's `subscribe` message (JSON text). */
  subscribe?: string[];
  batch: number;
  timeoutMs: number;
  /** Date.now() when openFleet was called: problems say how long after it they happened. */
  startedAt: number;
}

export interface CoreHooks {
  problem(text: string): void;
  firstFrame(text: string): void;
}

/** Opening failed: the first error (its errno code, if any) and how many connections were open then. */
export class OpenError extends Error {
  constructor(message: string, readonly code: string | undefined, readonly opened: number) { super(message); }
}

export interface RunningFleet {
  count(sinceMs: number): void;
  close(): Promise<void>;
}

const NEXT = Buffer.from(`"type":"next"`);
const AT = Buffer.from(`"at":"`);
/** `2026-11-26T10:00:00.000Z` */
const AT_LENGTH = 24;
const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
const READ_BUFFER_BYTES = 64 * 1024;
const MAX_MESSAGE_BYTES = 64 * 2 ** 20;
const MAX_HEAD_BYTES = 16 * 1024;
const MAX_PROBLEMS = 20;

// Connection states.
const CONNECTING = 0, UPGRADING = 1, ACKING = 2, LIVE = 3, CLOSING = 4, CLOSED = 5;

class Connection {
  socket: Socket | undefined;
  state = CONNECTING;
  /** Subscribed (graphql-ws) or upgraded (plain): the open promise is resolved. */
  live = false;
  /** Bytes of an incomplete frame (or response head), copied out of the shared read buffer. */
  pending: Buffer | null = null;
  /** A fragmented message being reassembled (servers here never fragment; handled anyway). */
  fragments: Buffer[] | null = null;
  key = "";
  closeCode = 1006;
  closeReason = "";
  resolve: () => void = () => {};
  reject: (err: Error) => void = () => {};
  constructor(readonly i: number) {}
}

/** A client frame (RFC 6455 §5.3: masked, with a fresh random key). */
function clientFrame(opcode: number, payload: Buffer): Buffer {
  const length = payload.length;
  const head = length < 126 ? 2 : length < 65_536 ? 4 : 10;
  const out = Buffer.allocUnsafe(head + 4 + length);
  out[0] = 0x80 | opcode;
  if (head === 2) out[1] = 0x80 | length;
  else if (head === 4) { out[1] = 0x80 | 126; out.writeUInt16BE(length, 2); }
  else { out[1] = 0x80 | 127; out.writeUInt32BE(Math.floor(length / 2 ** 32), 2); out.writeUInt32BE(length >>> 0, 6); }
  randomFillSync(out, head, 4);
  for (let k = 0; k < length; k++) out[head + 4 + k] = payload[k]! ^ out[head + (k & 3)]!;
  return out;
}

interface Target { host: string; port: number; hostHeader: string; path: string }

function target(url: string): Target {
  const u = new URL(url);
  if (u.protocol !== "ws:") throw new Error(`${url}: only ws:// URLs are supported by the bench's clients`);
  return { host: u.hostname.replace(/^\[|\]$/g, ""), port: Number(u.port || 80), hostHeader: u.host, path: `${u.pathname}${u.search}` };
}

/**
 * The tick's publish time from the 24 bytes of its `at`: thousands of clients get the same tick, so the
 * last few distinct values are remembered and compared byte for byte (from the milliseconds, which differ
 * first) before Date.parse is called.
 */
export class AtMemo {
  static readonly SLOTS = 16;
  private readonly bytes = new Uint8Array(AtMemo.SLOTS * AT_LENGTH);
  private readonly values = new Float64Array(AtMemo.SLOTS);
  private used = 0;
  private next = 0;
  private last = 0;
  parse(data: Buffer, at: number): number {
    const bytes = this.bytes;
    for (let n = 0, slot = this.last; n < this.used; n++, slot = slot === 0 ? this.used - 1 : slot - 1) {
      const base = slot * AT_LENGTH;
      let k = AT_LENGTH - 2; // the last digit of the milliseconds; "Z" is compared last
      while (k >= 0 && bytes[base + k] === data[at + k]) k--;
      if (k < 0 && bytes[base + AT_LENGTH - 1] === data[at + AT_LENGTH - 1]) { this.last = slot; return this.values[slot]!; }
    }
    const value = Date.parse(data.toString("latin1", at, at + AT_LENGTH));
    const slot = this.next;
    data.copy(bytes, slot * AT_LENGTH, at, at + AT_LENGTH);
    this.values[slot] = value;
    this.last = slot;
    this.next = (slot + 1) % AtMemo.SLOTS;
    if (this.used < AtMemo.SLOTS) this.used++;
    return value;
  }
}

const matchesAt = (data: Buffer, at: number, needle: Buffer) => {
  for (let k = 0; k < needle.length; k++) if (data[at + k] !== needle[k]) return false;
  return true;
};

/** Opens `o.count` subscribers in batches; rejects with OpenError (having closed what it opened) if they cannot all subscribe. */
export async function runFleet(o: CoreOptions, memory: FleetMemory, hooks: CoreHooks): Promise<RunningFleet> {
  const { perClient, measuredPerClient, histogram, scalars } = memory;
  const deadline = Date.now() + o.timeoutMs;
  const connections: Connection[] = [];
  const readBuffer = Buffer.allocUnsafe(READ_BUFFER_BYTES); // every socket reads into it; frames are handled before the next read
  const atMemo = new AtMemo();
  const targets = typeof o.urls === "string" ? undefined : new Map<string, Target>();
  const single = typeof o.urls === "string" ? target(o.urls) : undefined;
  const targetOf = (i: number) => {
    if (single) return single;
    const url = (o.urls as string[])[i]!;
    let t = targets!.get(url);
    if (!t) targets!.set(url, (t = target(url)));
    return t;
  };
  const graphqlWs = o.protocol === "graphql-ws";
  const connectionInit = Buffer.from(`{"type":"connection_init"}`);
  let since = Infinity;
  let closing = false;
  let problems = 0;
  let firstSent = false;
  // Where the needles were in the last frame (from its start / its end): checked there first, searched if not.
  let nextOffset = 10;
  let atFromEnd = 35;
  // The clients' own event-loop delay since count(): how late a readable socket may have been read.
  let loop: IntervalHistogram | undefined;
  let loopTimer: NodeJS.Timeout | undefined;
  const publishLoop = () => {
    if (!loop) return;
    scalars[LOOP_P99] = loop.percentile(99) / 1e6;
    scalars[LOOP_MAX] = loop.max / 1e6;
  };

  const problem = (p: string) => {
    if (problems++ < MAX_PROBLEMS) hooks.problem(`${p} (at +${((Date.now() - o.startedAt) / 1000).toFixed(1)} s)`);
  };

  /** Ends a connection that broke the protocol (like `ws`: close code 1002). */
  const fail = (c: Connection, reason: string) => {
    if (!c.live) c.reject(new Error(reason));
    c.closeCode = 1002;
    c.closeReason = reason;
    c.state = CLOSED;
    c.socket?.destroy();
  };

  /** A `next` (or any) message of a subscribed client: the hot path. */
  const onMessage = (c: Connection, data: Buffer, s: number, e: number, now: number) => {
    const i = c.i;
    let found = s + nextOffset + NEXT.length <= e && matchesAt(data, s + nextOffset, NEXT);
    if (!found) {
      const k = data.indexOf(NEXT, s); // `data` may go on past `e` (the shared buffer): a hit there is no hit
      found = k >= 0 && k + NEXT.length <= e;
      if (found) nextOffset = k - s;
    }
    if (!found) {
      problem(`client ${i}: ${data.toString("utf8", s, Math.min(e, s + 1200)).slice(0, 300)}`);
      return;
    }
    if (i === 0 && !firstSent) { firstSent = true; hooks.firstFrame(data.toString("utf8", s, e)); } // before the count that reveals it
    perClient[i]!++;
    scalars[TOTAL]!++;
    scalars[LAST_RECEIVED] = now;
    let at = e - atFromEnd;
    if (!(at >= s && at + AT.length + AT_LENGTH <= e && matchesAt(data, at, AT))) {
      const k = data.indexOf(AT, s);
      at = k >= 0 && k + AT.length <= e ? k : -1;
      if (at >= 0) atFromEnd = e - at;
    }
    const v = at + AT.length;
    const published = at < 0 ? NaN : v + AT_LENGTH <= e ? atMemo.parse(data, v) : Date.parse(data.toString("latin1", v, e));
    if (!(published >= since)) return;
    scalars[DELIVERED]!++;
    measuredPerClient[i]!++;
    histogram[Math.min(MAX_LATENCY_MS, Math.max(0, now - published))]!++;
  };

  const send = (c: Connection, opcode: number, payload: Buffer) => {
    if (c.state !== CLOSED && c.socket && !c.socket.destroyed) c.socket.write(clientFrame(opcode, payload));
  };

  const onText = (c: Connection, data: Buffer, s: number, e: number, now: number) => {
    if (c.state === LIVE) return onMessage(c, data, s, e, now);
    if (c.state !== ACKING) return;
    const text = data.toString("utf8", s, e);
    let type: unknown;
    try { type = (JSON.parse(text) as { type?: unknown }).type; } catch { /* reported below */ }
    if (type !== "connection_ack") return c.reject(new Error(`expected connection_ack, got ${text.slice(0, 300)}`));
    c.state = LIVE;
    c.socket!.write(clientFrame(0x1, Buffer.from(o.subscribe![c.i]!)));
    c.resolve(); // the server has the subscription once it is counted (see fanout.ts)
  };

  /** The HTTP/1.1 101 response; returns where the frames start, or -1 (incomplete, or failed). */
  const onHead = (c: Connection, data: Buffer, end: number): number => {
    const k = data.subarray(0, end).indexOf("\r\n\r\n");
    if (k < 0) {
      if (end > MAX_HEAD_BYTES) fail(c, "the server's response head is too long");
      else c.pending = Buffer.from(data.subarray(0, end));
      return -1;
    }
    const [status = "", ...lines] = data.toString("latin1", 0, k).split("\r\n");
    const code = /^HTTP\/1\.[01] (\d{3})/.exec(status)?.[1];
    if (code !== "101") { fail(c, `Unexpected server response: ${code ?? status.slice(0, 100)}`); return -1; }
    const headers = new Map<string, string>();
    for (const line of lines) {
      const colon = line.indexOf(":");
      if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
    }
    const accept = createHash("sha1").update(c.key + GUID).digest("base64");
    const protocol = headers.get("sec-websocket-protocol");
    const wrong = headers.get("upgrade")?.toLowerCase() !== "websocket" ? "Invalid Upgrade header"
      : headers.get("sec-websocket-accept") !== accept ? "Invalid Sec-WebSocket-Accept header"
      : graphqlWs && protocol !== "graphql-transport-ws" ? (protocol === undefined ? "Server sent no subprotocol" : "Server sent an invalid subprotocol")
      : !graphqlWs && protocol !== undefined ? "Server sent a subprotocol but none was requested"
      : headers.has("sec-websocket-extensions") ? "Server indicated an extension that was not requested" : undefined;
    if (wrong) { fail(c, wrong); return -1; }
    if (graphqlWs) {
      c.state = ACKING;
      c.socket!.write(clientFrame(0x1, connectionInit));
    } else {
      c.state = LIVE;
      c.resolve();
    }
    return k + 4;
  };

  const onClose = (c: Connection, data: Buffer, s: number, e: number) => {
    c.closeCode = e - s >= 2 ? data.readUInt16BE(s) : 1005;
    c.closeReason = e - s > 2 ? data.toString("utf8", s + 2, e) : "";
    if (c.state === CLOSING || c.state === CLOSED) return;
    c.state = CLOSING;
    const socket = c.socket!;
    const reply = Buffer.allocUnsafe(2);
    reply.writeUInt16BE(c.closeCode === 1005 ? 1000 : c.closeCode);
    socket.end(clientFrame(0x8, c.closeCode === 1005 ? Buffer.alloc(0) : reply));
    setTimeout(() => socket.destroy(), 2000).unref();
  };

  /** Everything a socket read: frames (several, or part of one), after the response head at first. */
  const onRead = (c: Connection, buf: Buffer, n: number) => {
    let data = buf;
    let end = n;
    let p = 0;
    if (c.pending !== null) {
      data = Buffer.concat([c.pending, buf.subarray(0, n)]);
      end = data.length;
      c.pending = null;
    }
    if (c.state === UPGRADING) {
      p = onHead(c, data, end);
      if (p < 0) return;
    } else if (c.state !== ACKING && c.state !== LIVE) return;
    const now = Date.now();
    while (end - p >= 2) {
      const b0 = data[p]!;
      const b1 = data[p + 1]!;
      let length = b1 & 0x7f;
      let head = 2;
      if (length === 126) {
        if (end - p < 4) break;
        length = (data[p + 2]! << 8) | data[p + 3]!;
        head = 4;
      } else if (length === 127) {
        if (end - p < 10) break;
        length = data.readUInt32BE(p + 2) * 2 ** 32 + data.readUInt32BE(p + 6);
        head = 10;
      }
      if (b1 & 0x80) return fail(c, "the server sent a masked frame");
      if (b0 & 0x70) return fail(c, "the server set RSV bits (no extension was negotiated)");
      if (length > MAX_MESSAGE_BYTES) return fail(c, `the server sent a ${length} B frame`);
      if (end - p - head < length) break;
      const s = p + head;
      const e = s + length;
      p = e;
      const opcode = b0 & 0x0f;
      const fin = (b0 & 0x80) !== 0;
      if (opcode === 0x1 || opcode === 0x2) {
        if (c.fragments !== null) return fail(c, "a new message began inside a fragmented one");
        if (fin) onText(c, data, s, e, now);
        else c.fragments = [Buffer.from(data.subarray(s, e))];
      } else if (opcode === 0x0) {
        if (c.fragments === null) return fail(c, "a continuation frame without a message");
        c.fragments.push(Buffer.from(data.subarray(s, e)));
        if (fin) {
          const whole = Buffer.concat(c.fragments);
          c.fragments = null;
          onText(c, whole, 0, whole.length, now);
        }
      } else if (opcode === 0x9) send(c, 0xa, data.subarray(s, e)); // ping → pong with the same payload
      else if (opcode === 0x8) return onClose(c, data, s, e);
      else if (opcode !== 0xa) return fail(c, `the server sent opcode ${opcode}`);
      if (c.state !== ACKING && c.state !== LIVE) return;
    }
    if (p < end) c.pending = Buffer.from(data.subarray(p, end)); // a copy: the read buffer is reused
  };

  const open = (i: number) => new Promise<void>((resolve, reject) => {
    const c = new Connection(i);
    connections.push(c);
    c.resolve = () => { c.live = true; resolve(); };
    c.reject = reject;
    const t = targetOf(i);
    const socket = connect({
      host: t.host, port: t.port, noDelay: true,
      onread: { buffer: readBuffer, callback: (n, buf) => { onRead(c, buf as Buffer, n); return true; } },
    });
    c.socket = socket;
    socket.on("connect", () => {
      c.state = UPGRADING;
      c.key = randomBytes(16).toString("base64");
      socket.write(`GET ${t.path} HTTP/1.1\r\nHost: ${t.hostHeader}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${c.key}\r\nSec-WebSocket-Version: 13\r\n${graphqlWs ? "Sec-WebSocket-Protocol: graphql-transport-ws\r\n" : ""}\r\n`);
    });
    socket.on("error", (err) => { if (!c.live) reject(err); else if (!closing) problem(`client ${i}: ${err.message}`); });
    socket.on("close", () => {
      c.state = CLOSED;
      if (!c.live) reject(new Error(`closed ${c.closeCode} ${c.closeReason} before subscribing`));
      else if (!closing) problem(`client ${i}: closed ${c.closeCode} ${c.closeReason}`);
    });
  });

  const close = async () => {
    closing = true;
    clearInterval(loopTimer);
    loop?.disable();
    await Promise.all(connections.map((c) => new Promise<void>((resolve) => {
      const socket = c.socket;
      if (!socket || socket.closed) return resolve();
      socket.once("close", () => resolve());
      socket.destroy();
    })));
  };

  try {
    for (let start = 0; start < o.count; start += o.batch) {
      const end = Math.min(o.count, start + o.batch);
      const opening = Array.from({ length: end - start }, (_, k) => open(start + k));
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out opening connections ${start}–${end - 1}`)), Math.max(0, deadline - Date.now()));
      });
      try { await Promise.race([Promise.all(opening), timeout]); } finally { clearTimeout(timer); }
    }
  } catch (err) {
    const opened = connections.filter((c) => (c.state === ACKING || c.state === LIVE) && !c.socket?.closed).length;
    await close();
    const e = err as NodeJS.ErrnoException;
    throw new OpenError(e.message, e.code, opened);
  }

  return {
    count(sinceMs) {
      since = sinceMs;
      scalars[SINCE] = sinceMs;
      scalars[DELIVERED] = 0;
      scalars[TOTAL_AT_COUNT] = scalars[TOTAL]!;
      histogram.fill(0);
      measuredPerClient.fill(0);
      loop?.disable();
      loop = monitorEventLoopDelay({ resolution: 10 });
      loop.enable();
      scalars[LOOP_P99] = scalars[LOOP_MAX] = NaN;
      clearInterval(loopTimer);
      loopTimer = setInterval(publishLoop, 100);
      loopTimer.unref();
    },
    close,
  };
}

// ---------------------------------------------------------------- the worker's messages (fanout-fleet-worker.ts)

export interface WorkerInput {
  options: CoreOptions;
  memory: FleetMemory;
  /** The fleet's end of a MessageChannel: the main thread can drain it synchronously (receiveMessageOnPort). */
  port: MessagePort;
  /** [0]: the seq of the last `count` the worker applied (the main thread waits on it). */
  acks: Int32Array;
}
export type ToWorker = { type: "count"; since: number; seq: number } | { type: "close" };
export type FromWorker =
  | { type: "tid"; tid: number }
  | { type: "problem"; text: string }
  | { type: "first"; text: string }
  | { type: "opened" }
  | { type: "failed"; message: string; code?: string; opened: number }
  | { type: "closed" };
