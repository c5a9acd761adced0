// The chat service called directly: ownership and the chat:write scope are checked in the service.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openTestDatabase } from "../support/db.ts";
import { testServices, userActor } from "../support/app.ts";
import type { Database } from "../../src/infra/db.ts";
import { anonymous, systemActor } from "../../src/services/actor.ts";

describe("chat service", () => {
  let db: Database;
  let chat: ReturnType<typeof testServices>["chat"];
  let ada: number;
  let bob: number;
  let session: number;
  beforeAll(async () => {
    db = await openTestDatabase();
    chat = testServices(db).chat;
    ada = (await db.prisma.user.create({ data: { email: "ada@example.com", name: "Ada", passwordHash: "x" } })).id;
    bob = (await db.prisma.user.create({ data: { email: "bob@example.com", name: "Bob", passwordHash: "x" } })).id;
    session = (await db.prisma.chatSession.create({ data: { userId: ada, title: "First" } })).id;
  });
  afterAll(async () => { await db?.close(); });

  it("serves the owner, with an access token or a chat:write key", async () => {
    expect((await chat.chatSessions({}, userActor(ada))).map((s) => s.id)).toEqual([session]);
    const key = userActor(ada, "USER", { via: "api_key", scopes: ["chat:write"] });
    expect((await chat.chatSession({ id: String(session) }, key)).title).toBe("First");
    expect((await chat.renameChatSession({ id: session, title: " Renamed " }, key)).title).toBe("Renamed");
    expect(await chat.deleteChatSession({ id: session }, userActor(ada))).toBe(String(session));
    expect(await chat.chatSessions({}, userActor(ada))).toEqual([]);
  });

  it("refuses everyone else with a code", async () => {
    const other = (await db.prisma.chatSession.create({ data: { userId: ada, title: "Kept" } })).id;
    const refusals: [() => Promise<unknown>, string][] = [
      [() => chat.chatSession({ id: other }, userActor(bob)), "NOT_FOUND"],
      [() => chat.deleteChatSession({ id: other }, userActor(bob)), "NOT_FOUND"],
      [() => chat.renameChatSession({ id: other, title: "x" }, userActor(bob)), "NOT_FOUND"],
      [() => chat.chatSessions({}, userActor(ada, "USER", { via: "api_key", scopes: ["alerts:write"] })), "FORBIDDEN"],
      [() => chat.chatSessions({}, anonymous()), "UNAUTHENTICATED"],
      [() => chat.chatSessions({}, systemActor("script")), "FORBIDDEN"],
      [() => chat.chatSessions({ first: 101 }, userActor(ada)), "BAD_USER_INPUT"],
      [() => chat.renameChatSession({ id: other, title: "" }, userActor(ada)), "BAD_USER_INPUT"],
    ];
    for (const [call, code] of refusals) await expect(call()).rejects.toMatchObject({ code }); // one at a time: none rejects unobserved
    expect((await db.prisma.chatSession.findUniqueOrThrow({ where: { id: other } })).title).toBe("Kept");
  });

  it("starts a turn (user message and answer written together) and finishes it once, for the owner only", async () => {
    const { session, userMessage, answer } = await chat.startTurn({ message: "  cheapest H100?  ", backend: "builtin" }, userActor(ada));
    expect(session.title).toBe("cheapest H100?");
    expect(userMessage).toMatchObject({ role: "USER", content: "cheapest H100?", status: "COMPLETE" });
    expect(answer).toMatchObject({ role: "ASSISTANT", status: "STREAMING", backend: "builtin" });
    await expect(chat.finishTurn({ answerId: answer.id, outcome: { status: "COMPLETE", content: "x" } }, userActor(bob))).rejects.toMatchObject({ code: "NOT_FOUND" });
    const done = await chat.finishTurn({ answerId: answer.id, outcome: { status: "FAILED", content: "", error: { code: "ASSISTANT_TIMEOUT", message: "late" } } }, userActor(ada));
    expect(done.answer).toMatchObject({ status: "FAILED", error: { code: "ASSISTANT_TIMEOUT" }, elapsedMs: expect.any(Number), finishedAt: expect.any(Date) });
    expect(done.event).toMatchObject({ messageId: answer.id, seq: 1, type: "failed", payload: { status: "FAILED", error: { code: "ASSISTANT_TIMEOUT" } } });
    // Once: a second end changes nothing and writes no event.
    const again = await chat.finishTurn({ answerId: answer.id, outcome: { status: "COMPLETE", content: "late text" } }, userActor(ada));
    expect(again).toMatchObject({ answer: { status: "FAILED", content: "" }, event: null });
    await expect(chat.startTurn({ sessionId: session.id, message: "mine?", backend: "builtin" }, userActor(bob))).rejects.toMatchObject({ code: "NOT_FOUND" });
    await expect(chat.startTurn({ message: "\u0007", backend: "builtin" }, userActor(ada))).rejects.toMatchObject({ code: "BAD_USER_INPUT" });
    expect(await db.prisma.chatMessage.count({ where: { sessionId: session.id } })).toBe(2);
  });

  it("appends an answer's events in order with its text, until it ends; the final event is written with the outcome", async () => {
    const { answer } = await chat.startTurn({ message: "events?", backend: "builtin" }, userActor(ada));
    const first = await chat.appendAnswerEvents({ answerId: answer.id, events: [{ type: "tool_call", payload: { id: "call_1", name: "search_offers", arguments: "{}" } }, { type: "text", payload: { delta: "Hello " } }] }, userActor(ada));
    const second = await chat.appendAnswerEvents({ answerId: answer.id, events: [{ type: "text", payload: { delta: "world." } }] }, userActor(ada));
    expect([...first!, ...second!].map((e) => [e.seq, e.type])).toEqual([[1, "tool_call"], [2, "text"], [3, "text"]]);
    expect((await db.prisma.chatMessage.findUniqueOrThrow({ where: { id: answer.id } })).content).toBe("Hello world.");
    await expect(chat.appendAnswerEvents({ answerId: answer.id, events: [{ type: "text", payload: { delta: "x" } }] }, userActor(bob))).rejects.toMatchObject({ code: "NOT_FOUND" });

    const replay = await chat.answerEvents({ id: answer.id, afterSeq: 1 }, userActor(ada));
    expect(replay.events.map((e) => e.seq)).toEqual([2, 3]);
    await expect(chat.answerEvents({ id: answer.id }, userActor(bob))).rejects.toMatchObject({ code: "NOT_FOUND" });
    await expect(chat.answerEvents({ id: answer.id, afterSeq: -1 }, userActor(ada))).rejects.toMatchObject({ code: "BAD_USER_INPUT" });

    const cancelled = await chat.cancelAnswer({ id: answer.id }, userActor(ada));
    expect(cancelled.answer).toMatchObject({ status: "CANCELLED", content: "Hello world.", error: { code: "CANCELLED" } });
    expect(cancelled.event).toMatchObject({ seq: 4, type: "failed", payload: { status: "CANCELLED" } });
    // After the end: appending is refused (null: the writer stops), a second cancel and the answer's own finish change nothing.
    expect(await chat.appendAnswerEvents({ answerId: answer.id, events: [{ type: "text", payload: { delta: "late" } }] }, userActor(ada))).toBeNull();
    expect((await chat.cancelAnswer({ id: answer.id }, userActor(ada))).event).toBeNull();
    expect((await chat.finishTurn({ answerId: answer.id, outcome: { status: "COMPLETE", content: "all" } }, userActor(ada))).answer.status).toBe("CANCELLED");
    expect((await chat.answerEvents({ id: answer.id }, userActor(ada))).events.map((e) => e.type)).toEqual(["tool_call", "text", "text", "failed"]);
    await expect(chat.cancelAnswer({ id: answer.id }, userActor(bob))).rejects.toMatchObject({ code: "NOT_FOUND" });
    await expect(chat.cancelAnswer({ id: "2147483648" }, userActor(ada))).rejects.toMatchObject({ code: "NOT_FOUND" });
  });

  it("shows a model the session's earlier complete turns, oldest first, at most `turns` pairs", async () => {
    const actor = userActor(ada);
    const one = await chat.startTurn({ message: "one", backend: "builtin" }, actor);
    await chat.finishTurn({ answerId: one.answer.id, outcome: { status: "COMPLETE", content: "answer one" } }, actor);
    const two = await chat.startTurn({ sessionId: one.session.id, message: "two", backend: "builtin" }, actor);
    await chat.finishTurn({ answerId: two.answer.id, outcome: { status: "FAILED", content: "", error: { code: "UPSTREAM_ERROR", message: "x" } } }, actor);
    const three = await chat.startTurn({ sessionId: one.session.id, message: "three", backend: "builtin" }, actor);
    await chat.finishTurn({ answerId: three.answer.id, outcome: { status: "COMPLETE", content: "answer three" } }, actor);
    const four = await chat.startTurn({ sessionId: one.session.id, message: "four", backend: "builtin" }, actor);
    expect(await chat.history({ answerId: four.answer.id, turns: 10 }, actor)).toEqual([
      { role: "user", content: "one" }, { role: "assistant", content: "answer one" },
      { role: "user", content: "three" }, { role: "assistant", content: "answer three" },
    ]);
    expect(await chat.history({ answerId: four.answer.id, turns: 1 }, actor)).toEqual([{ role: "user", content: "three" }, { role: "assistant", content: "answer three" }]);
    expect(await chat.history({ answerId: four.answer.id, turns: 0 }, actor)).toEqual([]);
    await expect(chat.history({ answerId: four.answer.id, turns: 1 }, userActor(bob))).rejects.toMatchObject({ code: "NOT_FOUND" });
    await chat.cancelAnswer({ id: four.answer.id }, actor);
  });

  it("limits answers in progress per user and messages per account; a stale answer is settled as failed when read", async () => {
    const limited = testServices(db, { chatLimits: { maxConcurrentAnswers: 2, staleAfterMs: 60_000 } }).chat;
    const cleo = (await db.prisma.user.create({ data: { email: "cleo@example.com", name: "Cleo", passwordHash: "x" } })).id;
    const actor = userActor(cleo);
    const a = await limited.startTurn({ message: "a", backend: "builtin" }, actor);
    const b = await limited.startTurn({ message: "b", backend: "builtin" }, actor);
    await expect(limited.startTurn({ message: "c", backend: "builtin" }, actor)).rejects.toMatchObject({ code: "RATE_LIMITED", extensions: { reason: "CONCURRENT_ANSWERS" } });
    expect(await db.prisma.chatMessage.count({ where: { session: { userId: cleo } } })).toBe(4);
    // Another user is not limited by Cleo's answers.
    await limited.cancelAnswer({ id: (await limited.startTurn({ message: "d", backend: "builtin" }, userActor(bob))).answer.id }, userActor(bob));
    // An answer whose node went away (started long ago, still STREAMING) no longer counts, and is settled when read.
    await db.prisma.chatMessage.update({ where: { id: a.answer.id }, data: { startedAt: new Date(Date.now() - 120_000) } });
    const c = await limited.startTurn({ message: "c", backend: "builtin" }, actor);
    const stale = await limited.answerEvents({ id: a.answer.id }, actor);
    expect(stale.answer).toMatchObject({ status: "FAILED", error: { code: "ASSISTANT_TIMEOUT" } });
    expect(stale.events.at(-1)).toMatchObject({ type: "failed" });
    for (const t of [b, c]) await limited.cancelAnswer({ id: t.answer.id }, actor);

    const { createRateLimiter } = await import("../../src/infra/rate-limit.ts");
    const strict = testServices(db, { rateLimiter: createRateLimiter({ prefix: `chat-${cleo}`, limits: { "chat:user": { points: 1, durationSeconds: 60 } } }) }).chat;
    const ok = await strict.startTurn({ message: "first", backend: "builtin" }, actor);
    await expect(strict.startTurn({ message: "second", backend: "builtin" }, actor)).rejects.toMatchObject({ code: "RATE_LIMITED", extensions: { retryAfterSeconds: expect.any(Number) } });
    await strict.cancelAnswer({ id: ok.answer.id }, actor);
  });
});
