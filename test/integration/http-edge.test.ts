// The HTTP edge (issue 13, parts 1, 3 and 4): malformed GET parameters, readiness and errors that never
// leak, body and message limits, security headers, CORS and Host, introspection and GraphiQL, persisted
// operations — with production defaults and in development. Sockets where they matter, yoga.fetch elsewhere.
import { createHash } from "node:crypto";
import http from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { createClient } from "graphql-ws";
import { serverAudits } from "graphql-http";
import { openTestDatabase } from "../support/db.ts";
import { seedMarket } from "../support/market.ts";
import { createApp } from "../../src/yoga.ts";
import { startServer, type RunningServer } from "../../src/server.ts";
import { API_CSP, HSTS } from "../../src/graphql/http-edge.ts";
import { loadConfig } from "../../src/config.ts";
import { createEventLog } from "../../src/infra/event-log.ts";
import { until } from "../support/subscribe.ts";
import type { Database } from "../../src/infra/db.ts";

type App = ReturnType<typeof createApp>;
const PROVIDERS = { data: { providers: [{ slug: "alpha" }, { slug: "beta" }, { slug: "gamma" }] } };
const GRAPHQL_JSON = "application/graphql-response+json";

const post = (app: App, body: unknown, opts: { headers?: Record<string, string>; peer?: string; url?: string } = {}) =>
  app.fetch(opts.url ?? "http://localhost/graphql", {
    method: "POST",
    headers: { "content-type": "application/json", accept: GRAPHQL_JSON, ...opts.headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  }, opts.peer ? { req: { socket: { remoteAddress: opts.peer }, headers: {} } } : {});

const get = (app: App, params: Record<string, string>, headers: Record<string, string> = {}) =>
  app.fetch(`http://localhost/graphql?${new URLSearchParams(params)}`, { headers: { accept: GRAPHQL_JSON, "x-graphql-csrf": "1", ...headers } });

/** A Prisma client whose every call fails the way a lost database does, with internals in the message. */
const brokenPrisma = (): any => {
  const boom: any = new Proxy(() => {}, { get: () => boom, apply: () => { throw new Error("connect ECONNREFUSED 10.1.2.3:5432 (secret) at /srv/app/src/infra/db.ts:42"); } });
  return boom;
};
const LEAK = /ECONNREFUSED|secret|10\.1\.2\.3|5432|\/srv\/|\.ts:\d|stack/;

/** Raw HTTP over a socket: headers we choose (Host, chunked bodies), the body streamed until the server answers. */
function rawRequest(port: number, opts: { method?: string; path?: string; headers: Record<string, string | number>; chunk?: string; maxBytes?: number; prefix?: string }) {
  return new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string; sent: number }>((resolve, reject) => {
    let sent = 0;
    let answered = false;
    const req = http.request({ host: "127.0.0.1", port, method: opts.method ?? "POST", path: opts.path ?? "/graphql", headers: opts.headers }, (res) => {
      answered = true;
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d) => { body += d; });
      res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body, sent }));
    });
    req.on("error", (err) => { if (!answered) reject(err); });
    if (opts.prefix !== undefined) { req.write(opts.prefix); sent += opts.prefix.length; }
    if (!opts.chunk) { req.end(); return; }
    const pump = () => {
      while (!answered && sent < (opts.maxBytes ?? 0)) {
        sent += opts.chunk!.length;
        if (!req.write(opts.chunk)) { req.once("drain", pump); return; }
      }
      if (!answered) req.end();
    };
    pump();
  });
}

let db: Database;
beforeAll(async () => {
  db = await openTestDatabase();
  await seedMarket(db.prisma, 6);
});
afterAll(async () => { await db?.close(); });

