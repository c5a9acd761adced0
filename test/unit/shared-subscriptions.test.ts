import { describe, expect, it } from "vitest";
import { parse, type ExecutionResult } from "graphql";
import { createSharedSubscriptions, shareKey } from "../../src/graphql/shared-subscriptions.ts";

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
const tick = (n: number): ExecutionResult => ({ data: { priceTicks: { n } } });
const flush = () => new Promise((r) => setTimeout(r, 0));

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

  it("passes errors and unshareable streams straight through", async () => {
    const shared = createSharedSubscriptions();
    const failure = { errors: [{ message: "Unknown GPU model" }] };
    expect(await shared("k", () => failure)).toBe(failure);
    const own = source();
    expect(await shared(null, () => own.iterator)).toBe(own.iterator);
  });
});
