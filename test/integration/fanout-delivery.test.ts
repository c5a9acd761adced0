// WebSocket fan-out (issue 16, part 1): subscribers with the same document and variables share one
// execution and one serialisation per event, written as the same bytes to each socket; events reach
// only the groups whose filter wants them, found through an index on the filter's GPU model, provider
// and region; a socket that stops reading is closed with 4413 once its unsent data passes the limit,
// and resuming with its last cursor gets every event it missed.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { openTestDatabase } from "../support/db.ts";
import { seedMarket } from "../support/market.ts";
import { relaxedRateLimiter } from "../support/app.ts";
import { subscribeWs, until } from "../support/subscribe.ts";
import { liveSubscribers, writeTicks } from "../support/events.ts";
import { createApp } from "../../src/yoga.ts";
import { startServer, type RunningServer } from "../../src/server.ts";
import { createPubSub } from "../../src/infra/pubsub.ts";
import { createEventLog, type EventLog } from "../../src/infra/event-log.ts";
import { TickIndex } from "../../src/services/events.ts";
import { SLOW_CONSUMER_CLOSE_CODE } from "../../src/graphql/shared-subscriptions.ts";
import type { PubSub, PriceTick } from "../../src/infra/pubsub-types.ts";
import type { Database } from "../../src/infra/db.ts";

const TICKS = `subscription ($filter: PriceTickFilter) { priceTicks(filter: $filter) { cursor offerId provider gpuModel region newOnDemandPrice pricePerGpuHour } }`;
const RESUME = `subscription ($after: String) { priceTicks(after: $after) { cursor offerId provider gpuModel region newOnDemandPrice pricePerGpuHour } }`;
const AT = "2026-12-07T10:00:00.000Z";

let db: Database;
let providerId: Record<string, number>;
let modelId: Record<string, number>;
let offer = 50_000;

/** A repricing tick of a fresh offer. */
function tick(over: { provider?: string; model?: string; region?: string; price?: string } = {}): PriceTick {
  const { provider = "alpha", model = "H100-SXM-80GB", region = "us-east-1", price = "2.0000" } = over;
  return {
    offerId: offer++, provider, providerId: providerId[provider]!, gpuModel: model, gpuModelId: modelId[model]!, region, gpuCount: 1, kind: "changed",
    oldOnDemandPrice: "2.5000", newOnDemandPrice: price, oldSpotPrice: null, newSpotPrice: null,
    oldAvailability: "AVAILABLE", newAvailability: "AVAILABLE", pricePerGpuHour: price, changePercent: -20, at: AT,
  };
}

/** A graphql-ws client on a bare `ws` socket: the raw frames it receives, and `pause()` to stop reading them. */
function rawSubscriber(server: RunningServer, query: string, variables: Record<string, unknown> = {}) {
  const ws = new WebSocket(`ws://127.0.0.1:${server.port}/graphql`, "graphql-transport-ws", { perMessageDeflate: false });
  const sub = { frames: [] as string[], closed: null as { code: number; reason: string } | null, ws };
  ws.on("open", () => ws.send(JSON.stringify({ type: "connection_init" })));
  ws.on("message", (data: Buffer) => {
    const text = data.toString("utf8");
    if ((JSON.parse(text) as { type: string }).type === "connection_ack") ws.send(JSON.stringify({ id: "1", type: "subscribe", payload: { query, variables } }));
    else sub.frames.push(text);
  });
  ws.on("close", (code, reason) => { sub.closed = { code, reason: reason.toString() }; });
  return Object.assign(sub, {
    ticks: () => sub.frames.map((f) => JSON.parse(f) as { type: string; payload: { data: { priceTicks: { cursor: string; offerId: string } } } })
      .filter((m) => m.type === "next").map((m) => m.payload.data.priceTicks),
    close: () => { ws.terminate(); },
  });
}

const offerIdOf = (globalId: string) => Number(Buffer.from(globalId, "base64").toString("utf8").split(":")[1]);

beforeAll(async () => {
  db = await openTestDatabase();
  await seedMarket(db.prisma, 4);
  providerId = Object.fromEntries((await db.prisma.provider.findMany()).map((p) => [p.slug, p.id]));
  modelId = Object.fromEntries((await db.prisma.gpuModel.findMany()).map((m) => [m.name, m.id]));
});
afterAll(async () => {
  await db?.close();
});

