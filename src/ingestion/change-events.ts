// Change events: a catalog import's offer changes become price ticks on the event log's "market"
// stream, in the import's transaction (infra/event-log.ts); `priceTicks` streams them all and
// `offerAvailabilityChanged` those that change availability. Ingestion → infra: the log knows nothing of catalogs.
import type { Notification, Prisma } from "../generated/prisma/client.ts";
import { evaluateAlerts } from "../services/alerts.ts";
import type { DbClient } from "../infra/db.ts";
import { changePercent } from "../domain/money.ts";
import { appendEvents } from "../infra/event-log.ts";
import type { PriceTick } from "../infra/pubsub-types.ts";
import type { OfferChange } from "./catalog-sync.ts";

/** The ticks for a catalog run's changes: provider slugs and GPU model names come from one query. */
export async function toPriceTicks(prisma: DbClient, changes: readonly OfferChange[], at: Date): Promise<PriceTick[]> {
  if (!changes.length) return [];
  const providerIds = [...new Set(changes.map((c) => c.providerId))];
  const modelIds = [...new Set(changes.flatMap((c) => (c.gpuModelId == null ? [] : [c.gpuModelId])))];
  const rows = await prisma.$queryRaw<{ kind: "provider" | "model"; id: number; name: string }[]>`
    SELECT 'provider' AS kind, id, slug AS name FROM "Provider" WHERE id = ANY(${providerIds}::int[])
    UNION ALL
    SELECT 'model' AS kind, id, name FROM "GpuModel" WHERE id = ANY(${modelIds}::int[])`;
  const names = new Map(rows.map((r) => [`${r.kind}:${r.id}`, r.name]));
  return changes.map((c) => ({
    offerId: c.offerId,
    provider: names.get(`provider:${c.providerId}`)!, // a foreign key: always there
    providerId: c.providerId,
    gpuModel: c.gpuModelId == null ? null : names.get(`model:${c.gpuModelId}`) ?? null,
    gpuModelId: c.gpuModelId,
    region: c.region,
    gpuCount: c.gpuCount,
    kind: c.kind,
    oldOnDemandPrice: c.oldOnDemandPrice,
    newOnDemandPrice: c.newOnDemandPrice,
    oldSpotPrice: c.oldSpotPrice,
    newSpotPrice: c.newSpotPrice,
    oldAvailability: c.oldAvailability,
    newAvailability: c.newAvailability,
    pricePerGpuHour: c.pricePerGpuHour,
    changePercent: changePercent(c.oldOnDemandPrice, c.newOnDemandPrice),
    at: at.toISOString(),
  }));
}

/**
 * Writes one price tick per changed offer to the "market" stream, in the transaction that made the
 * changes: they are delivered once it commits (kick the event log then), and never if it rolls back.
 */
export async function recordChanges(tx: Prisma.TransactionClient, changes: readonly OfferChange[], at: Date): Promise<PriceTick[]> {
  const ticks = await toPriceTicks(tx, changes, at);
  await appendEvents(tx, "market", ticks);
  return ticks;
}

/**
 * Everything an import writes about its changes, in its transaction (ApplyCatalogOptions.onChanges):
 * the alerts they fire (notifications and their events), then the price ticks — the event streams'
 * lock order (src/services/alerts.ts, ALERT_LOCK_KEY). Returns the notifications; kick the event log after commit.
 */
export async function recordImport(tx: Prisma.TransactionClient, changes: readonly OfferChange[], at: Date): Promise<Notification[]> {
  const notifications = await evaluateAlerts(tx, changes, at);
  await recordChanges(tx, changes, at);
  return notifications;
}
