// The event log (src/infra/event-log.ts): events written in the change's transaction, numbered in
// commit order with no gaps, delivered in order to every subscriber, resumable after a cursor within
// the retention window, relayed through Redis Streams across processes — and still delivered, in
// order and once, while Redis is down or after it lost its streams.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Redis } from "ioredis";
import { openTestDatabase } from "../support/db.ts";
import { until } from "../support/subscribe.ts";
import { writeNotifications } from "../support/events.ts";
import { appendEvents, createEventLog, type EventLog, type LoggedEvent } from "../../src/infra/event-log.ts";
import { isAppError } from "../../src/errors.ts";
import type { Database } from "../../src/infra/db.ts";
import type { NotificationEvent } from "../../src/infra/pubsub-types.ts";

const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";

let db: Database;
beforeAll(async () => { db = await openTestDatabase(); });
afterAll(async () => { await db?.close(); });

let nextId = 1;
const note = (userId = 1): NotificationEvent => {
  const id = nextId++;
  return { id, userId, alertId: null, kind: "test", title: `n${id}`, body: "", data: {}, createdAt: new Date().toISOString() };
};

/** Reads from the iterator in the background; `events` fills as they come. */
function collect<T>(iterator: AsyncIterableIterator<LoggedEvent<T>>) {
  const events: LoggedEvent<T>[] = [];
  let error: unknown;
  const done = (async () => { try { for await (const e of iterator) events.push(e); } catch (err) { error = err; } })();
  return { events, done, get error() { return error; }, stop: () => iterator.return?.() };
}

const seqs = (events: LoggedEvent<NotificationEvent>[]) => events.map((e) => e.seq);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe("writing", () => {
  it("numbers events 1, 2, 3 … per stream in the writer's transaction; a rollback leaves neither events nor a gap", async () => {
    const head = async (stream: "market" | "notification") => Number((await db.prisma.eventStream.findUniqueOrThrow({ where: { name: stream } })).seq);
    const start = await head("notification");
    await db.prisma.$transaction(async (tx) => { expect(await appendEvents(tx, "notification", [note(), note()])).toBe(start + 1); });
    await expect(db.prisma.$transaction(async (tx) => {
      await appendEvents(tx, "notification", [note()]);
      throw new Error("the change failed");
    })).rejects.toThrow("the change failed");
    await db.prisma.$transaction(async (tx) => { expect(await appendEvents(tx, "notification", [note()])).toBe(start + 3); });
    expect(await head("notification")).toBe(start + 3);
    const rows = await db.prisma.outboxEvent.findMany({ where: { stream: "notification", seq: { gt: start } }, orderBy: { seq: "asc" } });
    expect(rows.map((r) => Number(r.seq))).toEqual([start + 1, start + 2, start + 3]);
    expect(await db.prisma.$transaction((tx) => appendEvents(tx, "notification", []))).toBe(0);
  });

  it("concurrent writers get distinct, gap-free numbers in commit order", async () => {
    const start = Number((await db.prisma.eventStream.findUniqueOrThrow({ where: { name: "notification" } })).seq);
    await Promise.all(range(1, 20).map(() => db.prisma.$transaction((tx) => appendEvents(tx, "notification", [note(), note(), note()]))));
    const rows = await db.prisma.outboxEvent.findMany({ where: { stream: "notification", seq: { gt: start } }, orderBy: { seq: "asc" } });
    expect(rows.map((r) => Number(r.seq))).toEqual(range(start + 1, start + 60));
  });
});

