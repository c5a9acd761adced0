// /metrics (issue 14, part 1): the Prometheus text a scraper reads after real traffic — operations, errors
// by code, a WebSocket subscription, rate-limited logins, ingestion and the assistant — with bounded labels;
// the bearer token, the Host rule and the separate port.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { createClient } from "graphql-ws";
import { openTestDatabase } from "../support/db.ts";
import { seedMarket } from "../support/market.ts";
import { createApp } from "../../src/yoga.ts";
import { startMetricsServer, startServer, type RunningServer } from "../../src/server.ts";
import { createMetrics, type Metrics } from "../../src/infra/metrics.ts";
import { createPubSub } from "../../src/infra/pubsub.ts";
import { createRateLimiter } from "../../src/infra/rate-limit.ts";
import { logger } from "../../src/infra/logger.ts";
import type { PubSub, PriceTick } from "../../src/infra/pubsub-types.ts";
import { createEventLog, type EventLog } from "../../src/infra/event-log.ts";
import { writeTicks } from "../support/events.ts";
import type { Database } from "../../src/infra/db.ts";
import { createIngestion } from "../../src/ingestion/scheduler.ts";
import { syncGpuModels } from "../../src/ingestion/gpu-models.ts";
import type { FetchReport, ProviderAdapter } from "../../src/ingestion/adapter.ts";

type Labels = Record<string, string>;

