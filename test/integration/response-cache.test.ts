// The response cache (src/graphql/response-cache.ts): public catalog reads are served from it, a price
// change through the real ingestion path is never served stale once its tick is out, viewer-dependent
// operations and mutations are never cached, nodes share entries and invalidations through Redis, and
// a Redis outage only makes requests uncached.
import { randomUUID } from "node:crypto";
import { createServer } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openTestDatabase } from "../support/db.ts";
import { relaxedRateLimiter } from "../support/app.ts";
import { subscribeSse, until } from "../support/subscribe.ts";
import type { Database } from "../../src/infra/db.ts";
import { createApp } from "../../src/yoga.ts";
import { startServer, type RunningServer } from "../../src/server.ts";
import { metricsOf } from "../../src/infra/metrics.ts";
import { createEventLog, type EventLog } from "../../src/infra/event-log.ts";
import { createMemoryResponseCacheStore, createRedisResponseCacheStore, type ResponseCacheStore } from "../../src/infra/response-cache-store.ts";
import { applyCatalog } from "../../src/ingestion/catalog-sync.ts";
import { recordImport } from "../../src/ingestion/change-events.ts";
import { syncGpuModels } from "../../src/ingestion/gpu-models.ts";
import type { CatalogOffer } from "../../src/domain/catalog/types.ts";
import { schema } from "../../src/graphql/index.ts";
import { publicReadFields, PUBLIC_QUERY_FIELDS } from "../../src/graphql/response-cache.ts";
import { getNamedType, isObjectType, parse, type GraphQLNamedType } from "graphql";
import { privateRedis } from "../support/redis.ts";

const TTL_MS = 60_000;
const offer = (id: string, price: string): CatalogOffer => ({
  externalId: id, instanceType: `${id}-type`, gpuName: "H100 SXM", gpuCount: 1, region: "us-east-1", onDemandPrice: price,
});

const OFFER = `query Offer($id: ID!) { offer(id: $id) { id instanceType onDemandPrice } }`;
const CHEAP = `query Cheap { offers(filter: { pricePerGpu: { max: "2.00" } }) { totalCount edges { node { instanceType onDemandPrice } } } }`;
const TICKS = `subscription { priceTicks { offerId newOnDemandPrice } }`;

type Json = any;

function client(app: ReturnType<typeof createApp>) {
  return async (query: string, variables: Record<string, unknown> = {}, headers: Record<string, string> = {}): Promise<Json> => {
    const res = await app.fetch("http://localhost/graphql", {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/graphql-response+json", ...headers },
      body: JSON.stringify({ query, variables }),
    });
    return res.json();
  };
}

/** The import the scheduler runs: the catalog, its ticks in the same transaction, then a kick. */
async function importCatalog(db: Database, events: EventLog | null, offers: CatalogOffer[]) {
  await applyCatalog(db.prisma, "lambda", offers, { onChanges: (tx, changes) => recordImport(tx, changes, new Date()).then(() => undefined) });
  events?.kick();
}

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, "127.0.0.1", r));
  const port = (probe.address() as { port: number }).port;
  await new Promise((r) => probe.close(r));
  return port;
}

describe("which operations are public reads", () => {
  it("public root fields only, through fragments; mutations, subscriptions and viewer fields are not", () => {
    expect(publicReadFields(parse(`{ offers { totalCount } gpuModels { name } }`), null)).toEqual(["offers", "gpuModels"]);
    expect(publicReadFields(parse(`query A { __typename ...F } fragment F on Query { cheap: providers { slug } ... on Query { marketOverview { activeOffers } } }`), "A")).toEqual(["providers", "marketOverview"]);
    expect(publicReadFields(parse(`{ offers { totalCount } me { email } }`), null)).toBeNull();
    expect(publicReadFields(parse(`query A { ...F } fragment F on Query { priceAlerts { id } }`), "A")).toBeNull();
    expect(publicReadFields(parse(`{ node(id: "x") { id } }`), null)).toBeNull();
    expect(publicReadFields(parse(`{ __schema { types { name } } }`), null)).toBeNull();
    expect(publicReadFields(parse(`mutation { logout }`), null)).toBeNull();
    expect(publicReadFields(parse(`subscription { priceTicks { offerId } }`), null)).toBeNull();
    expect(publicReadFields(parse(`query A { offers { totalCount } } query B { me { email } }`), "B")).toBeNull();
  });

  it("no public read reaches a viewer's data (users, alerts, chat, API keys, notifications)", () => {
    const reached = new Set<string>();
    const walk = (type: GraphQLNamedType) => {
      if (reached.has(type.name) || !isObjectType(type)) return;
      reached.add(type.name);
      for (const field of Object.values(type.getFields())) walk(getNamedType(field.type));
    };
    const query = schema.getQueryType()!.getFields();
    for (const name of PUBLIC_QUERY_FIELDS) walk(getNamedType(query[name]!.type));
    expect([...reached].filter((t) => /User|Alert|Chat|ApiKey|Notification|Session|Auth/.test(t))).toEqual([]);
  });
});

