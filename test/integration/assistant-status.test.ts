// assistantStatus: the backend, its upstream's health over the real protocols (an OpenAI-compatible
// GET /v1/models, SomaAgent's GET /v1/health) served locally, and the tools.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openTestDatabase } from "../support/db.ts";
import { testClient, testServices } from "../support/app.ts";
import type { Database } from "../../src/infra/db.ts";
import { logger } from "../../src/infra/logger.ts";
import { anonymous } from "../../src/services/actor.ts";
import { createPubSub } from "../../src/infra/pubsub.ts";
import { createAssistant, type AssistantSettings } from "../../src/assistant/index.ts";
import { ASSISTANT_TOOLS } from "../../src/assistant/tools.ts";

type Reply = { status: number; body: string; type?: string } | "stall";

/** A local upstream: answers each path as scripted and records what it was asked. */
async function upstream(routes: Record<string, Reply>) {
  const seen: { path: string; authorization?: string }[] = [];
  const server: Server = createServer((req, res) => {
    seen.push({ path: req.url ?? "", authorization: req.headers.authorization });
    const reply = routes[req.url ?? ""] ?? { status: 404, body: JSON.stringify({ error: { message: "not found" } }) };
    if (reply === "stall") return; // never answers
    res.writeHead(reply.status, { "content-type": reply.type ?? "application/json" }).end(reply.body);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, seen, close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }) };
}

const MODELS = JSON.stringify({ object: "list", data: [{ id: "llama3.1:8b", object: "model", created: 1, owned_by: "library" }] });

describe("assistantStatus", () => {
  let db: Database;
  let services: ReturnType<typeof testServices>;
  const status = (settings: AssistantSettings) => createAssistant({ services, pubsub: createPubSub({}), settings, log: logger, statusTimeoutMs: 300 }).status(anonymous());
  beforeAll(async () => {
    db = await openTestDatabase();
    services = testServices(db);
  });
  afterAll(async () => { await db?.close(); });

  it("the built-in backend needs no upstream, and lists the tools (GraphQL)", async () => {
    const res = await testClient(db).request(`{ assistantStatus { backend model upstream upstreamDetail tools { name description } } }`);
    expect(res.errors).toBeUndefined();
    expect(res.data.assistantStatus).toMatchObject({ backend: "BUILTIN", model: "rule-based planner", upstream: "NOT_NEEDED", upstreamDetail: null });
    expect(res.data.assistantStatus.tools.map((t: { name: string }) => t.name)).toEqual(ASSISTANT_TOOLS.map((t) => t.name));
  });

  it("an OpenAI-compatible upstream is OK when GET /models lists models; the key is sent; the answer is cached", async () => {
    const server = await upstream({ "/v1/models": { status: 200, body: MODELS } });
    try {
      const assistant = createAssistant({ services, pubsub: createPubSub({}), settings: { backend: "openai", openaiBaseUrl: `${server.url}/v1/`, openaiApiKey: "sk-test", model: "llama3.1:8b" }, log: logger });
      const first = await assistant.status(anonymous());
      expect(first).toMatchObject({ backend: "openai", model: "llama3.1:8b", upstream: "OK", upstreamDetail: null, latencyMs: expect.any(Number) });
      await assistant.status(anonymous());
      expect(server.seen).toEqual([{ path: "/v1/models", authorization: "Bearer sk-test" }]);
    } finally { await server.close(); }
  });

  it("an upstream that errs, answers something else, stalls or is gone is UNAVAILABLE, with why", async () => {
    const server = await upstream({
      "/a/models": { status: 500, body: JSON.stringify({ error: { message: "boom" } }) },
      "/b/models": { status: 200, body: "<html>login</html>", type: "text/html" },
      "/c/models": "stall",
      "/d/v1/health": { status: 503, body: "{}" },
    });
    try {
      expect(await status({ backend: "openai", openaiBaseUrl: `${server.url}/a`, model: "m" })).toMatchObject({ upstream: "UNAVAILABLE", upstreamDetail: "The openai upstream answered HTTP 500." });
      expect(await status({ backend: "openai", openaiBaseUrl: `${server.url}/b`, model: "m" })).toMatchObject({ upstream: "UNAVAILABLE", upstreamDetail: expect.stringMatching(/not with the JSON its protocol defines/) });
      expect(await status({ backend: "openai", openaiBaseUrl: `${server.url}/c`, model: "m" })).toMatchObject({ upstream: "UNAVAILABLE", upstreamDetail: "No answer within 0.3 s." });
      expect(await status({ backend: "soma", somaBase: `${server.url}/d` })).toMatchObject({ upstream: "UNAVAILABLE", upstreamDetail: "The soma upstream answered HTTP 503." });
    } finally { await server.close(); }
    expect(await status({ backend: "soma", somaBase: server.url })).toMatchObject({ upstream: "UNAVAILABLE", upstreamDetail: "The upstream could not be reached." });
    expect(await status({ backend: "openai" })).toMatchObject({ upstream: "NOT_CONFIGURED", upstreamDetail: "OPENAI_BASE_URL is not set." });
  });

  it("SomaAgent is OK when GET /v1/health answers JSON", async () => {
    const server = await upstream({ "/v1/health": { status: 200, body: JSON.stringify({ status: "ok" }) } });
    try {
      expect(await status({ backend: "soma", somaBase: server.url })).toMatchObject({ backend: "soma", upstream: "OK" });
    } finally { await server.close(); }
  });
});