describe("malformed GET parameters", () => {
  let prod: App;
  let dev: App;
  beforeAll(() => {
    prod = createApp({ db });
    dev = createApp({ db, development: true });
  });

  it.each([["production", () => prod], ["development", () => dev]])("%s: variables or extensions that are not JSON are 400 BAD_REQUEST, like a malformed POST body", async (_mode, app) => {
    for (const accept of ["application/json", GRAPHQL_JSON]) {
      for (const name of ["variables", "extensions"]) {
        const res = await get(app(), { query: "{ providers { slug } }", [name]: "{nope" }, { accept });
        expect(res.status).toBe(400);
        expect(await res.json()).toEqual({ errors: [{ message: `The "${name}" parameter is not valid JSON; it must be a JSON object.`, extensions: { code: "BAD_REQUEST" } }] });
      }
    }
    const malformedPost = await post(app(), "{nope");
    expect(malformedPost.status).toBe(400);
    expect((await malformedPost.json()).errors[0].extensions.code).toBe("BAD_REQUEST");
  });

  it.each([["production", () => prod], ["development", () => dev]])("%s: JSON that is not an object is 400 BAD_REQUEST", async (_mode, app) => {
    for (const [name, value, type] of [["variables", "[1]", "array"], ["variables", '"x"', "string"], ["extensions", "7", "number"], ["extensions", "[]", "array"]] as const) {
      const res = await get(app(), { query: "{ providers { slug } }", [name]: value });
      expect(res.status).toBe(400);
      expect(await res.json()).toEqual({ errors: [{ message: `Expected "${name}" param to be empty or an object, but given ${type}.`, extensions: { code: "BAD_REQUEST" } }] });
    }
  });

  it("well-formed GET parameters still run", async () => {
    const res = await get(prod, { query: "query($n: String!) { provider(slug: $n) { slug } }", variables: '{"n":"beta"}', extensions: "{}" });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ data: { provider: { slug: "beta" } } });
  });

  it("the graphql-http audit: every MUST and SHOULD passes with introspection on (its probes use __type); off, only those probes fail", async () => {
    const audit = async (app: App) => {
      // GETs carry the CSRF header our browsers-only rule asks for.
      const fetchFn = (input: RequestInfo | URL, init?: RequestInit) =>
        app.fetch(input as string, { ...init, headers: { ...Object.fromEntries(new Headers(init?.headers)), "x-graphql-csrf": "1" } });
      const results = await Promise.all(serverAudits({ url: "http://localhost/graphql", fetchFn }).map((a) => a.fn()));
      return { total: results.length, notOk: results.filter((r) => r.status !== "ok").map((r) => r.name) };
    };
    const open = await audit(createApp({ db, introspection: true }));
    expect(open.total).toBeGreaterThanOrEqual(61);
    expect(open.notOk).toEqual([]);
    const closed = await audit(prod);
    expect(closed.notOk.sort()).toEqual([
      "MAY allow URL-encoded JSON string {variables} parameter in GETs when accepting application/graphql-response+json",
      "MAY allow URL-encoded JSON string {variables} parameter in GETs when accepting application/json",
      "MUST allow map {variables} parameter when accepting application/json",
      "SHOULD allow map {variables} parameter when accepting application/graphql-response+json",
    ]);
  });
});