describe("the in-memory store never stores what an invalidation overtook", () => {
  it("a miss, then an invalidation, then the set: not stored; the next miss stores", async () => {
    const store = createMemoryResponseCacheStore();
    const entities = [{ typename: "GpuOffer", id: "1" }];
    expect(await store.get("k")).toBeUndefined();
    await store.invalidate([{ typename: "OfferConnection" }]);
    await store.set("k", { data: { stale: true } }, entities, TTL_MS);
    expect(await store.get("k")).toBeUndefined();
    await store.set("k", { data: { fresh: true } }, entities, TTL_MS);
    expect(await store.get("k")).toEqual({ data: { fresh: true } });
    await store.invalidate([{ typename: "GpuOffer", id: "1" }]);
    expect(await store.get("k")).toBeUndefined();
  });
});

describe("response cache on one node (in memory)", () => {
  let db: Database;
  let events: EventLog;
  let server: RunningServer;
  let request: ReturnType<typeof client>;
  let ids: Record<string, string>;
  let app: ReturnType<typeof createApp>;

  beforeAll(async () => {
    db = await openTestDatabase();
    await syncGpuModels(db.prisma);
    events = createEventLog({ prisma: db.prisma, pollMs: 100 });
    await importCatalog(db, events, [offer("a", "1.50"), offer("b", "3.00"), offer("c", "5.00")]);
    app = createApp({ db, events, rateLimiter: relaxedRateLimiter(), responseCache: { store: createMemoryResponseCacheStore(), ttlMs: TTL_MS, includeExtensionMetadata: true } });
    server = await startServer(app, { port: 0, host: "127.0.0.1" });
    request = client(app);
    const all = await request(`{ offers { edges { node { id instanceType } } } }`);
    ids = Object.fromEntries(all.data.offers.edges.map((e: Json) => [e.node.instanceType, e.node.id]));
  });
  afterAll(async () => {
    await server?.stop(0);
    await events?.close();
    await db?.close();
  });

  it("serves the second identical offers query from the cache (a database change without an event does not show)", async () => {
    const query = `{ offers(orderBy: { field: PRICE_PER_GPU, direction: DESC }) { totalCount edges { node { instanceType onDemandPrice provider { slug } } } } }`;
    const first = await request(query);
    expect(first.extensions.responseCache).toEqual({ hit: false, didCache: true, ttl: TTL_MS });
    await db.prisma.gpuOffer.updateMany({ where: { externalId: "c" }, data: { instanceType: "renamed" } });
    const second = await request(query);
    expect(second.extensions.responseCache).toEqual({ hit: true });
    expect(second.data).toEqual(first.data);
    expect(second.data.offers.edges[0].node).toEqual({ instanceType: "c-type", onDemandPrice: "5.00", provider: { slug: "lambda" } });
    await db.prisma.gpuOffer.updateMany({ where: { externalId: "c" }, data: { instanceType: "c-type" } });
  });

  it("a price change is never served stale once its tick is out: offer(id), and a list the offer moves into", async () => {
    const b = ids["b-type"]!;
    await request(OFFER, { id: b });
    expect((await request(OFFER, { id: b })).extensions.responseCache).toEqual({ hit: true });
    await request(CHEAP);
    const cheapBefore = await request(CHEAP);
    expect(cheapBefore).toMatchObject({ data: { offers: { totalCount: 1, edges: [{ node: { instanceType: "a-type" } }] } }, extensions: { responseCache: { hit: true } } });
    // another offer's entry survives the tick: invalidation is per offer, not a flush
    const c = ids["c-type"]!;
    await request(OFFER, { id: c });

    const ticks = subscribeSse(server, TICKS);
    await until(() => events.subscriberCount("market") >= 2, "the subscription to join the feed");
    await importCatalog(db, events, [offer("a", "1.50"), offer("b", "1.75"), offer("c", "5.00")]);
    await ticks.take(1);
    expect(ticks.events[0].data.priceTicks).toEqual({ offerId: b, newOnDemandPrice: "1.75" });

    const after = await request(OFFER, { id: b });
    expect(after.data.offer).toEqual({ id: b, instanceType: "b-type", onDemandPrice: "1.75" });
    expect(after.extensions.responseCache.hit).toBe(false);
    const cheapAfter = await request(CHEAP);
    expect(cheapAfter.data.offers).toEqual({ totalCount: 2, edges: [{ node: { instanceType: "a-type", onDemandPrice: "1.50" } }, { node: { instanceType: "b-type", onDemandPrice: "1.75" } }] });
    expect((await request(OFFER, { id: c })).extensions.responseCache).toEqual({ hit: true });
    await ticks.close();
  });

  it("viewer-dependent operations are never cached nor shared between users", async () => {
    const register = `mutation R($email: String!) { register(email: $email, name: "N", password: "a long and lovely passphrase") { accessToken } }`;
    const tokenA = (await request(register, { email: "ada@example.com" })).data.register.accessToken;
    const tokenB = (await request(register, { email: "bob@example.com" })).data.register.accessToken;
    const me = `{ me { email } offers { totalCount } }`;
    const a1 = await request(me, {}, { authorization: `Bearer ${tokenA}` });
    const b1 = await request(me, {}, { authorization: `Bearer ${tokenB}` });
    const a2 = await request(me, {}, { authorization: `Bearer ${tokenA}` });
    expect([a1.data.me.email, b1.data.me.email, a2.data.me.email]).toEqual(["ada@example.com", "bob@example.com", "ada@example.com"]);
    for (const r of [a1, b1, a2]) expect(r.extensions?.responseCache).toBeUndefined();
    // a public read answers the same signed in or not, from one entry
    const publicRead = `{ providers { slug } }`;
    expect((await request(publicRead)).extensions.responseCache.didCache).toBe(true);
    expect(await request(publicRead, {}, { authorization: `Bearer ${tokenB}` })).toMatchObject({ data: { providers: [{ slug: "lambda" }] }, extensions: { responseCache: { hit: true } } });
  });

  it("a hit is still an operation in the GraphQL metrics", async () => {
    const query = `query CountedCatalog { gpuModels { name } }`;
    let requests = 0;
    await until(async () => { requests++; return (await request(query)).extensions.responseCache.hit === true; }, "a hit");
    const text = await metricsOf(app)!.registry.metrics();
    expect(text).toContain(`graphql_envelop_request{operationType="query",operationName="CountedCatalog"} ${requests}`);
  });

  it("mutations are never cached", async () => {
    const login = `mutation { login(email: "ada@example.com", password: "a long and lovely passphrase") { accessToken } }`;
    const [first, second] = [await request(login), await request(login)];
    expect(first.data.login.accessToken).not.toEqual(second.data.login.accessToken);
    expect(first.extensions?.responseCache).toBeUndefined();
    expect(second.extensions?.responseCache).toBeUndefined();
  });

  it("errors are not cached", async () => {
    const missing = `{ offer(id: "R3B1T2ZmZXI6OTk5OTk=") { id } }`;
    const first = await request(missing);
    expect(first.errors[0].extensions.code).toBe("NOT_FOUND");
    expect(first.extensions.responseCache).toEqual({ hit: false, didCache: false });
    expect((await request(missing)).extensions.responseCache).toEqual({ hit: false, didCache: false });
  });
});

