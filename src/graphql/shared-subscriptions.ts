// Subscription streams on the server. Subscribers of the same public stream (same document and
// variables, e.g. thousands of dashboards on `priceTicks`) share one execution per event instead of
// one each: the result is computed once and handed to every member, each through its own bounded
// buffer. Each subscriber still goes through the full enveloped subscribe (auth, validation, rate
// limits) before it joins. A stream that fails with a coded error (SUBSCRIPTION_OVERFLOW …) sends
// that error as its last result, over WebSocket and SSE alike.
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

class Hub {
  readonly members = new Set<BoundedStream<Result>>();
  constructor(private readonly source: AsyncIterableIterator<Result>, private readonly onEmpty: () => void, private readonly bufferLimit: number) {
    void this.pump();
  }
  private async pump() {
    let failure: Error | undefined;
    try {
      for await (const result of this.source) for (const m of this.members) m.push(result);
    } catch (err) {
      failure = err instanceof Error ? err : new Error(String(err)); // already masked by the enveloped subscribe
    } finally {
      for (const m of [...this.members]) m.end(failure);
      this.onEmpty();
    }
  }
  join(): AsyncIterableIterator<Result> {
    const member: BoundedStream<Result> = boundedStream<Result>(this.bufferLimit, () => {
      this.members.delete(member);
      if (this.members.size === 0) {
        this.onEmpty();
        void this.source.return?.();
      }
    });
    this.members.add(member);
    return endOnCodedError(member.iterator);
  }
}

export interface SharedSubscriptionOptions {
  /** Results that may wait per member before it overflows; default SUBSCRIBER_BUFFER_LIMIT. */
  bufferLimit?: number;
}

/** Wraps an enveloped `subscribe` so identical public streams share their per-event execution. */
export function createSharedSubscriptions({ bufferLimit = SUBSCRIBER_BUFFER_LIMIT }: SharedSubscriptionOptions = {}) {
  const hubs = new Map<string, Hub>();
  return async function shared(key: string | null, subscribe: () => Promise<unknown> | unknown): Promise<unknown> {
    const own = await subscribe();
    if (!key || !isAsyncIterable(own)) return own; // errors (bad filter, limits) go to that subscriber alone
    const hub = hubs.get(key);
    if (hub) {
      void (own as AsyncIterableIterator<Result>).return?.(); // checks passed; the hub already streams this
      return hub.join();
    }
    const created: Hub = new Hub(own as AsyncIterableIterator<Result>, () => { if (hubs.get(key) === created) hubs.delete(key); }, bufferLimit);
    hubs.set(key, created);
    return created.join();
  };
}