describe("the tick index", () => {
  const filter = (offers: Record<string, unknown>) => ({ offers: { includeInactive: true, ...offers }, minChangePercent: null });

  it("checks only the filters on the tick's GPU model, provider and region, and those with none of them", () => {
    const index = new TickIndex();
    const h100 = index.add(filter({ gpuModelIds: [1] }));
    const a100 = index.add(filter({ gpuModelIds: [2] }));
    const cheapH100 = index.add(filter({ gpuModelIds: [1], price: { max: "1.00" } }));
    const beta = index.add(filter({ providerIds: [7] }));
    const eu = index.add(filter({ regions: ["eu-central-1"] }));
    const all = index.add(filter({}));
    const t = { ...tickShape(), gpuModelId: 1, providerId: 3, region: "us-east-1", newOnDemandPrice: "2.0000", pricePerGpuHour: "2.0000" };
    expect([h100, a100, cheapH100, beta, eu, all].map((f) => f.keep(t))).toEqual([true, false, false, false, false, true]);
    expect(index.checked).toBe(3); // the two H100 filters and the unfiltered one: not A100's, beta's or eu-central-1's
    // every other subscriber's keep of the same event is a lookup, not another check
    expect([h100, all].map((f) => f.keep(t))).toEqual([true, true]);
    expect(index.checked).toBe(3);
    // a withdrawn filter is gone from its bucket
    h100.remove();
    expect(cheapH100.keep({ ...t, newOnDemandPrice: "0.5000" })).toBe(true);
    expect(index.checked).toBe(5);
    expect(index.size).toBe(5);
  });

  function tickShape(): PriceTick {
    return {
      offerId: 1, provider: "alpha", providerId: 3, gpuModel: "H100-SXM-80GB", gpuModelId: 1, region: "us-east-1", gpuCount: 1, kind: "changed",
      oldOnDemandPrice: "2.5000", newOnDemandPrice: "2.0000", oldSpotPrice: null, newSpotPrice: null, oldAvailability: "AVAILABLE",
      newAvailability: "AVAILABLE", pricePerGpuHour: "2.0000", changePercent: -20, at: AT,
    };
  }
});

