import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { randomUUID } from "node:crypto";
import { createServer as createNetServer, type AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Redis } from "ioredis";
import { openTestDatabase } from "../support/db.ts";
import { dbId, globalId, seedMarket } from "../support/market.ts";
import { relaxedRateLimiter } from "../support/app.ts";
import { subscribeSse, subscribeWs, until } from "../support/subscribe.ts";
import { createApp } from "../../src/yoga.ts";
import { startServer, type RunningServer } from "../../src/server.ts";
import { createPubSub } from "../../src/infra/pubsub.ts";
import { publishChanges, toPriceTicks } from "../../src/ingestion/change-publishing.ts";
import type { NotificationEvent, PubSub, Topic } from "../../src/infra/pubsub-types.ts";
import { AppError } from "../../src/errors.ts";
import type { OfferChange } from "../../src/ingestion/catalog-sync.ts";
import type { Database } from "../../src/infra/db.ts";

const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const AT = new Date("2026-11-26T10:00:00.000Z");
const TICK_FIELDS = "offerId provider gpuModel region gpuCount kind oldOnDemandPrice newOnDemandPrice oldSpotPrice newSpotPrice oldAvailability newAvailability pricePerGpuHour changePercent at";
const PRICE_TICKS = `subscription ($filter: PriceTickFilter) { priceTicks(filter: $filter) { ${TICK_FIELDS} } }`;
const AVAILABILITY = `subscription ($filter: OfferAvailabilityFilter) { offerAvailabilityChanged(filter: $filter) { offerId kind oldAvailability newAvailability } }`;

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

