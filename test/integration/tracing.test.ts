// OpenTelemetry (issue 14, part 2), with an in-memory exporter: an incoming request continues the
// caller's trace (W3C traceparent) and holds the GraphQL operation, its root field and its Prisma
// queries; outbound fetches carry traceparent; Redis commands and event delivery are spans; health
// checks and background chatter are not traced.
import { createServer, request, type Server } from "node:http";
import { once } from "node:events";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Redis } from "ioredis";
import { context, SpanKind, trace } from "@opentelemetry/api";
import { InMemorySpanExporter, type ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { openTestDatabase } from "../support/db.ts";
import { seedMarket } from "../support/market.ts";
import { relaxedRateLimiter } from "../support/app.ts";
import { until } from "../support/subscribe.ts";
import { writeNotifications } from "../support/events.ts";
import { startTracing, traceFields, type Tracing } from "../../src/infra/tracing.ts";
import { createLogger, logger, setLogMixin } from "../../src/infra/logger.ts";
import { createIngestion } from "../../src/ingestion/scheduler.ts";
import type { ProviderAdapter } from "../../src/ingestion/adapter.ts";
import { createEventLog, type EventLog } from "../../src/infra/event-log.ts";
import { createApp } from "../../src/yoga.ts";
import { startServer, type RunningServer } from "../../src/server.ts";
import type { Database } from "../../src/infra/db.ts";

const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_ID = "00f067aa0ba902b7";

let exporter: InMemorySpanExporter;
let tracing: Tracing;
let db: Database;
let events: EventLog;
let server: RunningServer;

/**
 * POST over node:http (not traced here): fetch would be traced by this same process's undici
 * instrumentation, which replaces the traceparent the test sets with its own.
 */
function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: "POST", headers: { "content-type": "application/json", ...headers } }, (res) => { res.resume(); res.on("end", () => resolve(res.statusCode!)); });
    req.on("error", reject);
    req.end(JSON.stringify(body));
  });
}
const get = (url: string) => new Promise<void>((resolve, reject) => { request(url, (res) => { res.resume(); res.on("end", () => resolve()); }).on("error", reject).end(); });

const spansOf = (traceId: string) => exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId);
const parentOf = (span: ReadableSpan) => span.parentSpanContext?.spanId;

beforeAll(async () => {
  exporter = new InMemorySpanExporter();
  tracing = startTracing({ exporter })!;
  db = await openTestDatabase();
  await seedMarket(db.prisma, 4);
  events = createEventLog({ prisma: db.prisma, pollMs: 100 });
  server = await startServer(createApp({ db, events, tracing: true, rateLimiter: relaxedRateLimiter() }), { port: 0, host: "127.0.0.1" });
});
afterAll(async () => {
  await server?.stop();
  await events?.close();
  await db?.close();
  await tracing?.shutdown();
});

