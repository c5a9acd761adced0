// The one pub/sub: Redis (graphql-redis-subscriptions over two ioredis clients) when a URL is given,
// so an event published on one API node reaches subscribers on all; in-process otherwise. Each
// subscriber reads a bounded stream (bounded-stream.ts) fed from the transport.
import { EventEmitter } from "node:events";
import { Redis } from "ioredis";
import { RedisPubSub } from "graphql-redis-subscriptions";
import { boundedStream, SUBSCRIBER_BUFFER_LIMIT, type BoundedStream } from "./bounded-stream.ts";
import { logger } from "./logger.ts";
import type { Metrics } from "./metrics.ts";
import type { PubSub, Topic, Topics } from "./pubsub-types.ts";

export interface PubSubOptions {
  /** Redis URL; null or absent keeps events in this process. */
  redisUrl?: string | null;
  /** Namespaces the Redis channels (one per deployment, or per test). Default "gpubroker". */
  prefix?: string;
  /** Events that may wait per subscriber before its subscription overflows; default SUBSCRIBER_BUFFER_LIMIT. */
  bufferLimit?: number;
  /** Counts publishes by topic and reports the Redis clients' state. */
  metrics?: Metrics | undefined;
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

function redisTransport(url: string, metrics: Metrics | undefined): Transport {
  const log = logger.child({ component: "pubsub" });
  // Publishes queue while Redis restarts (ioredis default: 20 reconnect attempts, ~10 s); SUBSCRIBE waits
  // for as long as it takes. On reconnect ioredis re-subscribes every channel (autoResubscribe).
  const publisher = new Redis(url);
  // No INFO ready check or CLIENT SETINFO on the subscriber: a SUBSCRIBE that overtakes them puts the
  // connection in subscriber mode, they fail and ioredis drops it (ioredis#2037, #2099); SUBSCRIBE needs neither.
  const subscriber = new Redis(url, { maxRetriesPerRequest: null, autoResubscribe: true, enableReadyCheck: false, disableClientInfo: true });
  for (const client of [publisher, subscriber]) client.on("error", (err: Error) => log.warn({ err: err.message }, "redis"));
  subscriber.on("ready", () => log.debug("redis subscriber ready"));
  metrics?.observeRedis("pubsub_publisher", publisher);
  metrics?.observeRedis("pubsub_subscriber", subscriber);
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

export function createPubSub({ redisUrl, prefix = "gpubroker", bufferLimit = SUBSCRIBER_BUFFER_LIMIT, metrics }: PubSubOptions = {}): PubSub {
  const transport = redisUrl ? redisTransport(redisUrl, metrics) : inProcessTransport();
  const live = new Map<Topic, number>();
  const open = new Set<AsyncIterableIterator<unknown>>();
  const channel = (topic: Topic) => `${prefix}:${topic}`;
  const count = (topic: Topic, by: number) => live.set(topic, (live.get(topic) ?? 0) + by);

  function subscribe<K extends Topic>(topic: K, keep?: (event: Topics[K]) => boolean): AsyncIterableIterator<Topics[K]> {
    type Event = Topics[K];
    const wanted = (event: Event) => {
      try { return !keep || keep(event); } catch (err) { logger.warn({ err, topic }, "dropped an event the filter could not read"); return false; }
    };
    let listening: Promise<() => void> | undefined;
    const stream: BoundedStream<Event> = boundedStream<Event>(bufferLimit, () => {
      open.delete(stream.iterator);
      // Not awaited: while Redis is down the (UN)SUBSCRIBE waits for it, and the reader must not.
      void listening?.then((unlisten) => unlisten());
    });
    // Subscribes now, not on the first next(): events published after this call are not lost.
    listening = transport.listen(channel(topic), (payload) => { if (wanted(payload as Event)) stream.push(payload as Event); }).then(
      (unlisten) => { count(topic, 1); return () => { count(topic, -1); unlisten(); }; },
      (err: unknown) => { logger.error({ err, topic }, "pubsub subscribe failed"); stream.end(); return () => {}; },
    );
    open.add(stream.iterator);
    return stream.iterator;
  }

  return {
    publish: (topic, payload) => {
      metrics?.pubsubPublished.inc({ topic });
      return transport.publish(channel(topic), payload);
    },
    subscribe,
    subscriberCount: (topic) => live.get(topic) ?? 0,
    async close() {
      for (const iterator of [...open]) await iterator.return?.();
      await transport.close();
    },
  };
}
