import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createYoga, type YogaServerInstance } from "graphql-yoga";
import { getIntrospectionQuery } from "graphql";
import { Redis } from "ioredis";
import WebSocket from "ws";
import { createClient } from "graphql-ws";
import { openTestDatabase } from "../support/db.ts";
import { seedMarket } from "../support/market.ts";
import { createApp } from "../../src/yoga.ts";
import { startServer } from "../../src/server.ts";
import { schema } from "../../src/graphql/index.ts";
import { limitPlugins, QUERY_LIMITS } from "../../src/graphql/limits.ts";
import { createRateLimiter, isRateLimited, type RateLimiter } from "../../src/infra/rate-limit.ts";
import type { Database } from "../../src/infra/db.ts";

type App = Pick<YogaServerInstance<any, any>, "fetch">;
interface Reply { status: number; headers: Headers; body: { data?: any; errors?: Array<{ message: string; extensions?: Record<string, unknown> }> } }

async function post(app: App, query: string, opts: { headers?: Record<string, string>; peer?: string; variables?: unknown } = {}): Promise<Reply> {
  const res = await app.fetch("http://localhost/graphql", {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/graphql-response+json", ...opts.headers },
    body: JSON.stringify({ query, variables: opts.variables }),
  }, opts.peer ? { req: { socket: { remoteAddress: opts.peer }, headers: {} } } : {});
  return { status: res.status, headers: res.headers, body: await res.json() };
}

const OFFER_FIELDS = "id active availability country currency deployment externalId firstSeenAt gpuCount gpuName instanceType interconnect lastSeenAt networkGbps onDemandPrice pricePerGpuHour ramGb region spotPrice spotPricePerGpuHour storageGb vcpus vramPerGpuGb vramTotalGb zone";
const MODEL = "gpuModel { id name vendor architecture formFactor vramGb memoryBandwidthGbps fp16Tflops fp32Tflops fp8Tflops offerCount }";
const PROVIDER = "provider { id slug name kind reliabilityScore complianceTags regions offerCount health { status latencyMs lastSuccessAt lastErrorAt lastError } }";
/** One page of 100 offers with every field: armor cost 26 741, the largest legitimate single page. */
const FULL_PAGE = `offers(first: 100) { totalCount edges { cursor node { ${OFFER_FIELDS} ${MODEL} ${PROVIDER} } } pageInfo { startCursor endCursor hasNextPage hasPreviousPage } }`;

