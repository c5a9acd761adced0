// Subscribers of the same public stream (same document and variables, e.g. thousands of dashboards
// on `priceTicks`) share one execution per event instead of one each: the result is computed once
// and handed to every member. Each subscriber still goes through the full enveloped subscribe
// (auth, validation, rate limits) before it joins.
import { isAsyncIterable } from "graphql-yoga";
import { Kind, type DocumentNode, type ExecutionResult } from "graphql";

/** Root subscription fields whose results do not depend on who is asking. */
const SHAREABLE = new Set(["priceTicks", "offerAvailabilityChanged"]);

export function shareKey(document: DocumentNode, variables: unknown): string | null {
  const operations = document.definitions.filter((d) => d.kind === Kind.OPERATION_DEFINITION);
  if (operations.length !== 1 || operations[0]!.operation !== "subscription") return null;
  const fields = operations[0]!.selectionSet.selections;
  if (!fields.every((s) => s.kind === Kind.FIELD && SHAREABLE.has(s.name.value))) return null;
  return `${document.loc?.source.body ?? ""}\u0000${JSON.stringify(variables ?? {})}`;
}

type Result = ExecutionResult;

class Member implements AsyncIterableIterator<Result> {
  private queue: Result[] = [];
  private waiting: ((r: IteratorResult<Result>) => void) | null = null;
  private done = false;
  constructor(private readonly leave: (m: Member) => void) {}
  push(value: Result) {
    if (this.done) return;
    if (this.waiting) { const w = this.waiting; this.waiting = null; w({ value, done: false }); } else this.queue.push(value);
  }
  end() {
    this.done = true;
    if (this.waiting) { const w = this.waiting; this.waiting = null; w({ value: undefined, done: true }); }
  }
  next(): Promise<IteratorResult<Result>> {
    if (this.queue.length) return Promise.resolve({ value: this.queue.shift()!, done: false });
    if (this.done) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => { this.waiting = resolve; });
  }
  return(): Promise<IteratorResult<Result>> {
    this.queue = [];
    this.end();
    this.leave(this);
    return Promise.resolve({ value: undefined, done: true });
  }
  [Symbol.asyncIterator]() { return this; }
}

class Hub {
  readonly members = new Set<Member>();
  constructor(private readonly source: AsyncIterableIterator<Result>, private readonly onEmpty: () => void) {
    void this.pump();
  }
  private async pump() {
    try {
      for await (const result of this.source) for (const m of this.members) m.push(result);
    } finally {
      for (const m of this.members) m.end();
      this.onEmpty();
    }
  }
  join(): Member {
    const member = new Member((m) => {
      this.members.delete(m);
      if (this.members.size === 0) {
        this.onEmpty();
        void this.source.return?.();
      }
    });
    this.members.add(member);
    return member;
  }
}

/** Wraps an enveloped `subscribe` so identical public streams share their per-event execution. */
export function createSharedSubscriptions() {
  const hubs = new Map<string, Hub>();
  return async function shared(key: string | null, subscribe: () => Promise<unknown> | unknown): Promise<unknown> {
    const own = await subscribe();
    if (!key || !isAsyncIterable(own)) return own; // errors (bad filter, limits) go to that subscriber alone
    const hub = hubs.get(key);
    if (hub) {
      void (own as AsyncIterableIterator<Result>).return?.(); // checks passed; the hub already streams this
      return hub.join();
    }
    const created: Hub = new Hub(own as AsyncIterableIterator<Result>, () => { if (hubs.get(key) === created) hubs.delete(key); });
    hubs.set(key, created);
    return created.join();
  };
}
