// The response cache: whole results of public catalog reads, shared by every caller (Yoga's response-cache plugin).
//
// What is cached: HTTP queries whose every root field is a public catalog read (PUBLIC_QUERY_FIELDS); their
// answers do not depend on who asks, so the key holds no session. Mutations, subscriptions, WebSocket
// operations and anything touching the viewer (me, alerts, chat, API keys, node) run as before. Errors are
// never cached. A hit still runs authentication, rate limits and metrics: the lookup sits in execute.
//
// Invalidation: this node follows the "market" event stream; each price tick drops the results holding that
// offer, its provider and GPU model, and every list or aggregate a price can move an offer into or out of
// (MARKET_FIELDS, by root field). Subscribers of this node get a market event only after that (see `events`), so a
// client that saw a tick and then queries gets the new price. What changes without a market event (provider
// health, an offer's non-price attributes, GPU model datasheets, time-window KPIs) lives at most the TTL.
import { createHash } from "node:crypto";
import { useResponseCache, type Cache } from "@graphql-yoga/plugin-response-cache";
import { encodeGlobalID } from "@pothos/plugin-relay";
import { Kind, type DocumentNode, type FragmentDefinitionNode, type GraphQLSchema, type SelectionSetNode } from "graphql";
import type { Plugin } from "graphql-yoga";
import type { Logger } from "pino";
import type { EventLog, LoggedEvent } from "../infra/event-log.ts";
import type { PriceTick } from "../infra/pubsub-types.ts";
import type { CacheEntity, ResponseCacheStore } from "../infra/response-cache-store.ts";

/** Query fields whose answer is the same for every caller (services take the actor but do not read it). */
export const PUBLIC_QUERY_FIELDS: ReadonlySet<string> = new Set([
  "offers", "offer", "offerFacets", "priceHistory", "rankOffers", "topsis", "gpuModels", "gpuModel", "providers", "provider",
  "marketOverview", "gpuKpis", "providerKpis", "marketInsights", "costPerToken", "estimateWorkload", "parseWorkload",
]);

/**
 * Public reads whose answer a price or availability change of any offer may change (membership, order, counts,
 * figures). Results are tagged with their root fields ("Query.offers"): the plugin itself only records objects with an id.
 */
export const MARKET_FIELDS: readonly string[] = [
  "offers", "offerFacets", "rankOffers", "priceHistory", "marketOverview", "gpuKpis", "providerKpis", "marketInsights", "estimateWorkload", "costPerToken",
];
/** Also changed when an offer appears or leaves (offer counts, a new provider). */
const MEMBERSHIP_FIELDS: readonly string[] = ["providers", "provider", "gpuModels", "gpuModel"];
const rootField = (field: string): CacheEntity => ({ typename: `Query.${field}` });

/** Admin mutations that change what public reads show without a market event: the types they drop. */
const CATALOG_MUTATIONS: Readonly<Record<string, readonly string[]>> = { setProviderEnabled: ["Provider"] };

/** The longest a subscriber's market event waits for this node's invalidation before it is handed over anyway. */
const INVALIDATION_WAIT_MS = 2_000;

export interface ResponseCacheOptions {
  store: ResponseCacheStore;
  /** Upper bound on every result's life, for what changes without an event. */
  ttlMs: number;
  /** `extensions.responseCache` ({ hit }, { didCache }) in results: tests; default false. */
  includeExtensionMetadata?: boolean;
}

export interface ResponseCache {
  /** Yoga plugins, in this order, after any plugin that replaces execute (graphql-jit). */
  plugins: Plugin[];
  /** The event log as this node's subscribers should read it: a market event comes once this node invalidated it. */
  events: EventLog;
  close(): Promise<void>;
}

/** The entities one price tick may change. */
export function tickEntities(tick: PriceTick): CacheEntity[] {
  const entities: CacheEntity[] = [
    { typename: "GpuOffer", id: encodeGlobalID("GpuOffer", tick.offerId) },
    { typename: "Provider", id: encodeGlobalID("Provider", tick.providerId) },
    ...MARKET_FIELDS.map(rootField),
  ];
  if (tick.gpuModelId != null) entities.push({ typename: "GpuModel", id: encodeGlobalID("GpuModel", tick.gpuModelId) });
  if (tick.kind !== "changed") entities.push(...MEMBERSHIP_FIELDS.map(rootField));
  return entities;
}

