import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openTestDatabase } from "../support/db.ts";
import { testClient } from "../support/app.ts";
import type { Database } from "../../src/infra/db.ts";
import type { CatalogOffer } from "../../src/domain/catalog/types.ts";
import { applyCatalog } from "../../src/ingestion/catalog-sync.ts";
import { syncGpuModels } from "../../src/ingestion/gpu-models.ts";
import type { Notification as NotificationRow } from "../../src/generated/prisma/client.ts";
import { evaluateAlerts } from "../../src/services/alerts.ts";

const PASSWORD = "a long and lovely passphrase";
const REGISTER = `mutation ($email: String!) { register(email: $email, password: "${PASSWORD}", name: "Someone") { accessToken } }`;
const CREATE = `mutation ($name: String!, $filter: OfferFilter, $threshold: Money!, $priceField: AlertPriceField) {
  createPriceAlert(name: $name, filter: $filter, threshold: $threshold, priceField: $priceField) {
    id name filter priceField threshold paused below lastTriggeredAt lastPrice lastOffer { externalId } }
}`;
const UPDATE = `mutation ($id: ID!, $name: String, $threshold: Money, $paused: Boolean) {
  updatePriceAlert(id: $id, name: $name, threshold: $threshold, paused: $paused) { id name threshold paused below lastPrice }
}`;
const ALERTS = `{ priceAlerts { id name below lastPrice lastTriggeredAt lastOffer { externalId pricePerGpuHour } } }`;
const NOTIFICATIONS = `query ($unreadOnly: Boolean, $first: Int, $after: String) {
  notifications(unreadOnly: $unreadOnly, first: $first, after: $after) {
    unreadCount
    edges { cursor node { id kind title body data readAt alert { id name } } }
    pageInfo { hasNextPage endCursor }
  }
}`;
const MARK = `mutation ($ids: [ID!], $all: Boolean) { markNotificationsRead(ids: $ids, all: $all) }`;

const h100 = (id: string, price: string, extra: Partial<CatalogOffer> = {}): CatalogOffer => ({
  externalId: id, instanceType: `${id}-type`, gpuName: "H100 SXM", gpuCount: 1, region: "US-CA-1", country: "US", onDemandPrice: price, ...extra,
});
const a100 = (id: string, price: string): CatalogOffer => ({
  externalId: id, instanceType: `${id}-type`, gpuName: "A100 SXM4 80GB", gpuCount: 1, region: "EU-SE-1", country: "SE", onDemandPrice: price,
});

