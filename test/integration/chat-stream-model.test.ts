// Streamed answers from a model (a local OpenAI-compatible server speaking the real SSE protocol)
// through real API servers: events arrive live as the model writes; cancel, a closed subscription and
// the wall-time budget abort the upstream request and end the stream with a coded event; answers in
// progress are limited per user; and with two API nodes on one Redis, a subscriber on one node follows
// (and cancels) an answer written by the other; a Redis outage mid-answer loses no event.
import { randomUUID } from "node:crypto";
import { once } from "node:events";
import { createServer as createNetServer, type AddressInfo } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { openTestDatabase } from "../support/db.ts";
import { seedMarket } from "../support/market.ts";
import { relaxedRateLimiter } from "../support/app.ts";
import { subscribeWs, until } from "../support/subscribe.ts";
import { paced, startFakeOpenAI, textReply, toolCallReply, type FakeOpenAI } from "../support/fake-openai.ts";
import { createApp, JWT_AUDIENCE, JWT_ISSUER } from "../../src/yoga.ts";
import { createLazyTokenSigner } from "../../src/infra/auth/tokens.ts";
import { startServer, type RunningServer } from "../../src/server.ts";
import { createPubSub } from "../../src/infra/pubsub.ts";
import type { PubSub } from "../../src/infra/pubsub-types.ts";
import type { Database } from "../../src/infra/db.ts";
import type { RunLimits } from "../../src/assistant/runs.ts";
import { privateRedis } from "../support/redis.ts";

// One key pair for every node, as API nodes sharing JWT_PRIVATE_KEY have.
const tokens = createLazyTokenSigner({ issuer: JWT_ISSUER, audience: JWT_AUDIENCE });
const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const PASSWORD = "a long and lovely passphrase";
const REGISTER = `mutation ($email: String!) { register(email: $email, password: "${PASSWORD}", name: "Someone") { accessToken } }`;
const SEND = `mutation ($input: AskAssistantInput!) { sendChatMessage(input: $input) { answer { id status } } }`;
const ASK = `mutation ($input: AskAssistantInput!) { askAssistant(input: $input) { answer { id status content error { code message } } } }`;
const CANCEL = `mutation ($id: ID!) { cancelChatMessage(id: $id) { id status content error { code } } }`;
const EVENTS = `subscription ($id: ID!, $afterSeq: Int) {
  chatMessageEvents(messageId: $id, afterSeq: $afterSeq) {
    __typename seq
    ... on ChatTextDelta { delta }
    ... on ChatToolCallStarted { name arguments }
    ... on ChatToolResult { name ok summary }
    ... on ChatMessageCompleted { promptTokens completionTokens elapsedMs message { status content } }
    ... on ChatMessageFailed { error { code message } message { status content } }
  }
}`;

type Event = { __typename: string; seq: number; delta?: string; name?: string; ok?: boolean; error?: { code: string; message: string }; message?: { status: string; content: string }; promptTokens?: number; completionTokens?: number };
const eventsOf = (received: { data?: { chatMessageEvents: Event } }[]) => received.map((r) => r.data!.chatMessageEvents);
const deltas = (events: Event[]) => events.filter((e) => e.__typename === "ChatTextDelta").map((e) => e.delta).join("");

interface Node { server: RunningServer; pubsub: PubSub; stop(): Promise<void> }

async function startNode(db: Database, fake: FakeOpenAI, opts: { limits?: Partial<RunLimits>; maxConcurrentAnswers?: number; pubsub?: PubSub } = {}): Promise<Node> {
  const pubsub = opts.pubsub ?? createPubSub({});
  const app = createApp({
    db, pubsub, tokens, rateLimiter: relaxedRateLimiter(),
    assistant: { backend: "openai", openaiBaseUrl: fake.url, model: "fake-model", limits: { detachGraceMs: 300, ...opts.limits } },
    chatLimits: { maxConcurrentAnswers: opts.maxConcurrentAnswers ?? 3 },
  });
  const server = await startServer(app, { port: 0, host: "127.0.0.1" });
  // As main.ts shuts down: the server, then the app (which stores this node's answers in progress as failed).
  return { server, pubsub, stop: async () => { await server.stop(); await app.dispose(); } };
}

