// The one pub/sub: Redis (graphql-redis-subscriptions over two ioredis clients) when a URL is given,
// so an event published on one API node reaches subscribers on all; in-process otherwise.
import { EventEmitter } from "node:events";
import { Redis } from "ioredis";
import { RedisPubSub } from "graphql-redis-subscriptions";
import { logger } from "./logger.ts";
import type { PubSub, Topic, Topics } from "./pubsub-types.ts";

export interface PubSubOptions {
  /** Redis URL; null or absent keeps events in this process. */
  redisUrl?: string | null;
  /** Namespaces the Redis channels (one per deployment, or per test). Default "gpubroker". */
  prefix?: string;
}

/** Moves JSON payloads on named channels; `listen` resolves once the channel is live. */
interface Transport {
  publish(channel: string, payload: unknown): Promise<void>;
  listen(channel: string, onEvent: (payload: unknown) => void): Promise<() => void>;
  close(): Promise<void>;
}

function inProcessTransport(): Transport {
  const emitter = new EventEmitter().setMaxListeners(0);
  return {
    // A JSON copy per publish: subscribers see exactly what they would see through Redis.
    publish: async (channel, payload) => { emitter.emit(channel, JSON.parse(JSON.stringify(payload))); },
    listen: async (channel, onEvent) => {
      emitter.on(channel, onEvent);
      return () => { emitter.off(channel, onEvent); };
    },
    close: async () => { emitter.removeAllListeners(); },
  };
}

function redisTransport(url: string): Transport {
  const log = logger.child({ component: "pubsub" });
  // Publishes queue while Redis restarts (ioredis default: 20 reconnect attempts, ~10 s); SUBSCRIBE waits
  // for as long as it takes. On reconnect ioredis re-subscribes every channel (autoResubscribe).
  const publisher = new Redis(url);
  // No INFO ready check or CLIENT SETINFO on the subscriber: a SUBSCRIBE that overtakes them puts the
  // connection in subscriber mode, they fail and ioredis drops it (ioredis#2037, #2099); SUBSCRIBE needs neither.
  const subscriber = new Redis(url, { maxRetriesPerRequest: null, autoResubscribe: true, enableReadyCheck: false, disableClientInfo: true });
  for (const client of [publisher, subscriber]) client.on("error", (err: Error) => log.warn({ err: err.message }, "redis"));
  subscriber.on("ready", () => log.debug("redis subscriber ready"));
  const engine = new RedisPubSub({ publisher, subscriber });
  return {
    publish: (channel, payload) => engine.publish(channel, payload),
    listen: async (channel, onEvent) => {
      const id = await engine.subscribe(channel, onEvent);
      return () => engine.unsubscribe(id);
    },
    // QUIT waits for pending replies, so only when connected; otherwise it would wait for Redis to return.
    close: async () => {
      await Promise.all([publisher, subscriber].map(async (c) => { if (c.status === "ready") await c.quit(); else c.disconnect(); }));
    },
  };
}

const MAX_BUFFERED = 10_000;

export function createPubSub({ redisUrl, prefix = "gpubroker" }: PubSubOptions = {}): PubSub {
  const transport = redisUrl ? redisTransport(redisUrl) : inProcessTransport();
  const live = new Map<Topic, number>();
  const open = new Set<AsyncIterableIterator<unknown, undefined>>();
  const channel = (topic: Topic) => `${prefix}:${topic}`;
  const count = (topic: Topic, by: number) => live.set(topic, (live.get(topic) ?? 0) + by);

  function subscribe<K extends Topic>(topic: K, keep?: (event: Topics[K]) => boolean): AsyncIterableIterator<Topics[K]> {
    type Event = Topics[K];
    const DONE: IteratorReturnResult<undefined> = { value: undefined, done: true };
    const queue: Event[] = [];
    const waiting: ((result: IteratorResult<Event, undefined>) => void)[] = [];
    let ended = false;
    const wanted = (event: Event) => {
      try { return !keep || keep(event); } catch (err) { logger.warn({ err, topic }, "dropped an event the filter could not read"); return false; }
    };
    const push = (event: Event) => {
      if (ended || !wanted(event)) return;
      const reader = waiting.shift();
      if (reader) reader({ value: event, done: false });
      // A reader that stopped reading loses its oldest events, not the process its memory.
      else if (queue.push(event) > MAX_BUFFERED) queue.shift();
    };
    // Subscribes now, not on the first next(): events published after this call are not lost.
    const stop = transport.listen(channel(topic), push as (payload: unknown) => void).then(
      (unlisten) => { count(topic, 1); return () => { count(topic, -1); unlisten(); }; },
      (err: unknown) => { logger.error({ err, topic }, "pubsub subscribe failed"); void end(); return () => {}; },
    );
    function end(): Promise<IteratorReturnResult<undefined>> {
      if (!ended) {
        ended = true;
        open.delete(iterator);
        queue.length = 0;
        for (const reader of waiting.splice(0)) reader(DONE);
        // Not awaited: while Redis is down the (UN)SUBSCRIBE waits for it, and the reader must not.
        void stop.then((unlisten) => unlisten());
      }
      return Promise.resolve(DONE);
    }
    const iterator: AsyncIterableIterator<Event, undefined> = {
      next: () => queue.length ? Promise.resolve({ value: queue.shift()!, done: false })
        : ended ? Promise.resolve(DONE) : new Promise((resolve) => waiting.push(resolve)),
      return: end,
      async throw(err) { await end(); throw err; },
      [Symbol.asyncIterator]() { return iterator; },
    };
    open.add(iterator);
    return iterator;
  }

  return {
    publish: (topic, payload) => transport.publish(channel(topic), payload),
    subscribe,
    subscriberCount: (topic) => live.get(topic) ?? 0,
    async close() {
      for (const it of [...open]) await it.return?.();
      await transport.close();
    },
  };
}
