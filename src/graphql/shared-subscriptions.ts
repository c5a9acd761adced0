// Subscription streams on the server. Subscribers of the same public stream (same document and
// variables, e.g. thousands of dashboards on `priceTicks`) share one execution per event instead of
// one each. Over graphql-ws the shared stream also serialises each event once and writes the same
// bytes (a `next` message per operation id, framed once) to every member's socket itself, watching each
// socket's unsent data: past the limit it closes that socket with 4413 (SLOW_CONSUMER_CLOSE_CODE) and the
// client resumes with its last cursor. Each subscriber still goes through the full enveloped subscribe
// (auth, validation, rate limits) before it joins. A stream that fails with a coded error
// (SUBSCRIPTION_OVERFLOW …) sends that error as its last result, over WebSocket and SSE alike.
import { setImmediate as yieldToIo } from "node:timers/promises";
import { isAsyncIterable, mapAsyncIterator, type Plugin } from "graphql-yoga";
import { GraphQLError, Kind, type DocumentNode, type ExecutionResult } from "graphql";
import { isAppError } from "../errors.ts";
import { boundedStream, SUBSCRIBER_BUFFER_LIMIT, type BoundedStream } from "../infra/bounded-stream.ts";
import { toGraphQLError } from "./errors.ts";

/** Root subscription fields whose results do not depend on who is asking. */
const SHAREABLE = new Set(["priceTicks", "offerAvailabilityChanged"]);

export function shareKey(document: DocumentNode, variables: unknown): string | null {
  const operations = document.definitions.filter((d) => d.kind === Kind.OPERATION_DEFINITION);
  if (operations.length !== 1 || operations[0]!.operation !== "subscription") return null;
  const fields = operations[0]!.selectionSet.selections;
  if (!fields.every((s) => s.kind === Kind.FIELD && SHAREABLE.has(s.name.value))) return null;
  // A resumed stream (`after` given) first replays its own past: it cannot join one already live.
  const vars = (variables ?? {}) as Record<string, unknown>;
  const resumes = fields.some((f) => f.kind === Kind.FIELD && f.arguments?.some((a) =>
    a.name.value === "after" && (a.value.kind === Kind.VARIABLE ? vars[a.value.name.value] != null : a.value.kind !== Kind.NULL)));
  if (resumes) return null;
  return `${document.loc?.source.body ?? ""}\u0000${JSON.stringify(variables ?? {})}`;
}

type Result = ExecutionResult;

/** The stream, with a coded error it fails with (an AppError, bare or as the executor wraps it) turned into its last result; other errors pass. */
export function endOnCodedError(stream: AsyncIterable<Result>): AsyncIterableIterator<Result> {
  return mapAsyncIterator(stream, (result: Result) => result, (err: unknown) => {
    const coded = err instanceof GraphQLError ? err.originalError : err;
    if (isAppError(coded)) return { errors: [toGraphQLError(coded)] }; // the whole stream failed: no field path
    throw err;
  }) as AsyncIterableIterator<Result>;
}

/** Yoga plugin: every subscription (SSE or WebSocket) ends on a coded error with that error as a result, not a broken stream. */
export function useCodedStreamEnd(): Plugin {
  return {
    onSubscribe: () => ({
      onSubscribeResult: ({ result, setResult }) => {
        if (isAsyncIterable(result)) setResult(endOnCodedError(result));
      },
    }),
  };
}

/** What a shared stream needs of a graphql-ws client's socket (a `ws` WebSocket). */
export interface SubscriberSocket {
  readonly readyState: number;
  /** Bytes queued on the socket, not yet taken by the kernel. */
  readonly bufferedAmount: number;
  send(data: Buffer, options: { binary: boolean }): void;
  close(code: number, reason: string): void;
  terminate(): void;
}

/** A subscriber that the hub writes to directly: its graphql-ws operation id on its socket. */
export interface SocketSubscriber { id: string; socket: SubscriberSocket }

/**
 * The close code for a subscriber that reads too slowly: its socket's unsent data passed the server's
 * limit, so the server stops queueing for it. Not fatal for graphql-ws clients (they reconnect); the
 * client subscribes again with `after: <the cursor of the last event it received>` and misses nothing.
 */
