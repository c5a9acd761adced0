// Writing events the way the product does (in a transaction, then a kick), for tests that need ticks
// or notifications without running a catalog import or an alert.
import type { PrismaClient } from "../../src/generated/prisma/client.ts";
import { appendEvents, type EventLog, type EventStreamName } from "../../src/infra/event-log.ts";
import { recordChanges } from "../../src/ingestion/change-events.ts";
import type { OfferChange } from "../../src/domain/catalog/types.ts";
import type { NotificationEvent, PriceTick } from "../../src/infra/pubsub-types.ts";
import { until } from "./subscribe.ts";

/** The changes as price ticks on the "market" stream, committed; returns the ticks. */
export async function writeChanges(prisma: PrismaClient, events: Pick<EventLog, "kick"> | null, changes: readonly OfferChange[], at: Date): Promise<PriceTick[]> {
  const ticks = await prisma.$transaction((tx) => recordChanges(tx, changes, at));
  events?.kick();
  return ticks;
}

/** Ready-made ticks on the "market" stream, committed. */
export async function writeTicks(prisma: PrismaClient, events: Pick<EventLog, "kick"> | null, ticks: readonly PriceTick[]): Promise<void> {
  await prisma.$transaction((tx) => appendEvents(tx, "market", ticks));
  events?.kick();
}

/** Notification events (no Notification rows) on the "notification" stream, committed. */
export async function writeNotifications(prisma: PrismaClient, events: Pick<EventLog, "kick"> | null, notes: readonly NotificationEvent[]): Promise<void> {
  await prisma.$transaction((tx) => appendEvents(tx, "notification", notes));
  events?.kick();
}

/** Waits until `n` subscribers follow the stream live on this event log. */
export const liveSubscribers = (events: EventLog, stream: EventStreamName, n: number, timeoutMs?: number) =>
  until(() => events.subscriberCount(stream) === n, `${n} live ${stream} subscribers`, timeoutMs);