describe("query limits, field suggestions, CSRF and error masking", () => {
  let db: Database;
  let prod: ReturnType<typeof createApp>;
  let dev: ReturnType<typeof createApp>;
  beforeAll(async () => {
    db = await openTestDatabase();
    await seedMarket(db.prisma, 30);
    prod = createApp({ db });
    dev = createApp({ db, development: true });
  });
  afterAll(async () => { await db?.close(); });

  const rejected = (res: Reply, code: string, message: string) => {
    expect(res.status).toBe(400);
    expect(res.body.data).toBeUndefined();
    expect(res.body.errors).toEqual([expect.objectContaining({ message, extensions: { code } })]);
  };

  it("the deepest legitimate queries (depth 6) pass", async () => {
    const res = await post(prod, `{
      offers(first: 100) { edges { node { provider { health { status } } } } }
      provider(slug: "alpha") { offers(first: 100) { edges { node { gpuModel { name } } } } }
    }`);
    expect(res.status).toBe(200);
    expect(res.body.errors).toBeUndefined();
    expect(res.body.data.offers.edges[0].node.provider.health.status).toBe("UNKNOWN");
  });

  it("a query deeper than the limit is refused before it runs", async () => {
    rejected(await post(prod, "{ offers { edges { node { provider { offers { edges { node { id } } } } } } } }"),
      "GRAPHQL_VALIDATION_FAILED", "Query depth limit of 7 exceeded, found 8.");
  });

  it("fragments don't hide depth", async () => {
    rejected(await post(prod, "{ offers { ...E } } fragment E on OfferConnection { edges { node { provider { offers { edges { node { id } } } } } } }"),
      "GRAPHQL_VALIDATION_FAILED", "Query depth limit of 7 exceeded, found 8.");
  });

  it("10 aliases pass, 11 are refused", async () => {
    const aliases = (n: number) => `{ ${Array.from({ length: n }, (_, i) => `p${i}: providers { slug }`).join(" ")} }`;
    expect((await post(prod, aliases(10))).body.errors).toBeUndefined();
    rejected(await post(prod, aliases(11)), "GRAPHQL_VALIDATION_FAILED", "Aliases limit of 10 exceeded, found 11.");
  });

  it("a document over the token limit is refused while parsing", async () => {
    const query = `{ ${"__typename ".repeat(QUERY_LIMITS.maxTokens)}}`;
    rejected(await post(prod, query), "GRAPHQL_PARSE_FAILED", "Token limit of 1000 exceeded.");
  });

  it("10 directives pass, 11 are refused", async () => {
    const fields = ["apiBaseUrl", "complianceTags", "enabled", "id", "kind", "name", "offerCount", "regions", "reliabilityScore", "slug", "health { status }"];
    const directives = (n: number) => `{ providers { ${fields.slice(0, n).map((f) => f.replace(/^\w+/, "$& @include(if: true)")).join(" ")} } }`;
    expect((await post(prod, directives(10))).body.errors).toBeUndefined();
    rejected(await post(prod, directives(11)), "GRAPHQL_VALIDATION_FAILED", "Directives limit of 10 exceeded, found 11.");
  });

  it("one full page of 100 offers with every field fits the cost limit, two don't", async () => {
    const one = await post(prod, `{ ${FULL_PAGE} }`);
    expect(one.body.errors).toBeUndefined();
    expect(one.body.data.offers.edges).toHaveLength(one.body.data.offers.totalCount);
    const two = await post(prod, `{ a: ${FULL_PAGE} b: ${FULL_PAGE} }`);
    expect(two.status).toBe(400);
    rejected(two, "GRAPHQL_VALIDATION_FAILED", "Query Cost limit of 30000 exceeded, found 53481.25.");
  });

  it("GraphiQL's introspection query works in development", async () => {
    const res = await post(dev, getIntrospectionQuery({ descriptions: true, specifiedByUrl: true, directiveIsRepeatable: true, schemaDescription: true, inputValueDeprecation: true, oneOf: true }));
    expect(res.body.errors).toBeUndefined();
    expect(res.body.data.__schema.queryType.name).toBe("Query");
  });

  it("field suggestions are hidden in production and shown in development", async () => {
    const query = "{ offers { totalCont } }";
    const inProd = await post(prod, query);
    expect(inProd.body.errors).toEqual([expect.objectContaining({ message: 'Cannot query field "totalCont" on type "OfferConnection".' })]);
    const inDev = await post(dev, query);
    expect(inDev.body.errors).toEqual([expect.objectContaining({ message: 'Cannot query field "totalCont" on type "OfferConnection". Did you mean "totalCount"?' })]);
  });

  it("enum-value and argument suggestions are hidden too, in literals and in variables", async () => {
    const literal = await post(prod, '{ offers(orderBy: { field: PRICE_PER_GP }, firs: 1) { totalCount } }');
    expect(literal.body.errors!.map((e) => e.message)).toEqual([
      'Value "PRICE_PER_GP" does not exist in "OfferOrderField" enum.',
      'Unknown argument "firs" on field "Query.offers".',
    ]);
    const variable = await post(prod, "query($o: OfferOrder) { offers(orderBy: $o) { totalCount } }", { variables: { o: { field: "PRICE_PER_GP" } } });
    expect(variable.body.errors!.map((e) => e.message)).toEqual(['Variable "$o" got invalid value "PRICE_PER_GP" at "o.field"; Value "PRICE_PER_GP" does not exist in "OfferOrderField" enum.']);
    expect((await post(dev, "query($o: OfferOrder) { offers(orderBy: $o) { totalCount } }", { variables: { o: { field: "PRICE_PER_GP" } } })).body.errors![0]!.message)
      .toMatch(/Did you mean the enum value "PRICE_PER_GPU"/);
  });

  describe("CSRF prevention", () => {
    const get = (headers: Record<string, string> = {}) =>
      prod.fetch(`http://localhost/graphql?query=${encodeURIComponent("{ providers { slug } }")}`, { headers: { accept: "application/json", ...headers } });

    it("refuses a form-like POST (text/plain, no preflight) with 403 and a code", async () => {
      const res = await prod.fetch("http://localhost/graphql", { method: "POST", headers: { "content-type": "text/plain", accept: "application/json" }, body: JSON.stringify({ query: "{ providers { slug } }" }) });
      expect(res.status).toBe(403);
      const body = await res.json();
      expect(body.data).toBeUndefined();
      expect(body.errors).toEqual([{ message: expect.stringContaining('"x-graphql-csrf" header'), extensions: { code: "CSRF_HEADER_REQUIRED" } }]);
    });

    it("refuses a GET without a CSRF header and answers one with it", async () => {
      expect((await get()).status).toBe(403);
      for (const header of ["x-graphql-csrf", "x-graphql-yoga-csrf", "apollo-require-preflight"]) {
        const res = await get({ [header]: "1" });
        expect(res.status).toBe(200);
        expect((await res.json()).data.providers).toHaveLength(3);
      }
    });

    it("lets a JSON POST through (what GraphiQL and clients send)", async () => {
      const res = await post(prod, "{ providers { slug } }");
      expect(res.status).toBe(200);
      expect(res.body.data.providers).toHaveLength(3);
    });

    it("serves GraphiQL's page to a browser GET in development", async () => {
      const res = await dev.fetch("http://localhost/graphql", { headers: { accept: "text/html" } });
      expect(res.status).toBe(200);
      expect(await res.text()).toContain("GPUBroker");
    });
  });

  it("masks an unexpected failure behind an errorId, without internals", async () => {
    const boom: any = new Proxy(() => {}, { get: () => boom, apply: () => { throw new Error("connect ECONNREFUSED 10.1.2.3:5432 (secret)"); } });
    const broken = createApp({ db: { ...db, prisma: boom } });
    const res = await post(broken, "{ providers { slug } }");
    expect(res.status).toBeLessThan(500);
    expect(res.body.errors).toHaveLength(1);
    const [error] = res.body.errors!;
    expect(error!.message).toBe("Internal error. Quote this errorId when you report it.");
    expect(error!.extensions).toEqual({ code: "INTERNAL_SERVER_ERROR", errorId: expect.stringMatching(/^[0-9a-f-]{36}$/) });
    expect(JSON.stringify(res.body)).not.toMatch(/ECONNREFUSED|secret|10\.1\.2\.3|stack/);
  });
});

