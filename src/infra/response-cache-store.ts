// Where cached GraphQL responses live: an in-memory LRU per process, or Redis shared by every node.
//
// Both follow the contract of @envelop/response-cache's Cache (get / set with the entities a result
// holds / invalidate by typename or typename:id), plus two rules of ours:
// - an invalidation bumps an epoch, and `set` stores a result only if no invalidation happened since
//   the `get` that missed for the same key: a query that read the old price before a change committed
//   cannot write it back after the change's invalidation (in Redis the check and the write are one script);
// - nothing ever throws to the request: Redis unreachable means "not cached" (logged once per outage),
//   and after an invalidation that could not be written the store serves nothing until Redis is back
//   and our keys are flushed, since its entries may be stale.
import type { ExecutionResult } from "graphql";
import { Redis } from "ioredis";
import type { Logger } from "pino";
import { logger } from "./logger.ts";
import type { Metrics } from "./metrics.ts";

export interface CacheEntity { typename: string; id?: number | string }

export interface ResponseCacheStore {
  /** The cached result, or undefined (miss, or the store unavailable); remembers the epoch for the `set` that may follow. */
  get(key: string): Promise<ExecutionResult | undefined>;
  /** Stores the result unless an invalidation happened since this key's `get`. Never rejects. */
  set(key: string, result: ExecutionResult, entities: Iterable<CacheEntity>, ttlMs: number): Promise<void>;
  /** Drops every result that holds one of the entities (a typename alone: every result holding that type). Never rejects. */
  invalidate(entities: Iterable<CacheEntity>): Promise<void>;
  close(): Promise<void>;
}

const entityKey = (e: CacheEntity) => (e.id == null ? e.typename : `${e.typename}:${e.id}`);

/**
 * The epoch each key's last miss saw, until its `set`. Two requests missing the same key at once keep
 * the older epoch (the stricter check); a miss never followed by a set (an error) is forgotten in time.
 */
function missEpochs(limit = 10_000) {
  const seen = new Map<string, string>();
  return {
    note(key: string, epoch: string) {
      if (seen.has(key)) return;
      if (seen.size >= limit) seen.delete(seen.keys().next().value!);
      seen.set(key, epoch);
    },
    take(key: string): string | undefined {
      const epoch = seen.get(key);
      seen.delete(key);
      return epoch;
    },
  };
}

// ------------------------------------------------------------ In memory

export interface MemoryStoreOptions {
  /** Results kept (least recently used dropped first); default 500. */
  maxEntries?: number;
}

export function createMemoryResponseCacheStore(opts: MemoryStoreOptions = {}): ResponseCacheStore {
  const maxEntries = opts.maxEntries ?? 500;
  // JSON text: every hit gets its own copy, which later plugins may change freely.
  const entries = new Map<string, { json: string; expires: number; entityKeys: string[] }>();
  const index = new Map<string, Set<string>>();
  const misses = missEpochs();
  let epoch = 0;

  const drop = (key: string) => {
    const entry = entries.get(key);
    if (!entry) return;
    entries.delete(key);
    for (const k of entry.entityKeys) {
      const keys = index.get(k);
      keys?.delete(key);
      if (keys?.size === 0) index.delete(k);
    }
  };

  return {
    async get(key) {
      const entry = entries.get(key);
      if (entry && entry.expires > Date.now()) {
        entries.delete(key); // most recently used last
        entries.set(key, entry);
        return JSON.parse(entry.json) as ExecutionResult;
      }
      if (entry) drop(key);
      misses.note(key, String(epoch));
      return undefined;
    },
    async set(key, result, entities, ttlMs) {
      if (misses.take(key) !== String(epoch) || ttlMs <= 0) return;
      drop(key);
      const entityKeys = new Set<string>();
      for (const e of entities) { entityKeys.add(entityKey(e)); entityKeys.add(e.typename); }
      entries.set(key, { json: JSON.stringify(result), expires: Date.now() + Math.min(ttlMs, 2 ** 31), entityKeys: [...entityKeys] });
      for (const k of entityKeys) {
        let keys = index.get(k);
        if (!keys) index.set(k, (keys = new Set()));
        keys.add(key);
      }
      while (entries.size > maxEntries) drop(entries.keys().next().value!);
    },
    async invalidate(entities) {
      epoch++;
      for (const e of entities) for (const key of [...(index.get(entityKey(e)) ?? [])]) drop(key);
    },
    async close() { entries.clear(); index.clear(); },
  };
}

// ------------------------------------------------------------ Redis

export interface RedisStoreOptions {
  url: string;
  /** Namespaces the keys (one per deployment, or per test); default "gpubroker:rc". */
  prefix?: string;
  /** The longest TTL any result gets: the entity index sets live this long, so they outlive their results. */
  maxTtlMs: number;
  /** How long a Redis command may take before the request goes on uncached; default 500 ms. */
  commandTimeoutMs?: number;
  metrics?: Metrics | undefined;
  log?: Logger;
}

