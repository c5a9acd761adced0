import { once } from "node:events";
import { randomUUID } from "node:crypto";
import { createServer as createNetServer, type AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Redis } from "ioredis";
import { openTestDatabase } from "../support/db.ts";
import { dbId, globalId, seedMarket } from "../support/market.ts";
import { relaxedRateLimiter } from "../support/app.ts";
import { subscribeSse, subscribeWs, until } from "../support/subscribe.ts";
import { liveSubscribers, writeChanges, writeNotifications } from "../support/events.ts";
import { createApp } from "../../src/yoga.ts";
import { startServer, type RunningServer } from "../../src/server.ts";
import { createPubSub } from "../../src/infra/pubsub.ts";
import { appendEvents, createEventLog, type EventLog } from "../../src/infra/event-log.ts";
import { toPriceTicks } from "../../src/ingestion/change-events.ts";
import { notificationEvent } from "../../src/services/alerts.ts";
import type { ChatEventBatch, NotificationEvent, PubSub, Topic } from "../../src/infra/pubsub-types.ts";
import { AppError } from "../../src/errors.ts";
import type { OfferChange } from "../../src/ingestion/catalog-sync.ts";
import type { Database } from "../../src/infra/db.ts";
import { privateRedis } from "../support/redis.ts";

const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const AT = new Date("2026-11-26T10:00:00.000Z");
const TICK_FIELDS = "offerId provider gpuModel region gpuCount kind oldOnDemandPrice newOnDemandPrice oldSpotPrice newSpotPrice oldAvailability newAvailability pricePerGpuHour changePercent at";
const PRICE_TICKS = `subscription ($filter: PriceTickFilter) { priceTicks(filter: $filter) { ${TICK_FIELDS} } }`;
const AVAILABILITY = `subscription ($filter: OfferAvailabilityFilter) { offerAvailabilityChanged(filter: $filter) { offerId kind oldAvailability newAvailability } }`;

/** Waits for `n` live subscriptions to a pub/sub topic (the topics that still travel over it: chat, revocations). */
const live = (pubsub: PubSub, topic: Topic, n: number) => until(() => pubsub.subscriberCount(topic) === n, `${n} live ${topic} subscriptions`);

let db: Database;
let providerId: Record<string, number>;
let modelId: Record<string, number>;

/** A synthetic catalog change; toPriceTicks only needs real provider and GPU model ids. */
function change(offerId: number, over: Partial<OfferChange> & { provider?: string; model?: string | null } = {}): OfferChange {
  const { provider = "alpha", model = "H100-SXM-80GB", ...rest } = over;
  return {
    offerId, providerId: providerId[provider]!, kind: "changed", gpuModelId: model ? modelId[model]! : null,
    region: "us-east-1", gpuCount: 1, pricePerGpuHour: "2.0000", oldOnDemandPrice: "2.5000", newOnDemandPrice: "2.0000",
    oldSpotPrice: null, newSpotPrice: null, oldAvailability: "AVAILABLE", newAvailability: "AVAILABLE", ...rest,
  };
}

beforeAll(async () => {
  db = await openTestDatabase();
  await seedMarket(db.prisma, 4);
  providerId = Object.fromEntries((await db.prisma.provider.findMany()).map((p) => [p.slug, p.id]));
  modelId = Object.fromEntries((await db.prisma.gpuModel.findMany()).map((m) => [m.name, m.id]));
});
afterAll(async () => {
  await db?.close();
});