describe("a subscriber hears a tick only once this node has invalidated it", () => {
  let db: Database;
  let events: EventLog;
  let server: RunningServer;

  afterAll(async () => {
    await server?.stop(0);
    await events?.close();
    await db?.close();
  });

  it("with a slow invalidation (a distant Redis), the query right after the tick is fresh", async () => {
    db = await openTestDatabase();
    await syncGpuModels(db.prisma);
    events = createEventLog({ prisma: db.prisma, pollMs: 100 });
    await importCatalog(db, events, [offer("s", "3.00")]);
    const memory = createMemoryResponseCacheStore();
    const slow: ResponseCacheStore = { ...memory, invalidate: async (entities) => { const list = [...entities]; await new Promise((r) => setTimeout(r, 300)); await memory.invalidate(list); } };
    const app = createApp({ db, events, rateLimiter: relaxedRateLimiter(), responseCache: { store: slow, ttlMs: TTL_MS, includeExtensionMetadata: true } });
    server = await startServer(app, { port: 0, host: "127.0.0.1" });
    const request = client(app);
    const query = `{ offers { edges { node { instanceType onDemandPrice } } } }`;
    await request(query);
    expect((await request(query)).extensions.responseCache).toEqual({ hit: true });

    const ticks = subscribeSse(server, TICKS);
    await until(() => events.subscriberCount("market") >= 2, "the subscription to join the feed");
    await importCatalog(db, events, [offer("s", "2.50")]);
    await ticks.take(1);
    expect((await request(query)).data.offers.edges).toEqual([{ node: { instanceType: "s-type", onDemandPrice: "2.50" } }]);
    await ticks.close();
  });
});