// KEYS[1] epoch, KEYS[2] result, KEYS[3..] entity index sets; ARGV: epoch seen at the miss, JSON, ttl, index ttl, result key.
const SET_SCRIPT = `
if (redis.call('GET', KEYS[1]) or '0') ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
for i = 3, #KEYS do
  redis.call('SADD', KEYS[i], ARGV[5])
  redis.call('PEXPIRE', KEYS[i], ARGV[4])
end
return 1`;

// KEYS[1] epoch, KEYS[2..] entity index sets; ARGV[1] the result keys' prefix.
const INVALIDATE_SCRIPT = `
redis.call('INCR', KEYS[1])
for i = 2, #KEYS do
  for _, key in ipairs(redis.call('SMEMBERS', KEYS[i])) do redis.call('UNLINK', ARGV[1] .. key) end
  redis.call('UNLINK', KEYS[i])
end
return 1`;

type ScriptedRedis = Redis & {
  cacheSet(...args: (string | number)[]): Promise<number>;
  cacheInvalidate(...args: (string | number)[]): Promise<number>;
};

export function createRedisResponseCacheStore(opts: RedisStoreOptions): ResponseCacheStore {
  const prefix = opts.prefix ?? "gpubroker:rc";
  const log = opts.log ?? logger.child({ component: "response-cache" });
  const epochKey = `${prefix}:epoch`;
  const resultPrefix = `${prefix}:r:`;
  const indexKey = (k: string) => `${prefix}:e:${k}`;
  // No offline queue: while Redis is away a request goes on uncached at once instead of waiting for it.
  const redis = new Redis(opts.url, {
    enableOfflineQueue: false, maxRetriesPerRequest: 0, commandTimeout: opts.commandTimeoutMs ?? 500,
    retryStrategy: (times) => Math.min(times * 200, 2_000),
  }) as ScriptedRedis;
  redis.defineCommand("cacheSet", { lua: SET_SCRIPT });
  redis.defineCommand("cacheInvalidate", { lua: INVALIDATE_SCRIPT });
  opts.metrics?.observeRedis("response_cache", redis);
  const misses = missEpochs();
  let closed = false;
  let down = false;
  /** An invalidation was lost: entries may be stale until our keys are flushed. */
  let dirty = false;
  let flushing: Promise<void> | null = null;

  const failed = (err: unknown, what: string) => {
    if (closed) return;
    if (!down) log.warn({ err: (err as Error).message, what }, "response cache: Redis unavailable; answering uncached");
    down = true;
  };
  redis.on("error", (err: Error) => failed(err, "connection"));
  redis.on("ready", () => {
    if (down) log.info("response cache: Redis reachable again");
    down = false;
    if (dirty) void flush();
  });

  /** Deletes every key of ours (results, index sets), then serves again. */
  function flush(): Promise<void> {
    flushing ??= (async () => {
      try {
        let cursor = "0";
        do {
          const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 1000);
          cursor = next;
          const stale = keys.filter((k) => k !== epochKey);
          if (stale.length) await redis.unlink(...stale);
        } while (cursor !== "0");
        await redis.incr(epochKey);
        dirty = false;
        log.info("response cache: flushed after a lost invalidation");
      } catch (err) {
        failed(err, "flush");
        if (!closed) setTimeout(() => { if (dirty && redis.status === "ready") void flush(); }, 1_000).unref();
      } finally {
        flushing = null;
      }
    })();
    return flushing;
  }

  return {
    async get(key) {
      if (dirty || closed || redis.status !== "ready") return undefined;
      try {
        const [epoch, json] = await redis.mget(epochKey, resultPrefix + key);
        if (json) return JSON.parse(json) as ExecutionResult;
        misses.note(key, epoch ?? "0");
      } catch (err) {
        failed(err, "get");
      }
      return undefined;
    },
    async set(key, result, entities, ttlMs) {
      const epoch = misses.take(key);
      if (epoch === undefined || dirty || closed || ttlMs <= 0 || redis.status !== "ready") return;
      const keys = new Set<string>();
      for (const e of entities) { keys.add(indexKey(entityKey(e))); keys.add(indexKey(e.typename)); }
      const ttl = Math.round(Math.min(ttlMs, opts.maxTtlMs));
      try {
        await redis.cacheSet(2 + keys.size, epochKey, resultPrefix + key, ...keys, epoch, JSON.stringify(result), ttl, Math.max(ttl, opts.maxTtlMs), key);
      } catch (err) {
        failed(err, "set");
      }
    },
    async invalidate(entities) {
      const keys = new Set<string>();
      for (const e of entities) keys.add(indexKey(entityKey(e)));
      if (!keys.size || closed) return;
      // Not connected (starting, or an outage): whatever Redis holds may miss this invalidation, so it is flushed on reconnecting.
      if (redis.status !== "ready") { dirty = true; return; }
      try {
        await redis.cacheInvalidate(1 + keys.size, epochKey, ...keys, resultPrefix);
      } catch (err) {
        failed(err, "invalidate");
        dirty = true;
        if (redis.status === "ready") void flush();
      }
    },
    async close() {
      closed = true;
      await flushing;
      if (redis.status === "ready") await redis.quit().catch(() => redis.disconnect()); else redis.disconnect();
    },
  };
}