describe("fan-out over graphql-ws", () => {
  let pubsub: PubSub;
  let events: EventLog;
  let server: RunningServer;
  beforeAll(async () => {
    pubsub = createPubSub({});
    events = createEventLog({ prisma: db.prisma });
    server = await startServer(createApp({ db, pubsub, events, rateLimiter: relaxedRateLimiter() }), { port: 0, host: "127.0.0.1", slowConsumerBytes: 16 * 1024 });
  });
  afterAll(async () => {
    await server?.stop();
    await events?.close();
    await pubsub?.close();
  });

  it("executes each event once per group of identical subscriptions and writes the same bytes to each member; other filters get only their events", async () => {
    const h100 = { filter: { gpuModels: ["H100-SXM-80GB"] } };
    const a = rawSubscriber(server, TICKS, h100);
    const b = rawSubscriber(server, TICKS, h100);
    const mi300x = rawSubscriber(server, TICKS, { filter: { gpuModels: ["MI300X"] } });
    const beta = rawSubscriber(server, TICKS, { filter: { providers: ["beta"], maxPricePerHour: "3.00" } });
    try {
      await liveSubscribers(events, "market", 3);
      await until(() => server.sharedStreams().reduce((n, s) => n + s.members, 0) === 4, "4 members of shared streams");
      const written = [tick(), tick({ model: "MI300X" }), tick({ provider: "beta", price: "2.9900" }), tick({ provider: "beta", price: "3.0100" }), tick()];
      await writeTicks(db.prisma, events, written);
      await until(() => a.ticks().length >= 4 && b.ticks().length >= 4 && mi300x.ticks().length >= 1 && beta.ticks().length >= 1, "the ticks");
      await new Promise((r) => setTimeout(r, 100)); // nothing else on its way
      const ids = (s: ReturnType<typeof rawSubscriber>) => s.ticks().map((t) => offerIdOf(t.offerId));
      const o = written.map((t) => t.offerId);
      expect(ids(a)).toEqual([o[0], o[2], o[3], o[4]]); // beta's are H100s too
      expect(b.frames).toEqual(a.frames); // byte for byte
      expect(ids(mi300x)).toEqual([o[1]]);
      expect(ids(beta)).toEqual([o[2]]);
      expect(JSON.parse(a.frames[0]!)).toEqual({ id: "1", type: "next", payload: { data: { priceTicks: {
        cursor: a.ticks()[0]!.cursor, offerId: a.ticks()[0]!.offerId, provider: "alpha", gpuModel: "H100-SXM-80GB", region: "us-east-1",
        newOnDemandPrice: "2.00", pricePerGpuHour: "2.00",
      } } } });
      // three groups: H100 (2 members, 4 events executed once each), MI300X (1), beta (1)
      expect(server.sharedStreams().map((s) => [s.members, s.executions]).sort()).toEqual([[1, 1], [1, 1], [2, 4]]);
    } finally {
      for (const s of [a, b, mi300x, beta]) s.close();
    }
    await liveSubscribers(events, "market", 0);
    await until(() => server.sharedStreams().length === 0, "the shared streams to end");
  });

  it("a member that leaves stops receiving; the group goes on for the others", async () => {
    const a = subscribeWs(server, TICKS);
    const b = subscribeWs(server, TICKS);
    try {
      await liveSubscribers(events, "market", 1);
      await until(() => server.sharedStreams()[0]?.members === 2, "2 members");
      await writeTicks(db.prisma, events, [tick()]);
      await a.take(1);
      await b.take(1);
      await a.close();
      await until(() => server.sharedStreams()[0]?.members === 1, "1 member");
      await writeTicks(db.prisma, events, [tick()]);
      await b.take(2);
      expect(a.events).toHaveLength(1);
      expect(b.events).toHaveLength(2);
    } finally {
      await a.close();
      await b.close();
    }
    await liveSubscribers(events, "market", 0);
  });

  it("closes a subscriber that stops reading with 4413 once its unsent data passes the limit; it resumes with its last cursor and misses nothing, and the others never stop", async () => {
    const reader = rawSubscriber(server, TICKS);
    const stalled = rawSubscriber(server, TICKS);
    const written: number[] = [];
    let resumed: ReturnType<typeof subscribeWs> | undefined;
    try {
      await liveSubscribers(events, "market", 1);
      await until(() => server.sharedStreams()[0]?.members === 2, "2 members");
      stalled.ws.pause(); // reads nothing more: the kernel's buffers fill, then the server's
      // until the server gives up on it (the group then has one member), in batches of 1000
      for (let batch = 0; batch < 60 && server.sharedStreams()[0]?.members !== 1; batch++) {
        const ticks = Array.from({ length: 1000 }, () => tick());
        await writeTicks(db.prisma, events, ticks);
        written.push(...ticks.map((t) => t.offerId));
        await until(() => reader.ticks().length >= written.length, "the reader to keep up", 30_000);
      }
      expect(server.sharedStreams()[0]?.members).toBe(1);
      const tail = Array.from({ length: 100 }, () => tick());
      await writeTicks(db.prisma, events, tail); // written after the close: the stalled client gets them only by resuming
      written.push(...tail.map((t) => t.offerId));
      await until(() => reader.ticks().length >= written.length, "the reader to get the tail");
      expect(reader.ticks().map((t) => offerIdOf(t.offerId))).toEqual(written);

      stalled.ws.resume();
      await until(() => stalled.closed !== null, "the stalled client to see its close", 30_000);
      expect(stalled.closed).toEqual({ code: SLOW_CONSUMER_CLOSE_CODE, reason: "Slow consumer: resubscribe with your last cursor as `after`" });
      const before = stalled.ticks();
      // what it held when the server stopped queueing: bounded by the kernel's buffers and the 16 KiB limit, not all it missed
      expect(before.length).toBeGreaterThan(0);
      expect(before.length).toBeLessThan(written.length - tail.length);
      expect(before.map((t) => offerIdOf(t.offerId))).toEqual(written.slice(0, before.length));

      resumed = subscribeWs(server, RESUME, { after: before.at(-1)!.cursor });
      await resumed.take(written.length - before.length);
      const all = [...before, ...resumed.events.map((e) => e.data.priceTicks as { offerId: string })].map((t) => offerIdOf(t.offerId));
      expect(all).toEqual(written); // every event once, in order
    } finally {
      reader.close();
      stalled.close();
      await resumed?.close();
    }
  }, 180_000);
});