describe("an incoming request", () => {
  it("continues the caller's trace: HTTP server span → GraphQL operation → root field → SQL", async () => {
    const status = await post(server.url, { query: "query CheapOffers { offers(first: 2) { edges { node { id pricePerGpuHour } } } }" }, { traceparent: `00-${TRACE_ID}-${PARENT_ID}-01` });
    expect(status).toBe(200);
    await until(() => spansOf(TRACE_ID).some((s) => s.kind === SpanKind.SERVER), "the server span to end");
    const spans = spansOf(TRACE_ID);
    const http = spans.find((s) => s.kind === SpanKind.SERVER)!;
    expect(parentOf(http)).toBe(PARENT_ID); // the caller's span is the parent
    expect(http.attributes["http.route"] ?? http.attributes["http.target"] ?? http.attributes["url.path"]).toMatch(/graphql/);
    const operation = spans.find((s) => s.name.includes("CheapOffers"))!;
    expect(operation, spans.map((s) => s.name).join(", ")).toBeDefined();
    expect(parentOf(operation)).toBe(http.spanContext().spanId);
    const field = spans.find((s) => s.name === "graphql.resolve" && s.attributes["graphql.field.name"] === "offers");
    expect(field, spans.map((s) => `${s.name} ${JSON.stringify(s.attributes)}`).join("\n")).toBeDefined();
    const ids = new Set(spans.map((s) => s.spanContext().spanId));
    // The page is read straight through the driver (db.read, src/infra/db.ts), other statements through Prisma.
    const sql = spans.filter((s) => s.name.startsWith("prisma:") || s.name === "db.read");
    expect(sql.length).toBeGreaterThan(0);
    for (const s of sql) expect(ids.has(parentOf(s)!)).toBe(true); // inside this trace, not roots of their own
    const page = spans.find((s) => s.name === "db.read")!;
    expect(parentOf(page)).toBe(field!.spanContext().spanId);
    // SQL with placeholders; no document text, variables or argument values in any span
    const attributes = JSON.stringify(spans.map((s) => s.attributes));
    expect(attributes).toMatch(/LIMIT \$1/);
    expect(attributes).not.toMatch(/first: 2|edges \{|CheapOffers \{/);
    expect(operation.attributes).toMatchObject({ "graphql.execute.operationName": "CheapOffers", "graphql.execute.operationType": "query" });
  });

  it("a request without traceparent starts a trace; /health, /ready and /metrics are not traced", async () => {
    exporter.reset();
    for (const path of ["/health", "/ready", "/metrics"]) await get(`http://127.0.0.1:${server.port}${path}`);
    await post(server.url, { query: "{ providers { slug } }" });
    await until(() => exporter.getFinishedSpans().some((s) => s.kind === SpanKind.SERVER), "the server span");
    const servers = exporter.getFinishedSpans().filter((s) => s.kind === SpanKind.SERVER);
    expect(servers).toHaveLength(1);
    expect(parentOf(servers[0]!)).toBeUndefined();
  });
});

describe("outbound calls and background work", () => {
  it("an outbound fetch inside a trace is a client span and carries traceparent", async () => {
    let seen: string | undefined;
    const upstream: Server = createServer((req, res) => { seen = req.headers.traceparent as string | undefined; res.end("{}"); });
    upstream.listen(0, "127.0.0.1");
    await once(upstream, "listening");
    try {
      const root = trace.getTracer("test").startSpan("ingestion.poll");
      await context.with(trace.setSpan(context.active(), root), () => fetch(`http://127.0.0.1:${(upstream.address() as AddressInfo).port}/offers`));
      root.end();
      const traceId = root.spanContext().traceId;
      expect(seen).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));
      expect(spansOf(traceId).some((s) => s.kind === SpanKind.CLIENT)).toBe(true);
    } finally {
      upstream.close();
    }
  });

  it("a provider poll is one trace: ingestion.poll → the provider's HTTP call (with traceparent) → the import's SQL", async () => {
    let seen: string | undefined;
    const upstream: Server = createServer((req, res) => { seen = req.headers.traceparent as string | undefined; res.end("[]"); });
    upstream.listen(0, "127.0.0.1");
    await once(upstream, "listening");
    const adapter: ProviderAdapter = {
      slug: "lambda",
      async fetchOffers() {
        await (await fetch(`http://127.0.0.1:${(upstream.address() as AddressInfo).port}/instance-types`)).text();
        return { offers: [{ externalId: "t1", instanceType: "gpu_1x_h100", gpuName: "H100 SXM", gpuCount: 1, region: "us-east-1", country: "US", onDemandPrice: "2.49" }], skipped: 0, skipReasons: [], requests: 1 };
      },
    };
    const ingestion = createIngestion({ prisma: db.prisma, adapters: [adapter], log: logger.child({ component: "tracing-test" }), windowRollMs: 0 });
    try {
      exporter.reset();
      const run = await ingestion.runProvider("lambda");
      expect(run.ok).toBe(true);
      const poll = exporter.getFinishedSpans().find((s) => s.name === "ingestion.poll")!;
      expect(poll.attributes).toMatchObject({ "gpubroker.provider": "lambda", "gpubroker.ok": true, "gpubroker.changes": 1 });
      const inTrace = spansOf(poll.spanContext().traceId);
      expect(inTrace.some((s) => s.kind === SpanKind.CLIENT && parentOf(s) === poll.spanContext().spanId)).toBe(true);
      expect(seen).toMatch(new RegExp(`^00-${poll.spanContext().traceId}-`));
      expect(inTrace.filter((s) => s.name === "prisma:client:db_query").length).toBeGreaterThan(2);
    } finally {
      await ingestion.stop();
      upstream.close();
    }
  });

  it("Redis commands are spans inside a trace, and not traced on their own", async () => {
    const redis = new Redis(REDIS_URL);
    try {
      exporter.reset();
      await redis.ping(); // no parent: not traced
      const root = trace.getTracer("test").startSpan("ingestion.poll");
      await context.with(trace.setSpan(context.active(), root), () => redis.ping());
      root.end();
      const spans = exporter.getFinishedSpans();
      const pings = spans.filter((s) => s.name === "ping");
      expect(pings).toHaveLength(1);
      expect(pings[0]!.spanContext().traceId).toBe(root.spanContext().traceId);
    } finally {
      redis.disconnect();
    }
  });

  it("event delivery is an events.read span with the stream, the batch size and the subscribers", async () => {
    const reader = await events.subscribe("notification");
    exporter.reset();
    await writeNotifications(db.prisma, events, [{ id: 1, userId: 1, alertId: null, kind: "t", title: "t", body: "", data: {}, createdAt: new Date().toISOString() }]);
    await reader.next();
    await until(() => exporter.getFinishedSpans().some((s) => s.name === "events.read"), "an events.read span");
    const read = exporter.getFinishedSpans().find((s) => s.name === "events.read")!;
    expect(read.attributes).toMatchObject({ "gpubroker.stream": "notification", "gpubroker.events": 1, "gpubroker.subscribers": 1 });
    // the feed's once-a-second check of the head is not a trace of its own
    await new Promise((r) => setTimeout(r, 300));
    expect(exporter.getFinishedSpans().filter((s) => s.name.startsWith("prisma:") && !parentOf(s))).toEqual([]);
    await reader.return?.();
  });
});

describe("log lines", () => {
  it("a line written inside a trace names its trace and span (trace_id, span_id); outside one, neither", () => {
    const lines: Record<string, unknown>[] = [];
    const log = createLogger({ level: "info", format: "json", destination: { write: (line: string) => { lines.push(JSON.parse(line)); } } });
    setLogMixin(traceFields);
    try {
      const span = trace.getTracer("test").startSpan("ingestion.poll");
      context.with(trace.setSpan(context.active(), span), () => log.child({ requestId: "r-1" }).info("inside"));
      span.end();
      log.info("outside");
      expect(lines[0]).toMatchObject({ msg: "inside", requestId: "r-1", trace_id: span.spanContext().traceId, span_id: span.spanContext().spanId });
      expect(lines[1]).not.toHaveProperty("trace_id");
    } finally {
      setLogMixin(null);
    }
  });
});