describe("errors and readiness never leak", () => {
  it("/ready names components and states only: 200 when all are up, 503 with the failing one down", async () => {
    const ready = await createApp({ db }).fetch("http://localhost/ready");
    expect(ready.status).toBe(200);
    expect(ready.headers.get("cache-control")).toBe("no-store");
    expect(await ready.json()).toEqual({ status: "ready", components: { database: "up", events: "up" } });

    const app = createApp({ db, readinessChecks: { redis: async () => { throw new Error("connect ECONNREFUSED 10.1.2.3:6379 (secret)"); } } });
    const res = await app.fetch("http://localhost/ready");
    expect(res.status).toBe(503);
    const text = await res.text();
    expect(JSON.parse(text)).toEqual({ status: "unavailable", components: { database: "up", events: "up", redis: "down" } });
    expect(text).not.toMatch(/ECONNREFUSED|10\.1\.2\.3|6379|secret/);
  });

  it("/ready: a component that does not answer in 2 s is down", async () => {
    const app = createApp({ db, readinessChecks: { redis: () => new Promise(() => {}) } });
    const started = Date.now();
    const res = await app.fetch("http://localhost/ready");
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_900);
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ status: "unavailable", components: { database: "up", events: "up", redis: "down" } });
  });

  it("/ready: events down while a committed event waits too long for this node's feed, up again once it is delivered", async () => {
    const events = createEventLog({ prisma: db.prisma, pollMs: 50 });
    const app = createApp({ db, events, eventStallMs: 300 });
    try {
      const reader = await events.subscribe("notification"); // starts the feed
      const ready = async () => ({ status: (await app.fetch("http://localhost/ready")).status, events: (await (await app.fetch("http://localhost/ready")).json()).components.events });
      expect(await ready()).toEqual({ status: 200, events: "up" });
      // A committed head whose events the feed cannot read (their rows are missing): delivery is stuck.
      const { seq } = await db.prisma.eventStream.update({ where: { name: "notification" }, data: { seq: { increment: 3 } } });
      await until(async () => (await ready()).status === 503, "/ready to report the stall", 5000);
      expect(await ready()).toEqual({ status: 503, events: "down" });
      await db.prisma.eventStream.update({ where: { name: "notification" }, data: { seq: seq - 3n } });
      await until(async () => (await ready()).status === 200, "/ready to recover", 5000);
      await reader.return?.();
    } finally {
      await app.dispose();
      await events.close();
    }
  });

  it("/ready with the database gone: 503, database down, no address or error text", async () => {
    const other = await openTestDatabase();
    const app = createApp({ db: other });
    await other.close();
    const res = await app.fetch("http://localhost/ready");
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ status: "unavailable", components: { database: "down", events: "up" } });
  });

  const masked = { message: "Internal error. Quote this errorId when you report it.", extensions: { code: "INTERNAL_SERVER_ERROR", errorId: expect.stringMatching(/^[0-9a-f-]{36}$/) } };

  it("production masks an unexpected failure behind an errorId, even for a local caller", async () => {
    const app = createApp({ db: { ...db, prisma: brokenPrisma() } });
    for (const peer of [undefined, "127.0.0.1"]) {
      const res = await post(app, { query: "{ providers { slug } }" }, { peer });
      const text = await res.text();
      expect(JSON.parse(text).errors).toEqual([expect.objectContaining(masked)]);
      expect(text).not.toMatch(LEAK);
    }
  });

  it("development shows the cause to loopback callers only (the forwarded client behind a trusted proxy)", async () => {
    const app = createApp({ db: { ...db, prisma: brokenPrisma() }, development: true });
    const local = await (await post(app, { query: "{ providers { slug } }" }, { peer: "::ffff:127.0.0.1" })).json();
    expect(local.errors).toEqual([expect.objectContaining({ ...masked, extensions: { ...masked.extensions, cause: { message: expect.stringContaining("ECONNREFUSED 10.1.2.3:5432"), stack: expect.any(Array) } } })]);

    for (const peer of [undefined, "203.0.113.9"]) {
      const text = await (await post(app, { query: "{ providers { slug } }" }, { peer })).text();
      expect(JSON.parse(text).errors).toEqual([expect.objectContaining(masked)]);
      expect(text).not.toMatch(LEAK);
    }
    const proxied = createApp({ db: { ...db, prisma: brokenPrisma() }, development: true, trustProxy: 1 });
    const remote = await (await post(proxied, { query: "{ providers { slug } }" }, { peer: "127.0.0.1", headers: { "x-forwarded-for": "203.0.113.9" } })).text();
    expect(remote).not.toMatch(LEAK);
  });

  it("development over a real loopback socket shows the cause", async () => {
    const server = await startServer(createApp({ db: { ...db, prisma: brokenPrisma() }, development: true }), { port: 0, host: "127.0.0.1" });
    try {
      const res = await fetch(server.url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ query: "{ providers { slug } }" }) });
      expect((await res.json()).errors[0].extensions.cause.message).toContain("ECONNREFUSED");
    } finally {
      await server.stop();
    }
  });
});

