import { describe, expect, it } from "vitest";
import { parse, type ExecutionResult } from "graphql";
import { createSharedSubscriptions, shareKey, SLOW_CONSUMER_CLOSE_CODE, type SocketSubscriber } from "../../src/graphql/shared-subscriptions.ts";

/** A source stream the test feeds by hand, recording whether it was closed. */
function source() {
  const pending: ((r: IteratorResult<ExecutionResult>) => void)[] = [];
  const queued: ExecutionResult[] = [];
  const state = { closed: false };
  const iterator: AsyncIterableIterator<ExecutionResult> = {
    next: () => (queued.length ? Promise.resolve({ value: queued.shift()!, done: false }) : state.closed
      ? Promise.resolve({ value: undefined, done: true })
      : new Promise((resolve) => pending.push(resolve))),
    return: () => { state.closed = true; pending.splice(0).forEach((r) => r({ value: undefined, done: true })); return Promise.resolve({ value: undefined, done: true }); },
    [Symbol.asyncIterator]() { return this; },
  };
  return {
    iterator, state,
    emit(value: ExecutionResult) { const r = pending.shift(); if (r) r({ value, done: false }); else queued.push(value); },
  };
}
/** The bytes `ws` writes for a short text message (FIN, text, unmasked, length < 126). */
const textFrame = (message: string) => `\x81${String.fromCharCode(Buffer.byteLength(message))}${message}`;

/**
 * A `ws` WebSocket as the shared stream sees it: its TCP socket (cork counting, each write the kernel takes
 * recorded as one string; a stalled one takes nothing) and its sender's state.
 */
function fakeWebSocket() {
  const taken: string[] = [];
  const tcp = {
    corked: 0, stalled: false, queued: [] as Buffer[], unsent: 0,
    cork() { this.corked++; },
    uncork() { if (this.corked && --this.corked === 0) this.send(); },
    write(chunk: Buffer) { this.queued.push(chunk); this.unsent += chunk.length; if (!this.corked) this.send(); return true; },
    send() {
      if (this.stalled || !this.queued.length) return;
      taken.push(Buffer.concat(this.queued).toString("latin1"));
      this.queued = [];
      this.unsent = 0;
    },
  };
  const ws = {
    readyState: 1, _socket: tcp, _sender: { _state: 0, _firstFragment: true }, _extensions: {} as Record<string, unknown>,
    sent: [] as string[], closed: null as { code: number; reason: string } | null,
    get bufferedAmount() { return tcp.unsent; },
    send(data: Buffer) { this.sent.push(data.toString()); },
    close(code: number, reason: string) { this.closed = { code, reason }; this.readyState = 2; },
    terminate() { this.readyState = 3; },
    writes: () => [...taken],
  };
  return ws satisfies SocketSubscriber["socket"];
}
const tick = (n: number): ExecutionResult => ({ data: { priceTicks: { n } } });
/**
 * Lets the hubs finish the turn: their slice ends in a setImmediate queued while this waits. A bare
 * setTimeout(0) can fire before it (a timer that came due while the timers phase still ran, on a loaded
 * machine), so wait for a timer and then two check phases.
 */
const flush = () => new Promise<void>((r) => setTimeout(() => setImmediate(() => setImmediate(r)), 0));

