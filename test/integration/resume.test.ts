// Resuming subscriptions (issue 12, part 2): every event carries a cursor; `after: cursor` replays
// what the client missed (its filter applied), then follows live with no gap and no duplicate, over
// graphql-ws and SSE; a cursor that is not one, or of another stream, is BAD_USER_INPUT; one older
// than the window is RESUME_WINDOW_EXCEEDED. The README's reconnecting clients (examples/) lose
// nothing when the API node they follow is replaced while ticks keep coming.
import { spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openTestDatabase } from "../support/db.ts";
import { seedMarket } from "../support/market.ts";
import { relaxedRateLimiter } from "../support/app.ts";
import { subscribeSse, subscribeWs, until } from "../support/subscribe.ts";
import { liveSubscribers, writeChanges, writeNotifications } from "../support/events.ts";
import { createApp } from "../../src/yoga.ts";
import { startServer, type RunningServer } from "../../src/server.ts";
import { createEventLog, type EventLog } from "../../src/infra/event-log.ts";
import { eventCursor } from "../../src/services/events.ts";
import type { OfferChange } from "../../src/domain/catalog/types.ts";
import type { Database } from "../../src/infra/db.ts";
import type { NotificationEvent } from "../../src/infra/pubsub-types.ts";

const AT = new Date("2026-12-06T10:00:00.000Z");
const TICKS = `subscription ($after: String, $filter: PriceTickFilter) { priceTicks(after: $after, filter: $filter) { cursor offerId provider gpuModel newOnDemandPrice } }`;
const AVAILABILITY = `subscription ($after: String) { offerAvailabilityChanged(after: $after) { cursor kind newAvailability } }`;
const NOTIFICATIONS = `subscription ($after: String) { notifications(after: $after) { cursor id title } }`;

let db: Database;
let providerId: Record<string, number>;
let modelId: Record<string, number>;
let events: EventLog;
let server: RunningServer;
let offer = 1000;

/** A synthetic change of a fresh offer (toPriceTicks needs real provider and model ids). */
function change(over: Partial<OfferChange> & { provider?: string; model?: string } = {}): OfferChange {
  const { provider = "alpha", model = "H100-SXM-80GB", ...rest } = over;
  return {
    offerId: offer++, providerId: providerId[provider]!, kind: "changed", gpuModelId: modelId[model]!, region: "us-east-1", gpuCount: 1,
    pricePerGpuHour: "2.0000", oldOnDemandPrice: "2.5000", newOnDemandPrice: "2.0000", oldSpotPrice: null, newSpotPrice: null,
    oldAvailability: "AVAILABLE", newAvailability: "AVAILABLE", ...rest,
  };
}
const ticks = (n: number, over: Parameters<typeof change>[0] = {}) => writeChanges(db.prisma, events, Array.from({ length: n }, () => change(over)), AT);

