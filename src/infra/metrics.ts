// Prometheus metrics: one registry per app (tests never share counts) holding the process metrics,
// the GraphQL metrics (graphql/metrics.ts adds them to the same registry) and the product metrics
// below. Every label value is bounded: slugs, topics, buckets, codes and schema field names, never a
// user id or operation text. Modules take the Metrics object as an optional dependency.
import { createHash, timingSafeEqual } from "node:crypto";
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";

export interface MetricsOptions {
  /** process_* and nodejs_* (CPU, memory, event loop lag, GC); one set of observers per registry, so the process's own only. */
  processMetrics?: boolean;
}

/** Connection counts of the PostgreSQL pool (pg.Pool totalCount, idleCount, waitingCount, options.max). */
export interface PoolStats { total: number; idle: number; waiting: number; max: number }

/** What a Redis client exposes of its state (ioredis `status`: "ready" when usable). */
export interface RedisLike { readonly status: string }

export type Transport = "ws" | "sse";

export function createMetrics({ processMetrics = false }: MetricsOptions = {}) {
  const registry = new Registry();
  if (processMetrics) collectDefaultMetrics({ register: registry });
  const registers = [registry];

  const pools: (() => PoolStats)[] = [];
  const redisClients = new Map<string, RedisLike>();
  const lastSuccess = new Map<string, number>();

  const metrics = {
    registry,

    subscriptionsActive: new Gauge({
      name: "gpubroker_subscriptions_active", help: "Open GraphQL subscriptions on this node, by root field and transport (ws, sse).",
      labelNames: ["field", "transport"] as const, registers,
    }),
    websocketConnections: new Gauge({ name: "gpubroker_websocket_connections", help: "Open graphql-ws WebSocket connections on this node.", registers }),
    pubsubPublished: new Counter({
      name: "gpubroker_pubsub_events_published_total", help: "Events published on the pub/sub, by topic (failed publishes included).",
      labelNames: ["topic"] as const, registers,
    }),
    eventsRelayed: new Counter({
      name: "gpubroker_events_relayed_total", help: "Outbox events this node's relay wrote to Redis Streams, by stream (market, notification).",
      labelNames: ["stream"] as const, registers,
    }),
    eventsRead: new Counter({
      name: "gpubroker_events_read_total", help: "Events this node's feeds handed to their subscribers, by stream and source (redis; postgres: catch-up after a stall or without Redis; gap: entries Redis lost).",
      labelNames: ["stream", "source"] as const, registers,
    }),
    eventRelayBehind: new Gauge({
      name: "gpubroker_event_relay_behind_events", help: "Committed events not yet written to Redis at the relay's last pass, by stream (with Redis only).",
      labelNames: ["stream"] as const, registers,
    }),
    eventFeedBehind: new Gauge({
      name: "gpubroker_event_feed_behind_events", help: "Committed events this node's feed had not yet read at its last check, by stream.",
      labelNames: ["stream"] as const, registers,
    }),
    rateLimitRejections: new Counter({
      name: "gpubroker_rate_limit_rejections_total", help: "Operations refused with RATE_LIMITED, by bucket.",
      labelNames: ["bucket"] as const, registers,
    }),

    ingestionPollDuration: new Histogram({
      name: "gpubroker_ingestion_poll_duration_seconds", help: "Time a provider took to answer one poll (the fetch, not the import).",
      labelNames: ["provider"] as const, buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120], registers,
    }),
    ingestionPolls: new Counter({
      name: "gpubroker_ingestion_polls_total", help: "Provider polls by result: ok (applied), stale (discarded, a newer catalog was applied meanwhile), error.",
      labelNames: ["provider", "result"] as const, registers,
    }),
    ingestionOffersChanged: new Counter({
      name: "gpubroker_ingestion_offers_changed_total", help: "Offer price or availability changes applied by polls.",
      labelNames: ["provider"] as const, registers,
    }),
    ingestionLeader: new Gauge({ name: "gpubroker_ingestion_leader", help: "1 while this node holds the ingestion lock and polls providers.", registers }),
    priceHistoryRolledUp: new Counter({
      name: "gpubroker_price_points_rolled_up_total", help: "Raw price points older than PRICE_HISTORY_RAW_DAYS the leader rolled up into hourly rows (and deleted).", registers,
    }),
    priceRetentionLastRun: new Gauge({
      name: "gpubroker_price_retention_last_run_timestamp_seconds", help: "Unix time the leader last finished a price-history roll-up run (0: none yet on this node).", registers,
    }),
    /** The leader records each provider's last successful poll here (and loads the stored ones when it takes over). */
    ingestionSucceeded(provider: string, at: Date | number = Date.now()) {
      const time = typeof at === "number" ? at : at.getTime();
      if (time > (lastSuccess.get(provider) ?? 0)) lastSuccess.set(provider, time);
    },

    assistantFirstDelta: new Histogram({
      name: "gpubroker_assistant_first_delta_seconds", help: "Time from the start of an answer to its first text delta.",
      labelNames: ["backend"] as const, buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60], registers,
    }),
    assistantTokens: new Counter({
      name: "gpubroker_assistant_tokens_total", help: "Tokens the backend reported, by kind (prompt, completion).",
      labelNames: ["backend", "kind"] as const, registers,
    }),
    assistantToolCalls: new Counter({ name: "gpubroker_assistant_tool_calls_total", help: "Tool calls made while answering.", labelNames: ["backend"] as const, registers }),
    assistantAnswers: new Counter({
      name: "gpubroker_assistant_answers_total", help: "Answers finished on this node, by status (COMPLETE, FAILED, CANCELLED).",
      labelNames: ["backend", "status"] as const, registers,
    }),
    assistantFailures: new Counter({
      name: "gpubroker_assistant_failures_total", help: "Answers that failed, by error code.",
      labelNames: ["backend", "code"] as const, registers,
    }),

    /** Reports this pool's connections on every scrape. */
    observePool(stats: () => PoolStats) { pools.push(stats); },
    /** Reports this Redis client's state on every scrape, as gpubroker_redis_up{client}. */
    observeRedis(client: string, redis: RedisLike) { redisClients.set(client, redis); },
  };

  new Gauge({
    name: "gpubroker_ingestion_seconds_since_success", help: "Seconds since the provider's last successful poll (reported by the leader).",
    labelNames: ["provider"] as const, registers,
    collect() {
      this.reset();
      const now = Date.now();
      for (const [provider, at] of lastSuccess) this.set({ provider }, Math.max(0, (now - at) / 1000));
    },
  });
  new Gauge({
    name: "gpubroker_db_pool_connections", help: "PostgreSQL pool connections by state (idle, busy) and its size (max).",
    labelNames: ["state"] as const, registers,
    collect() {
      this.reset();
      for (const stats of pools.map((s) => s())) {
        this.inc({ state: "idle" }, stats.idle);
        this.inc({ state: "busy" }, stats.total - stats.idle);
        this.inc({ state: "max" }, stats.max);
      }
    },
  });
  new Gauge({
    name: "gpubroker_db_pool_waiting_requests", help: "Queries waiting for a free PostgreSQL pool connection.", registers,
    collect() { this.set(pools.reduce((sum, s) => sum + s().waiting, 0)); },
  });
  new Gauge({
    name: "gpubroker_redis_up", help: "1 while the Redis client is connected and ready, by client (rate_limit, pubsub_publisher, pubsub_subscriber).",
    labelNames: ["client"] as const, registers,
    collect() {
      this.reset();
      for (const [client, redis] of redisClients) this.set({ client }, redis.status === "ready" ? 1 : 0);
    },
  });

  return metrics;
}