describe.each([
  ["without Redis (each process reads PostgreSQL)", null],
  ["with Redis Streams", REDIS_URL],
] as const)("reading, %s", (_name, redisUrl) => {
  let log: EventLog;
  let prefix: string;
  beforeAll(() => {
    prefix = `test-${randomUUID()}`;
    log = createEventLog({ prisma: db.prisma, redisUrl, prefix, pollMs: 200 });
  });
  afterAll(async () => { await log?.close(); });

  it("hands every committed event to every live subscriber, in order, each once, filtered per subscriber", async () => {
    const all = collect(await log.subscribe("notification"));
    const mine = collect(await log.subscribe("notification", { keep: (n) => n.userId === 7 }));
    const head = await log.head("notification");
    const written = [note(7), note(8), note(7), note(9), note(7)];
    for (const n of written) await writeNotifications(db.prisma, log, [n]);
    await until(() => all.events.length === 5 && mine.events.length === 3, "all events");
    expect(seqs(all.events)).toEqual(range(head + 1, head + 5));
    expect(all.events.map((e) => e.payload.id)).toEqual(written.map((n) => n.id));
    expect(mine.events.map((e) => e.payload.userId)).toEqual([7, 7, 7]);
    await all.stop();
    await mine.stop();
    await all.done;
    expect(log.subscriberCount("notification")).toBe(0);
  });

  it("resumes after a cursor: the missed events from PostgreSQL, then live, with no gap and no duplicate", async () => {
    const head = await log.head("notification");
    await writeNotifications(db.prisma, log, range(1, 30).map(() => note()));
    // writes keep coming while the resumed reader catches up
    const resumed = collect(await log.subscribe("notification", { after: head + 10 }));
    const writing = (async () => { for (let i = 0; i < 10; i++) await writeNotifications(db.prisma, log, [note(), note()]); })();
    await writing;
    await until(() => resumed.events.length === 40, "20 missed + 20 live events");
    expect(seqs(resumed.events)).toEqual(range(head + 11, head + 50));
    await resumed.stop();
  });

  it("a cursor at the head follows live; one ahead of the head is BAD_USER_INPUT", async () => {
    const head = await log.head("notification");
    const atHead = collect(await log.subscribe("notification", { after: head }));
    await writeNotifications(db.prisma, log, [note()]);
    await until(() => atHead.events.length === 1, "the next event");
    expect(atHead.events[0]!.seq).toBe(head + 1);
    await atHead.stop();
    const ahead = await log.subscribe("notification", { after: head + 1000 }).catch((err: unknown) => err);
    expect(isAppError(ahead, "BAD_USER_INPUT")).toBe(true);
  });

  it("return() ends a subscriber at once, even while it waits for live events", async () => {
    const it = await log.subscribe("notification", { after: await log.head("notification") });
    const pending = it.next();
    await new Promise((r) => setTimeout(r, 50));
    await it.return?.();
    expect(await pending).toEqual({ done: true, value: undefined });
  });
});

describe("closing", () => {
  it("close() ends live and replaying subscribers alike", async () => {
    const log = createEventLog({ prisma: db.prisma, pollMs: 100 });
    const head = await log.head("notification");
    await writeNotifications(db.prisma, log, [note(), note(), note()]);
    const live = await log.subscribe("notification");
    const replaying = await log.subscribe("notification", { after: head });
    expect((await replaying.next()).value?.seq).toBe(head + 1);
    await log.close();
    expect(await live.next()).toEqual({ done: true, value: undefined });
    const rest: unknown[] = [];
    for await (const e of replaying) rest.push(e);
    expect(rest.length).toBeLessThanOrEqual(2); // the page already read may still come out; then the end
    expect(log.subscriberCount("notification")).toBe(0);
    await expect(log.subscribe("notification")).rejects.toThrow("closed");
  });
});

describe("retention", () => {
  it("prunes events older than the window; resuming from before them is RESUME_WINDOW_EXCEEDED, from after them works", async () => {
    const log = createEventLog({ prisma: db.prisma, retentionMs: 1000, pollMs: 100 });
    try {
      const head = await log.head("notification");
      await writeNotifications(db.prisma, log, [note(), note()]);
      await new Promise((r) => setTimeout(r, 1100));
      await writeNotifications(db.prisma, log, [note()]);
      await until(async () => (await db.prisma.outboxEvent.count({ where: { stream: "notification", seq: { lte: head + 2 } } })) === 0, "the old events pruned", 5000);
      const err = await log.subscribe("notification", { after: head }).catch((e: unknown) => e);
      expect(isAppError(err, "RESUME_WINDOW_EXCEEDED")).toBe(true);
      const ok = collect(await log.subscribe("notification", { after: head + 2 }));
      await until(() => ok.events.length === 1, "the retained event");
      expect(ok.events[0]!.seq).toBe(head + 3);
      await ok.stop();
    } finally {
      await log.close();
    }
  });
});