describe("price ticks", () => {
  it("maps ids to slugs and model names in one query, with changePercent to 2 decimals", async () => {
    const before = db.stats.statements;
    const ticks = await toPriceTicks(db.prisma, [
      change(1, { oldOnDemandPrice: "2.4900", newOnDemandPrice: "1.9900", pricePerGpuHour: "1.9900", oldSpotPrice: "1.5000", newSpotPrice: "1.2000" }),
      change(2, { provider: "beta", model: null, kind: "new", oldOnDemandPrice: null, oldAvailability: null }),
      change(3, { provider: "gamma", model: "MI300X", kind: "deactivated", newOnDemandPrice: null, newAvailability: null }),
      change(4, { oldOnDemandPrice: "3.0000", newOnDemandPrice: "4.0000" }),
    ], AT);
    expect(db.stats.statements - before).toBe(1);
    expect(ticks[0]).toEqual({
      offerId: 1, provider: "alpha", providerId: providerId.alpha, gpuModel: "H100-SXM-80GB", gpuModelId: modelId["H100-SXM-80GB"], region: "us-east-1", gpuCount: 1, kind: "changed",
      oldOnDemandPrice: "2.4900", newOnDemandPrice: "1.9900", oldSpotPrice: "1.5000", newSpotPrice: "1.2000",
      oldAvailability: "AVAILABLE", newAvailability: "AVAILABLE", pricePerGpuHour: "1.9900", changePercent: -20.08, at: "2026-11-26T10:00:00.000Z",
    });
    expect(ticks.map((t) => [t.provider, t.gpuModel, t.changePercent])).toEqual([
      ["alpha", "H100-SXM-80GB", -20.08], ["beta", null, null], ["gamma", "MI300X", null], ["alpha", "H100-SXM-80GB", 33.33],
    ]);
  });
});