describe("request body and WebSocket message limits", () => {
  it("a body over 1 MiB (the default) is 413 with a JSON GraphQL error, in production and development", async () => {
    const big = JSON.stringify({ query: "{ providers { slug } }", variables: { x: "a".repeat(1_048_576) } });
    for (const app of [createApp({ db }), createApp({ db, development: true })]) {
      const res = await post(app, big);
      expect(res.status).toBe(413);
      expect(res.headers.get("content-type")).toMatch(/json/);
      expect(await res.json()).toEqual({ errors: [{ message: "Request body too large", extensions: { code: "REQUEST_ENTITY_TOO_LARGE" } }] });
    }
    const fits = await post(createApp({ db }), JSON.stringify({ query: "{ providers { slug } }", variables: { x: "a".repeat(1_000_000) } }));
    expect(await fits.json()).toEqual(PROVIDERS);
  });

  describe("over a socket", () => {
    let server: RunningServer;
    beforeAll(async () => { server = await startServer(createApp({ db, maxBodyBytes: 4_096 }), { port: 0, host: "127.0.0.1" }); });
    afterAll(async () => { await server?.stop(); });

    it("a declared Content-Length over the limit is refused before the body is read, and the connection closed", async () => {
      const res = await rawRequest(server.port, { headers: { "content-type": "application/json", "content-length": 10_000_000 }, prefix: '{"query":"{ providers { slug } }"' });
      expect(res.status).toBe(413);
      expect(res.headers.connection).toBe("close");
      expect(JSON.parse(res.body)).toEqual({ errors: [{ message: "Request body too large", extensions: { code: "REQUEST_ENTITY_TOO_LARGE" } }] });
    });

    it("a chunked body (no Content-Length) is cut off once it passes the limit", async () => {
      const res = await rawRequest(server.port, {
        headers: { "content-type": "application/json", "transfer-encoding": "chunked", accept: "application/json" },
        prefix: '{"query":"{ providers { slug } }","variables":{"x":"', chunk: "a".repeat(1_024), maxBytes: 8 * 1_048_576,
      });
      expect(res.status).toBe(413);
      expect(JSON.parse(res.body).errors[0].extensions.code).toBe("REQUEST_ENTITY_TOO_LARGE");
      expect(res.sent).toBeLessThan(8 * 1_048_576);
    });

    it("a chunked body under the limit runs", async () => {
      const res = await rawRequest(server.port, { headers: { "content-type": "application/json", "transfer-encoding": "chunked", accept: "application/json" }, prefix: JSON.stringify({ query: "{ providers { slug } }" }) });
      expect(JSON.parse(res.body)).toEqual(PROVIDERS);
    });

    it("a WebSocket message over the limit closes the socket with 1009", async () => {
      const socket = new WebSocket(`ws://127.0.0.1:${server.port}/graphql`, "graphql-transport-ws");
      const closed = new Promise<number>((resolve) => socket.on("close", (code) => resolve(code)));
      await new Promise((resolve) => socket.on("open", resolve));
      socket.send(JSON.stringify({ type: "connection_init", payload: { pad: "a".repeat(8_192) } }));
      expect(await closed).toBe(1009);
    });
  });
});

describe("security headers", () => {
  const expectHardened = (headers: Headers, csp = API_CSP) => {
    expect(headers.get("content-security-policy")).toBe(csp);
    expect(headers.get("x-content-type-options")).toBe("nosniff");
    expect(headers.get("x-frame-options")).toBe("DENY");
    expect(headers.get("referrer-policy")).toBe("no-referrer");
    expect(headers.get("cross-origin-resource-policy")).toBe("same-origin");
  };

  it.each([["production", false], ["development", true]])("%s: on every answer (GraphQL, 400, 413, /health, /ready, JWKS, 404, preflight), HSTS only over TLS", async (_mode, development) => {
    const app = createApp({ db, development, maxBodyBytes: 2_048 });
    const answers = [
      await post(app, { query: "{ providers { slug } }" }),
      await post(app, { query: "{ nope }" }),
      await post(app, { query: "{ providers { slug } }", variables: { x: "a".repeat(4_096) } }),
      await get(app, { query: "{ providers { slug } }", variables: "{nope" }),
      await app.fetch("http://localhost/health"),
      await app.fetch("http://localhost/ready"),
      await app.fetch("http://localhost/.well-known/jwks.json"),
      await app.fetch("http://localhost/nowhere"),
      await app.fetch("http://localhost/graphql", { method: "OPTIONS", headers: { origin: "https://elsewhere.example", "access-control-request-method": "POST" } }),
    ];
    expect(answers.map((r) => r.status)).toEqual([200, 400, 413, 400, 200, 200, 200, 404, 204]);
    for (const res of answers) {
      expectHardened(res.headers);
      expect(res.headers.get("strict-transport-security")).toBeNull();
    }
    expectHardened((await post(app, { query: "{ __typename }" }, { url: "https://localhost/graphql" })).headers);
    expect((await post(app, { query: "{ __typename }" }, { url: "https://localhost/graphql" })).headers.get("strict-transport-security")).toBe(HSTS);
  });

  it("X-Forwarded-Proto: https counts only from a trusted proxy, and only the entry it wrote", async () => {
    const hsts = async (app: App, proto: string) => (await post(app, { query: "{ __typename }" }, { headers: { "x-forwarded-proto": proto } })).headers.get("strict-transport-security");
    expect(await hsts(createApp({ db }), "https")).toBeNull();
    const proxied = createApp({ db, trustProxy: 1 });
    expect(await hsts(proxied, "https")).toBe(HSTS);
    expect(await hsts(proxied, "https, http")).toBeNull();
    expect(await hsts(proxied, "http")).toBeNull();
  });

  it("over a real socket", async () => {
    const server = await startServer(createApp({ db }), { port: 0, host: "127.0.0.1" });
    try {
      const res = await fetch(server.url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ query: "{ __typename }" }) });
      expectHardened(res.headers);
      expect(res.headers.get("strict-transport-security")).toBeNull();
    } finally {
      await server.stop();
    }
  });
});

