// Streamed answers through a real server: sendChatMessage returns at once, chatMessageEvents (graphql-ws
// and SSE) carries the answer in numbered events, replays them to a late subscriber and resumes after a
// seq; the stream is the caller's alone; cancelling an answer that has ended changes nothing.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openTestDatabase } from "../support/db.ts";
import { seedMarket } from "../support/market.ts";
import { relaxedRateLimiter } from "../support/app.ts";
import { subscribeSse, subscribeWs, until } from "../support/subscribe.ts";
import { createApp } from "../../src/yoga.ts";
import { startServer, type RunningServer } from "../../src/server.ts";
import { createPubSub } from "../../src/infra/pubsub.ts";
import type { Database } from "../../src/infra/db.ts";

const PASSWORD = "a long and lovely passphrase";
const REGISTER = `mutation ($email: String!) { register(email: $email, password: "${PASSWORD}", name: "Someone") { accessToken user { id } } }`;
const SEND = `mutation ($input: AskAssistantInput!) {
  sendChatMessage(input: $input) { session { id } userMessage { id role content status } answer { id role status content } }
}`;
const CANCEL = `mutation ($id: ID!) { cancelChatMessage(id: $id) { id status content error { code } } }`;
const EVENTS = `subscription ($id: ID!, $afterSeq: Int) {
  chatMessageEvents(messageId: $id, afterSeq: $afterSeq) {
    __typename messageId seq at
    ... on ChatTextDelta { delta }
    ... on ChatToolCallStarted { toolCallId name arguments }
    ... on ChatToolResult { toolCallId name ok summary }
    ... on ChatRecommendations { offers { offerId gpuName pricePerGpuHour offer { gpuName provider { slug } } } }
    ... on ChatSources { sources { tool detail } }
    ... on ChatMessageCompleted { elapsedMs promptTokens completionTokens message { id status content toolCalls { name } } }
    ... on ChatMessageFailed { elapsedMs error { code message } message { id status content } }
  }
}`;

type Event = { __typename: string; seq: number; delta?: string; message?: { status: string; content: string } };
const events = (received: { data?: { chatMessageEvents: Event } }[]) => received.map((r) => r.data!.chatMessageEvents);