/** The operation's root fields (through fragments) when it is a query that only reads public fields; otherwise null. */
export function publicReadFields(document: DocumentNode, operationName: string | null | undefined): string[] | null {
  const operations = document.definitions.filter((d) => d.kind === Kind.OPERATION_DEFINITION);
  const operation = operationName ? operations.find((o) => o.name?.value === operationName) : operations.length === 1 ? operations[0] : undefined;
  if (!operation || operation.operation !== "query") return null;
  const fields = new Set<string>();
  const fragments = new Map(document.definitions.filter((d): d is FragmentDefinitionNode => d.kind === Kind.FRAGMENT_DEFINITION).map((f) => [f.name.value, f]));
  const seen = new Set<string>();
  const publicOnly = (set: SelectionSetNode): boolean => set.selections.every((s) => {
    if (s.kind === Kind.FIELD) {
      if (s.name.value !== "__typename") fields.add(s.name.value);
      return s.name.value === "__typename" || PUBLIC_QUERY_FIELDS.has(s.name.value);
    }
    if (s.kind === Kind.INLINE_FRAGMENT) return publicOnly(s.selectionSet);
    if (seen.has(s.name.value)) return true;
    seen.add(s.name.value);
    const fragment = fragments.get(s.name.value);
    return !!fragment && publicOnly(fragment.selectionSet);
  });
  return publicOnly(operation.selectionSet) ? [...fields] : null;
}

/** Fails at start when a type named here was renamed in the schema (its results would never be invalidated). */
export function checkCacheTypes(schema: GraphQLSchema): void {
  const query = schema.getQueryType()?.getFields() ?? {};
  const missing = [
    ...["GpuOffer", "Provider", "GpuModel", ...Object.values(CATALOG_MUTATIONS).flat()].filter((t) => !schema.getType(t)),
    ...[...PUBLIC_QUERY_FIELDS, ...MARKET_FIELDS, ...MEMBERSHIP_FIELDS].filter((f) => !query[f]).map((f) => `Query.${f}`),
  ];
  if (missing.length) throw new Error(`response cache: the schema has no ${missing.join(", ")}`);
}

