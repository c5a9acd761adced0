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
    expect(done).toMatchObject({ status: "FAILED", error: { code: "ASSISTANT_TIMEOUT" }, elapsedMs: expect.any(Number), finishedAt: expect.any(Date) });
    await expect(chat.startTurn({ sessionId: session.id, message: "mine?", backend: "builtin" }, userActor(bob))).rejects.toMatchObject({ code: "NOT_FOUND" });
    await expect(chat.startTurn({ message: "\u0007", backend: "builtin" }, userActor(ada))).rejects.toMatchObject({ code: "BAD_USER_INPUT" });
    expect(await db.prisma.chatMessage.count({ where: { sessionId: session.id } })).toBe(2);
  });
});