describe("price alerts", () => {
  let db: Database;
  let request: ReturnType<typeof testClient>["request"];
  let ada: { authorization: string };
  let bob: { authorization: string };
  let clock = Date.UTC(2026, 10, 26, 12);

  beforeAll(async () => {
    db = await openTestDatabase();
    await syncGpuModels(db.prisma);
    request = testClient(db).request;
    const token = async (email: string) => `Bearer ${(await request(REGISTER, { email })).data.register.accessToken}`;
    ada = { authorization: await token("ada@example.com") };
    bob = { authorization: await token("bob@example.com") };
    await poll("runpod", [h100("h1", "2.50"), h100("h8", "24.00", { gpuCount: 8 }), a100("a1", "1.50")]);
  });
  afterAll(async () => { await db?.close(); });

  /** One import with alert evaluation in its transaction, as the scheduler runs it; returns the notifications. */
  async function poll(provider: string, offers: CatalogOffer[]): Promise<NotificationRow[]> {
    const now = new Date((clock += 60_000));
    let created: NotificationRow[] = [];
    await applyCatalog(db.prisma, provider, offers, { now, onChanges: async (tx, c) => { created = await evaluateAlerts(tx, c, now); } });
    return created;
  }
  async function ok<T = any>(doc: string, vars: Record<string, unknown>, who: { authorization: string }): Promise<T> {
    const res = await request(doc, vars, who);
    expect(res.errors).toBeUndefined();
    return res.data as T;
  }
  const code = async (doc: string, vars: Record<string, unknown>, who?: { authorization: string }) =>
    (await request(doc, vars, who ?? {})).errors?.[0]?.extensions?.code;
  const notificationCount = () => db.prisma.notification.count();

  let alertId: string;

  it("saves the filter in canonical form and does not fire while the cheapest match is above the threshold", async () => {
    const { createPriceAlert } = await ok(CREATE, { name: "Cheap H100", filter: { gpuModels: ["h100"], providers: [" RunPod "], regions: [] }, threshold: "2" }, ada);
    alertId = createPriceAlert.id;
    expect(createPriceAlert).toEqual({
      id: expect.any(String), name: "Cheap H100", filter: '{"gpuModels":["H100-SXM-80GB"],"providers":["runpod"]}',
      priceField: "PRICE_PER_GPU", threshold: "2.00", paused: false, below: false, lastTriggeredAt: null, lastPrice: null, lastOffer: null,
    });
    expect(await notificationCount()).toBe(0);
  });

  it("fires exactly once when the price crosses below, stays quiet while below, re-arms above and fires on the next crossing", async () => {
    const first = await poll("runpod", [h100("h1", "1.99"), h100("h8", "24.00", { gpuCount: 8 }), a100("a1", "1.50")]);
    expect(first).toHaveLength(1);
    const { notifications } = await ok(NOTIFICATIONS, {}, ada);
    expect(notifications).toEqual({
      unreadCount: 1,
      edges: [{
        cursor: expect.any(String),
        node: {
          id: String(first[0]!.id), kind: "price_alert", title: "Cheap H100: at or under $2.00/GPU-h",
          body: "runpod 1x H100 SXM at $1.99/GPU-h in US-CA-1 (US).", readAt: null, alert: { id: alertId, name: "Cheap H100" },
          data: expect.any(String),
        },
      }],
      pageInfo: { hasNextPage: false, endCursor: expect.any(String) },
    });
    const h1 = await db.prisma.gpuOffer.findFirstOrThrow({ where: { externalId: "h1" } });
    expect(JSON.parse(notifications.edges[0].node.data)).toEqual({
      offerId: h1.id, price: "1.99", threshold: "2.00", priceField: "PRICE_PER_GPU", provider: "runpod", gpuModel: "H100-SXM-80GB", gpuCount: 1, region: "US-CA-1",
    });
    expect((await ok(ALERTS, {}, ada)).priceAlerts).toEqual([{
      id: alertId, name: "Cheap H100", below: true, lastPrice: "1.99", lastTriggeredAt: expect.any(String),
      lastOffer: { externalId: "h1", pricePerGpuHour: "1.99" },
    }]);

    // still below (cheaper, and a second cheap offer): no new notification
    expect(await poll("runpod", [h100("h1", "1.95"), h100("h2", "1.98"), h100("h8", "24.00", { gpuCount: 8 }), a100("a1", "1.50")])).toEqual([]);
    expect(await poll("runpod", [h100("h1", "1.95"), h100("h2", "1.97"), h100("h8", "24.00", { gpuCount: 8 }), a100("a1", "1.50")])).toEqual([]);
    // one cheap offer goes up but the other is still below: no re-arm
    expect(await poll("runpod", [h100("h1", "2.40"), h100("h2", "1.97"), h100("h8", "24.00", { gpuCount: 8 }), a100("a1", "1.50")])).toEqual([]);
    expect((await ok(ALERTS, {}, ada)).priceAlerts[0].below).toBe(true);
    // every match above (h2 withdrawn): re-armed, silently
    expect(await poll("runpod", [h100("h1", "2.10"), h100("h8", "24.00", { gpuCount: 8 }), a100("a1", "1.50")])).toEqual([]);
    expect((await ok(ALERTS, {}, ada)).priceAlerts[0]).toMatchObject({ below: false, lastPrice: "1.99" });
    expect(await notificationCount()).toBe(1);

    // crossing again: the second notification
    const second = await poll("runpod", [h100("h1", "2.00"), h100("h8", "24.00", { gpuCount: 8 }), a100("a1", "1.50")]);
    expect(second.map((n) => [n.alertId, n.title, n.body])).toEqual([[Number(alertId), "Cheap H100: at or under $2.00/GPU-h", "runpod 1x H100 SXM at $2.00/GPU-h in US-CA-1 (US)."]]);
    expect(await notificationCount()).toBe(2);
  });

  it("ignores changes its filter cannot match: another provider's H100 below the threshold does not fire it", async () => {
    expect(await poll("lambda", [h100("l1", "1.00")])).toEqual([]);
    expect(await notificationCount()).toBe(2);
  });

  it("compares the whole-instance price when asked, and fires at once when created already below", async () => {
    const { createPriceAlert } = await ok(CREATE, { name: "8x H100 under $20/h", filter: { gpuModels: ["H100"], gpuCount: { min: 8 } }, threshold: "20", priceField: "PRICE" }, ada);
    expect(createPriceAlert).toMatchObject({ below: false, lastPrice: null });
    const [fired] = await poll("runpod", [h100("h1", "2.00"), h100("h8", "19.60", { gpuCount: 8 }), a100("a1", "1.50")]);
    expect([fired!.title, fired!.body]).toEqual(["8x H100 under $20/h: at or under $20.00/h", "runpod 8x H100 SXM at $19.60/h in US-CA-1 (US)."]);

    const already = await ok(CREATE, { name: "Any A100", filter: { gpuModels: ["A100-80GB"] }, threshold: "1.50" }, ada);
    expect(already.createPriceAlert).toMatchObject({ below: true, lastPrice: "1.50", lastOffer: { externalId: "a1" }, lastTriggeredAt: expect.any(String) });
    expect(await db.prisma.notification.count({ where: { alertId: Number(already.createPriceAlert.id) } })).toBe(1);
  });

  it("never fires a paused alert; resuming re-checks it", async () => {
    const { createPriceAlert: alert } = await ok(CREATE, { name: "Paused", filter: { providers: ["runpod"], gpuModels: ["A100-80GB"] }, threshold: "1.00" }, ada);
    expect((await ok(UPDATE, { id: alert.id, paused: true }, ada)).updatePriceAlert).toMatchObject({ paused: true, below: false });
    expect(await poll("runpod", [h100("h1", "2.00"), h100("h8", "19.60", { gpuCount: 8 }), a100("a1", "0.90")])).toEqual([]);
    expect(await poll("runpod", [h100("h1", "2.00"), h100("h8", "19.60", { gpuCount: 8 }), a100("a1", "0.80")])).toEqual([]);
    expect(await db.prisma.notification.count({ where: { alertId: Number(alert.id) } })).toBe(0);
    const resumed = await ok(UPDATE, { id: alert.id, paused: false, name: "Resumed" }, ada);
    expect(resumed.updatePriceAlert).toMatchObject({ name: "Resumed", paused: false, below: true, lastPrice: "0.80" });
    expect(await db.prisma.notification.count({ where: { alertId: Number(alert.id) } })).toBe(1);
    // lowering the threshold under the price re-arms it at once
    expect((await ok(UPDATE, { id: alert.id, threshold: "0.5" }, ada)).updatePriceAlert).toMatchObject({ threshold: "0.50", below: false });
  });

  it("keeps alerts and notifications private: foreign ids are NOT_FOUND and nothing changes", async () => {
    const adaNotification = (await db.prisma.notification.findFirstOrThrow({ where: { alertId: Number(alertId) } })).id;
    expect(await ok(ALERTS, {}, bob)).toEqual({ priceAlerts: [] });
    expect((await ok(NOTIFICATIONS, {}, bob)).notifications).toEqual({ unreadCount: 0, edges: [], pageInfo: { hasNextPage: false, endCursor: null } });
    expect(await code(UPDATE, { id: alertId, paused: true }, bob)).toBe("NOT_FOUND");
    expect(await code(`mutation ($id: ID!) { deletePriceAlert(id: $id) }`, { id: alertId }, bob)).toBe("NOT_FOUND");
    expect(await code(MARK, { ids: [String(adaNotification)] }, bob)).toBe("NOT_FOUND");
    expect(await code(UPDATE, { id: "not-a-number", paused: true }, bob)).toBe("NOT_FOUND");
    expect(await ok(MARK, { all: true }, bob)).toEqual({ markNotificationsRead: 0 });
    expect(await db.prisma.notification.count({ where: { readAt: { not: null } } })).toBe(0);
    expect(await db.prisma.priceAlert.findUniqueOrThrow({ where: { id: Number(alertId) } })).toMatchObject({ paused: false });
    expect(await code(ALERTS, {})).toBe("UNAUTHENTICATED");
  });

  it("pages notifications newest first, filters unread ones and marks them read", async () => {
    const all = (await ok(NOTIFICATIONS, { first: 2 }, ada)).notifications;
    expect(all.unreadCount).toBe(5);
    const ids = all.edges.map((e: { node: { id: string } }) => Number(e.node.id));
    expect(ids).toEqual([...ids].sort((a, b) => b - a));
    const rest = (await ok(NOTIFICATIONS, { first: 100, after: all.pageInfo.endCursor }, ada)).notifications;
    expect(rest.edges).toHaveLength(3);
    expect(Math.max(...rest.edges.map((e: { node: { id: string } }) => Number(e.node.id)))).toBeLessThan(Math.min(...ids));

    // own ids mixed with a foreign one: NOT_FOUND, nothing marked
    expect(await code(MARK, { ids: [String(ids[0]), "999999"] }, ada)).toBe("NOT_FOUND");
    expect(await ok(MARK, { ids: [String(ids[0]), String(ids[0])] }, ada)).toEqual({ markNotificationsRead: 1 });
    expect(await ok(MARK, { ids: [String(ids[0])] }, ada)).toEqual({ markNotificationsRead: 0 });
    const unread = (await ok(NOTIFICATIONS, { unreadOnly: true }, ada)).notifications;
    expect(unread.unreadCount).toBe(4);
    expect(unread.edges.map((e: { node: { id: string } }) => Number(e.node.id))).not.toContain(ids[0]);
    expect(await ok(MARK, { all: true }, ada)).toEqual({ markNotificationsRead: 4 });
    expect((await ok(NOTIFICATIONS, { unreadOnly: true }, ada)).notifications).toMatchObject({ unreadCount: 0, edges: [] });
    expect(await code(MARK, {}, ada)).toBe("BAD_USER_INPUT");
    expect(await code(NOTIFICATIONS, { first: 101 }, ada)).toBe("BAD_USER_INPUT");
    expect(await code(NOTIFICATIONS, { after: "garbage" }, ada)).toBe("BAD_USER_INPUT");
  });

  it("validates like offers does, and works with an API key holding ALERTS_WRITE only", async () => {
    const unknown = await request(CREATE, { name: "x", filter: { gpuModels: ["Voodoo 5"], providers: ["nope"] }, threshold: "1" }, ada);
    expect(unknown.errors![0]).toMatchObject({ message: expect.stringMatching(/Unknown GPU model: "Voodoo 5"/), extensions: { code: "BAD_USER_INPUT" } });
    expect(await code(CREATE, { name: "  ", threshold: "1" }, ada)).toBe("BAD_USER_INPUT");
    expect(await code(CREATE, { name: "x", threshold: "-1" }, ada)).toBe("BAD_USER_INPUT");
    expect(await code(CREATE, { name: "x", threshold: "1" })).toBe("UNAUTHENTICATED");

    const key = async (scope: string) => `Bearer ${(await ok(`mutation { createApiKey(name: "k", scopes: [${scope}]) { secret } }`, {}, bob)).createApiKey.secret}`;
    const writer = { authorization: await key("ALERTS_WRITE") };
    const reader = { authorization: await key("CATALOG_READ") };
    expect(await code(CREATE, { name: "x", threshold: "1" }, reader)).toBe("FORBIDDEN");
    const made = await ok(CREATE, { name: "By key", threshold: "0.01" }, writer);
    expect(made.createPriceAlert).toMatchObject({ name: "By key", filter: "{}", below: false });
    expect((await ok(ALERTS, {}, bob)).priceAlerts.map((a: { name: string }) => a.name)).toEqual(["By key"]);
    expect(await ok(`mutation ($id: ID!) { deletePriceAlert(id: $id) }`, { id: made.createPriceAlert.id }, writer)).toEqual({ deletePriceAlert: made.createPriceAlert.id });
  });

  it(`refuses more than 50 alerts per account`, async () => {
    for (let i = 0; i < 50; i++) await ok(CREATE, { name: `alert ${i}`, threshold: "0.01" }, bob);
    const over = await request(CREATE, { name: "one too many", threshold: "0.01" }, bob);
    expect(over.errors![0]).toMatchObject({ extensions: { code: "BAD_USER_INPUT", limit: 50 } });
    expect(await db.prisma.priceAlert.count({ where: { user: { email: "bob@example.com" } } })).toBe(50);
  });

  it("commits notifications with the prices, and rolls both back when the import fails", async () => {
    const before = { offers: await db.prisma.gpuOffer.findMany({ orderBy: { id: "asc" } }), alerts: await db.prisma.priceAlert.findMany({ orderBy: { id: "asc" } }), notifications: await notificationCount() };
    const { createPriceAlert: alert } = await ok(CREATE, { name: "Rollback", filter: { gpuModels: ["H100"], providers: ["runpod"] }, threshold: "1.00" }, ada);
    const now = new Date((clock += 60_000));
    let written: NotificationRow[] = [];
    await expect(applyCatalog(db.prisma, "runpod", [h100("h1", "0.50"), h100("h8", "19.60", { gpuCount: 8 }), a100("a1", "0.80")], {
      now,
      onChanges: async (tx, changes) => {
        written = await evaluateAlerts(tx, changes, now);
        expect(await tx.notification.count({ where: { alertId: Number(alert.id) } })).toBe(1); // visible inside the transaction
        throw new Error("publish queue full");
      },
    })).rejects.toThrow("publish queue full");
    expect(written).toHaveLength(1);
    expect(await db.prisma.gpuOffer.findMany({ orderBy: { id: "asc" } })).toEqual(before.offers);
    expect(await notificationCount()).toBe(before.notifications);
    expect(await db.prisma.priceAlert.findUniqueOrThrow({ where: { id: Number(alert.id) } })).toMatchObject({ below: false, lastPrice: null });
    expect((await db.prisma.priceAlert.findMany({ where: { id: { not: Number(alert.id) } }, orderBy: { id: "asc" } }))).toEqual(before.alerts);

    // the same import, committed: one notification with the price
    const [fired] = await poll("runpod", [h100("h1", "0.50"), h100("h8", "19.60", { gpuCount: 8 }), a100("a1", "0.80")]);
    expect(fired).toMatchObject({ alertId: Number(alert.id), title: "Rollback: at or under $1.00/GPU-h" });
  });
});