export function createResponseCache(opts: ResponseCacheOptions, schema: GraphQLSchema, events: EventLog, log: Logger): ResponseCache {
  checkCacheTypes(schema);
  const { store } = opts;
  const keyOf = new WeakMap<object, string>();
  const cacheable = new WeakSet<object>();
  /** Cache key → the root fields of its document, for tagging its result (same document, same fields). */
  const fieldsOf = new Map<string, string[]>();

  // ---------------------------------------------------------- Invalidation from the market stream

  let invalidatedThrough = 0;
  let closed = false;
  const waiters = new Set<{ seq: number; resolve: () => void }>();
  const pending: LoggedEvent<PriceTick>[] = [];
  let wake = null as (() => void) | null;
  let feed: AsyncIterableIterator<LoggedEvent<PriceTick>> | null = null;

  const advance = (seq: number) => {
    invalidatedThrough = Math.max(invalidatedThrough, seq);
    for (const w of waiters) if (w.seq <= invalidatedThrough) { waiters.delete(w); w.resolve(); }
  };

  /** Resolves once this node has invalidated through `seq` (or after INVALIDATION_WAIT_MS: late beats never). */
  function invalidated(seq: number): Promise<void> {
    if (seq <= invalidatedThrough || closed) return Promise.resolve();
    return new Promise((resolve) => {
      const waiter = { seq, resolve: () => { clearTimeout(timer); resolve(); } };
      const timer = setTimeout(() => {
        waiters.delete(waiter);
        log.warn({ seq, invalidatedThrough }, "response cache: a market event went out before its invalidation finished");
        resolve();
      }, INVALIDATION_WAIT_MS);
      timer.unref();
      waiters.add(waiter);
    });
  }

  /** Reads the market stream into `pending`. Lost (an overflow, an error), it follows again and drops every result, since events may be missed. */
  async function follow(): Promise<void> {
    let lost = false;
    while (!closed) {
      try {
        feed = await events.subscribe("market");
        if (closed) { await feed.return?.(); return; }
        if (lost) await store.invalidate([...PUBLIC_QUERY_FIELDS].map(rootField));
        // Events up to here were committed before this cache held anything (or were just covered by dropping everything).
        advance(await events.head("market"));
        lost = false;
        for await (const event of feed) { pending.push(event); wake?.(); }
        if (closed) return;
      } catch (err) {
        if (closed) return;
        if (!lost) log.warn({ err }, "response cache: lost the market stream; following again");
      }
      lost = true;
      await new Promise((resolve) => setTimeout(resolve, 1_000).unref());
    }
  }

  /** Invalidates what arrived, in batches: whatever came in during one invalidation goes in the next. */
  async function invalidateArrivals(): Promise<void> {
    while (!closed) {
      if (!pending.length) { await new Promise<void>((resolve) => { wake = resolve; }); wake = null; continue; }
      const batch = pending.splice(0);
      const entities = new Map<string, CacheEntity>();
      for (const { payload } of batch) for (const e of tickEntities(payload)) entities.set(`${e.typename}:${e.id ?? ""}`, e);
      await store.invalidate(entities.values());
      advance(batch.at(-1)!.seq);
    }
  }

  const following = Promise.all([follow(), invalidateArrivals()])
    .catch((err: unknown) => { if (!closed) log.error({ err }, "response cache: invalidation stopped"); });

  const wrappedEvents: EventLog = {
    retentionMs: events.retentionMs,
    kick: () => events.kick(),
    head: (stream) => events.head(stream),
    subscriberCount: (stream) => events.subscriberCount(stream),
    behindMs: (stream) => events.behindMs(stream),
    close: () => events.close(),
    async subscribe(stream, subscribeOpts) {
      const inner = await events.subscribe(stream, subscribeOpts);
      if (stream !== "market") return inner;
      const outer: typeof inner = {
        [Symbol.asyncIterator]: () => outer,
        async next() {
          const result = await inner.next();
          if (!result.done) await invalidated(result.value.seq);
          return result;
        },
        return: () => inner.return?.() ?? Promise.resolve({ done: true, value: undefined }),
        throw: (err: unknown) => inner.throw?.(err) ?? Promise.reject(err),
      };
      return outer;
    },
  };

  // ---------------------------------------------------------- Plugins

  const markPublicReads: Plugin = {
    onExecute({ args }) {
      const context = args.contextValue as object;
      // Yoga's HTTP path only (buildResponseCacheKey ran in onParams); WebSocket operations have no key.
      const key = keyOf.get(context);
      const fields = key === undefined ? null : publicReadFields(args.document, args.operationName);
      if (!fields) return;
      cacheable.add(context);
      if (fieldsOf.size >= 10_000) fieldsOf.delete(fieldsOf.keys().next().value!);
      fieldsOf.set(key!, fields);
    },
  };

  const invalidateOnCatalogMutations: Plugin = {
    onExecute({ args }) {
      const document = args.document as DocumentNode;
      const operation = document.definitions.find((d) => d.kind === Kind.OPERATION_DEFINITION && (!args.operationName || d.name?.value === args.operationName));
      if (operation?.kind !== Kind.OPERATION_DEFINITION || operation.operation !== "mutation") return;
      const typenames: readonly string[] = operation.selectionSet.selections.flatMap((s) => (s.kind === Kind.FIELD ? CATALOG_MUTATIONS[s.name.value] ?? [] : []));
      if (!typenames.length) return;
      return {
        async onExecuteDone({ result }) {
          if ("data" in result && result.data) await store.invalidate(typenames.map((typename) => ({ typename })));
        },
      };
    },
  };

  const cache: Cache = {
    get: (key) => store.get(key) as ReturnType<Cache["get"]>,
    set: (key, result, entities, ttl) => store.set(key, result, [...entities, ...(fieldsOf.get(key) ?? []).map(rootField)], ttl),
    invalidate: (entities) => store.invalidate(entities),
  };

  const responseCache = useResponseCache<object>({
    cache,
    ttl: opts.ttlMs,
    // Only public reads are cached: one answer for everyone.
    session: () => null,
    // Synchronous (node:crypto, not WebCrypto's digest): no trip through the thread pool before the answer.
    buildResponseCacheKey({ documentString, variableValues, operationName, context }) {
      if (!documentString) return ""; // no text to key on (a persisted operation not yet resolved): never cached
      const key = createHash("sha256").update([documentString, operationName ?? "", stableJson(variableValues ?? {})].join("|")).digest("hex");
      keyOf.set(context as object, key);
      return key;
    },
    // Yoga's early lookup (onParams) and ETag revalidation see no marked context, so every lookup happens in execute.
    enabled: (_request, context) => cacheable.has(context),
    // Our mutations change no cached entity by their results; catalog changes come as market events.
    invalidateViaMutation: false,
    includeExtensionMetadata: opts.includeExtensionMetadata ?? false,
  });

  return {
    plugins: [markPublicReads, invalidateOnCatalogMutations, responseCache],
    events: wrappedEvents,
    async close() {
      if (closed) return;
      closed = true;
      wake?.();
      for (const w of waiters) w.resolve();
      await feed?.return?.();
      await following;
      await store.close();
    },
  };
}

/** JSON with object keys sorted: equal variables, equal key. */
function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(",")}]`;
  if (value && typeof value === "object") {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${stableJson((value as Record<string, unknown>)[k])}`).join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}