describe("subscriptions on one node (in-process pub/sub)", () => {
  let pubsub: PubSub;
  let server: RunningServer;
  beforeAll(async () => {
    pubsub = createPubSub({});
    server = await startServer(createApp({ db, pubsub, rateLimiter: relaxedRateLimiter() }), { port: 0, host: "127.0.0.1" });
  });
  afterAll(async () => {
    await server?.stop();
    await pubsub?.close();
  });

  it("priceTicks over graphql-ws delivers exactly the ticks of the requested GPU model", async () => {
    const sub = subscribeWs(server, PRICE_TICKS, { filter: { gpuModels: ["H100"] } });
    try {
      await live(pubsub, "price.tick", 1);
      await publishChanges(pubsub, db.prisma, [
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
    await live(pubsub, "price.tick", 0);
  });

  it("filters by price per hour, price per GPU-hour and size of the move", async () => {
    const cheapMoves = subscribeWs(server, PRICE_TICKS, { filter: { maxPricePerHour: "5.00", minChangePercent: 10 } });
    const perGpu = subscribeWs(server, PRICE_TICKS, { filter: { maxPricePerGpuHour: 1.5, providers: ["BETA"], regions: ["eu-central-1"] } });
    try {
      await live(pubsub, "price.tick", 2);
      const eu = { provider: "beta", region: "eu-central-1" };
      await publishChanges(pubsub, db.prisma, [
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
      await live(pubsub, "price.tick", 1);
      await publishChanges(pubsub, db.prisma, [change(31), change(32, { provider: "beta" }), change(33, { model: "MI300X" }), change(34)], AT);
      const events = await sub.take(2);
      expect(events.map((e) => [dbId(e.data.priceTicks.offerId), e.data.priceTicks.provider, e.data.priceTicks.gpuModel])).toEqual([
        [31, "alpha", "H100-SXM-80GB"], [34, "alpha", "H100-SXM-80GB"],
      ]);
    } finally {
      await sub.close();
    }
    await live(pubsub, "price.tick", 0);
  });

  it("offerAvailabilityChanged carries availability moves, withdrawals and returns, and filters by state", async () => {
    const all = subscribeWs(server, AVAILABILITY);
    const nowAvailable = subscribeWs(server, AVAILABILITY, { filter: { availability: ["AVAILABLE"], gpuModels: ["H100-SXM-80GB"] } });
    const gone = subscribeWs(server, AVAILABILITY, { filter: { availability: ["UNAVAILABLE"] } });
    try {
      await live(pubsub, "offer.availability", 3);
      await publishChanges(pubsub, db.prisma, [
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
    expect(pubsub.subscriberCount("price.tick")).toBe(0);
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
    const query = "subscription { notifications { id kind title body data readAt createdAt alert { id } } }";
    const adaSub = subscribeWs(server, query, {}, { authorization: `Bearer ${ada.token}` });
    const bobSub = subscribeWs(server, query, {}, { authorization: `Bearer ${bob.token}` });
    try {
      await live(pubsub, "notification", 2);
      // Published as the alert engine does: the stored row, after its transaction committed.
      const notify = async (userId: number, title: string) => {
        const row = await db.prisma.notification.create({ data: { userId, kind: "price_alert", title, body: `${title}.`, data: { offerId: 7, price: "1.99" }, createdAt: AT } });
        await pubsub.publish("notification", {
          id: row.id, userId, alertId: row.alertId, kind: row.kind, title, body: row.body, data: { offerId: 7, price: "1.99" }, createdAt: row.createdAt.toISOString(),
        });
        return row.id;
      };
      const ids = [await notify(ada.id, "For Ada"), await notify(bob.id, "For Bob"), await notify(ada.id, "For Ada again")];
      const expected = (id: number, title: string) => ({ data: { notifications: {
        id: String(id), kind: "price_alert", title, body: `${title}.`, data: '{"offerId":7,"price":"1.99"}', readAt: null, createdAt: "2026-11-26T10:00:00.000Z", alert: null,
      } } });
      expect(await adaSub.take(2)).toEqual([expected(ids[0]!, "For Ada"), expected(ids[2]!, "For Ada again")]);
      expect(await bobSub.take(1)).toEqual([expected(ids[1]!, "For Bob")]);
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
    message: "This subscription fell more than 3 events behind, so the server ended it after the events already queued. Subscribe again to continue; events published in between are not replayed.",
    extensions: { code: "SUBSCRIPTION_OVERFLOW", limit: LIMIT },
  };
  const note = (id: number): NotificationEvent => ({ id, userId: 1, alertId: null, kind: "price_alert", title: `n${id}`, body: "", data: {}, createdAt: AT.toISOString() });

  for (const transport of ["in-process", "Redis"] as const) {
    it(`${transport}: a subscriber that never reads gets its ${LIMIT} queued events, then SUBSCRIPTION_OVERFLOW; the others are unaffected`, async () => {
      const pubsub = createPubSub({ bufferLimit: LIMIT, ...(transport === "Redis" ? { redisUrl: REDIS_URL, prefix: `test-${randomUUID()}` } : {}) });
      let closed = false;
      try {
        const stalled = pubsub.subscribe("notification");
        const reader = pubsub.subscribe("notification");
        const picky = pubsub.subscribe("notification", (n) => n.id === 6);
        await live(pubsub, "notification", 3);
        for (let id = 1; id <= 6; id++) {
          await pubsub.publish("notification", note(id));
          expect((await reader.next()).value).toEqual(note(id));
        }
        expect((await picky.next()).value).toEqual(note(6)); // it only buffers what it keeps
        await live(pubsub, "notification", 2); // the overflowed one has unsubscribed
        // published before its first next(), so queued: 1 to 3; 4 overflowed it
        for (const id of [1, 2, 3]) expect((await stalled.next()).value).toEqual(note(id));
        const error = await stalled.next().then(() => null, (err: unknown) => err);
        expect(error).toBeInstanceOf(AppError);
        expect({ message: (error as AppError).message, extensions: (error as AppError).extensions }).toEqual(OVERFLOW);
        expect(await stalled.next()).toEqual({ value: undefined, done: true });
        await pubsub.publish("notification", note(7));
        expect((await reader.next()).value).toEqual(note(7));

        const unread = pubsub.subscribe("price.tick");
        await live(pubsub, "price.tick", 1);
        await unread.return!(); // never read: still unsubscribes
        await live(pubsub, "price.tick", 0);
        const waiting = reader.next();
        closed = true;
        await pubsub.close();
        expect(await waiting).toEqual({ value: undefined, done: true });
      } finally {
        if (!closed) await pubsub.close();
      }
    });
  }

  it("reaches graphql-ws and SSE clients as a coded last result, then the end; a filtered subscription is unaffected", async () => {
    const pubsub = createPubSub({ bufferLimit: LIMIT });
    const server = await startServer(createApp({ db, pubsub, rateLimiter: relaxedRateLimiter() }), { port: 0, host: "127.0.0.1" });
    const everything = subscribeWs(server, PRICE_TICKS);
    const overSse = subscribeSse(server, PRICE_TICKS);
    const mi300x = subscribeWs(server, PRICE_TICKS, { filter: { gpuModels: ["MI300X"] } });
    try {
      await live(pubsub, "price.tick", 3);
      // one import's ticks arrive at once, faster than any reader: six is more than 3 queued
      await publishChanges(pubsub, db.prisma, [71, 72, 73, 74, 75].map((id) => change(id)).concat(change(76, { model: "MI300X" })), AT);
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
      await live(pubsub, "price.tick", 1);
      await publishChanges(pubsub, db.prisma, [change(77, { model: "MI300X" })], AT);
      expect((await mi300x.take(2)).map((e) => dbId(e.data.priceTicks.offerId))).toEqual([76, 77]);
      expect(mi300x.completed).toBe(false);
    } finally {
      await Promise.all([everything.close(), overSse.close(), mi300x.close()]);
      await server.stop();
      await pubsub.close();
    }
  });
});

describe("subscriptions across nodes (Redis)", () => {
  const prefix = `test-${randomUUID()}`;
  let pubsubs: PubSub[];
  let servers: RunningServer[];
  beforeAll(async () => {
    pubsubs = [createPubSub({ redisUrl: REDIS_URL, prefix }), createPubSub({ redisUrl: REDIS_URL, prefix })];
    servers = await Promise.all(pubsubs.map((pubsub) => startServer(createApp({ db, pubsub, rateLimiter: relaxedRateLimiter() }), { port: 0, host: "127.0.0.1" })));
  });
  afterAll(async () => {
    await Promise.all((servers ?? []).map((s) => s.stop()));
    await Promise.all((pubsubs ?? []).map((p) => p.close()));
  });

  it("a tick published through node B reaches a subscriber on node A, filtered on A", async () => {
    const [a, b] = pubsubs as [PubSub, PubSub];
    const sub = subscribeWs(servers[0]!, PRICE_TICKS, { filter: { gpuModels: ["MI300X"] } });
    try {
      await live(a, "price.tick", 1);
      expect(b.subscriberCount("price.tick")).toBe(0);
      await publishChanges(b, db.prisma, [change(51, { model: "MI300X" }), change(52), change(53, { model: "MI300X", oldOnDemandPrice: "3.0000" })], AT);
      const events = await sub.take(2);
      expect(events.map((e) => [dbId(e.data.priceTicks.offerId), e.data.priceTicks.gpuModel, e.data.priceTicks.changePercent])).toEqual([
        [51, "MI300X", -20], [53, "MI300X", -33.33],
      ]);
    } finally {
      await sub.close();
    }
  });
});

describe("Redis restart", () => {
  let port: number;
  let redis: ChildProcess | undefined;
  const startRedis = async () => {
    redis = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], { stdio: "ignore" });
    await new Promise<void>((resolve, reject) => { redis!.once("spawn", resolve).once("error", reject); });
    const ping = new Redis(port, "127.0.0.1", { maxRetriesPerRequest: null, retryStrategy: () => 20 }).on("error", () => {});
    await ping.ping();
    ping.disconnect();
  };
  const stopRedis = async () => {
    if (!redis || redis.exitCode !== null || redis.signalCode !== null) return;
    const exited = once(redis, "exit");
    redis.kill("SIGKILL");
    await exited;
  };
  beforeAll(async () => {
    const probe = createNetServer().listen(0, "127.0.0.1");
    await once(probe, "listening");
    port = (probe.address() as AddressInfo).port;
    await new Promise((r) => probe.close(r));
    await startRedis();
  });
  afterAll(stopRedis);

  it("subscriptions resume by themselves after Redis restarts", async () => {
    const url = `redis://127.0.0.1:${port}`;
    // Sees what the server sees: retries fast, waits for Redis rather than failing.
    const probe = new Redis(url, { maxRetriesPerRequest: null, retryStrategy: () => 50 }).on("error", () => {});
    const pubsub = createPubSub({ redisUrl: url, prefix: "restart" });
    const server = await startServer(createApp({ db, pubsub, rateLimiter: relaxedRateLimiter() }), { port: 0, host: "127.0.0.1" });
    const sub = subscribeWs(server, PRICE_TICKS);
    const subscribers = async () => Number(((await probe.pubsub("NUMSUB", "restart:price.tick")) as [string, number])[1]);
    try {
      await live(pubsub, "price.tick", 1);
      expect(await subscribers()).toBe(1);
      await publishChanges(pubsub, db.prisma, [change(61)], AT);
      await sub.take(1);

      await stopRedis();
      await startRedis();
      const deadline = Date.now() + 10_000;
      while ((await subscribers()) !== 1) {
        if (Date.now() > deadline) throw new Error("the subscriber did not re-subscribe");
        await new Promise((r) => setTimeout(r, 20));
      }
      await publishChanges(pubsub, db.prisma, [change(62)], AT);
      expect((await sub.take(2)).map((e) => dbId(e.data.priceTicks.offerId))).toEqual([61, 62]);
      expect(sub.error).toBeUndefined();
    } finally {
      await sub.close();
      await server.stop();
      await pubsub.close();
      probe.disconnect();
    }
  });
});
