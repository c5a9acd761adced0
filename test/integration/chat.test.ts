// Conversations through GraphQL: each user sees only their own sessions, pages them most recent
// first, reads their messages, renames and deletes them; API keys need CHAT_WRITE.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openTestDatabase } from "../support/db.ts";
import { testClient } from "../support/app.ts";
import type { Database } from "../../src/infra/db.ts";
import { seedMarket } from "../support/market.ts";

const PASSWORD = "a long and lovely passphrase";
const REGISTER = `mutation ($email: String!) { register(email: $email, password: "${PASSWORD}", name: "Someone") { accessToken user { id } } }`;
const SESSIONS = `query ($first: Int, $after: String) {
  chatSessions(first: $first, after: $after) { edges { node { id title } } pageInfo { hasNextPage endCursor } }
}`;
const SESSION = `query ($id: ID!) {
  chatSession(id: $id) { id title messages(first: 10) { edges { node { role content status backend elapsedMs error { code message } } } } }
}`;
const RENAME = `mutation ($id: ID!, $title: String!) { renameChatSession(id: $id, title: $title) { id title } }`;
const DELETE = `mutation ($id: ID!) { deleteChatSession(id: $id) }`;

describe("chat sessions", () => {
  let db: Database;
  let request: ReturnType<typeof testClient>["request"];
  let ada: { authorization: string };
  let bob: { authorization: string };
  let adaId: number;
  const sessionIds: number[] = [];

  beforeAll(async () => {
    db = await openTestDatabase();
    request = testClient(db).request;
    const signUp = async (email: string) => (await request(REGISTER, { email })).data.register;
    const a = await signUp("ada@example.com");
    const b = await signUp("bob@example.com");
    ada = { authorization: `Bearer ${a.accessToken}` };
    bob = { authorization: `Bearer ${b.accessToken}` };
    adaId = Number(a.user.id);
    // Sessions are written by the assistant's answering; here they are stored directly, oldest first.
    for (let i = 1; i <= 3; i++) {
      const s = await db.prisma.chatSession.create({ data: { userId: adaId, title: `Question ${i}`, updatedAt: new Date(Date.UTC(2026, 11, i)) } });
      sessionIds.push(s.id);
    }
    await db.prisma.chatMessage.createMany({ data: [
      { sessionId: sessionIds[0]!, role: "USER", content: "Cheapest H100?" },
      { sessionId: sessionIds[0]!, role: "ASSISTANT", content: "", status: "FAILED", backend: "builtin", elapsedMs: 12, error: { code: "ASSISTANT_TIMEOUT", message: "No answer in 30 s." } },
    ] });
  });
  afterAll(async () => { await db?.close(); });

  it("lists the caller's sessions, most recently active first, in pages", async () => {
    const first = await request(SESSIONS, { first: 2 }, ada);
    expect(first.errors).toBeUndefined();
    expect(first.data.chatSessions.edges.map((e: { node: { title: string } }) => e.node.title)).toEqual(["Question 3", "Question 2"]);
    expect(first.data.chatSessions.pageInfo.hasNextPage).toBe(true);
    const next = await request(SESSIONS, { first: 2, after: first.data.chatSessions.pageInfo.endCursor }, ada);
    expect(next.data.chatSessions.edges.map((e: { node: { title: string } }) => e.node.title)).toEqual(["Question 1"]);
    expect((await request(SESSIONS, {}, bob)).data.chatSessions.edges).toEqual([]);
  });

  it("reads one session with its messages, oldest first; another user's session is NOT_FOUND", async () => {
    const res = await request(SESSION, { id: String(sessionIds[0]) }, ada);
    expect(res.data.chatSession.messages.edges.map((e: { node: unknown }) => e.node)).toEqual([
      { role: "USER", content: "Cheapest H100?", status: "COMPLETE", backend: null, elapsedMs: null, error: null },
      { role: "ASSISTANT", content: "", status: "FAILED", backend: "builtin", elapsedMs: 12, error: { code: "ASSISTANT_TIMEOUT", message: "No answer in 30 s." } },
    ]);
    for (const [id, who] of [[String(sessionIds[0]), bob], ["2147483648", ada], ["-1", ada], ["abc", ada]] as const) {
      const denied = await request(SESSION, { id }, who);
      expect(denied.errors![0]).toMatchObject({ message: `You have no chat session with the ID "${id}".`, extensions: { code: "NOT_FOUND" } });
    }
  });

  it("renames with a valid title only", async () => {
    const ok = await request(RENAME, { id: String(sessionIds[1]), title: "  H100 vs A100  " }, ada);
    expect(ok.data.renameChatSession).toEqual({ id: String(sessionIds[1]), title: "H100 vs A100" });
    for (const [title, message] of [[" ", /must not be empty/], ["x".repeat(101), /at most 100 characters/], ["bell\u0007here", /control characters/], ["tab\u0000nul", /NUL characters/]] as const) {
      const bad = await request(RENAME, { id: String(sessionIds[1]), title }, ada);
      expect(bad.errors![0]!.extensions!.code).toBe("BAD_USER_INPUT");
      expect(bad.errors![0]!.message).toMatch(message);
    }
    expect((await request(RENAME, { id: String(sessionIds[1]), title: "Mine now" }, bob)).errors![0]!.extensions!.code).toBe("NOT_FOUND");
  });

  it("deletes a session with its messages", async () => {
    expect((await request(DELETE, { id: String(sessionIds[0]) }, bob)).errors![0]!.extensions!.code).toBe("NOT_FOUND");
    expect((await request(DELETE, { id: String(sessionIds[0]) }, ada)).data).toEqual({ deleteChatSession: String(sessionIds[0]) });
    expect(await db.prisma.chatMessage.count({ where: { sessionId: sessionIds[0] } })).toBe(0);
    expect((await request(DELETE, { id: String(sessionIds[0]) }, ada)).errors![0]!.extensions!.code).toBe("NOT_FOUND");
  });

  it("needs a signed-in user, or an API key with CHAT_WRITE", async () => {
    expect((await request(SESSIONS, {})).errors![0]!.extensions!.code).toBe("UNAUTHENTICATED");
    const key = async (scopes: string[]) => (await request(`mutation ($s: [ApiKeyScope!]!) { createApiKey(name: "k", scopes: $s) { secret } }`, { s: scopes }, ada)).data.createApiKey.secret;
    const without = { authorization: `Bearer ${await key(["ALERTS_WRITE"])}` };
    const withChat = { authorization: `Bearer ${await key(["CHAT_WRITE"])}` };
    expect((await request(SESSIONS, {}, without)).errors![0]!.extensions!.code).toBe("FORBIDDEN");
    expect((await request(SESSIONS, {}, withChat)).data.chatSessions.edges).toHaveLength(2);
  });
});

