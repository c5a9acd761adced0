// Change publishing: after a catalog import commits, its offer changes become price ticks and
// availability events on the pub/sub. Ingestion → infra: the pub/sub knows nothing of catalogs.
import type { DbClient } from "../infra/db.ts";
import { changePercent } from "../domain/money.ts";
import type { PriceTick, PubSub } from "../infra/pubsub-types.ts";
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

/** True when the tick belongs on `offer.availability`: the state moved, or the offer left or came back. */
export const availabilityChanged = (tick: PriceTick) =>
  tick.kind === "deactivated" || tick.kind === "reactivated" || tick.oldAvailability !== tick.newAvailability;

/**
 * Publishes one `price.tick` per changed offer and one `offer.availability` per availability change.
 * Call it after the catalog transaction commits, so listeners never see prices that were rolled back.
 */
export async function publishChanges(pubsub: PubSub, prisma: DbClient, changes: readonly OfferChange[], at: Date): Promise<PriceTick[]> {
  const ticks = await toPriceTicks(prisma, changes, at);
  await Promise.all(ticks.flatMap((tick) => [
    pubsub.publish("price.tick", tick),
    ...(availabilityChanged(tick) ? [pubsub.publish("offer.availability", tick)] : []),
  ]));
  return ticks;
}
