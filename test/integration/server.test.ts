import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { createClient } from "graphql-ws";
import { openTestDatabase } from "../support/db.ts";
import { seedMarket } from "../support/market.ts";
import { createApp } from "../../src/yoga.ts";
import { startServer, type RunningServer } from "../../src/server.ts";
import type { Database } from "../../src/infra/db.ts";

describe("HTTP and WebSocket server", () => {
  let db: Database;
  let server: RunningServer;
  beforeAll(async () => {
    db = await openTestDatabase();
    await seedMarket(db.prisma, 12);
    server = await startServer(createApp({ db, development: true }), { port: 0, host: "127.0.0.1" });
  });
  afterAll(async () => {
    await server?.stop();
    await db?.close();
  });
  const base = () => `http://127.0.0.1:${server.port}`;

  it("answers /health while the process is up and /ready when the database answers", async () => {
    expect((await fetch(`${base()}/health`)).status).toBe(200);
    expect((await fetch(`${base()}/ready`)).status).toBe(200);
  });

  it("serves GraphiQL to browsers in development", async () => {
    const res = await fetch(`${base()}/graphql`, { headers: { accept: "text/html" } });
    expect(res.status).toBe(200);
    expect(await res.text()).toContain("GPUBroker");
  });

  it("answers queries over HTTP GET and POST", async () => {
    const query = "{ offers(first: 1) { totalCount } }";
    const get = await fetch(`${base()}/graphql?query=${encodeURIComponent(query)}`, { headers: { accept: "application/json", "x-graphql-csrf": "1" } });
    const post = await fetch(`${base()}/graphql`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ query }) });
    const active = await db.prisma.gpuOffer.count({ where: { active: true } });
    expect(await get.json()).toEqual({ data: { offers: { totalCount: active } } });
    expect(await post.json()).toEqual({ data: { offers: { totalCount: active } } });
  });

  it("runs operations over graphql-ws on the same port and path", async () => {
    const client = createClient({ url: `ws://127.0.0.1:${server.port}/graphql`, webSocketImpl: WebSocket, retryAttempts: 0 });
    try {
      const result = await new Promise((resolve, reject) => {
        let value: unknown;
        client.subscribe({ query: "{ providers { slug } }" }, { next: (v) => { value = v; }, error: reject, complete: () => resolve(value) });
      });
      expect(result).toEqual({ data: { providers: [{ slug: "alpha" }, { slug: "beta" }, { slug: "gamma" }] } });
      const invalid = await new Promise((resolve) => {
        client.subscribe({ query: "{ nope }" }, { next: () => {}, error: resolve, complete: () => resolve(null) });
      });
      expect(JSON.stringify(invalid)).toContain('Cannot query field \\"nope\\"');
    } finally {
      await client.dispose();
    }
  });

  it("reports not ready when the database is gone", async () => {
    const other = await openTestDatabase();
    const s = await startServer(createApp({ db: other }), { port: 0, host: "127.0.0.1" });
    await other.close();
    try {
      expect((await fetch(`http://127.0.0.1:${s.port}/ready`)).status).toBe(503);
      expect((await fetch(`http://127.0.0.1:${s.port}/health`)).status).toBe(200);
    } finally {
      await s.stop();
    }
  });
});

describe("WebSocket authentication", () => {
  let db: Database;
  let server: RunningServer;
  beforeAll(async () => {
    db = await openTestDatabase();
    server = await startServer(createApp({ db }), { port: 0, host: "127.0.0.1" });
  });
  afterAll(async () => {
    await server?.stop();
    await db?.close();
  });

  function run(connectionParams: Record<string, unknown> | undefined, query: string) {
    const client = createClient({ url: `ws://127.0.0.1:${server.port}/graphql`, webSocketImpl: WebSocket, retryAttempts: 0, connectionParams, lazy: true });
    return new Promise<{ value?: unknown; error?: unknown }>((resolve) => {
      let value: unknown;
      client.subscribe({ query }, { next: (v) => { value = v; }, error: (error) => resolve({ error }), complete: () => resolve({ value }) });
    }).finally(() => client.dispose());
  }

  it("accepts a valid access token in connection_init and uses it for operations", async () => {
    const res = await fetch(`http://127.0.0.1:${server.port}/graphql`, {
      method: "POST", headers: { "content-type": "application/json" },
      body: JSON.stringify({ query: `mutation { register(email: "ws@example.com", password: "a long and lovely passphrase", name: "Ws") { accessToken } }` }),
    });
    const token = (await res.json()).data.register.accessToken as string;
    expect(await run({ authorization: `Bearer ${token}` }, "{ me { email } }")).toEqual({ value: { data: { me: { email: "ws@example.com" } } } });
  });

  it("closes the socket with 4403 for an invalid token", async () => {
    const { error } = await run({ authorization: "Bearer forged.token.here" }, "{ providers { slug } }");
    expect((error as { code?: number }).code).toBe(4403);
  });

  it("lets anonymous sockets run public operations but not ones that need a user", async () => {
    expect(await run(undefined, "{ providers { slug } }")).toEqual({ value: { data: { providers: [] } } });
    const { value } = await run(undefined, "{ me { email } }");
    expect(JSON.stringify(value)).toContain("UNAUTHENTICATED");
  });
});