describe("CORS and Host", () => {
  const preflight = (app: App, origin: string) =>
    app.fetch("http://localhost/graphql", { method: "OPTIONS", headers: { origin, "access-control-request-method": "POST", "access-control-request-headers": "content-type, authorization" } });
  const corsHeaders = (res: Response) => Object.fromEntries([...res.headers].filter(([k]) => k.startsWith("access-control-")));

  it("production by default: no origin gets CORS headers, none is reflected", async () => {
    const app = createApp({ db });
    for (const origin of ["https://evil.example", "http://localhost:3000"]) {
      expect(corsHeaders(await preflight(app, origin))).toEqual({});
      const res = await post(app, { query: "{ __typename }" }, { headers: { origin } });
      expect(corsHeaders(res)).toEqual({});
      expect(res.headers.get("vary")).toContain("Origin");
    }
  });

  it("a listed origin gets exact CORS headers with credentials; others none", async () => {
    const app = createApp({ db, corsOrigins: ["https://app.example.com"] });
    expect(corsHeaders(await preflight(app, "https://app.example.com"))).toEqual({
      "access-control-allow-origin": "https://app.example.com",
      "access-control-allow-credentials": "true",
      "access-control-allow-methods": "GET, POST, OPTIONS",
      "access-control-allow-headers": "accept, authorization, content-type, x-request-id, x-graphql-csrf, x-graphql-yoga-csrf, apollo-require-preflight",
      "access-control-expose-headers": "retry-after",
      "access-control-max-age": "600",
    });
    const res = await post(app, { query: "{ providers { slug } }" }, { headers: { origin: "https://app.example.com" } });
    expect(await res.json()).toEqual(PROVIDERS);
    expect(res.headers.get("access-control-allow-origin")).toBe("https://app.example.com");
    expect(res.headers.get("access-control-allow-credentials")).toBe("true");
    for (const origin of ["https://evil.example", "https://app.example.com.evil.example", "http://app.example.com", "null"]) {
      expect(corsHeaders(await preflight(app, origin))).toEqual({});
    }
  });

  it("development by default: localhost origins on any port, nothing else", async () => {
    const app = createApp({ db, development: true });
    for (const origin of ["http://localhost:5173", "http://127.0.0.1:3000", "http://[::1]:8080"]) {
      expect((await preflight(app, origin)).headers.get("access-control-allow-origin")).toBe(origin);
    }
    for (const origin of ["https://evil.example", "http://localhost.evil.example"]) {
      expect(corsHeaders(await preflight(app, origin))).toEqual({});
    }
  });

  it("CORS_ORIGINS and ALLOWED_HOSTS are parsed and checked by the config", () => {
    const base = { NODE_ENV: "development" };
    expect(loadConfig({ ...base, CORS_ORIGINS: "https://app.example.com, http://localhost:3000" }).CORS_ORIGINS).toEqual(["https://app.example.com", "http://localhost:3000"]);
    expect(loadConfig(base).CORS_ORIGINS).toBeUndefined();
    expect(() => loadConfig({ ...base, CORS_ORIGINS: "https://app.example.com/path" })).toThrow(/CORS_ORIGINS/);
    expect(() => loadConfig({ ...base, CORS_ORIGINS: "*" })).toThrow(/CORS_ORIGINS/);
    expect(loadConfig({ ...base, ALLOWED_HOSTS: "api.example.com,localhost:4000" }).ALLOWED_HOSTS).toEqual(["api.example.com", "localhost:4000"]);
    expect(() => loadConfig({ ...base, ALLOWED_HOSTS: "http://api.example.com" })).toThrow(/ALLOWED_HOSTS/);
    const defaults = loadConfig(base);
    expect([defaults.MAX_BODY_BYTES, defaults.GRAPHQL_INTROSPECTION, defaults.GRAPHIQL, defaults.PERSISTED_OPERATIONS_FILE]).toEqual([1_048_576, undefined, undefined, undefined]);
    expect(loadConfig({ ...base, GRAPHQL_INTROSPECTION: "true", GRAPHIQL: "false", MAX_BODY_BYTES: "65536" })).toMatchObject({ GRAPHQL_INTROSPECTION: true, GRAPHIQL: false, MAX_BODY_BYTES: 65_536 });
  });

  describe("over a socket, with ALLOWED_HOSTS and a listed origin", () => {
    let server: RunningServer;
    beforeAll(async () => { server = await startServer(createApp({ db, allowedHosts: ["api.example.com"], corsOrigins: ["https://app.example.com"] }), { port: 0, host: "127.0.0.1" }); });
    afterAll(async () => { await server?.stop(); });
    const body = JSON.stringify({ query: "{ providers { slug } }" });
    const headers = (host: string) => ({ host, "content-type": "application/json", accept: "application/json", "content-length": Buffer.byteLength(body) });

    it("an allowed Host is served, any other gets 421 MISDIRECTED_REQUEST; /health and /ready answer any Host", async () => {
      expect(JSON.parse((await rawRequest(server.port, { headers: headers("api.example.com"), prefix: body })).body)).toEqual(PROVIDERS);
      expect(JSON.parse((await rawRequest(server.port, { headers: headers("API.example.com:443"), prefix: body })).body)).toEqual(PROVIDERS);
      const other = await rawRequest(server.port, { headers: headers("rebound.example"), prefix: body });
      expect(other.status).toBe(421);
      expect(JSON.parse(other.body)).toEqual({ errors: [{ message: "This server does not answer for this Host.", extensions: { code: "MISDIRECTED_REQUEST" } }] });
      expect(other.headers["x-content-type-options"]).toBe("nosniff");
      expect((await rawRequest(server.port, { method: "GET", path: "/health", headers: { host: "10.0.0.7:4000" } })).status).toBe(200);
      expect((await rawRequest(server.port, { method: "GET", path: "/ready", headers: { host: "10.0.0.7:4000" } })).status).toBe(200);
    });

    it("WebSocket upgrades: the same Host rule, and a browser Origin must be listed (other clients send none)", async () => {
      const open = (options: WebSocket.ClientOptions) => new Promise<number>((resolve) => {
        const socket = new WebSocket(`ws://127.0.0.1:${server.port}/graphql`, "graphql-transport-ws", options);
        socket.on("open", () => { socket.close(); resolve(101); });
        socket.on("unexpected-response", (_req, res) => { resolve(res.statusCode!); socket.terminate(); });
        socket.on("error", () => {});
      });
      expect(await open({ headers: { host: "api.example.com" } })).toBe(101);
      expect(await open({ headers: { host: "api.example.com" }, origin: "https://app.example.com" })).toBe(101);
      expect(await open({ headers: { host: "api.example.com" }, origin: "https://evil.example" })).toBe(401);
      expect(await open({ headers: { host: "rebound.example" } })).toBe(401);
    });
  });
});