describe("askAssistant (built-in backend)", () => {
  let db: Database;
  let request: ReturnType<typeof testClient>["request"];
  let ada: { authorization: string };
  let bob: { authorization: string };
  const ASK = `mutation ($input: AskAssistantInput!) {
    askAssistant(input: $input) {
      session { id title }
      answer { role status content backend model elapsedMs error { code }
        toolCalls { name arguments ok summary } sources { tool detail } recommendations { offerId pricePerGpuHour } }
    }
  }`;

  beforeAll(async () => {
    db = await openTestDatabase();
    await seedMarket(db.prisma, 40);
    request = testClient(db).request;
    const token = async (email: string) => `Bearer ${(await request(REGISTER, { email })).data.register.accessToken}`;
    ada = { authorization: await token("ada@example.com") };
    bob = { authorization: await token("bob@example.com") };
  });
  afterAll(async () => { await db?.close(); });

  it("answers from the catalog, stores both messages, and the figures are the API's own", async () => {
    const res = await request(ASK, { input: { message: "What is the cheapest H100 in the US?" } }, ada);
    expect(res.errors).toBeUndefined();
    const { session, answer } = res.data.askAssistant;
    expect(session.title).toBe("What is the cheapest H100 in the US?");
    expect(answer).toMatchObject({ role: "ASSISTANT", status: "COMPLETE", backend: "builtin", model: "rule-based planner", error: null, elapsedMs: expect.any(Number) });
    expect(answer.toolCalls.map((c: { name: string; ok: boolean }) => [c.name, c.ok])).toEqual([["search_offers", true]]);
    const cheapest = (await request(`{ offers(filter: { gpuModels: ["H100"], countries: ["US"] }, first: 1) { edges { node { pricePerGpuHour } } } }`)).data.offers.edges[0].node.pricePerGpuHour;
    expect(answer.content).toContain(cheapest);
    expect(answer.recommendations[0].pricePerGpuHour).toBe(cheapest);
    expect(answer.sources.length).toBeGreaterThan(0);

    const again = await request(ASK, { input: { sessionId: session.id, message: "And compare H100 vs A100" } }, ada);
    expect(again.data.askAssistant.session.id).toBe(session.id);
    const stored = await request(SESSION, { id: session.id }, ada);
    expect(stored.data.chatSession.messages.edges.map((e: { node: { role: string } }) => e.node.role)).toEqual(["USER", "ASSISTANT", "USER", "ASSISTANT"]);
  });

  it("refuses bad messages, other users' sessions and callers without chat access, writing nothing", async () => {
    const before = await db.prisma.chatMessage.count();
    const own = (await request(ASK, { input: { message: "market overview" } }, ada)).data.askAssistant.session.id;
    const after = await db.prisma.chatMessage.count();
    expect(after).toBe(before + 2);
    const cases: [Record<string, unknown>, { authorization: string } | undefined, string][] = [
      [{ message: "   " }, ada, "BAD_USER_INPUT"],
      [{ message: "x".repeat(4001) }, ada, "BAD_USER_INPUT"],
      [{ message: "hi\u0000there" }, ada, "BAD_USER_INPUT"],
      [{ message: "hello", sessionId: own }, bob, "NOT_FOUND"],
      [{ message: "hello", sessionId: "2147483648" }, ada, "NOT_FOUND"],
      [{ message: "hello" }, undefined, "UNAUTHENTICATED"],
    ];
    for (const [input, who, code] of cases) {
      const res = await request(ASK, { input }, who ?? {});
      expect(res.errors![0]!.extensions!.code).toBe(code);
    }
    expect(await db.prisma.chatMessage.count()).toBe(after);
  });
});