export const SLOW_CONSUMER_CLOSE_CODE = 4413;
export const SLOW_CONSUMER_REASON = "Slow consumer: resubscribe with your last cursor as `after`";
/** Default bytes that may wait unsent on one WebSocket before it is closed with SLOW_CONSUMER_CLOSE_CODE. */
export const SLOW_CONSUMER_BYTES = 1024 * 1024;
/** A slow consumer that has not taken its close frame after this long is cut off (its buffers freed). */
const SLOW_CONSUMER_GRACE_MS = 30_000;
const OPEN = 1;
/** How long the hubs of a process may write before they let I/O in (reads, pongs, new subscribers). */
const WRITE_SLICE_MS = 30;
/**
 * Paced flushes: after a flush that took F ms of CPU, the next one waits until F ms have passed since it ended
 * (at most FLUSH_HOLD_MAX_MS), so the kernel's writes take at most about half the process's time. Below
 * saturation F is a few ms and nothing waits; near it, what a socket gets meanwhile goes out in one write
 * (the cost per frame falls as the load rises, instead of a backlog building).
 */
const FLUSH_HOLD_MAX_MS = 100;
/** A wait shorter than this is not worth a timer: flush now. */
const FLUSH_HOLD_MIN_MS = 1;
/** When the hubs began writing the current slice; null between bursts (the next write starts one). */
let sliceStarted: number | null = null;

/** A `ws` WebSocket's TCP socket, as the fast path writes to it. */
interface FrameSocket { write(chunk: Buffer): boolean; cork(): void; uncork(): void }

/**
 * The TCP sockets the hubs wrote to since the last flush, corked (once per member writing to it): each is
 * uncorked at the next flush, so a socket that got several frames (a backlog of events, or events while the
 * flush was held) takes them in one write (writev) instead of one each; on loopback the kernel's cost per
 * write is most of a frame's. Anything else written to such a socket meanwhile (ws's own sends: `complete`,
 * pongs, the close frame) queues behind in order.
 */
const corked: FrameSocket[] = [];
/** Counts flushes: a member whose `corkedIn` equals it has corked its socket since the last flush. */
let flushes = 1;
let flushScheduled = false;
/** When the last flush may be followed by the next one (performance.now()). */
let nextFlushAt = 0;

function flushNow(): void {
  const start = performance.now();
  const cpu = process.cpuUsage();
  for (const socket of corked) socket.uncork();
  corked.length = 0;
  flushes++;
  const end = performance.now();
  // The flush's cost is the CPU it took, not the wall time: a process preempted by others mid-flush (two
  // nodes on one host) must not hold the next flush for the time it was not running.
  const used = process.cpuUsage(cpu);
  const took = Math.min(end - start, (used.user + used.system) / 1000);
  nextFlushAt = end + Math.min(took, FLUSH_HOLD_MAX_MS);
}

/** Flushes when the pacing allows, and says whether it did. */
function flushIfDue(): boolean {
  if (!corked.length) return true;
  if (nextFlushAt - performance.now() >= FLUSH_HOLD_MIN_MS) return false;
  flushNow();
  return true;
}

/** The hubs have written everything they had this turn: flush (now, or when the pacing allows), and the next burst starts a slice of its own. */
function endSlice(): void {
  sliceStarted = null;
  if (flushIfDue()) { flushScheduled = false; return; }
  setTimeout(endSlice, nextFlushAt - performance.now()).unref();
}

/** Corks the member's socket until the next flush, noting what it held unsent before. */
function corkForSlice(member: SocketMember, socket: FrameSocket, unsent: number): void {
  member.corkedIn = flushes;
  member.unsentBefore = unsent;
  socket.cork();
  corked.push(socket);
  if (!flushScheduled) {
    flushScheduled = true;
    setImmediate(endSlice); // after every microtask of this turn: every hub has written what it had (one pending at a time)
  }
}

/**
 * A backlog of events would otherwise be written in one macrotask (every event of every group, all in
 * microtasks): after each event, once the hubs have written for WRITE_SLICE_MS, flush if the pacing allows
 * and wait for the next turn of the event loop. Per slice, not per event: a big group must not fall to one
 * event per loop turn.
 */
async function letIoIn(): Promise<void> {
  if (sliceStarted === null || performance.now() - sliceStarted < WRITE_SLICE_MS) return;
  flushIfDue();
  const ended = sliceStarted;
  await yieldToIo();
  if (sliceStarted === ended) sliceStarted = null; // the first hub back; the next write starts the next slice
}