describe("subscriptions on one node (event log over PostgreSQL)", () => {
  let pubsub: PubSub;
  let events: EventLog;
  let server: RunningServer;
  beforeAll(async () => {
    pubsub = createPubSub({});
    events = createEventLog({ prisma: db.prisma });
    server = await startServer(createApp({ db, pubsub, events, rateLimiter: relaxedRateLimiter() }), { port: 0, host: "127.0.0.1" });
  });
  afterAll(async () => {
    await server?.stop();
    await events?.close();
    await pubsub?.close();
  });

  it("priceTicks over graphql-ws delivers exactly the ticks of the requested GPU model", async () => {
    const sub = subscribeWs(server, PRICE_TICKS, { filter: { gpuModels: ["H100"] } });
    try {
      await liveSubscribers(events, "market", 1);
      await writeChanges(db.prisma, events, [
        change(11, { oldOnDemandPrice: "2.4900", newOnDemandPrice: "1.9900", pricePerGpuHour: "1.9900" }),
        change(12, { model: "A100-SXM-80GB" }),
        change(13, { model: null }),
        change(14, { model: "RTX-4090", kind: "deactivated", newOnDemandPrice: null, newAvailability: null }),
        change(15, { provider: "beta", kind: "new", gpuCount: 8, oldOnDemandPrice: null, newOnDemandPrice: "16.0000", oldAvailability: null, newAvailability: "LIMITED" }),
      ], AT);
      await sub.take(2);
      expect(sub.events).toEqual([
        { data: { priceTicks: {
          offerId: globalId("GpuOffer", 11), provider: "alpha", gpuModel: "H100-SXM-80GB", region: "us-east-1", gpuCount: 1, kind: "CHANGED",
          oldOnDemandPrice: "2.49", newOnDemandPrice: "1.99", oldSpotPrice: null, newSpotPrice: null, oldAvailability: "AVAILABLE",
          newAvailability: "AVAILABLE", pricePerGpuHour: "1.99", changePercent: -20.08, at: "2026-11-26T10:00:00.000Z",
        } } },
        { data: { priceTicks: {
          offerId: globalId("GpuOffer", 15), provider: "beta", gpuModel: "H100-SXM-80GB", region: "us-east-1", gpuCount: 8, kind: "NEW",
          oldOnDemandPrice: null, newOnDemandPrice: "16.00", oldSpotPrice: null, newSpotPrice: null, oldAvailability: null,
          newAvailability: "LIMITED", pricePerGpuHour: "2.00", changePercent: null, at: "2026-11-26T10:00:00.000Z",
        } } },
      ]);
    } finally {
      await sub.close();
    }
    await liveSubscribers(events, "market", 0);
  });

  it("filters by price per hour, price per GPU-hour and size of the move", async () => {
    const cheapMoves = subscribeWs(server, PRICE_TICKS, { filter: { maxPricePerHour: "5.00", minChangePercent: 10 } });
    const perGpu = subscribeWs(server, PRICE_TICKS, { filter: { maxPricePerGpuHour: 1.5, providers: ["BETA"], regions: ["eu-central-1"] } });
    try {
      await liveSubscribers(events, "market", 2);
      const eu = { provider: "beta", region: "eu-central-1" };
      await writeChanges(db.prisma, events, [
        change(21, { oldOnDemandPrice: "4.0000", newOnDemandPrice: "3.0000" }), // -25 %, under 5
        change(22, { oldOnDemandPrice: "8.0000", newOnDemandPrice: "6.0000" }), // -25 %, over 5
        change(23, { oldOnDemandPrice: "4.0000", newOnDemandPrice: "3.8000" }), // -5 %
        change(24, { kind: "new", oldOnDemandPrice: null, newOnDemandPrice: "2.0000" }), // no move to measure
        change(25, { oldOnDemandPrice: "5.0000", newOnDemandPrice: "4.5000" }), // exactly -10 %
        change(26, { oldOnDemandPrice: "4.5000", newOnDemandPrice: "5.0000" }), // +11.11 %, exactly 5
        change(27, { ...eu, gpuCount: 4, pricePerGpuHour: "1.5000", newOnDemandPrice: "6.0000" }),
        change(28, { ...eu, gpuCount: 4, pricePerGpuHour: "1.5001", newOnDemandPrice: "6.0004" }),
        change(29, { provider: "alpha", region: "eu-central-1", pricePerGpuHour: "1.0000", oldOnDemandPrice: "2.0000" }), // no move
        change(30, { ...eu, kind: "deactivated", pricePerGpuHour: "1.2000", newOnDemandPrice: null, newAvailability: null }),
      ], AT);
      const ids = (events: any[]) => events.map((e) => dbId(e.data.priceTicks.offerId));
      expect(ids(await cheapMoves.take(3))).toEqual([21, 25, 26]);
      expect(ids(await perGpu.take(2))).toEqual([27, 30]);
      expect(cheapMoves.events[1].data.priceTicks.changePercent).toBe(-10);
    } finally {
      await Promise.all([cheapMoves.close(), perGpu.close()]);
    }
  });

  it("priceTicks over Server-Sent Events, unsubscribing when the client goes away", async () => {
    const sub = subscribeSse(server, PRICE_TICKS, { filter: { gpuModels: ["h100 sxm"], providers: ["alpha"] } });
    try {
      await liveSubscribers(events, "market", 1);
      await writeChanges(db.prisma, events, [change(31), change(32, { provider: "beta" }), change(33, { model: "MI300X" }), change(34)], AT);
      const received = await sub.take(2);
      expect(received.map((e) => [dbId(e.data.priceTicks.offerId), e.data.priceTicks.provider, e.data.priceTicks.gpuModel])).toEqual([
        [31, "alpha", "H100-SXM-80GB"], [34, "alpha", "H100-SXM-80GB"],
      ]);
    } finally {
      await sub.close();
    }
    await liveSubscribers(events, "market", 0);
  });

  it("every priceTicks and offerAvailabilityChanged event carries a cursor, the same over graphql-ws and SSE", async () => {
    const query = "subscription ($filter: PriceTickFilter) { priceTicks(filter: $filter) { cursor offerId } }";
    const filter = { filter: { providers: ["gamma"] } };
    const overWs = subscribeWs(server, query, filter);
    const overSse = subscribeSse(server, query, filter);
    const availability = subscribeWs(server, "subscription { offerAvailabilityChanged { cursor offerId } }");
    try {
      await liveSubscribers(events, "market", 3);
      await writeChanges(db.prisma, events, [
        change(81, { provider: "gamma" }),
        change(82, { provider: "gamma", oldAvailability: "AVAILABLE", newAvailability: "LIMITED" }),
        change(83, { provider: "gamma" }),
      ], AT);
      const view = (received: any[], field: string) => received.map((e) => ({ offer: dbId(e.data[field].offerId), cursor: e.data[field].cursor }));
      const ws = view(await overWs.take(3), "priceTicks");
      const sse = view(await overSse.take(3), "priceTicks");
      expect(ws.map((e) => e.offer)).toEqual([81, 82, 83]);
      for (const { cursor } of ws) expect(cursor).toMatch(/^[A-Za-z0-9_-]{1,64}$/); // opaque, and fits the `after` argument
      expect(new Set(ws.map((e) => e.cursor)).size).toBe(3); // one per event
      expect(sse).toEqual(ws); // a cursor names the event, not the connection
      const moved = view(await availability.take(1), "offerAvailabilityChanged");
      expect(moved).toEqual([{ offer: 82, cursor: expect.stringMatching(/^[A-Za-z0-9_-]{1,64}$/) }]);
      expect(overWs.error).toBeUndefined();
    } finally {
      await Promise.all([overWs.close(), overSse.close(), availability.close()]);
    }
    await liveSubscribers(events, "market", 0);
  });

  it("offerAvailabilityChanged carries availability moves, withdrawals and returns, and filters by state", async () => {
    const all = subscribeWs(server, AVAILABILITY);
    const nowAvailable = subscribeWs(server, AVAILABILITY, { filter: { availability: ["AVAILABLE"], gpuModels: ["H100-SXM-80GB"] } });
    const gone = subscribeWs(server, AVAILABILITY, { filter: { availability: ["UNAVAILABLE"] } });
    try {
      await liveSubscribers(events, "market", 3);
      await writeChanges(db.prisma, events, [
        change(41), // price only: a price tick, not an availability change
        change(42, { oldAvailability: "LIMITED", newAvailability: "AVAILABLE", oldOnDemandPrice: "2.0000" }),
        change(43, { kind: "deactivated", newOnDemandPrice: null, newAvailability: null }),
        change(44, { kind: "reactivated", oldAvailability: "AVAILABLE", newAvailability: "AVAILABLE" }),
        change(45, { model: "RTX-4090", oldAvailability: "AVAILABLE", newAvailability: "UNAVAILABLE" }),
      ], AT);
      const view = (events: any[]) => events.map((e) => { const t = e.data.offerAvailabilityChanged; return [dbId(t.offerId), t.kind, t.oldAvailability, t.newAvailability]; });
      expect(view(await all.take(4))).toEqual([
        [42, "CHANGED", "LIMITED", "AVAILABLE"], [43, "DEACTIVATED", "AVAILABLE", null], [44, "REACTIVATED", "AVAILABLE", "AVAILABLE"], [45, "CHANGED", "AVAILABLE", "UNAVAILABLE"],
      ]);
      expect(view(await nowAvailable.take(2))).toEqual([[42, "CHANGED", "LIMITED", "AVAILABLE"], [44, "REACTIVATED", "AVAILABLE", "AVAILABLE"]]);
      expect(view(await gone.take(2))).toEqual([[43, "DEACTIVATED", "AVAILABLE", null], [45, "CHANGED", "AVAILABLE", "UNAVAILABLE"]]);
    } finally {
      await Promise.all([all.close(), nowAvailable.close(), gone.close()]);
    }
  });

  it("rejects unknown GPU models and provider slugs with BAD_USER_INPUT", async () => {
    await liveSubscribers(events, "market", 0);
    for (const [filter, message] of [
      [{ gpuModels: ["H100", "H900"] }, 'Unknown GPU model: "H900"'],
      [{ providers: ["nope"] }, 'Unknown provider slug: "nope"'],
    ] as const) {
      const sub = subscribeWs(server, PRICE_TICKS, { filter });
      await sub.ended();
      await sub.close();
      expect(sub.events).toHaveLength(1);
      expect(sub.events[0].errors[0].message).toContain(message);
      expect(sub.events[0].errors[0].extensions.code).toBe("BAD_USER_INPUT");
    }
    expect(events.subscriberCount("market")).toBe(0);
  });

  it("notifications need a signed-in user, and each user gets only their own", async () => {
    const anonymous = subscribeWs(server, "subscription { notifications { title } }");
    await anonymous.ended();
    await anonymous.close();
    expect(anonymous.events).toEqual([{ errors: [expect.objectContaining({ message: "Sign in first: send \"Authorization: Bearer <access token or API key>\".", extensions: { code: "UNAUTHENTICATED" } })] }]);

    const signUp = async (email: string) => {
      const res = await fetch(server.url, {
        method: "POST", headers: { "content-type": "application/json" },
        body: JSON.stringify({ query: `mutation { register(email: "${email}", password: "a long and lovely passphrase", name: "N") { accessToken } }` }),
      });
      const body = await res.json();
      expect(body.errors).toBeUndefined();
      const token = body.data.register.accessToken as string;
      return { token, id: (await db.prisma.user.findUniqueOrThrow({ where: { email } })).id };
    };
    const ada = await signUp("ada@example.com");
    const bob = await signUp("bob@example.com");
    const query = "subscription { notifications { id kind title body data readAt createdAt alert { id } cursor } }";
    const adaSub = subscribeWs(server, query, {}, { authorization: `Bearer ${ada.token}` });
    const bobSub = subscribeWs(server, query, {}, { authorization: `Bearer ${bob.token}` });
    try {
      await liveSubscribers(events, "notification", 2);
      // Written as the alert engine does: the row and its event in one transaction, then a kick.
      const notify = async (userId: number, title: string) => {
        const row = await db.prisma.$transaction(async (tx) => {
          const created = await tx.notification.create({ data: { userId, kind: "price_alert", title, body: `${title}.`, data: { offerId: 7, price: "1.99" }, createdAt: AT } });
          await appendEvents(tx, "notification", [notificationEvent(created)]);
          return created;
        });
        events.kick();
        return row.id;
      };
      const ids = [await notify(ada.id, "For Ada"), await notify(bob.id, "For Bob"), await notify(ada.id, "For Ada again")];
      const expected = (id: number, title: string) => ({ data: { notifications: {
        id: String(id), kind: "price_alert", title, body: `${title}.`, data: { offerId: 7, price: "1.99" }, readAt: null, createdAt: "2026-11-26T10:00:00.000Z", alert: null,
        cursor: expect.stringMatching(/^[A-Za-z0-9_-]{1,64}$/),
      } } });
      // `data` is a JSON string; its key order is PostgreSQL's (jsonb), as in the `notifications` query
      const parsed = (received: any[]) => received.map((e) => ({ data: { notifications: { ...e.data.notifications, data: JSON.parse(e.data.notifications.data) } } }));
      expect(parsed(await adaSub.take(2))).toEqual([expected(ids[0]!, "For Ada"), expected(ids[2]!, "For Ada again")]);
      expect(parsed(await bobSub.take(1))).toEqual([expected(ids[1]!, "For Bob")]);
      const cursors = [...adaSub.events, ...bobSub.events].map((e) => e.data.notifications.cursor);
      expect(new Set(cursors).size).toBe(3);
      // the same objects as the `notifications` query, where the cursor is null
      const listed = await fetch(server.url, {
        method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${ada.token}` },
        body: JSON.stringify({ query: "{ notifications { edges { node { id kind title body data readAt createdAt alert { id } cursor } } } }" }),
      }).then((r) => r.json());
      const nodes = listed.data.notifications.edges.map((e: any) => e.node).sort((x: any, y: any) => Number(x.id) - Number(y.id));
      expect(nodes).toEqual(adaSub.events.map((e) => ({ ...e.data.notifications, cursor: null })));
    } finally {
      await Promise.all([adaSub.close(), bobSub.close()]);
    }
    expect(adaSub.events).toHaveLength(2);
    expect(bobSub.events).toHaveLength(1);
  });
});

describe("bounded subscriber buffers", () => {
  const LIMIT = 3;
  const OVERFLOW = {
    message: "This subscription fell more than 3 events behind, so the server ended it after the events already queued. Subscribe again, with the cursor of the last event you received as `after` where the subscription takes one, to continue where you stopped.",
    extensions: { code: "SUBSCRIPTION_OVERFLOW", limit: LIMIT },
  };
  const expectOverflow = async (stalled: AsyncIterableIterator<unknown>) => {
    const error = await stalled.next().then(() => null, (err: unknown) => err);
    expect(error).toBeInstanceOf(AppError);
    expect({ message: (error as AppError).message, extensions: (error as AppError).extensions }).toEqual(OVERFLOW);
    expect(await stalled.next()).toEqual({ value: undefined, done: true });
  };

  // The pub/sub still carries chat events, chat control and revocations, each subscriber through a bounded buffer.
  for (const transport of ["in-process", "Redis"] as const) {
    it(`pub/sub, ${transport}: a subscriber that never reads gets its ${LIMIT} queued events, then SUBSCRIPTION_OVERFLOW; the others are unaffected`, async () => {
      const batch = (messageId: number): ChatEventBatch => ({ messageId, events: [] });
      const pubsub = createPubSub({ bufferLimit: LIMIT, ...(transport === "Redis" ? { redisUrl: REDIS_URL, prefix: `test-${randomUUID()}` } : {}) });
      let closed = false;
      try {
        const stalled = pubsub.subscribe("chat.event");
        const reader = pubsub.subscribe("chat.event");
        const picky = pubsub.subscribe("chat.event", (b) => b.messageId === 6);
        await live(pubsub, "chat.event", 3);
        for (let id = 1; id <= 6; id++) {
          await pubsub.publish("chat.event", batch(id));
          expect((await reader.next()).value).toEqual(batch(id));
        }
        expect((await picky.next()).value).toEqual(batch(6)); // it only buffers what it keeps
        await live(pubsub, "chat.event", 2); // the overflowed one has unsubscribed
        // published before its first next(), so queued: 1 to 3; 4 overflowed it
        for (const id of [1, 2, 3]) expect((await stalled.next()).value).toEqual(batch(id));
        await expectOverflow(stalled);
        await pubsub.publish("chat.event", batch(7));
        expect((await reader.next()).value).toEqual(batch(7));

        const unread = pubsub.subscribe("auth.revoked");
        await live(pubsub, "auth.revoked", 1);
        await unread.return!(); // never read: still unsubscribes
        await live(pubsub, "auth.revoked", 0);
        const waiting = reader.next();
        closed = true;
        await pubsub.close();
        expect(await waiting).toEqual({ value: undefined, done: true });
      } finally {
        if (!closed) await pubsub.close();
      }
    });
  }

  // Price ticks and notifications: the event log's feed hands each event to every subscriber's own bounded buffer.
  for (const transport of ["PostgreSQL", "Redis Streams"] as const) {
    it(`event log, ${transport}: a subscriber that never reads gets its ${LIMIT} queued events, then SUBSCRIPTION_OVERFLOW; the others are unaffected`, async () => {
      const note = (id: number): NotificationEvent => ({ id, userId: 1, alertId: null, kind: "price_alert", title: `n${id}`, body: "", data: {}, createdAt: AT.toISOString() });
      const payload = (e: IteratorResult<{ payload: NotificationEvent }>) => e.value?.payload;
      const events = createEventLog({ prisma: db.prisma, bufferLimit: LIMIT, ...(transport === "Redis Streams" ? { redisUrl: REDIS_URL, prefix: `test-${randomUUID()}` } : {}) });
      let closed = false;
      try {
        const stalled = await events.subscribe("notification");
        const reader = await events.subscribe("notification");
        const picky = await events.subscribe("notification", { keep: (n) => n.id === 6 });
        expect(events.subscriberCount("notification")).toBe(3);
        for (let id = 1; id <= 6; id++) {
          await writeNotifications(db.prisma, events, [note(id)]);
          expect(payload(await reader.next())).toEqual(note(id));
        }
        expect(payload(await picky.next())).toEqual(note(6)); // it only buffers what it keeps
        await liveSubscribers(events, "notification", 2); // the overflowed one has left the feed
        // written before its first next(), so queued: 1 to 3; 4 overflowed it
        for (const id of [1, 2, 3]) expect(payload(await stalled.next())).toEqual(note(id));
        await expectOverflow(stalled);
        await writeNotifications(db.prisma, events, [note(7)]);
        expect(payload(await reader.next())).toEqual(note(7));

        const unread = await events.subscribe("market");
        expect(events.subscriberCount("market")).toBe(1);
        await unread.return!(); // never read: still leaves the feed
        await liveSubscribers(events, "market", 0);
        const waiting = reader.next();
        closed = true;
        await events.close();
        expect(await waiting).toEqual({ value: undefined, done: true });
      } finally {
        if (!closed) await events.close();
      }
    });
  }

  it("reaches graphql-ws and SSE clients as a coded last result, then the end; a filtered subscription is unaffected", async () => {
    const events = createEventLog({ prisma: db.prisma, bufferLimit: LIMIT });
    const server = await startServer(createApp({ db, events, rateLimiter: relaxedRateLimiter() }), { port: 0, host: "127.0.0.1" });
    const everything = subscribeWs(server, PRICE_TICKS);
    const overSse = subscribeSse(server, PRICE_TICKS);
    const mi300x = subscribeWs(server, PRICE_TICKS, { filter: { gpuModels: ["MI300X"] } });
    try {
      await liveSubscribers(events, "market", 3);
      // one import's ticks arrive at once, faster than any reader: six is more than 3 queued
      await writeChanges(db.prisma, events, [71, 72, 73, 74, 75].map((id) => change(id)).concat(change(76, { model: "MI300X" })), AT);
      await everything.ended();
      expect(everything.error).toBeUndefined();
      const ticks = everything.events.slice(0, -1).map((e) => dbId(e.data.priceTicks.offerId));
      // what was queued, in order, plus the one a waiting reader took at once
      expect(ticks).toEqual([71, 72, 73, 74].slice(0, ticks.length));
      expect([LIMIT, LIMIT + 1]).toContain(ticks.length);
      expect(everything.events.at(-1)).toEqual({ errors: [OVERFLOW] });

      await overSse.ended();
      const sseTicks = overSse.events.slice(0, -1).map((e) => dbId(e.data.priceTicks.offerId));
      expect(sseTicks).toEqual([71, 72, 73, 74].slice(0, sseTicks.length));
      expect([LIMIT, LIMIT + 1]).toContain(sseTicks.length);
      expect(overSse.events.at(-1)).toEqual({ errors: [OVERFLOW] });

      expect((await mi300x.take(1)).map((e) => dbId(e.data.priceTicks.offerId))).toEqual([76]);
      await liveSubscribers(events, "market", 1);
      await writeChanges(db.prisma, events, [change(77, { model: "MI300X" })], AT);
      expect((await mi300x.take(2)).map((e) => dbId(e.data.priceTicks.offerId))).toEqual([76, 77]);
      expect(mi300x.completed).toBe(false);
    } finally {
      await Promise.all([everything.close(), overSse.close(), mi300x.close()]);
      await server.stop();
      await events.close();
    }
  });
});

describe("subscriptions across nodes (Redis Streams)", () => {
  const prefix = `test-${randomUUID()}`;
  let logs: EventLog[];
  let servers: RunningServer[];
  beforeAll(async () => {
    // Both nodes share the database and the prefix. A poll interval far longer than the test: what
    // node A delivers came through Redis, not from its own reading of PostgreSQL.
    logs = [0, 1].map(() => createEventLog({ prisma: db.prisma, redisUrl: REDIS_URL, prefix, pollMs: 600_000 }));
    servers = await Promise.all(logs.map((events) => startServer(createApp({ db, events, rateLimiter: relaxedRateLimiter() }), { port: 0, host: "127.0.0.1" })));
  });
  afterAll(async () => {
    await Promise.all((servers ?? []).map((s) => s.stop()));
    await Promise.all((logs ?? []).map((l) => l.close()));
  });

  it("a tick written through node B reaches a subscriber on node A, filtered on A", async () => {
    const [a, b] = logs as [EventLog, EventLog];
    const sub = subscribeWs(servers[0]!, PRICE_TICKS, { filter: { gpuModels: ["MI300X"] } });
    try {
      await liveSubscribers(a, "market", 1);
      expect(b.subscriberCount("market")).toBe(0);
      await writeChanges(db.prisma, b, [change(51, { model: "MI300X" }), change(52), change(53, { model: "MI300X", oldOnDemandPrice: "3.0000" })], AT);
      const received = await sub.take(2);
      expect(received.map((e) => [dbId(e.data.priceTicks.offerId), e.data.priceTicks.gpuModel, e.data.priceTicks.changePercent])).toEqual([
        [51, "MI300X", -20], [53, "MI300X", -33.33],
      ]);
    } finally {
      await sub.close();
    }
  });
});

describe("Redis restart", () => {
  let port: number;
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

  it("subscriptions go on by themselves while Redis is down and after it restarts empty", async () => {
    const url = `redis://127.0.0.1:${port}`;
    // Sees what the server sees: retries fast, waits for Redis rather than failing.
    const probe = new Redis(url, { maxRetriesPerRequest: null, retryStrategy: () => 50 }).on("error", () => {});
    const pubsub = createPubSub({ redisUrl: url, prefix: "restart" });
    const events = createEventLog({ prisma: db.prisma, redisUrl: url, prefix: "restart", pollMs: 200 });
    const server = await startServer(createApp({ db, pubsub, events, rateLimiter: relaxedRateLimiter() }), { port: 0, host: "127.0.0.1" });
    const sub = subscribeWs(server, PRICE_TICKS);
    // A pub/sub topic (the assistant's answers) re-subscribes too.
    const chat = pubsub.subscribe("chat.event");
    const subscribers = async () => Number(((await probe.pubsub("NUMSUB", "restart:chat.event")) as [string, number])[1]);
    const offers = () => sub.events.map((e) => dbId(e.data.priceTicks.offerId));
    try {
      await liveSubscribers(events, "market", 1);
      await live(pubsub, "chat.event", 1);
      expect(await subscribers()).toBe(1);
      await writeChanges(db.prisma, events, [change(61)], AT);
      await sub.take(1);
      await until(async () => (await probe.exists("restart:events:market")) === 1, "the tick relayed to the Redis Stream");

      await stopRedis();
      // Written while Redis is down: the writer does not notice, and the feed reads it from PostgreSQL.
      await writeChanges(db.prisma, events, [change(62)], AT);
      expect((await sub.take(2)).length).toBe(2);
      await startRedis();
      await until(async () => (await subscribers()) === 1, "the pub/sub subscriber to re-subscribe");
      await writeChanges(db.prisma, events, [change(63)], AT);
      await pubsub.publish("chat.event", { messageId: 1, events: [] });
      await sub.take(3);
      expect(offers()).toEqual([61, 62, 63]);
      expect(sub.error).toBeUndefined();
      expect((await chat.next()).value).toEqual({ messageId: 1, events: [] });
      // the relay went on too: the restarted Redis got the events written since
      await until(async () => (await probe.xlen("restart:events:market")) >= 1, "events relayed to the restarted Redis");
    } finally {
      await chat.return!();
      await sub.close();
      await server.stop();
      await events.close();
      await pubsub.close();
      probe.disconnect();
    }
  });
});