describe("streamed answers from a model", () => {
  let db: Database;
  let fake: FakeOpenAI;
  let node: Node;
  let ada: string;
  const open: { close(): unknown }[] = [];

  async function gql(n: Node, query: string, variables: Record<string, unknown>, token = ada) {
    const res = await fetch(`http://127.0.0.1:${n.server.port}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/graphql-response+json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify({ query, variables }),
    });
    return (await res.json()) as { data?: any; errors?: { message: string; extensions?: Record<string, unknown> }[] };
  }
  const send = async (n: Node, message: string) => {
    const res = await gql(n, SEND, { input: { message } });
    expect(res.errors).toBeUndefined();
    return res.data.sendChatMessage.answer.id as string;
  };
  const follow = (n: Node, id: string, afterSeq?: number) => {
    const sub = subscribeWs(n.server, EVENTS, { id, afterSeq }, { authorization: `Bearer ${ada}` });
    open.push(sub);
    return sub;
  };
  const stored = (id: string) => db.prisma.chatMessage.findUniqueOrThrow({ where: { id: Number(id) } });

  beforeAll(async () => {
    db = await openTestDatabase();
    await seedMarket(db.prisma, 60);
    fake = await startFakeOpenAI();
    node = await startNode(db, fake);
    ada = (await gql(node, REGISTER, { email: "ada@example.com" }, "")).data.register.accessToken;
  });
  afterEach(async () => { await Promise.all(open.splice(0).map((s) => s.close())); });
  afterAll(async () => {
    await node?.stop();
    await fake?.close();
    await db?.close();
  });

  it("events arrive live as the model writes them: a tool round trip on the catalog, the text, usage", async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => { release = r; });
    fake.script = async (_req, i) => {
      if (i === 0) return toolCallReply({ name: "search_offers", arguments: { filter: { gpuModels: ["H100"] }, first: 3 } });
      await gate; // the second model call waits until the test has seen the tool result live
      return textReply("The cheapest H100 is listed above.", { chunks: 4, intervalMs: 20 });
    };
    const id = await send(node, "cheapest H100?");
    const sub = follow(node, id);
    await until(() => eventsOf(sub.events).some((e) => e.__typename === "ChatToolResult"), "the tool result, live");
    expect(eventsOf(sub.events).some((e) => e.__typename === "ChatMessageCompleted")).toBe(false);
    release();
    await sub.ended();
    const got = eventsOf(sub.events);
    const result = got.find((e) => e.__typename === "ChatToolResult")!;
    expect(result).toMatchObject({ name: "search_offers", ok: true });
    expect(deltas(got)).toBe("The cheapest H100 is listed above.");
    const final = got.at(-1)!;
    expect(final).toMatchObject({ __typename: "ChatMessageCompleted", message: { status: "COMPLETE", content: "The cheapest H100 is listed above." } });
    // Usage over both model calls (12 + 5 tokens each, as the server reported them).
    expect(final).toMatchObject({ promptTokens: 24, completionTokens: 10 });
    // The model was shown the API's real offers as the tool result.
    const toolMessage = fake.chats.at(-1)!.body!.messages.find((m) => m.role === "tool")!;
    const cheapest = await db.prisma.gpuOffer.findFirstOrThrow({ where: { active: true, gpuName: { contains: "H100" } }, orderBy: [{ pricePerGpuHour: "asc" }, { id: "asc" }] });
    expect(JSON.stringify(toolMessage.content)).toContain(`\\"offerId\\":${cheapest.id}`);
  });

  it("text PostgreSQL cannot store (NUL, lone surrogates) from the model is cleaned, not a failed answer; stream and row agree", async () => {
    fake.script = () => textReply("Nul\u0000here, lone \uD800 high and \uDC00 low.", { chunks: 3 });
    const id = await send(node, "say something odd");
    const sub = follow(node, id);
    await sub.ended();
    const got = eventsOf(sub.events);
    const clean = "Nulhere, lone \uFFFD high and \uFFFD low.";
    expect(got.at(-1)).toMatchObject({ __typename: "ChatMessageCompleted", message: { status: "COMPLETE", content: clean } });
    expect(deltas(got)).toBe(clean);
    expect((await stored(id)).content).toBe(clean);
  });

  it("deltas that arrive while the previous ones are being stored are joined: fewer, longer deltas, the same text, no gap in seq", async () => {
    const text = Array.from({ length: 200 }, (_, i) => `w${i} `).join("");
    fake.script = () => textReply(text, { chunks: 200 });
    const id = await send(node, "a burst");
    const sub = follow(node, id);
    await sub.ended();
    const got = eventsOf(sub.events);
    expect(deltas(got)).toBe(text);
    expect(got.map((e) => e.seq)).toEqual(got.map((_, i) => i + 1));
    expect(got.filter((e) => e.__typename === "ChatTextDelta").length).toBeLessThan(200);
    expect((await stored(id)).content).toBe(text);
  });

  it("cancelChatMessage stops the answer and aborts the upstream request; the stream ends CANCELLED with what was written", async () => {
    fake.script = () => paced(1000, 30);
    const id = await send(node, "tell me a long story");
    const sub = follow(node, id);
    await until(() => eventsOf(sub.events).filter((e) => e.__typename === "ChatTextDelta").length >= 2, "two deltas");
    const cancelled = await gql(node, CANCEL, { id });
    expect(cancelled.data.cancelChatMessage).toMatchObject({ id, status: "CANCELLED", error: { code: "CANCELLED" } });
    expect(await fake.chats.at(-1)!.ended).toBe("aborted");
    await sub.ended();
    const got = eventsOf(sub.events);
    expect(got.at(-1)).toMatchObject({ __typename: "ChatMessageFailed", error: { code: "CANCELLED" }, message: { status: "CANCELLED" } });
    const answer = await stored(id);
    expect(answer.status).toBe("CANCELLED");
    expect(answer.content).toBe(deltas(got));
    expect(answer.content.length).toBeGreaterThan(0);
  });

  it("when the last subscriber leaves, the answer stops after the grace period and the upstream request is aborted", async () => {
    fake.script = () => paced(1000, 30);
    const id = await send(node, "another long story");
    const sub = follow(node, id);
    await until(() => eventsOf(sub.events).some((e) => e.__typename === "ChatTextDelta"), "a delta");
    await sub.close();
    expect(await fake.chats.at(-1)!.ended).toBe("aborted");
    await until(async () => (await stored(id)).status !== "STREAMING", "the answer to be settled");
    expect(await stored(id)).toMatchObject({ status: "CANCELLED", error: { code: "CANCELLED" } });
    // A later subscriber still reads the whole stored answer, to its final event.
    const late = follow(node, id);
    await late.ended();
    expect(eventsOf(late.events).at(-1)).toMatchObject({ __typename: "ChatMessageFailed", error: { code: "CANCELLED" } });
  });

  it("a stalled upstream hits the wall-time budget: ASSISTANT_TIMEOUT on the stream and in askAssistant, upstream aborted", async () => {
    const slow = await startNode(db, fake, { limits: { wallTimeMs: 400 } });
    try {
      fake.script = () => ({ kind: "stream", steps: [{ type: "text", delta: "Let me think" }, { type: "stall" }] });
      const res = await gql(slow, ASK, { input: { message: "are you there?" } });
      expect(res.errors).toBeUndefined();
      expect(res.data.askAssistant.answer).toMatchObject({ status: "FAILED", error: { code: "ASSISTANT_TIMEOUT" } });
      expect(await fake.chats.at(-1)!.ended).toBe("aborted");
    } finally { await slow.stop(); }
  });

  it("an upstream that is down or answers garbage ends the answer with its code, stored as FAILED", async () => {
    fake.script = () => ({ kind: "error", status: 503, body: { error: { message: "overloaded" } } });
    const down = await gql(node, ASK, { input: { message: "hello?" } });
    expect(down.data.askAssistant.answer).toMatchObject({ status: "FAILED", error: { code: "ASSISTANT_UNAVAILABLE" } });
    fake.script = () => ({ kind: "stream", steps: [{ type: "text", delta: "Hel" }, { type: "raw", data: "{not json" }] });
    const id = await send(node, "hello again?");
    const sub = follow(node, id);
    await sub.ended();
    expect(eventsOf(sub.events).at(-1)).toMatchObject({ __typename: "ChatMessageFailed", error: { code: "UPSTREAM_ERROR" }, message: { status: "FAILED" } });
  });

  it("answers in progress are limited per user: RATE_LIMITED with reason CONCURRENT_ANSWERS; a finished one frees a place", async () => {
    const limited = await startNode(db, fake, { maxConcurrentAnswers: 2 });
    try {
      fake.script = () => ({ kind: "stream", steps: [{ type: "stall" }] });
      const first = await send(limited, "one");
      await send(limited, "two");
      const third = await gql(limited, SEND, { input: { message: "three" } });
      expect(third.errors?.[0]).toMatchObject({ extensions: { code: "RATE_LIMITED", reason: "CONCURRENT_ANSWERS" } });
      await gql(limited, CANCEL, { id: first });
      expect((await gql(limited, SEND, { input: { message: "three, again" } })).errors).toBeUndefined();
    } finally { await limited.stop(); }
    // Stopping a node stores its answers in progress as failed, never STREAMING.
    expect(await db.prisma.chatMessage.count({ where: { status: "STREAMING" } })).toBe(0);
  });

  describe("two API nodes on one Redis", () => {
    const prefix = `test-${randomUUID()}`;
    let a: Node;
    let b: Node;
    beforeAll(async () => {
      const limits = { detachGraceMs: 5_000 }; // a reconnect to the other node comes well within it
      a = await startNode(db, fake, { pubsub: createPubSub({ redisUrl: REDIS_URL, prefix }), limits });
      b = await startNode(db, fake, { pubsub: createPubSub({ redisUrl: REDIS_URL, prefix }), limits });
    });
    afterAll(async () => {
      for (const n of [a, b]) { await n?.stop(); await n?.pubsub.close(); }
    });

    it("a subscriber on node B follows, live, an answer that node A writes", async () => {
      fake.script = () => paced(30, 20);
      const id = await send(a, "stream across nodes");
      const sub = follow(b, id);
      await until(() => sub.events.length >= 3, "live events on B");
      // Still being written while B reads it: the events came through Redis, not from a finished answer.
      expect((await stored(id)).status).toBe("STREAMING");
      await sub.ended();
      const got = eventsOf(sub.events);
      expect(got.map((e) => e.seq)).toEqual(got.map((_, i) => i + 1));
      expect(deltas(got)).toBe(Array.from({ length: 30 }, (_, i) => `t${i} `).join(""));
      expect(got.at(-1)).toMatchObject({ __typename: "ChatMessageCompleted", message: { status: "COMPLETE" } });
    });

    it("a cancel sent to node B stops the answer node A writes and aborts A's upstream request", async () => {
      fake.script = () => paced(1000, 30);
      const id = await send(a, "cancel me from elsewhere");
      const sub = follow(a, id);
      await until(() => eventsOf(sub.events).some((e) => e.__typename === "ChatTextDelta"), "a delta on A");
      expect((await gql(b, CANCEL, { id })).data.cancelChatMessage).toMatchObject({ status: "CANCELLED" });
      expect(await fake.chats.at(-1)!.ended).toBe("aborted");
      await sub.ended();
      expect(eventsOf(sub.events).at(-1)).toMatchObject({ __typename: "ChatMessageFailed", error: { code: "CANCELLED" } });
    });

    it("a subscriber that reconnects to the other node with afterSeq misses nothing", async () => {
      fake.script = () => paced(20, 25);
      const id = await send(a, "resume elsewhere");
      const first = follow(a, id);
      await until(() => first.events.length >= 3, "three events on A");
      await first.close();
      const have = eventsOf(first.events);
      const rest = follow(b, id, have.at(-1)!.seq);
      await rest.ended();
      const all = [...have, ...eventsOf(rest.events)];
      expect(all.map((e) => e.seq)).toEqual(all.map((_, i) => i + 1));
      expect(deltas(all)).toBe(Array.from({ length: 20 }, (_, i) => `t${i} `).join(""));
    });
  });
  describe("a Redis outage in the middle of an answer", () => {
    let port = 0;
    const ownRedis = privateRedis();
    const startRedis = () => ownRedis.start(port);
    const stopRedis = () => ownRedis.stop();
    beforeAll(async () => {
      const probe = createNetServer().listen(0, "127.0.0.1");
      await once(probe, "listening");
      port = (probe.address() as AddressInfo).port;
      await new Promise((r) => probe.close(r));
      await startRedis();
    });
    afterAll(stopRedis);

    it("the subscriber reads what it missed from the database and gets every event, in order, to the final one", async () => {
      const pubsub = createPubSub({ redisUrl: `redis://127.0.0.1:${port}`, prefix: "outage" });
      const n = await startNode(db, fake, { pubsub, limits: { pollMs: 200, detachGraceMs: 5_000 } });
      try {
        fake.script = () => paced(40, 25);
        const id = await send(n, "stream through an outage");
        const sub = follow(n, id);
        await until(() => eventsOf(sub.events).filter((e) => e.__typename === "ChatTextDelta").length >= 2, "two deltas");
        await stopRedis();
        await until(async () => (await stored(id)).status !== "STREAMING", "the answer to finish while Redis is down");
        await sub.ended();
        const got = eventsOf(sub.events);
        expect(got.map((e) => e.seq)).toEqual(got.map((_, i) => i + 1));
        expect(deltas(got)).toBe(Array.from({ length: 40 }, (_, i) => `t${i} `).join(""));
        expect(got.at(-1)).toMatchObject({ __typename: "ChatMessageCompleted", message: { status: "COMPLETE" } });
      } finally {
        if (!ownRedis.running()) await startRedis(); // so the pub/sub can close
        await n.stop();
        await pubsub.close();
      }
    });
  });
});