describe("response cache in Redis: shared by nodes, and failing open", () => {
  let db: Database;
  let port = 0;
  const url = () => `redis://127.0.0.1:${port}`;
  const prefix = `test-rc-${randomUUID()}`;
  const closers: (() => Promise<unknown>)[] = [];

  const ownRedis = privateRedis();
  const startRedis = () => ownRedis.start(port);
  const stopRedis = () => ownRedis.stop();

  function node(store: ResponseCacheStore) {
    const events = createEventLog({ prisma: db.prisma, pollMs: 100 });
    const app = createApp({ db, events, rateLimiter: relaxedRateLimiter(), responseCache: { store, ttlMs: TTL_MS, includeExtensionMetadata: true } });
    closers.push(async () => { await app.dispose(); }, () => events.close());
    return { app, events, request: client(app) };
  }
  const redisStore = () => createRedisResponseCacheStore({ url: url(), prefix, maxTtlMs: TTL_MS });
  /** Connected: a miss, a set and then a hit. */
  const ready = (store: ResponseCacheStore) => until(async () => {
    await store.get("probe");
    await store.set("probe", { data: {} }, [], TTL_MS);
    return (await store.get("probe")) !== undefined;
  }, "the store to reach Redis");

  beforeAll(async () => {
    db = await openTestDatabase();
    await syncGpuModels(db.prisma);
    port = await freePort();
    await startRedis();
  });
  afterAll(async () => {
    for (const close of closers.reverse()) await close().catch(() => {});
    await stopRedis();
    await db?.close();
  });

  it("one node's entry is another's hit, and a price change through either node's feed reaches both", async () => {
    // before the nodes start: their feeds begin after these ticks
    await importCatalog(db, null, [offer("x", "4.00"), offer("y", "6.00")]);
    const [storeA, storeB] = [redisStore(), redisStore()];
    await ready(storeA);
    await ready(storeB);
    const a = node(storeA);
    const b = node(storeB);
    const query = `{ offers { edges { node { instanceType onDemandPrice } } } }`;
    await until(async () => (await a.request(query)).extensions.responseCache.hit === true, "node A to cache and hit");
    const fromB = await b.request(query);
    expect(fromB.extensions.responseCache).toEqual({ hit: true });
    expect(fromB.data.offers.edges.map((e: Json) => e.node)).toEqual([{ instanceType: "x-type", onDemandPrice: "4.00" }, { instanceType: "y-type", onDemandPrice: "6.00" }]);

    // a client of node B hears the tick, then asks B
    const server = await startServer(b.app, { port: 0, host: "127.0.0.1" });
    closers.push(() => server.stop(0));
    const ticks = subscribeSse(server, TICKS);
    await until(() => b.events.subscriberCount("market") >= 2, "the subscription to join B's feed");
    await importCatalog(db, a.events, [offer("x", "4.00"), offer("y", "2.00")]);
    await ticks.take(1);
    await ticks.close();
    const fresh = await b.request(query);
    expect(fresh.data.offers.edges.map((e: Json) => e.node)).toEqual([{ instanceType: "y-type", onDemandPrice: "2.00" }, { instanceType: "x-type", onDemandPrice: "4.00" }]);
  });

  it("an invalidation written by one node's store drops the entry for every node", async () => {
    const [one, two] = [redisStore(), redisStore()];
    closers.push(() => one.close(), () => two.close());
    await ready(one);
    await ready(two);
    expect(await one.get("shared")).toBeUndefined();
    await one.set("shared", { data: { n: 1 } }, [{ typename: "GpuOffer", id: "g1" }], TTL_MS);
    expect(await two.get("shared")).toEqual({ data: { n: 1 } });
    await one.invalidate([{ typename: "GpuOffer", id: "g1" }]);
    expect(await two.get("shared")).toBeUndefined();
    // node two's miss was before that invalidation... and after it: its set goes in
    await two.set("shared", { data: { n: 2 } }, [{ typename: "GpuOffer" }], TTL_MS);
    expect(await one.get("shared")).toEqual({ data: { n: 2 } });
    // a set whose miss an invalidation on another node overtook is refused
    expect(await two.get("other")).toBeUndefined();
    await one.invalidate([{ typename: "OfferConnection" }]);
    await two.set("other", { data: { stale: true } }, [], TTL_MS);
    expect(await one.get("other")).toBeUndefined();
  });

  it("Redis down: requests still succeed, uncached; back up: cached again", async () => {
    const store = redisStore();
    await ready(store);
    const { request } = node(store);
    const query = `{ providers { slug } }`;
    // the plugin does not wait for its write: the hit comes on a later request
    await until(async () => (await request(query)).extensions.responseCache.hit === true, "a hit");
    await stopRedis();
    const t0 = Date.now();
    const down = await request(query);
    expect(down.data).toEqual({ providers: [{ slug: "lambda" }] });
    expect(down.errors).toBeUndefined();
    expect(down.extensions.responseCache.hit).toBe(false);
    expect(Date.now() - t0).toBeLessThan(2_000);
    await startRedis();
    await until(async () => (await request(query)).extensions.responseCache.hit === true, "a hit after Redis came back", 15_000);
  });
});