/** The `payload` of a graphql-ws `next` message as graphql-ws writes it (errors last, as their JSON). */
function payloadJson(result: Result): string {
  const { errors, ...rest } = result;
  return JSON.stringify(errors ? { ...rest, errors: errors.map((e) => (typeof e.toJSON === "function" ? e.toJSON() : e)) } : rest);
}

/**
 * What `ws` holds inside a WebSocket that the fast path reads: its TCP socket, and its sender's state (whether it
 * is busy with a compressed or Blob message, or between fragments). Absent or busy: the hub calls `send`.
 */
interface WsInternals {
  _socket?: FrameSocket | null;
  _sender?: { _state?: number; _firstFragment?: boolean } | null;
  _extensions?: Record<string, unknown>;
}

/**
 * The TCP socket to write whole pre-built frames to, when `ws` would write exactly those bytes itself (no
 * compression negotiated); null: always through `send`. Fixed for the connection's life.
 */
function directSocket(socket: SubscriberSocket): { tcp: FrameSocket; sender: NonNullable<WsInternals["_sender"]> } | null {
  const { _socket, _sender, _extensions } = socket as unknown as WsInternals;
  if (!_socket || !_sender || (_extensions && "permessage-deflate" in _extensions)) return null;
  return { tcp: _socket, sender: _sender };
}

/** A server-to-client WebSocket text frame (FIN, unmasked) around the message: the bytes `ws` sends for it. */
function textFrame(message: Buffer): Buffer {
  const n = message.length;
  const header = n < 126 ? 2 : n < 65_536 ? 4 : 10;
  const frame = Buffer.allocUnsafe(header + n);
  frame[0] = 0x81;
  if (n < 126) frame[1] = n;
  else if (n < 65_536) { frame[1] = 126; frame.writeUInt16BE(n, 2); }
  else { frame[1] = 127; frame.writeUInt32BE(Math.floor(n / 2 ** 32), 2); frame.writeUInt32BE(n >>> 0, 6); }
  message.copy(frame, header);
  return frame;
}

/**
 * One event's frames: the payload serialised once, a `next` message per distinct operation id (most clients use
 * "1"), and that message framed once for the sockets the hub writes to directly.
 */
class Frames {
  private json: string | undefined;
  private readonly byId = new Map<string, { message: Buffer; frame?: Buffer }>();
  constructor(private readonly result: Result) {}
  private get(id: string) {
    let entry = this.byId.get(id);
    if (!entry) {
      this.json ??= payloadJson(this.result);
      entry = { message: Buffer.from(`{"id":${JSON.stringify(id)},"type":"next","payload":${this.json}}`) };
      this.byId.set(id, entry);
    }
    return entry;
  }
  /** The `next` message for operation `id`. */
  message(id: string): Buffer {
    return this.get(id).message;
  }
  /** The same as a whole WebSocket frame. */
  frame(id: string): Buffer {
    const entry = this.get(id);
    return (entry.frame ??= textFrame(entry.message));
  }
}

interface SocketMember extends SocketSubscriber {
  out: BoundedStream<Result>;
  /** Where the hub writes frames itself (see directSocket). */
  direct: ReturnType<typeof directSocket>;
  /** The flush count when this member last corked its socket, and what the socket held unsent then. */
  corkedIn: number;
  unsentBefore: number;
}