describe("across processes through Redis", () => {
  it("a relay writes each event to the Redis Stream once, with id <seq>-0, even with two relays racing", async () => {
    const prefix = `test-${randomUUID()}`;
    const a = createEventLog({ prisma: db.prisma, redisUrl: REDIS_URL, prefix, pollMs: 100 });
    const b = createEventLog({ prisma: db.prisma, redisUrl: REDIS_URL, prefix, pollMs: 100 });
    const redis = new Redis(REDIS_URL);
    try {
      const onB = collect(await b.subscribe("notification"));
      const head = await a.head("notification");
      for (let i = 0; i < 20; i++) { await writeNotifications(db.prisma, a, [note(), note()]); b.kick(); }
      await until(() => onB.events.length === 40, "40 events on the other node");
      expect(seqs(onB.events)).toEqual(range(head + 1, head + 40));
      // The relays may still be copying older events (this database's earlier tests) into this prefix's new stream.
      const key = `${prefix}:events:notification`;
      await until(async () => (await redis.xrange(key, `${head + 1}-0`, "+")).length >= 40, "the 40 entries in the stream");
      const ids = (await redis.xrange(key, `${head + 1}-0`, "+")).map(([id]) => id);
      expect(ids).toEqual(range(head + 1, head + 40).map((s) => `${s}-0`));
      await onB.stop();
    } finally {
      await a.close();
      await b.close();
      redis.disconnect();
    }
  });

  it("entries Redis lost (a restart without persistence) are read from PostgreSQL: nothing missing, nothing twice", async () => {
    const prefix = `test-${randomUUID()}`;
    const log = createEventLog({ prisma: db.prisma, redisUrl: REDIS_URL, prefix, pollMs: 100 });
    const redis = new Redis(REDIS_URL);
    try {
      const reader = collect(await log.subscribe("notification"));
      const head = await log.head("notification");
      await writeNotifications(db.prisma, log, [note()]);
      await until(() => reader.events.length === 1, "the first event");
      // Stop the relay from reaching this prefix's stream for a moment: write events to PostgreSQL only,
      // mark them relayed as if Redis had taken them and then lost them.
      await writeNotifications(db.prisma, null, [note(), note(), note()]);
      await db.prisma.eventRelay.update({ where: { stream: "notification" }, data: { relayed: BigInt(head + 4) } });
      await redis.del(`${prefix}:events:notification`);
      await writeNotifications(db.prisma, log, [note()]); // seq head+5 arrives through Redis: the gap is read from PostgreSQL
      await until(() => reader.events.length === 5, "all five events");
      expect(seqs(reader.events)).toEqual(range(head + 1, head + 5));
      await reader.stop();
    } finally {
      await log.close();
      redis.disconnect();
    }
  });

  it("with Redis unreachable, writers never notice and the feed reads PostgreSQL after a poll interval", async () => {
    const log = createEventLog({ prisma: db.prisma, redisUrl: "redis://127.0.0.1:1", prefix: `test-${randomUUID()}`, pollMs: 100 });
    try {
      const reader = collect(await log.subscribe("notification"));
      const head = await log.head("notification");
      await writeNotifications(db.prisma, log, [note(), note()]);
      await until(() => reader.events.length === 2, "both events from PostgreSQL", 5000);
      expect(seqs(reader.events)).toEqual(range(head + 1, head + 2));
      await reader.stop();
    } finally {
      await log.close();
    }
  });
});
