// The alerts service called directly, as the assistant and scripts will: no GraphQL, an actor per call.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openTestDatabase } from "../support/db.ts";
import { testServices, userActor } from "../support/app.ts";
import type { Database } from "../../src/infra/db.ts";
import { createEventLog, type EventLog } from "../../src/infra/event-log.ts";
import { anonymous, systemActor, type Actor, type UserActor } from "../../src/services/actor.ts";
import { applyCatalog } from "../../src/ingestion/catalog-sync.ts";
import { syncGpuModels } from "../../src/ingestion/gpu-models.ts";
import type { CatalogOffer } from "../../src/domain/catalog/types.ts";

const SIGN_IN = "Sign in first: send \"Authorization: Bearer <access token or API key>\".";
const offer = (id: string, gpuName: string, price: string): CatalogOffer => ({
  externalId: id, instanceType: `${id}-type`, gpuName, gpuCount: 1, region: "EU-SE-1", country: "SE", onDemandPrice: price,
});

describe("alerts service", () => {
  let db: Database;
  let eventLog: EventLog;
  let alerts: ReturnType<typeof testServices>["alerts"];
  let ada: UserActor;
  let bob: UserActor;

  beforeAll(async () => {
    db = await openTestDatabase();
    await syncGpuModels(db.prisma);
    await applyCatalog(db.prisma, "runpod", [offer("h1", "H100 SXM", "2.50"), offer("a1", "A100 SXM4 80GB", "1.50")]);
    const user = (email: string) => db.prisma.user.create({ data: { email, name: email, passwordHash: "x" } });
    ada = userActor((await user("ada@example.com")).id);
    bob = userActor((await user("bob@example.com")).id);
    eventLog = createEventLog({ prisma: db.prisma, pollMs: 200 });
    alerts = testServices(db, { events: eventLog }).alerts;
  });
  afterAll(async () => {
    await eventLog?.close();
    await db?.close();
  });

  it("a user creates, lists, changes and deletes an alert; one created below its threshold fires at once and is delivered live", async () => {
    const live = await eventLog.subscribe("notification");
    const alert = await alerts.createPriceAlert({ name: "  Any A100 ", filter: { gpuModels: ["a100 sxm4 80gb"], providers: [" RunPod "], regions: [] }, threshold: "1.50" }, ada);
    expect(alert).toMatchObject({ userId: ada.id, name: "Any A100", filter: { gpuModels: ["A100-SXM-80GB"], providers: ["runpod"] }, priceField: "PRICE_PER_GPU", paused: false, below: true });
    expect(alert.lastPrice?.toString()).toBe("1.5");
    const event = (await live.next()).value?.payload;
    await live.return!();
    expect(event).toMatchObject({ userId: ada.id, alertId: alert.id, kind: "price_alert", title: "Any A100: at or under $1.50/GPU-h", body: "runpod 1x A100 SXM4 80GB at $1.50/GPU-h in EU-SE-1 (SE)." });

    expect((await alerts.priceAlerts({}, ada)).map((a) => a.id)).toEqual([alert.id]);
    expect(await alerts.priceAlerts({}, bob)).toEqual([]);
    expect(await alerts.updatePriceAlert({ id: String(alert.id), name: "Paused A100", paused: true }, ada)).toMatchObject({ name: "Paused A100", paused: true, below: true });

    const [note] = await alerts.notifications({}, ada);
    expect(note).toMatchObject({ id: event!.id, readAt: null });
    expect(await alerts.notifications({ unreadOnly: true }, bob)).toEqual([]);
    expect(await alerts.unreadCount({}, ada)).toBe(1);
    expect(await alerts.markNotificationsRead({ ids: [String(note!.id)] }, ada)).toBe(1);
    expect(await alerts.unreadCount({}, ada)).toBe(0);
    expect(await alerts.notifications({ unreadOnly: true }, ada)).toEqual([]);

    expect(await alerts.deletePriceAlert({ id: String(alert.id) }, ada)).toBe(String(alert.id));
    expect(await alerts.priceAlerts({}, ada)).toEqual([]);
    expect(await alerts.notifications({}, ada)).toHaveLength(1); // notifications outlive their alert
  });

  it("streams a user's own notifications live (events service); a key without alerts:write and anonymous callers are refused", async () => {
    const events = testServices(db, { events: eventLog }).events;
    const adaLive = await events.notifications(ada);
    const bobLive = await events.notifications(bob);
    const alert = await alerts.createPriceAlert({ name: "Any H100", filter: { gpuModels: ["H100"] }, threshold: "9.00" }, ada);
    const fired = (await adaLive.next()).value;
    expect(fired).toMatchObject({ userId: ada.id, alertId: alert.id, kind: "price_alert", cursor: expect.any(String) });
    const bobNext = bobLive.next();
    const pending = Symbol("pending");
    expect(await Promise.race([bobNext, new Promise((r) => setTimeout(() => r(pending), 100))])).toBe(pending); // Bob sees nothing of Ada's
    await adaLive.return!();
    await bobLive.return!();
    // One fires while Ada is away; resuming after her last cursor replays it (Bob's, in between, stay his).
    const bobAlert = await alerts.createPriceAlert({ name: "Bob's H100", filter: { gpuModels: ["H100"] }, threshold: "9.00" }, bob);
    const missed = await alerts.createPriceAlert({ name: "Any A100", filter: { gpuModels: ["A100 SXM4 80GB"] }, threshold: "9.00" }, ada);
    const resumed = await events.notifications(ada, fired!.cursor);
    expect((await resumed.next()).value).toMatchObject({ userId: ada.id, alertId: missed.id, cursor: expect.any(String) });
    await resumed.return!();
    await expect(events.notifications(ada, "not-a-cursor")).rejects.toMatchObject({ code: "BAD_USER_INPUT" });
    await alerts.deletePriceAlert({ id: String(missed.id) }, ada);
    await alerts.deletePriceAlert({ id: String(bobAlert.id) }, bob);
    await expect(events.notifications(userActor(ada.id, "USER", { via: "api_key", scopes: ["catalog:read"] }))).rejects.toMatchObject({ code: "FORBIDDEN" });
    await expect(events.notifications(anonymous())).rejects.toMatchObject({ code: "UNAUTHENTICATED" });
    expect(eventLog.subscriberCount("notification")).toBe(0);
    await alerts.deletePriceAlert({ id: String(alert.id) }, ada);
  });

  it("checks the caller in every function: anonymous is UNAUTHENTICATED, an API key without alerts:write or the system is FORBIDDEN", async () => {
    const calls: Record<string, (actor: Actor) => Promise<unknown>> = {
      priceAlerts: (actor) => alerts.priceAlerts({}, actor),
      createPriceAlert: (actor) => alerts.createPriceAlert({ name: "Denied", threshold: "0.01" }, actor),
      updatePriceAlert: (actor) => alerts.updatePriceAlert({ id: "1", paused: true }, actor),
      deletePriceAlert: (actor) => alerts.deletePriceAlert({ id: "1" }, actor),
      notifications: (actor) => alerts.notifications({}, actor),
      unreadCount: (actor) => alerts.unreadCount({}, actor),
      markNotificationsRead: (actor) => alerts.markNotificationsRead({ all: true }, actor),
    };
    const catalogKey = userActor(bob.id, "USER", { via: "api_key", scopes: ["catalog:read"], apiKeyId: 1 });
    for (const [name, call] of Object.entries(calls)) {
      await expect(call(anonymous()), name).rejects.toMatchObject({ code: "UNAUTHENTICATED", message: SIGN_IN });
      await expect(call(catalogKey), name).rejects.toMatchObject({ code: "FORBIDDEN", message: "You are not allowed to do this." });
      await expect(call(systemActor("test")), name).rejects.toMatchObject({ code: "FORBIDDEN" });
    }
    expect(await db.prisma.priceAlert.count({ where: { userId: bob.id } })).toBe(0);

    const alertsKey = userActor(bob.id, "USER", { via: "api_key", scopes: ["alerts:write"], apiKeyId: 2 });
    const made = await alerts.createPriceAlert({ name: "By key", threshold: "0.01", priceField: "PRICE" }, alertsKey);
    expect(made).toMatchObject({ userId: bob.id, name: "By key", filter: {}, priceField: "PRICE", below: false });
    expect((await alerts.priceAlerts({}, alertsKey)).map((a) => a.name)).toEqual(["By key"]);
  });

  it("validates as the API does, with the same codes and messages", async () => {
    await expect(alerts.createPriceAlert({ name: "x", filter: { gpuModels: ["H100", "Voodoo 5"], providers: ["nope", "nada"] }, threshold: "1" }, ada))
      .rejects.toMatchObject({ code: "BAD_USER_INPUT", message: "Unknown GPU model: \"Voodoo 5\". The gpuModels query lists every known model.", extensions: { field: "filter.gpuModels", unknown: ["Voodoo 5"] } });
    await expect(alerts.createPriceAlert({ name: "x", filter: { providers: ["nope", "RunPod", "nada"] }, threshold: "1" }, ada))
      .rejects.toMatchObject({ code: "BAD_USER_INPUT", message: "Unknown provider slugs: \"nope\", \"nada\". The providers query lists every slug.", extensions: { field: "filter.providers", unknown: ["nope", "nada"] } });
    await expect(alerts.createPriceAlert({ name: "  ", threshold: "1" }, ada)).rejects.toMatchObject({ code: "BAD_USER_INPUT", message: "The name must not be empty." });
    await expect(alerts.createPriceAlert({ name: "x", threshold: "-1" }, ada)).rejects.toMatchObject({ code: "BAD_USER_INPUT", message: "Money cannot be negative (got -1)." });
    await expect(alerts.notifications({ first: 101 }, ada)).rejects.toMatchObject({ code: "BAD_USER_INPUT", message: "first must be between 0 and 100 (got 101)." });
    await expect(alerts.markNotificationsRead({}, ada)).rejects.toMatchObject({ code: "BAD_USER_INPUT", message: "Give either ids or all: true." });
    await expect(alerts.markNotificationsRead({ ids: Array.from({ length: 1001 }, (_, i) => i + 1) }, ada)).rejects.toMatchObject({ code: "BAD_USER_INPUT", message: "At most 1000 ids at once." });
    expect(await db.prisma.priceAlert.count({ where: { userId: ada.id } })).toBe(0);

    const own = await alerts.createPriceAlert({ name: "Ada's", threshold: "0.01" }, ada);
    await expect(alerts.updatePriceAlert({ id: String(own.id), paused: true }, bob)).rejects.toMatchObject({ code: "NOT_FOUND", message: `You have no price alert with the ID "${own.id}".` });
    await expect(alerts.deletePriceAlert({ id: "not-a-number" }, bob)).rejects.toMatchObject({ code: "NOT_FOUND", message: "You have no price alert with the ID \"not-a-number\"." });
    const [adaNote] = await alerts.notifications({}, ada);
    await expect(alerts.markNotificationsRead({ ids: [adaNote!.id, 999999] }, bob)).rejects.toMatchObject({ code: "NOT_FOUND", message: `You have no notification with the IDs "${adaNote!.id}", "999999".` });
    expect(await db.prisma.priceAlert.findUniqueOrThrow({ where: { id: own.id } })).toMatchObject({ paused: false });
  });
});