export type Metrics = ReturnType<typeof createMetrics>;

export interface MetricsResponse { status: number; headers: Record<string, string>; body: string }

/**
 * The answer to a scrape: the registry in the Prometheus text format, or 401 when a token is required and the
 * request does not carry it as `Authorization: Bearer <token>` (compared in constant time).
 */
export async function scrape(metrics: Metrics, authorization: string | null | undefined, token: string | undefined): Promise<MetricsResponse> {
  const noStore = { "cache-control": "no-store" };
  if (token && !bearerMatches(authorization, token)) {
    return { status: 401, headers: { ...noStore, "content-type": "text/plain; charset=utf-8", "www-authenticate": 'Bearer realm="metrics"' }, body: "Unauthorized\n" };
  }
  return { status: 200, headers: { ...noStore, "content-type": metrics.registry.contentType }, body: await metrics.registry.metrics() };
}

const digest = (value: string) => createHash("sha256").update(value).digest();

function bearerMatches(authorization: string | null | undefined, token: string): boolean {
  const match = /^Bearer\s+(.+)$/i.exec(authorization?.trim() ?? "");
  return !!match && timingSafeEqual(digest(match[1]!), digest(token));
}

/** Which Metrics a Yoga app was built with, for the server around it (WebSocket counts). */
const attached = new WeakMap<object, Metrics>();
export function attachMetrics(app: object, metrics: Metrics): void { attached.set(app, metrics); }
export function metricsOf(app: object): Metrics | undefined { return attached.get(app); }

/**
 * The iterator, with `onEnd` called once when it ends (done, return or throw). A plain
 * wrapper rather than an async generator: return() must reach the source at once, not after its pending next().
 */
export function countWhileOpen<T>(source: AsyncIterator<T>, onEnd: () => void): AsyncIterableIterator<T> {
  let open = true;
  const end = () => { if (open) { open = false; onEnd(); } };
  return {
    async next() {
      try {
        const result = await source.next();
        if (result.done) end();
        return result;
      } catch (err) {
        end();
        throw err;
      }
    },
    async return(value?: unknown) {
      end();
      return (await source.return?.(value)) ?? { done: true, value: undefined as never };
    },
    async throw(err?: unknown) {
      end();
      if (source.throw) return source.throw(err);
      throw err;
    },
    [Symbol.asyncIterator]() { return this; },
  };
}