class Hub {
  readonly members = new Set<BoundedStream<Result>>();
  readonly sockets = new Set<SocketMember>();
  /** Events executed (once each, whatever the number of members); for tests and diagnostics. */
  executions = 0;
  constructor(private readonly source: AsyncIterableIterator<Result>, private readonly onEmpty: () => void, private readonly bufferLimit: number, private readonly maxBufferedBytes: number) {
    void this.pump();
  }
  private async pump() {
    let failure: Error | undefined;
    try {
      for await (const result of this.source) {
        this.executions++;
        for (const m of this.members) m.push(result);
        if (this.sockets.size) {
          this.write(new Frames(result));
          await letIoIn();
        }
      }
    } catch (err) {
      failure = err instanceof Error ? err : new Error(String(err)); // already masked by the enveloped subscribe
    } finally {
      for (const m of [...this.members]) m.end(failure);
      for (const m of [...this.sockets]) m.out.end(failure);
      this.onEmpty();
    }
  }
  /** The same bytes to every member's socket (its own id aside); a socket with too much unsent is closed instead. */
  private write(frames: Frames) {
    sliceStarted ??= performance.now();
    for (const m of this.sockets) {
      const { socket } = m;
      if (socket.readyState !== OPEN) continue; // closing: graphql-ws ends its operations when it closes
      // Unsent bytes: what the socket held before this member corked it since the last flush (what it queued
      // meanwhile goes out at the flush; past the limit, the next write after it closes the socket), else now.
      const corkedNow = m.corkedIn === flushes;
      const unsent = corkedNow ? m.unsentBefore : socket.bufferedAmount;
      if (unsent > this.maxBufferedBytes) {
        closeSlowConsumer(socket);
        m.out.end();
        continue;
      }
      // The same bytes ws.send would write, framed once per event instead of once per socket.
      const { direct } = m;
      if (direct && direct.sender._state === 0 && direct.sender._firstFragment === true) {
        if (!corkedNow) corkForSlice(m, direct.tcp, unsent);
        direct.tcp.write(frames.frame(m.id));
      } else socket.send(frames.message(m.id), { binary: false });
    }
  }
  private leave() {
    if (this.members.size + this.sockets.size === 0) {
      this.onEmpty();
      void this.source.return?.();
    }
  }
  join(): AsyncIterableIterator<Result> {
    const member: BoundedStream<Result> = boundedStream<Result>(this.bufferLimit, () => {
      this.members.delete(member);
      this.leave();
    });
    this.members.add(member);
    return endOnCodedError(member.iterator);
  }
  /**
   * The hub writes this subscriber's frames to its socket itself; graphql-ws gets an iterator that yields
   * only the stream's end (a coded error as the last result), so it sends `complete` (or the error) then.
   */
  joinSocket(subscriber: SocketSubscriber): AsyncIterableIterator<Result> {
    const member: SocketMember = { ...subscriber, direct: directSocket(subscriber.socket), corkedIn: 0, unsentBefore: 0, out: boundedStream<Result>(1, () => {
      this.sockets.delete(member);
      this.leave();
    }) };
    this.sockets.add(member);
    return endOnCodedError(member.out.iterator);
  }
}

/** Closes the socket with SLOW_CONSUMER_CLOSE_CODE (queued after what it already holds), and cuts it off if it never takes that. */
function closeSlowConsumer(socket: SubscriberSocket) {
  socket.close(SLOW_CONSUMER_CLOSE_CODE, SLOW_CONSUMER_REASON);
  setTimeout(() => { if (socket.readyState !== 3) socket.terminate(); }, SLOW_CONSUMER_GRACE_MS).unref();
}

export interface SharedSubscriptionOptions {
  /** Results that may wait per (iterator) member before it overflows; default SUBSCRIBER_BUFFER_LIMIT. */
  bufferLimit?: number;
  /** Unsent bytes a socket member's WebSocket may hold before it is closed with SLOW_CONSUMER_CLOSE_CODE; default SLOW_CONSUMER_BYTES. */
  maxBufferedBytes?: number;
}

/**
 * Wraps an enveloped `subscribe` so identical public streams share their per-event execution. Given a
 * `socket` subscriber, the shared stream also serialises each event once and writes the frame to every
 * member's socket itself (with back-pressure), instead of handing a result to each.
 */
export function createSharedSubscriptions({ bufferLimit = SUBSCRIBER_BUFFER_LIMIT, maxBufferedBytes = SLOW_CONSUMER_BYTES }: SharedSubscriptionOptions = {}) {
  const hubs = new Map<string, Hub>();
  async function shared(key: string | null, subscribe: () => Promise<unknown> | unknown, socket?: SocketSubscriber): Promise<unknown> {
    const own = await subscribe();
    if (!key || !isAsyncIterable(own)) return own; // errors (bad filter, limits) go to that subscriber alone
    let hub = hubs.get(key);
    if (hub) {
      void (own as AsyncIterableIterator<Result>).return?.(); // checks passed; the hub already streams this
    } else {
      const created: Hub = new Hub(own as AsyncIterableIterator<Result>, () => { if (hubs.get(key) === created) hubs.delete(key); }, bufferLimit, maxBufferedBytes);
      hubs.set(key, (hub = created));
    }
    return socket ? hub.joinSocket(socket) : hub.join();
  }
  return Object.assign(shared, {
    /** Shared streams now live, their members and executions (for tests and diagnostics). */
    stats: () => [...hubs.values()].map((h) => ({ members: h.members.size + h.sockets.size, executions: h.executions })),
  });
}