describe("shared subscriptions", () => {
  it("shares only single-operation subscriptions to public streams, keyed by document and variables", () => {
    const ticks = parse("subscription { priceTicks { offerId } }");
    expect(shareKey(ticks, {})).toBe(shareKey(ticks, undefined));
    expect(shareKey(ticks, { a: 1 })).not.toBe(shareKey(ticks, { a: 2 }));
    expect(shareKey(parse("subscription { offerAvailabilityChanged { offerId } }"), {})).not.toBeNull();
    expect(shareKey(parse("subscription { notifications { id } }"), {})).toBeNull(); // per user
    expect(shareKey(parse("{ providers { slug } }"), {})).toBeNull();
  });

  it("executes once for every member, keeps streaming when one leaves, and closes the source with the last", async () => {
    const shared = createSharedSubscriptions();
    const first = source();
    const second = source();
    const a = (await shared("k", () => first.iterator)) as AsyncIterableIterator<ExecutionResult>;
    const b = (await shared("k", () => second.iterator)) as AsyncIterableIterator<ExecutionResult>;
    expect(second.state.closed).toBe(true); // checked, then replaced by the shared stream
    first.emit(tick(1));
    expect((await a.next()).value).toEqual(tick(1));
    expect((await b.next()).value).toEqual(tick(1));
    await a.return!();
    first.emit(tick(2));
    expect((await b.next()).value).toEqual(tick(2));
    expect(first.state.closed).toBe(false);
    await b.return!();
    await flush();
    expect(first.state.closed).toBe(true);
    // a later subscriber starts a new shared stream
    const third = source();
    const c = (await shared("k", () => third.iterator)) as AsyncIterableIterator<ExecutionResult>;
    third.emit(tick(3));
    expect((await c.next()).value).toEqual(tick(3));
  });

  it("ends a member that stops reading with SUBSCRIPTION_OVERFLOW after its queued results; the others keep streaming", async () => {
    const shared = createSharedSubscriptions({ bufferLimit: 2 });
    const first = source();
    const reader = (await shared("k", () => first.iterator)) as AsyncIterableIterator<ExecutionResult>;
    const stalled = (await shared("k", () => source().iterator)) as AsyncIterableIterator<ExecutionResult>;
    for (let n = 1; n <= 5; n++) {
      first.emit(tick(n));
      expect((await reader.next()).value).toEqual(tick(n));
    }
    // the stalled member held ticks 1 and 2; tick 3 overflowed it, so 4 and 5 were never queued for it
    expect((await stalled.next()).value).toEqual(tick(1));
    expect((await stalled.next()).value).toEqual(tick(2));
    const last = await stalled.next();
    expect(last.done).toBe(false);
    expect(JSON.parse(JSON.stringify(last.value))).toEqual({ errors: [{
      message: "This subscription fell more than 2 events behind, so the server ended it after the events already queued. Subscribe again, with the cursor of the last event you received as `after` where the subscription takes one, to continue where you stopped.",
      extensions: { code: "SUBSCRIPTION_OVERFLOW", limit: 2 },
    }] });
    expect(await stalled.next()).toEqual({ value: undefined, done: true });
    first.emit(tick(6));
    expect((await reader.next()).value).toEqual(tick(6));
    expect(first.state.closed).toBe(false); // the reader still streams
    await reader.return!();
    await flush();
    expect(first.state.closed).toBe(true);
  });

  it("writes a socket's frames of one turn in one write, in order, behind what ws queued; ws's own send when its sender is busy", async () => {
    const shared = createSharedSubscriptions();
    const first = source();
    const fast = fakeWebSocket();
    const busy = fakeWebSocket();
    busy._sender._state = 1; // e.g. compressing: ws must frame and queue this itself
    await shared("k", () => first.iterator, { id: "1", socket: fast });
    await shared("k", () => source().iterator, { id: "7", socket: busy });
    fast._socket.write(Buffer.from("ws-queued")); // something ws wrote before
    for (let n = 1; n <= 3; n++) first.emit(tick(n));
    await flush();
    const next = (id: string, n: number) => `{"id":"${id}","type":"next","payload":{"data":{"priceTicks":{"n":${n}}}}}`;
    expect(fast.writes()).toEqual(["ws-queued", [1, 2, 3].map((n) => textFrame(next("1", n))).join("")]); // one write after the first
    expect(busy.sent).toEqual([1, 2, 3].map((n) => next("7", n)));
    first.emit(tick(4));
    await flush();
    expect(fast.writes().at(-1)).toEqual(textFrame(next("1", 4)));
    expect(fast._socket.corked).toBe(0);
  });

  it("closes a socket with 4413 when it held more unsent bytes than the limit before the turn's frames, not for the frames of this turn", async () => {
    const shared = createSharedSubscriptions({ maxBufferedBytes: 200 });
    const first = source();
    const reader = fakeWebSocket();
    const stalled = fakeWebSocket();
    await shared("k", () => first.iterator, { id: "1", socket: reader });
    await shared("k", () => source().iterator, { id: "1", socket: stalled });
    stalled._socket.stalled = true; // the kernel takes nothing more: what it is given stays unsent
    for (let n = 1; n <= 10; n++) first.emit(tick(n)); // ~700 bytes each turn: past the limit only once corked data counts
    await flush();
    expect(reader.closed).toBeNull();
    expect(stalled.closed).toBeNull();
    first.emit(tick(11));
    await flush();
    expect(reader.closed).toBeNull();
    expect(stalled.closed).toEqual({ code: SLOW_CONSUMER_CLOSE_CODE, reason: "Slow consumer: resubscribe with your last cursor as `after`" });
    expect(reader.writes()).toHaveLength(2);
  });

  it("paces flushes: after one that took F ms, the frames of the next F ms are held and go out in one write per socket", async () => {
    const shared = createSharedSubscriptions();
    const first = source();
    const ws = fakeWebSocket();
    const kernelMs = 80; // this flush's writes cost 80 ms of CPU (a big fan-out)
    const send = ws._socket.send.bind(ws._socket);
    let slow = true;
    const spin = (ms: number) => { const from = process.cpuUsage(); for (;;) { const d = process.cpuUsage(from); if (d.user + d.system >= ms * 1000) return; } };
    ws._socket.send = () => { if (slow && ws._socket.queued.length) spin(kernelMs); send(); };
    await shared("k", () => first.iterator, { id: "1", socket: ws });
    const next = (n: number) => textFrame(`{"id":"1","type":"next","payload":{"data":{"priceTicks":{"n":${n}}}}}`);
    first.emit(tick(1));
    await flush();
    const flushed = performance.now();
    expect(ws.writes()).toEqual([next(1)]);
    slow = false;
    first.emit(tick(2));
    await flush();
    first.emit(tick(3));
    await flush();
    expect(ws.writes()).toHaveLength(1); // held: the last flush took 80 ms
    while (ws.writes().length < 2) await new Promise((r) => setTimeout(r, 5));
    expect(performance.now() - flushed).toBeGreaterThanOrEqual(kernelMs / 2); // held about as long as the flush took (its CPU time)
    expect(ws.writes()).toEqual([next(1), next(2) + next(3)]); // both in one write
    expect(ws._socket.corked).toBe(0);
    // a cheap flush does not hold the next one
    first.emit(tick(4));
    await flush();
    expect(ws.writes().at(-1)).toEqual(next(4));
  });

  it("passes errors and unshareable streams straight through", async () => {
    const shared = createSharedSubscriptions();
    const failure = { errors: [{ message: "Unknown GPU model" }] };
    expect(await shared("k", () => failure)).toBe(failure);
    const own = source();
    expect(await shared(null, () => own.iterator)).toBe(own.iterator);
  });
});