describe("rate limits", () => {
  let db: Database;
  beforeAll(async () => { db = await openTestDatabase(); });
  afterAll(async () => { await db?.close(); });

  const tiny = (points: number, extra: Partial<Parameters<typeof createRateLimiter>[0]> = {}) =>
    createRateLimiter({ prefix: `test:${randomUUID()}`, limits: { "request:ip": { points, durationSeconds: 60 }, "request:user": { points, durationSeconds: 60 } }, ...extra });

  const expectLimited = (res: Reply) => {
    expect(res.status).toBe(429);
    const retryAfter = Number(res.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(res.body).toEqual({ errors: [{ message: `Too many requests from this address. Try again in ${retryAfter} s.`, extensions: { code: "RATE_LIMITED", retryAfterSeconds: retryAfter } }] });
  };

  it("per IP: the N+1-th request from one address gets 429, RATE_LIMITED and Retry-After; other addresses don't", async () => {
    const app = createApp({ db, rateLimiter: tiny(3) });
    for (let i = 0; i < 3; i++) expect((await post(app, "{ __typename }", { peer: "203.0.113.7" })).status).toBe(200);
    expectLimited(await post(app, "{ __typename }", { peer: "203.0.113.7" }));
    expectLimited(await post(app, "{ __typename }", { peer: "::ffff:203.0.113.7" }));
    expect((await post(app, "{ __typename }", { peer: "203.0.113.8" })).status).toBe(200);
  });

  it("per IP counts refused requests too (CSRF, bad queries), so they can't be used to probe for free", async () => {
    const app = createApp({ db, rateLimiter: tiny(2) });
    expect((await post(app, "{ nope }", { peer: "203.0.113.7" })).status).toBe(400);
    expect((await post(app, "{ offers { edges { node { provider { offers { edges { node { id } } } } } } } }", { peer: "203.0.113.7" })).status).toBe(400);
    expectLimited(await post(app, "{ __typename }", { peer: "203.0.113.7" }));
  });

  it("one IPv6 /64 is one client", async () => {
    const app = createApp({ db, rateLimiter: tiny(2) });
    expect((await post(app, "{ __typename }", { peer: "2001:db8:1:2::1" })).status).toBe(200);
    expect((await post(app, "{ __typename }", { peer: "2001:db8:1:2:ffff::9" })).status).toBe(200);
    expectLimited(await post(app, "{ __typename }", { peer: "2001:0db8:0001:0002:0:0:0:3" }));
    expect((await post(app, "{ __typename }", { peer: "2001:db8:1:3::1" })).status).toBe(200);
  });

  it("X-Forwarded-For counts only behind a trusted proxy, and only the entry that proxy added", async () => {
    const direct = createApp({ db, rateLimiter: tiny(2) });
    for (let i = 0; i < 2; i++) await post(direct, "{ __typename }", { peer: "10.0.0.1", headers: { "x-forwarded-for": `198.51.100.${i}` } });
    expectLimited(await post(direct, "{ __typename }", { peer: "10.0.0.1", headers: { "x-forwarded-for": "198.51.100.99" } }));

    const proxied = createApp({ db, rateLimiter: tiny(2), trustProxy: 1 });
    // The client writes whatever it likes on the left; our proxy appends the address it saw.
    for (let i = 0; i < 2; i++) expect((await post(proxied, "{ __typename }", { peer: "10.0.0.1", headers: { "x-forwarded-for": `6.6.6.${i}, 198.51.100.7` } })).status).toBe(200);
    expectLimited(await post(proxied, "{ __typename }", { peer: "10.0.0.1", headers: { "x-forwarded-for": "6.6.6.99, 198.51.100.7" } }));
    expect((await post(proxied, "{ __typename }", { peer: "10.0.0.1", headers: { "x-forwarded-for": "198.51.100.8" } })).status).toBe(200);
  });

  it("per user: a signed-in viewer is limited across addresses, with 429 and Retry-After over HTTP", async () => {
    const rateLimiter = tiny(100, { limits: { "request:ip": { points: 100, durationSeconds: 60 }, "request:user": { points: 2, durationSeconds: 60 } } });
    const app = createYoga({ schema, plugins: limitPlugins({ development: false, rateLimiter }), context: ({ request }) => ({ actor: request.headers.has("x-user") ? { kind: "user", id: Number(request.headers.get("x-user")), role: "USER", via: "api_key" } : { kind: "anonymous" } }) });
    for (let i = 0; i < 2; i++) expect((await post(app, "{ __typename }", { peer: `203.0.113.${i}`, headers: { "x-user": "7" } })).body.errors).toBeUndefined();
    const res = await post(app, "{ __typename }", { peer: "203.0.113.9", headers: { "x-user": "7" } });
    expect(res.status).toBe(429);
    expect(Number(res.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(res.body.errors).toEqual([{ message: expect.stringMatching(/^Too many requests for this account\. Try again in \d+ s\.$/), extensions: { code: "RATE_LIMITED", retryAfterSeconds: Number(res.headers.get("retry-after")) } }]);
    expect((await post(app, "{ __typename }", { peer: "203.0.113.9", headers: { "x-user": "8" } })).body.errors).toBeUndefined();
    expect((await post(app, "{ __typename }", { peer: "203.0.113.9" })).body.errors).toBeUndefined();
  });

  it("over a real socket, HTTP and WebSocket operations from one address share its budget", async () => {
    const server = await startServer(createApp({ db, rateLimiter: tiny(3) }), { port: 0, host: "127.0.0.1" });
    const http = () => fetch(server.url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ query: "{ __typename }" }) });
    const client = createClient({ url: `ws://127.0.0.1:${server.port}/graphql`, webSocketImpl: WebSocket, retryAttempts: 0 });
    const ws = () => new Promise<unknown>((resolve, reject) => {
      let value: unknown;
      client.subscribe({ query: "{ __typename }" }, { next: (v) => { value = v; }, error: reject, complete: () => resolve(value) });
    });
    try {
      expect((await http()).status).toBe(200);
      expect(await ws()).toEqual({ data: { __typename: "Query" } });
      expect(await ws()).toEqual({ data: { __typename: "Query" } });
      // Over WebSocket the refusal is a result with the code (no status line to carry 429).
      expect(await ws()).toEqual({ errors: [{ message: expect.stringMatching(/^Too many requests from this address\. Try again in \d+ s\.$/), extensions: { code: "RATE_LIMITED", retryAfterSeconds: expect.any(Number) } }] });
      const refused = await http();
      expect(refused.status).toBe(429);
      expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
    } finally {
      await client.dispose();
      await server.stop();
    }
  });
});