async function gql(query: string, variables: Record<string, unknown> = {}, token?: string) {
  const res = await fetch(server.url, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/graphql-response+json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  return (await res.json()) as { data?: any; errors?: { message: string; extensions?: Record<string, unknown> }[] };
}

async function register(name: string): Promise<{ id: number; token: string }> {
  const res = await gql(`mutation ($e: String!) { register(email: $e, password: "correct horse battery", name: "N") { accessToken user { id } } }`, { e: `${name}-${randomUUID().slice(0, 8)}@example.com` });
  expect(res.errors).toBeUndefined();
  return { id: Number(res.data.register.user.id), token: res.data.register.accessToken };
}

beforeAll(async () => {
  db = await openTestDatabase();
  await seedMarket(db.prisma, 4);
  providerId = Object.fromEntries((await db.prisma.provider.findMany()).map((p) => [p.slug, p.id]));
  modelId = Object.fromEntries((await db.prisma.gpuModel.findMany()).map((m) => [m.name, m.id]));
  events = createEventLog({ prisma: db.prisma, pollMs: 100 });
  server = await startServer(createApp({ db, events, rateLimiter: relaxedRateLimiter() }), { port: 0, host: "127.0.0.1" });
});
afterAll(async () => {
  await server?.stop();
  await events?.close();
  await db?.close();
});

describe.each(["graphql-ws", "SSE"] as const)("priceTicks over %s", (transport) => {
  const open = (query: string, variables: Record<string, unknown>) =>
    transport === "graphql-ws" ? subscribeWs(server, query, variables) : subscribeSse(server, query, variables);

  it("resumes after the last cursor: the missed ticks that match the filter, then live ones, none twice", async () => {
    const filter = { gpuModels: ["H100"] };
    const first = open(TICKS, { filter });
    await liveSubscribers(events, "market", 1);
    await ticks(3);
    const seen = await first.take(3);
    expect(seen.every((e) => typeof e.data.priceTicks.cursor === "string")).toBe(true);
    const last = seen[2].data.priceTicks.cursor as string;
    await first.close();
    await liveSubscribers(events, "market", 0);

    // while away: 2 H100 ticks and 2 MI300X ticks (filtered out)
    const missedH100 = await ticks(2);
    await ticks(2, { model: "MI300X" });
    const again = open(TICKS, { filter, after: last });
    const replayed = await again.take(2);
    expect(replayed.map((e) => e.data.priceTicks.offerId)).toEqual(missedH100.map((t) => Buffer.from(`GpuOffer:${t.offerId}`).toString("base64")));
    await liveSubscribers(events, "market", 1);
    const live = await ticks(1);
    await again.take(3);
    expect(again.events).toHaveLength(3);
    expect(again.events[2].data.priceTicks.offerId).toBe(Buffer.from(`GpuOffer:${live[0]!.offerId}`).toString("base64"));
    const cursors = [...seen, ...again.events].map((e) => e.data.priceTicks.cursor);
    expect(new Set(cursors).size).toBe(cursors.length);
    await again.close();
    await liveSubscribers(events, "market", 0);
  });
});

describe("shared streams", () => {
  it("two graphql-ws clients resuming with the same document and cursor each get the replay (a resumed stream is not shared)", async () => {
    const head = await events.head("market");
    const written = await ticks(3);
    const after = eventCursor("market", head);
    const first = subscribeWs(server, TICKS, { after });
    await first.take(3);
    const second = subscribeWs(server, TICKS, { after });
    await second.take(3);
    for (const sub of [first, second]) expect(sub.events.map((e) => e.data.priceTicks.offerId)).toEqual(written.map((t) => Buffer.from(`GpuOffer:${t.offerId}`).toString("base64")));
    await first.close();
    await second.close();
    await liveSubscribers(events, "market", 0);
  });
});

describe("offerAvailabilityChanged", () => {
  it("replays only the availability changes after the cursor", async () => {
    const head = await events.head("market");
    await ticks(2); // price only
    const [gone] = await writeChanges(db.prisma, events, [change({ kind: "deactivated", newOnDemandPrice: null, newAvailability: null })], AT);
    await writeChanges(db.prisma, events, [change({ newAvailability: "LIMITED" })], AT);
    const sub = subscribeWs(server, AVAILABILITY, { after: eventCursor("market", head) });
    await sub.take(2);
    expect(sub.events.map((e) => [e.data.offerAvailabilityChanged.kind, e.data.offerAvailabilityChanged.newAvailability])).toEqual([["DEACTIVATED", null], ["CHANGED", "LIMITED"]]);
    expect(gone!.kind).toBe("deactivated");
    await sub.close();
  });
});

describe("notifications", () => {
  it("replay only the caller's own, over graphql-ws and SSE", async () => {
    const ada = await register("ada");
    const bob = await register("bob");
    const head = await events.head("notification");
    const note = (userId: number, title: string): NotificationEvent => ({ id: offer++, userId, alertId: null, kind: "price_alert", title, body: "", data: {}, createdAt: AT.toISOString() });
    await writeNotifications(db.prisma, events, [note(ada.id, "a1"), note(bob.id, "b1"), note(ada.id, "a2"), note(bob.id, "b2")]);
    const after = eventCursor("notification", head);
    const viaWs = subscribeWs(server, NOTIFICATIONS, { after }, { authorization: `Bearer ${ada.token}` });
    const viaSse = subscribeSse(server, NOTIFICATIONS, { after }, { authorization: `Bearer ${ada.token}` });
    await viaWs.take(2);
    await viaSse.take(2);
    for (const sub of [viaWs, viaSse]) expect(sub.events.map((e) => e.data.notifications.title)).toEqual(["a1", "a2"]);
    // the list of notifications (a query) has no cursor
    const listed = await gql(`{ notifications(first: 1) { edges { node { cursor } } } }`, {}, ada.token);
    expect(listed.errors).toBeUndefined();
    await viaWs.close();
    await viaSse.close();
  });

  it("a stream ended by logout resumes, with a fresh token and the last cursor, with nothing lost", async () => {
    const email = `cy-${randomUUID().slice(0, 8)}@example.com`;
    const reg = await gql(`mutation ($e: String!) { register(email: $e, password: "correct horse battery", name: "N") { accessToken user { id } } }`, { e: email });
    const cy = { id: Number(reg.data.register.user.id), token: reg.data.register.accessToken as string };
    const note = (title: string): NotificationEvent => ({ id: offer++, userId: cy.id, alertId: null, kind: "price_alert", title, body: "", data: {}, createdAt: AT.toISOString() });
    const first = subscribeSse(server, NOTIFICATIONS, {}, { authorization: `Bearer ${cy.token}` });
    await liveSubscribers(events, "notification", 1);
    await writeNotifications(db.prisma, events, [note("n1")]);
    await first.take(1);
    const cursor = first.events[0].data.notifications.cursor as string;
    expect((await gql("mutation { logout }", {}, cy.token)).data).toEqual({ logout: true });
    await first.take(2); // the stream's last result: UNAUTHENTICATED
    expect(first.events[1].errors[0].extensions.code).toBe("UNAUTHENTICATED");
    await first.ended();
    await writeNotifications(db.prisma, events, [note("n2"), note("n3")]); // while signed out
    const login = await gql(`mutation ($e: String!) { login(email: $e, password: "correct horse battery") { accessToken } }`, { e: email });
    const again = subscribeSse(server, NOTIFICATIONS, { after: cursor }, { authorization: `Bearer ${login.data.login.accessToken}` });
    await again.take(2);
    await liveSubscribers(events, "notification", 1);
    await writeNotifications(db.prisma, events, [note("n4")]);
    await again.take(3);
    expect(again.events.map((e) => e.data.notifications.title)).toEqual(["n2", "n3", "n4"]);
    await first.close();
    await again.close();
  });

  it("need a signed-in caller even with a cursor", async () => {
    const sub = subscribeSse(server, NOTIFICATIONS, { after: eventCursor("notification", 0) });
    await sub.take(1);
    expect(sub.events[0].errors[0].extensions.code).toBe("UNAUTHENTICATED");
    await sub.close();
  });
});

describe("bad cursors", () => {
  const forged = [
    ["not base64url", "%%%"],
    ["random text", "hello"],
    ["NUL bytes", "ev1\u0000market\u00001"],
    ["too long", "A".repeat(65)],
    ["a cursor of notifications", eventCursor("notification", 1)],
    ["another format", Buffer.from("ev2:market:1").toString("base64url")],
    ["a negative number", Buffer.from("ev1:market:-1").toString("base64url")],
    ["a huge number", Buffer.from("ev1:market:99999999999999999999").toString("base64url")],
    ["an offer id", Buffer.from("GpuOffer:1").toString("base64")],
  ] as const;
  it.each(forged)("%s → BAD_USER_INPUT, over graphql-ws and SSE", async (_what, after) => {
    for (const sub of [subscribeWs(server, TICKS, { after }), subscribeSse(server, TICKS, { after })]) {
      await sub.take(1);
      const error = sub.events[0].errors[0];
      expect(error.extensions.code).toBe("BAD_USER_INPUT");
      expect(error.message).toMatch(/after|cursor/);
      await sub.close();
    }
  });

  it("a cursor ahead of the last event → BAD_USER_INPUT", async () => {
    const sub = subscribeSse(server, TICKS, { after: eventCursor("market", (await events.head("market")) + 1_000_000) });
    await sub.take(1);
    expect(sub.events[0].errors[0]).toMatchObject({ extensions: { code: "BAD_USER_INPUT", argument: "after" } });
    await sub.close();
  });
});

describe("the resume window", () => {
  it("a cursor whose next event was pruned → RESUME_WINDOW_EXCEEDED, telling the client to read the state again", async () => {
    const short = createEventLog({ prisma: db.prisma, retentionMs: 500, pollMs: 100 });
    const node = await startServer(createApp({ db, events: short, rateLimiter: relaxedRateLimiter() }), { port: 0, host: "127.0.0.1" });
    try {
      const head = await short.head("market");
      await writeChanges(db.prisma, short, [change()], AT);
      await new Promise((r) => setTimeout(r, 600));
      await writeChanges(db.prisma, short, [change()], AT);
      await until(async () => (await db.prisma.outboxEvent.count({ where: { stream: "market", seq: { lte: head + 1 } } })) === 0, "the old tick pruned");
      const sub = subscribeWs(node, TICKS, { after: eventCursor("market", head) });
      await sub.take(1);
      expect(sub.events[0].errors[0]).toMatchObject({ extensions: { code: "RESUME_WINDOW_EXCEEDED" } });
      expect(sub.events[0].errors[0].message).toMatch(/Read the current state again/);
      await sub.close();
    } finally {
      await node.stop();
      await short.close();
    }
  });
});

describe("the README's reconnecting clients (examples/)", () => {
  it.each([
    ["graphql-ws", "examples/follow-price-ticks.ts"],
    ["SSE", "examples/follow-price-ticks-sse.ts"],
  ])("%s: the API node is replaced mid-stream and ticks keep coming; the client prints each one once, in order", async (_transport, script) => {
    // A node of its own on a fixed port, so the replacement can take the same address.
    const nodeEvents = createEventLog({ prisma: db.prisma, pollMs: 100 });
    let node = await startServer(createApp({ db, events: nodeEvents, rateLimiter: relaxedRateLimiter() }), { port: 0, host: "127.0.0.1" });
    const port = node.port;
    const TOTAL = 12;
    const child: ChildProcess = spawn(process.execPath, ["--import", "tsx", script, `http://127.0.0.1:${port}/graphql`], {
      env: { ...process.env, MAX_TICKS: String(TOTAL) }, stdio: ["ignore", "pipe", "pipe"],
    });
    const printed: { cursor: string; offerId: string }[] = [];
    let out = "";
    child.stdout!.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      let nl;
      while ((nl = out.indexOf("\n")) >= 0) { printed.push(JSON.parse(out.slice(0, nl))); out = out.slice(nl + 1); }
    });
    const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
    let replacement: { events: EventLog; node: RunningServer } | null = null;
    try {
      await liveSubscribers(nodeEvents, "market", 1, 30_000);
      const written = [...await ticks(4)];
      await until(() => printed.length === 4, "the first 4 ticks");
      await node.stop(); // the node goes away …
      await nodeEvents.close();
      written.push(...await ticks(4)); // … ticks keep coming …
      const replacementEvents = createEventLog({ prisma: db.prisma, pollMs: 100 });
      node = await startServer(createApp({ db, events: replacementEvents, rateLimiter: relaxedRateLimiter() }), { port, host: "127.0.0.1" });
      replacement = { events: replacementEvents, node };
      await liveSubscribers(replacementEvents, "market", 1, 30_000); // … the client is back, resumed after its cursor
      written.push(...await ticks(4));
      expect(await exited).toBe(0);
      expect(printed.map((t) => t.offerId)).toEqual(written.map((t) => Buffer.from(`GpuOffer:${t.offerId}`).toString("base64")));
    } finally {
      child.kill();
      if (replacement) { await replacement.node.stop(); await replacement.events.close(); } else { await node.stop(); await nodeEvents.close(); }
    }
  });
});
