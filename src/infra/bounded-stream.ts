// A bounded async iterator fed by push, built on @repeaterjs/repeater (the Repeater graphql-yoga uses): what every subscriber reads
// (one per pub/sub subscription, one per member of a shared GraphQL stream). No hand-written iterator protocol here.
import { FixedBuffer, Repeater } from "@repeaterjs/repeater";
import { subscriptionOverflow } from "../errors.ts";

// Overflow policy: an event that finds this many still waiting ends that subscriber's stream with SUBSCRIPTION_OVERFLOW (after the waiting ones); it resubscribes.
export const SUBSCRIBER_BUFFER_LIMIT = 10_000;

export interface BoundedStream<T> {
  /** The reader's side: the pushed values in order, then the end (or the error it ended with). */
  readonly iterator: AsyncIterableIterator<T>;
  /** Queues a value; false once the stream has ended (including by this push overflowing it). */
  push(value: T): boolean;
  /** Ends the stream: the reader still gets the values already queued, then the end or `error`. */
  end(error?: Error): void;
}

/**
 * A stream that is live at once (values pushed before the reader's first next() wait for it) and holds
 * at most `limit` unread values. `onEnd` runs once, however it ends: end(), overflow, or the reader's
 * return()/throw().
 */
export function boundedStream<T>(limit: number = SUBSCRIBER_BUFFER_LIMIT, onEnd: () => void = () => {}): BoundedStream<T> {
  if (!Number.isSafeInteger(limit) || limit < 1) throw new RangeError(`A subscriber buffer holds at least 1 event (got ${limit}).`);
  const buffer = new FixedBuffer(limit);
  // The Repeater's own push and stop, once the reader's first next() has started it (Repeaters start lazily).
  let running: { push: (value: T) => Promise<unknown>; stop: (error?: unknown) => unknown } | null = null;
  let ended = false;
  let endError: Error | undefined;

  function end(error?: Error) {
    if (ended) return;
    ended = true;
    endError = error;
    running?.stop(error);
    onEnd();
  }

  // A return() or throw() before the first next() never starts the executor, so these end the stream themselves.
  class Stream extends Repeater<T> {
    override return(value?: unknown) { end(); return super.return(value); }
    override throw(error: unknown) { end(); return super.throw(error); }
  }
  const iterator = new Stream((push, stop) => {
    running = { push, stop };
    if (ended) stop(endError);
    void stop.then(() => end());
  }, buffer);

  return {
    iterator,
    push(value) {
      if (ended) return false;
      if (buffer.full) {
        end(subscriptionOverflow(limit));
        return false;
      }
      // Not started yet: the buffer is the Repeater's, so the first next() reads this value from it.
      if (running) void running.push(value); else buffer.add(value);
      return true;
    },
    end,
  };
}