describe("streamed answers (built-in backend)", () => {
  let db: Database;
  let server: RunningServer;
  let ada: string;
  let bob: string;

  async function gql(query: string, variables: Record<string, unknown>, token?: string) {
    const res = await fetch(`http://127.0.0.1:${server.port}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/graphql-response+json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify({ query, variables }),
    });
    return (await res.json()) as { data?: any; errors?: { message: string; extensions?: { code?: string } }[] };
  }

  beforeAll(async () => {
    db = await openTestDatabase();
    await seedMarket(db.prisma, 60);
    server = await startServer(createApp({ db, pubsub: createPubSub({}), rateLimiter: relaxedRateLimiter() }), { port: 0, host: "127.0.0.1" });
    const signUp = async (email: string) => (await gql(REGISTER, { email })).data.register.accessToken as string;
    ada = await signUp("ada@example.com");
    bob = await signUp("bob@example.com");
  });
  afterAll(async () => {
    await server?.stop();
    await db?.close();
  });

  it("sendChatMessage returns at once with the stored question and a STREAMING answer; graphql-ws carries the answer to its final event", async () => {
    const sent = await gql(SEND, { input: { message: "What is the cheapest H100 in the US?" } }, ada);
    expect(sent.errors).toBeUndefined();
    const { userMessage, answer } = sent.data.sendChatMessage;
    expect(userMessage).toMatchObject({ role: "USER", content: "What is the cheapest H100 in the US?", status: "COMPLETE" });
    expect(answer).toMatchObject({ role: "ASSISTANT", status: "STREAMING", content: "" });

    const sub = subscribeWs(server, EVENTS, { id: answer.id }, { authorization: `Bearer ${ada}` });
    try {
      await sub.ended();
      expect(sub.error).toBeUndefined();
      const got = events(sub.events);
      expect(got.map((e) => e.seq)).toEqual(got.map((_, i) => i + 1));
      expect(got.map((e) => e.__typename)).toEqual(expect.arrayContaining(["ChatToolCallStarted", "ChatToolResult", "ChatTextDelta", "ChatRecommendations", "ChatSources"]));
      const final = got.at(-1)!;
      expect(final.__typename).toBe("ChatMessageCompleted");
      expect(final.message!.status).toBe("COMPLETE");
      // The deltas, concatenated, are the stored answer; the tool call comes before any text.
      expect(got.filter((e) => e.delta !== undefined).map((e) => e.delta).join("")).toBe(final.message!.content);
      expect(got.findIndex((e) => e.__typename === "ChatToolCallStarted")).toBeLessThan(got.findIndex((e) => e.__typename === "ChatTextDelta"));
      // Each recommendation links to the offer as it is now, with its provider.
      const offers = (got.find((e) => e.__typename === "ChatRecommendations") as unknown as { offers: { offerId: number; gpuName: string; offer: { gpuName: string; provider: { slug: string } } }[] }).offers;
      expect(offers.length).toBeGreaterThan(0);
      for (const o of offers) {
        const row = await db.prisma.gpuOffer.findUniqueOrThrow({ where: { id: o.offerId }, include: { provider: true } });
        expect(o.offer).toEqual({ gpuName: row.gpuName, provider: { slug: row.provider.slug } });
      }
      const stored = await db.prisma.chatMessage.findUniqueOrThrow({ where: { id: Number(answer.id) } });
      expect(stored).toMatchObject({ status: "COMPLETE", content: final.message!.content });
    } finally { await sub.close(); }
  });

  it("a late subscriber (SSE) gets every event from the start; afterSeq resumes after the events it has", async () => {
    const sent = await gql(SEND, { input: { message: "compare H100 and A100" } }, ada);
    const id = sent.data.sendChatMessage.answer.id;
    const first = subscribeWs(server, EVENTS, { id }, { authorization: `Bearer ${ada}` });
    await first.ended();
    await first.close();
    const all = events(first.events);

    const late = subscribeSse(server, EVENTS, { id }, { authorization: `Bearer ${ada}` });
    try {
      await late.ended();
      expect(events(late.events)).toEqual(all);
    } finally { await late.close(); }

    const resumed = subscribeSse(server, EVENTS, { id, afterSeq: 2 }, { authorization: `Bearer ${ada}` });
    try {
      await resumed.ended();
      expect(events(resumed.events)).toEqual(all.slice(2));
    } finally { await resumed.close(); }
  });

  it("the stream is the caller's: another user's answer is NOT_FOUND, anonymous is UNAUTHENTICATED, a bad id or afterSeq a clear error", async () => {
    const id = (await gql(SEND, { input: { message: "cheapest RTX 4090" } }, ada)).data.sendChatMessage.answer.id;
    const refused = async (variables: Record<string, unknown>, token?: string) => {
      const sub = subscribeWs(server, EVENTS, variables, token ? { authorization: `Bearer ${token}` } : undefined);
      try {
        await sub.ended();
        return ((sub.error as { message?: string; extensions?: { code?: string } }[] | undefined)?.[0]) ?? sub.events[0]?.errors?.[0];
      } finally { await sub.close(); }
    };
    expect(await refused({ id }, bob)).toMatchObject({ extensions: { code: "NOT_FOUND" } });
    expect(await refused({ id })).toMatchObject({ extensions: { code: "UNAUTHENTICATED" } });
    for (const bad of ["abc", "99999999999999999999", "-1"]) expect(await refused({ id: bad }, ada)).toMatchObject({ extensions: { code: "NOT_FOUND" } });
    expect(await refused({ id, afterSeq: -1 }, ada)).toMatchObject({ extensions: { code: "BAD_USER_INPUT" } });
    // Bob cannot cancel it either, and cancelling an answer that has ended returns it unchanged.
    await until(async () => (await db.prisma.chatMessage.findUniqueOrThrow({ where: { id: Number(id) } })).status !== "STREAMING", "the answer to end");
    expect((await gql(CANCEL, { id }, bob)).errors?.[0]).toMatchObject({ extensions: { code: "NOT_FOUND" } });
    const cancelled = await gql(CANCEL, { id }, ada);
    expect(cancelled.data.cancelChatMessage).toMatchObject({ id, status: "COMPLETE", error: null });
  });
});
