// How a stream ends when its caller's authority does (services/stream-authority.ts decides when):
// - Server-Sent Events (and any other HTTP stream): one last result with the coded UNAUTHENTICATED
//   error, then the stream completes (`event: complete`), as SUBSCRIPTION_OVERFLOW ends one.
// - graphql-ws: the credentials belong to the connection (connection_init), so the connection closes
//   with 4403 "Forbidden", as it does when they are refused at connect; graphql-ws clients retry 4403,
//   calling a `connectionParams` function again for a fresh token, and re-subscribe.
import { isAsyncIterable, type Plugin } from "graphql-yoga";
import type { ExecutionResult } from "graphql";
import type { AppError } from "../errors.ts";
import type { Context } from "./context.ts";
import { toGraphQLError } from "./errors.ts";

export const FORBIDDEN_CLOSE_CODE = 4403;

type Result = ExecutionResult;
type Watch = (end: (reason: AppError) => void) => () => void;

/** The stream until `watch` reports the end of its authority: then that coded error as its last result, and the end. */
export function untilAuthorityEnds(stream: AsyncIterable<Result>, watch: Watch): AsyncIterableIterator<Result> {
  const source = stream[Symbol.asyncIterator]();
  let ended: AppError | undefined;
  let done = false;
  // The pending next() of a reader, resolved at once when authority ends (no Promise.race: it would keep a reaction per event).
  let waiting: ((r: IteratorResult<Result>) => void) | undefined;
  const unwatch = watch((reason) => {
    ended = reason;
    void Promise.resolve(source.return?.()).catch(() => {});
    if (waiting) { const resolve = waiting; waiting = undefined; resolve(last()); }
  });
  const finish = () => { done = true; unwatch(); };
  const last = (): IteratorResult<Result> => { finish(); return { value: { errors: [toGraphQLError(ended!)] }, done: false }; };
  return {
    [Symbol.asyncIterator]() { return this; },
    next() {
      if (done) return Promise.resolve({ value: undefined, done: true });
      if (ended) return Promise.resolve(last());
      return new Promise<IteratorResult<Result>>((resolve, reject) => {
        waiting = resolve;
        source.next().then(
          (r) => { if (waiting !== resolve) return; waiting = undefined; if (r.done) finish(); resolve(r); },
          (err: unknown) => { if (waiting !== resolve) return; waiting = undefined; finish(); reject(err); },
        );
      });
    },
    async return() {
      finish();
      await source.return?.();
      return { value: undefined, done: true };
    },
    async throw(err: unknown) {
      finish();
      if (source.throw) return source.throw(err);
      throw err;
    },
  };
}

/** A graphql-ws operation's context carries no Fetch Request (server.ts watches those connections itself). */
const overHttp = (context: Partial<Context>) => typeof context.request?.headers?.get === "function";

/** Yoga plugin: an HTTP (SSE) subscription ends with a coded UNAUTHENTICATED result when its caller's authority ends. */
export function useStreamAuthority(): Plugin {
  return {
    onSubscribe: ({ args }) => ({
      onSubscribeResult: ({ result, setResult }) => {
        const context = args.contextValue as Context;
        if (!isAsyncIterable(result) || !overHttp(context) || context.actor.kind !== "user") return;
        setResult(untilAuthorityEnds(result as AsyncIterable<Result>, (end) => context.streamAuthority.watch(context.actor, end)));
      },
    }),
  };
}

/** The part of a ws WebSocket this needs. */
interface Socket {
  readonly readyState: number;
  close(code: number, reason: string): void;
  once(event: "close", listener: () => void): unknown;
}

/**
 * Closes the graphql-ws connection with 4403 when the authority it was opened with ends. False when
 * it has already ended (a token within the verifier's clock tolerance): refuse the connection instead.
 */
export function closeWhenAuthorityEnds(socket: Socket, context: Context): boolean {
  const OPEN = 1;
  let accepted = false;
  let refused = false;
  const unwatch = context.streamAuthority.watch(context.actor, (reason) => {
    if (!accepted) { refused = true; return; }
    // A close reason has at most 123 bytes; the messages are short and ASCII.
    socket.close(FORBIDDEN_CLOSE_CODE, `Forbidden: ${reason.message}`.slice(0, 123));
  });
  if (refused || socket.readyState !== OPEN) { unwatch(); return false; }
  accepted = true;
  socket.once("close", unwatch);
  return true;
}