/** Every sample of the exposition: name, labels, value. */
function samples(text: string) {
  return text.split("\n").filter((l) => l && !l.startsWith("#")).map((line) => {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not an exposition line: ${line}`);
    const labels = Object.fromEntries([...(m[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1]!, l[2]!]));
    return { name: m[1]!, labels, value: Number(m[3]) };
  });
}

/** The value of the one sample with this name whose labels include `labels`; undefined when there is none. */
function value(text: string, name: string, labels: Labels = {}): number | undefined {
  const found = samples(text).filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (found.length > 1) throw new Error(`${found.length} samples of ${name} match ${JSON.stringify(labels)}`);
  return found[0]?.value;
}

const TOKEN = "scrape-token-0123456789";

let db: Database;
beforeAll(async () => {
  db = await openTestDatabase();
  await seedMarket(db.prisma, 6);
  await syncGpuModels(db.prisma);
});
afterAll(async () => { await db?.close(); });

describe("/metrics after real traffic", () => {
  let metrics: Metrics;
  let pubsub: PubSub;
  let events: EventLog;
  let server: RunningServer;
  const base = () => `http://127.0.0.1:${server.port}`;
  const scrape = async () => {
    const res = await fetch(`${base()}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
    return res.text();
  };
  const graphql = async (query: string, variables?: Record<string, unknown>, headers: Record<string, string> = {}) => {
    const res = await fetch(`${base()}/graphql`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify({ query, variables }) });
    return { status: res.status, body: await res.json() as { data?: any; errors?: { extensions?: { code?: string } }[] } };
  };

  beforeAll(async () => {
    metrics = createMetrics({ processMetrics: true });
    pubsub = createPubSub({ metrics });
    events = createEventLog({ prisma: db.prisma, metrics, pollMs: 200 });
    const rateLimiter = createRateLimiter({ prefix: `metrics-${randomUUID()}`, metrics, limits: { "login:ip": { points: 2, durationSeconds: 900 } } });
    server = await startServer(createApp({ db, metrics, pubsub, events, rateLimiter }), { port: 0, host: "127.0.0.1" });
  });
  afterAll(async () => {
    await server?.stop();
    await events?.close();
    await pubsub?.close();
  });

  it("reports process metrics and the GraphQL phases of a named query, without the operation's text", async () => {
    const { body } = await graphql("query CheapOffers { offers(first: 1) { totalCount } }");
    expect(body.errors).toBeUndefined();
    const text = await scrape();
    expect(value(text, "process_cpu_user_seconds_total")).toBeGreaterThan(0);
    expect(value(text, "nodejs_eventloop_lag_seconds")).toBeGreaterThanOrEqual(0);
    const op = { operationType: "query", operationName: "CheapOffers" };
    expect(value(text, "graphql_envelop_request", op)).toBe(1);
    for (const phase of ["parse", "validate", "context", "execute"]) {
      expect(value(text, `graphql_envelop_phase_${phase}_count`, op), phase).toBe(1);
      expect(value(text, `graphql_envelop_phase_${phase}_sum`, op), phase).toBeLessThan(10);
    }
    expect(value(text, "graphql_envelop_request_duration_count", op)).toBe(1);
    expect(value(text, "graphql_yoga_http_duration_count", { ...op, method: "POST", statusCode: "200" })).toBe(1);
    expect(text).not.toMatch(/totalCount|offers\(|graphql_envelop_request_time_summary/);
    expect(samples(text).some((s) => "url" in s.labels || "path" in s.labels)).toBe(false);
  });

  it("counts errors by phase and code", async () => {
    expect((await graphql("query Broken { nope }")).body.errors?.[0]?.extensions?.code).toBe("GRAPHQL_VALIDATION_FAILED");
    expect((await graphql("query WhoAmI { me { email } }")).body.errors?.[0]?.extensions?.code).toBe("UNAUTHENTICATED");
    const text = await scrape();
    expect(value(text, "graphql_envelop_error_result", { operationName: "Broken", phase: "validate", code: "GRAPHQL_VALIDATION_FAILED" })).toBe(1);
    expect(value(text, "graphql_envelop_error_result", { operationName: "WhoAmI", phase: "execute", code: "UNAUTHENTICATED" })).toBe(1);
    expect(text).not.toContain("nope");
  });

  it("counts rate-limited logins by bucket and as RATE_LIMITED errors", async () => {
    const login = `mutation SignIn($email: String!) { login(email: $email, password: "not the right password") { accessToken } }`;
    const codes = [];
    for (let i = 0; i < 3; i++) codes.push((await graphql(login, { email: `nobody${i}@example.com` })).body.errors?.[0]?.extensions?.code);
    expect(codes).toEqual(["UNAUTHENTICATED", "UNAUTHENTICATED", "RATE_LIMITED"]);
    const text = await scrape();
    expect(value(text, "gpubroker_rate_limit_rejections_total", { bucket: "login:ip" })).toBe(1);
    expect(value(text, "graphql_envelop_error_result", { operationName: "SignIn", code: "RATE_LIMITED" })).toBe(1);
    expect(value(text, "graphql_envelop_error_result", { operationName: "SignIn", code: "UNAUTHENTICATED" })).toBe(2);
    expect(text).not.toContain("example.com");
  });

  it("counts a WebSocket subscription and its connection while open, and the events its feed read by stream and source", async () => {
    const client = createClient({ url: `ws://127.0.0.1:${server.port}/graphql`, webSocketImpl: WebSocket, retryAttempts: 0 });
    const received: unknown[] = [];
    try {
      const dispose = client.subscribe({ query: "subscription Ticks { priceTicks { provider } }" }, { next: (v) => { received.push(v); }, error: () => {}, complete: () => {} });
      await expect.poll(() => events.subscriberCount("market")).toBe(1);
      const text = await scrape();
      expect(value(text, "gpubroker_subscriptions_active", { field: "priceTicks", transport: "ws" })).toBe(1);
      expect(value(text, "gpubroker_websocket_connections")).toBe(1);

      const offer = await db.prisma.gpuOffer.findFirstOrThrow({ include: { provider: true } });
      const tick: PriceTick = {
        offerId: offer.id, providerId: offer.providerId, provider: offer.provider.slug, gpuModelId: null, gpuModel: null, region: offer.region, gpuCount: offer.gpuCount,
        kind: "changed", oldOnDemandPrice: "9.0000", newOnDemandPrice: offer.onDemandPrice.toFixed(4), oldSpotPrice: null, newSpotPrice: null,
        oldAvailability: offer.availability, newAvailability: offer.availability, pricePerGpuHour: offer.pricePerGpuHour.toFixed(4), changePercent: null, at: new Date().toISOString(),
      };
      await writeTicks(db.prisma, events, [tick]);
      await expect.poll(() => received.length).toBe(1);
      // Without Redis the feed reads the committed tick from PostgreSQL (woken by the kick); ticks never touch the pub/sub.
      const after = await scrape();
      expect(value(after, "gpubroker_events_read_total", { stream: "market", source: "postgres" })).toBe(1);
      expect(value(after, "gpubroker_events_read_total", { stream: "market", source: "redis" })).toBeUndefined();
      expect(value(after, "gpubroker_events_relayed_total", { stream: "market" })).toBeUndefined();
      expect(value(after, "gpubroker_pubsub_events_published_total")).toBeUndefined();
      await expect.poll(async () => value(await scrape(), "gpubroker_event_feed_behind_events", { stream: "market" })).toBe(0);

      dispose();
      await expect.poll(async () => value(await scrape(), "gpubroker_subscriptions_active", { field: "priceTicks", transport: "ws" })).toBe(0);
      // The subscribe phase and the operation are observed when the stream ends.
      await expect.poll(async () => value(await scrape(), "graphql_envelop_phase_subscribe_count", { operationType: "subscription", operationName: "Ticks" })).toBe(1);
    } finally {
      await client.dispose();
    }
    await expect.poll(async () => value(await scrape(), "gpubroker_websocket_connections")).toBe(0);
  });

  it("reports the PostgreSQL pool when there is one", async () => {
    const text = await scrape();
    if (db.kind === "postgres") {
      expect(value(text, "gpubroker_db_pool_connections", { state: "max" })).toBe(4);
      expect(value(text, "gpubroker_db_pool_connections", { state: "idle" })).toBeGreaterThanOrEqual(1);
      expect(value(text, "gpubroker_db_pool_waiting_requests")).toBe(0);
    } else {
      expect(value(text, "gpubroker_db_pool_connections")).toBeUndefined();
    }
  });
});

describe("product metrics of ingestion and the assistant", () => {
  it("reports each poll by provider and result, the changes, the time since the last success and leadership", async () => {
    const metrics = createMetrics();
    const lambda = {
      slug: "lambda", failure: null as string | null,
      async fetchOffers(): Promise<FetchReport> {
        if (lambda.failure) throw new Error(lambda.failure);
        return { offers: [{ externalId: "m1", instanceType: "m1-type", gpuName: "H100 SXM", gpuCount: 1, region: "us-east-1", country: "US", onDemandPrice: "2.50" }], skipped: 0, skipReasons: [], requests: 1 };
      },
    } satisfies ProviderAdapter & { failure: string | null };
    const ingestion = createIngestion({ prisma: db.prisma, adapters: [lambda], metrics, log: logger.child({ component: "metrics-test" }), tickMs: 60_000, windowRollMs: 0 });
    expect((await ingestion.runProvider("lambda")).ok).toBe(true);
    lambda.failure = "connect ECONNREFUSED";
    expect((await ingestion.runProvider("lambda")).ok).toBe(false);
    ingestion.start(); // no databaseUrl: this process leads
    await expect.poll(() => ingestion.isLeader).toBe(true);
    const text = await metrics.registry.metrics();
    await ingestion.stop();
    expect(value(text, "gpubroker_ingestion_polls_total", { provider: "lambda", result: "ok" })).toBe(1);
    expect(value(text, "gpubroker_ingestion_polls_total", { provider: "lambda", result: "error" })).toBeGreaterThanOrEqual(1);
    expect(value(text, "gpubroker_ingestion_poll_duration_seconds_count", { provider: "lambda" })).toBeGreaterThanOrEqual(2);
    expect(value(text, "gpubroker_ingestion_offers_changed_total", { provider: "lambda" })).toBe(1);
    const since = value(text, "gpubroker_ingestion_seconds_since_success", { provider: "lambda" })!;
    expect(since).toBeGreaterThanOrEqual(0);
    expect(since).toBeLessThan(60);
    expect(value(text, "gpubroker_ingestion_leader")).toBe(1);
    expect(value(await metrics.registry.metrics(), "gpubroker_ingestion_leader")).toBe(0);
  });

  it("reports an answer's latency to its first delta, its tool calls and its outcome by backend", async () => {
    const metrics = createMetrics();
    const app = createApp({ db, metrics });
    const post = async (query: string, token?: string) => (await (await app.fetch("http://localhost/graphql", {
      method: "POST", headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) }, body: JSON.stringify({ query }),
    })).json()) as { data: any };
    const token = (await post(`mutation { register(email: "metrics@example.com", password: "a long and lovely passphrase", name: "M") { accessToken } }`)).data.register.accessToken as string;
    const asked = await post(`mutation { askAssistant(input: { message: "cheapest H100" }) { answer { status } } }`, token);
    expect(asked.data.askAssistant.answer.status).toBe("COMPLETE");
    const text = await metrics.registry.metrics();
    await app.dispose();
    expect(value(text, "gpubroker_assistant_answers_total", { backend: "builtin", status: "COMPLETE" })).toBe(1);
    expect(value(text, "gpubroker_assistant_first_delta_seconds_count", { backend: "builtin" })).toBe(1);
    expect(value(text, "gpubroker_assistant_first_delta_seconds_sum", { backend: "builtin" })).toBeLessThan(30);
    expect(value(text, "gpubroker_assistant_tool_calls_total", { backend: "builtin" })).toBeGreaterThanOrEqual(1);
    expect(value(text, "gpubroker_assistant_failures_total")).toBeUndefined();
    expect(value(text, "gpubroker_pubsub_events_published_total", { topic: "chat.event" })).toBeGreaterThanOrEqual(1);
  });
});