describe("Redis-backed rate limits", () => {
  const prefix = `test:limits:${randomUUID()}`;
  const clients: Redis[] = [];
  const node = () => {
    const redis = new Redis(process.env.REDIS_URL ?? "redis://127.0.0.1:6379", { maxRetriesPerRequest: 1 });
    clients.push(redis);
    return createRateLimiter({ redis, prefix, limits: { "request:ip": { points: 3, durationSeconds: 60 }, "login:pair": { points: 2, durationSeconds: 900 } } });
  };
  let a: RateLimiter;
  let b: RateLimiter;
  beforeAll(async () => {
    a = node();
    b = node();
    // Until a client is ready the limiter falls back to its per-node memory insurance.
    await Promise.all(clients.map((c) => c.ping()));
  });
  afterAll(async () => {
    const admin = new Redis(process.env.REDIS_URL ?? "redis://127.0.0.1:6379");
    const keys = await admin.keys(`${prefix}:*`);
    if (keys.length) await admin.del(...keys);
    await admin.quit();
    await Promise.all([a?.close(), b?.close()]);
  });

  const outcome = (call: Promise<void>) => call.then(() => "ok", (err) => (isRateLimited(err) ? err.extensions.retryAfterSeconds : Promise.reject(err)));

  it("two nodes share one budget per key", async () => {
    expect(await outcome(a.consume("request:ip", "203.0.113.7"))).toBe("ok");
    expect(await outcome(b.consume("request:ip", "203.0.113.7"))).toBe("ok");
    expect(await outcome(a.consume("request:ip", "203.0.113.7"))).toBe("ok");
    const retry = await outcome(b.consume("request:ip", "203.0.113.7"));
    expect(retry).toBeGreaterThan(0);
    expect(retry).toBeLessThanOrEqual(60);
    expect(await outcome(b.consume("request:ip", "203.0.113.8"))).toBe("ok");
  });

  it("failed logins on one node make the pair wait on the other; a success on one clears both; Redis holds no raw e-mail or IP", async () => {
    await a.beginLogin("Ada@Example.com", "203.0.113.7");
    await a.loginFailed("Ada@Example.com", "203.0.113.7");
    await b.beginLogin("ada@example.com", "203.0.113.7");
    await b.loginFailed("ada@example.com", "203.0.113.7");
    expect(await outcome(b.beginLogin("ada@example.com", "203.0.113.7"))).toBe(1);
    expect(await outcome(a.beginLogin("ada@example.com", "203.0.113.7"))).toBe(1);
    expect(await outcome(a.beginLogin("ada@example.com", "203.0.113.8"))).toBe("ok");
    const admin = clients[0]!;
    const keys = await admin.keys(`${prefix}:*`);
    expect(keys.some((k) => k.startsWith(`${prefix}:login:wait:`))).toBe(true);
    expect(keys.join(" ")).not.toMatch(/ada|example|203\.0\.113/i);
    await a.loginSucceeded("ADA@example.com", "203.0.113.7");
    expect(await outcome(b.beginLogin("ada@example.com", "203.0.113.7"))).toBe("ok");
  });
});