describe("introspection and GraphiQL", () => {
  const introspect = (app: App) => post(app, { query: "{ __schema { queryType { name } } t: __type(name: \"Query\") { name } }" });

  it("production: introspection refused with a code, __typename still answers", async () => {
    const res = await introspect(createApp({ db }));
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ errors: [
      expect.objectContaining({ message: 'Introspection is disabled on this server ("__schema").', extensions: { code: "INTROSPECTION_DISABLED" } }),
      expect.objectContaining({ message: 'Introspection is disabled on this server ("__type").', extensions: { code: "INTROSPECTION_DISABLED" } }),
    ] });
    expect(await (await post(createApp({ db }), { query: "{ __typename }" })).json()).toEqual({ data: { __typename: "Query" } });
  });

  it("production with introspection enabled, and development, answer it", async () => {
    for (const app of [createApp({ db, introspection: true }), createApp({ db, development: true })]) {
      expect(await (await introspect(app)).json()).toEqual({ data: { __schema: { queryType: { name: "Query" } }, t: { name: "Query" } } });
    }
  });

  it("introspection is refused over WebSocket too", async () => {
    const server = await startServer(createApp({ db }), { port: 0, host: "127.0.0.1" });
    const client = createClient({ url: `ws://127.0.0.1:${server.port}/graphql`, webSocketImpl: WebSocket, retryAttempts: 0 });
    try {
      const outcome = await new Promise((resolve) => {
        client.subscribe({ query: "{ __schema { queryType { name } } }" }, { next: resolve, error: resolve, complete: () => resolve("complete") });
      });
      expect(outcome).toEqual([expect.objectContaining({ message: 'Introspection is disabled on this server ("__schema").', extensions: { code: "INTROSPECTION_DISABLED" } })]);
    } finally {
      await client.dispose();
      await server.stop();
    }
  });

  it("GraphiQL: off in production unless enabled, on in development unless disabled", async () => {
    const page = async (app: App) => {
      const res = await app.fetch("http://localhost/graphql", { headers: { accept: "text/html" } });
      return (res.headers.get("content-type") ?? "").startsWith("text/html") && (await res.text()).includes("GPUBroker");
    };
    expect(await page(createApp({ db }))).toBe(false);
    expect(await page(createApp({ db, graphiql: true }))).toBe(true);
    expect(await page(createApp({ db, development: true }))).toBe(true);
    expect(await page(createApp({ db, development: true, graphiql: false }))).toBe(false);
  });
});