describe("who may scrape", () => {
  const scrapeApp = (app: ReturnType<typeof createApp>, headers: Record<string, string> = {}, url = "http://localhost/metrics") => app.fetch(url, { headers });

  it("requires the bearer token when one is configured: 401 without it or with another, 200 with it", async () => {
    const app = createApp({ db, metricsToken: TOKEN });
    const none = await scrapeApp(app);
    expect(none.status).toBe(401);
    expect(none.headers.get("www-authenticate")).toBe('Bearer realm="metrics"');
    expect(await none.text()).not.toContain("graphql_envelop");
    expect((await scrapeApp(app, { authorization: "Bearer scrape-token-0123456780" })).status).toBe(401);
    const ok = await scrapeApp(app, { authorization: `Bearer ${TOKEN}` });
    expect(ok.status).toBe(200);
    expect(await ok.text()).toContain("# TYPE graphql_envelop_request counter");
    expect(ok.headers.get("x-content-type-options")).toBe("nosniff");
  });

  it("answers a scraper at the pod address when ALLOWED_HOSTS names only the public host, with no CSRF header", async () => {
    const app = createApp({ db, allowedHosts: ["api.example.com"], corsOrigins: ["https://app.example.com"] });
    expect((await scrapeApp(app, {}, "http://10.0.0.5:4000/metrics")).status).toBe(200);
    expect((await app.fetch("http://10.0.0.5:4000/graphql?query=%7B__typename%7D", { headers: { "x-graphql-csrf": "1" } })).status).toBe(421);
  });

  it("serves /metrics on a port of its own (with the token) and not on the API port when METRICS_PORT is set", async () => {
    const metrics = createMetrics();
    const app = createApp({ db, metrics, metricsEndpoint: false });
    const api = await startServer(app, { port: 0, host: "127.0.0.1" });
    const own = await startMetricsServer(metrics, { port: 0, host: "127.0.0.1", token: TOKEN });
    try {
      expect((await fetch(`http://127.0.0.1:${api.port}/metrics`)).status).toBe(404);
      expect((await fetch(`http://127.0.0.1:${own.port}/metrics`)).status).toBe(401);
      const res = await fetch(`http://127.0.0.1:${own.port}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
      expect(await res.text()).toContain("# TYPE gpubroker_subscriptions_active gauge");
      expect((await fetch(`http://127.0.0.1:${own.port}/graphql`)).status).toBe(404);
    } finally {
      await own.stop();
      await api.stop();
    }
  });
});