describe("persisted operations", () => {
  const document = "{ providers { slug } }";
  const hash = createHash("sha256").update(document).digest("hex");
  const persisted = (sha256Hash: string) => ({ persistedQuery: { version: 1, sha256Hash } });
  let app: App;
  beforeAll(() => { app = createApp({ db, persistedOperations: { [hash]: document } }); });

  it("a listed hash runs, over POST and GET", async () => {
    expect(await (await post(app, { extensions: persisted(hash) })).json()).toEqual(PROVIDERS);
    expect(await (await get(app, { extensions: JSON.stringify(persisted(hash)) })).json()).toEqual(PROVIDERS);
  });

  it("a document, an unknown hash or no hash at all is refused with 400 and a code", async () => {
    const refused = async (body: unknown, code: string) => {
      const res = await post(app, body);
      expect(res.status).toBe(400);
      expect((await res.json()).errors).toEqual([expect.objectContaining({ extensions: { code } })]);
    };
    await refused({ query: document }, "PERSISTED_QUERY_ONLY");
    await refused({ query: document, extensions: persisted(hash) }, "PERSISTED_QUERY_ONLY");
    await refused({ extensions: persisted("0".repeat(64)) }, "PERSISTED_QUERY_NOT_FOUND");
    await refused({ extensions: persisted("constructor") }, "PERSISTED_QUERY_NOT_FOUND");
    await refused({}, "PERSISTED_QUERY_ID_REQUIRED");
  });

  it("over WebSocket the same list applies", async () => {
    const server = await startServer(app, { port: 0, host: "127.0.0.1" });
    const client = createClient({ url: `ws://127.0.0.1:${server.port}/graphql`, webSocketImpl: WebSocket, retryAttempts: 0 });
    const run = (payload: { query: string; extensions?: Record<string, unknown> }) => new Promise((resolve) => {
      let value: unknown;
      client.subscribe(payload, { next: (v) => { value = v; }, error: resolve, complete: () => resolve(value) });
    });
    try {
      expect(await run({ query: "", extensions: persisted(hash) })).toEqual(PROVIDERS);
      expect(await run({ query: document })).toEqual([expect.objectContaining({ extensions: { code: "PERSISTED_QUERY_ONLY" } })]);
      expect(await run({ query: "", extensions: persisted("f".repeat(64)) })).toEqual([expect.objectContaining({ extensions: { code: "PERSISTED_QUERY_NOT_FOUND" } })]);
    } finally {
      await client.dispose();
      await server.stop();
    }
  });
});
