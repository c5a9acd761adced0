// Applies one provider's full catalog to the database: set-based upserts in batches, all inside
// one transaction, so a failure anywhere leaves the previous state untouched.
//
// Every applied catalog bumps Provider.catalogVersion. A poll reads the version before it fetches and
// passes it as basedOnVersion: if anything was applied meanwhile (an operator's import, another node's
// poll), its snapshot is older than the catalog and is refused (STALE_SNAPSHOT), writing nothing. A
// version, not a timestamp: it needs no agreement between the clocks of the processes that import.
import { roundMoney } from "../domain/money.ts";
import { Prisma } from "../generated/prisma/client.ts";
import type { PrismaClient } from "../generated/prisma/client.ts";
import type { CatalogOffer, NormalizedOffer, OfferChange } from "../domain/catalog/types.ts";
import { GPU_SPECS } from "../domain/gpu/specs.ts";
import { normalizeGpuName } from "../domain/gpu/normalize.ts";
import { withTxRetry } from "../infra/transactions.ts";
import { providerInfo } from "./registry.ts";
import { complianceTagsOf } from "../infra/compliance.ts";

export interface CatalogSyncSummary {
  /** inserted + updated + unchanged = number of offers applied. */
  inserted: number;
  /** Offers whose stored fields changed (price, availability, specs, or reactivation). */
  updated: number;
  unchanged: number;
  /** Active offers of this provider absent from the input, now inactive. */
  deactivated: number;
  /** Inactive offers that came back (counted in `updated` too). */
  reactivated: number;
  pricePoints: number;
}

export interface ApplyCatalogOptions {
  now?: Date;
  /**
   * Called inside the import's transaction with every changed offer, before it commits (alert
   * evaluation writes its notifications here, so they commit or roll back with the prices).
   */
  onChanges?: (tx: Prisma.TransactionClient, changes: OfferChange[]) => Promise<void>;
  /** Offers per SQL statement. Default 1000. */
  batchSize?: number;
  /**
   * The provider's catalogVersion when this snapshot's fetch began (catalogVersion()). When another
   * catalog was applied since, nothing is written and STALE_SNAPSHOT is thrown. Absent: applied as is.
   */
  basedOnVersion?: number;
}

export type CatalogSyncErrorCode = "UNKNOWN_PROVIDER" | "INVALID_OFFER" | "DUPLICATE_OFFER" | "STALE_SNAPSHOT";

export class CatalogSyncError extends Error {
  constructor(readonly code: CatalogSyncErrorCode, message: string) {
    super(message);
    this.name = "CatalogSyncError";
  }
}

const SPEC_VRAM = new Map(GPU_SPECS.map((s) => [s.name, s.vramGb]));
const PRICE = /^\d+(\.\d+)?$/;
const D = Prisma.Decimal;

export type { NormalizedOffer };

type OfferRow = Omit<NormalizedOffer, "gpuModel"> & { gpuModelId: number | null };

function toRow(offer: CatalogOffer, models: Map<string, number>): OfferRow {
  const { gpuModel, ...row } = normalizeCatalogOffer(offer);
  return { ...row, gpuModelId: gpuModel ? models.get(gpuModel) ?? null : null };
}

/**
 * The offer with GPUBroker's names and rounding: canonical GPU model, VRAM from the spec table when the source
 * states none, money rounded to 4 decimals, prices per GPU-hour. A CatalogSyncError (INVALID_OFFER) when the
 * offer cannot be stored (no id, a GPU count that is not a positive integer, a price that is not a decimal).
 */
export function normalizeCatalogOffer(offer: CatalogOffer): NormalizedOffer {
  const bad = (why: string) => new CatalogSyncError("INVALID_OFFER", `offer ${offer.externalId}: ${why}`);
  if (!offer.externalId) throw bad("empty externalId");
  if (!Number.isInteger(offer.gpuCount) || offer.gpuCount < 1) throw bad(`gpuCount ${offer.gpuCount} is not a positive integer`);
  if (!PRICE.test(offer.onDemandPrice)) throw bad(`onDemandPrice "${offer.onDemandPrice}" is not a decimal`);
  if (offer.spotPrice != null && !PRICE.test(offer.spotPrice)) throw bad(`spotPrice "${offer.spotPrice}" is not a decimal`);
  let model = offer.gpuModel;
  if (model === undefined) {
    const match = normalizeGpuName(offer.gpuName, { vramGb: offer.vramPerGpuGb ?? null, instanceType: offer.instanceType });
    model = match.known ? match.name : null;
  }
  // 0 = unknown: the source stated no VRAM and the GPU is not in the spec table.
  const vram = new D(offer.vramPerGpuGb ?? (model ? SPEC_VRAM.get(model) : undefined) ?? 0).toDecimalPlaces(2, D.ROUND_HALF_UP);
  const onDemand = roundMoney(offer.onDemandPrice);
  const spot = offer.spotPrice == null ? null : roundMoney(offer.spotPrice);
  return {
    externalId: offer.externalId,
    instanceType: offer.instanceType,
    gpuModel: model ?? null,
    gpuName: offer.gpuName,
    gpuCount: offer.gpuCount,
    vramPerGpuGb: vram.toFixed(2),
    vramTotalGb: vram.times(offer.gpuCount).toFixed(2),
    vcpus: offer.vcpus == null ? null : Math.round(offer.vcpus),
    ramGb: offer.ramGb ?? null,
    storageGb: offer.storageGb ?? null,
    region: offer.region,
    zone: offer.zone ?? null,
    country: offer.country ?? null,
    onDemandPrice: onDemand.toFixed(4),
    spotPrice: spot?.toFixed(4) ?? null,
    pricePerGpuHour: onDemand.dividedBy(offer.gpuCount).toFixed(4, D.ROUND_HALF_UP),
    spotPricePerGpuHour: spot?.dividedBy(offer.gpuCount).toFixed(4, D.ROUND_HALF_UP) ?? null,
    currency: offer.currency ?? "USD",
    availability: offer.availability ?? "UNKNOWN",
    interconnect: offer.interconnect ?? null,
    networkGbps: offer.networkGbps ?? null,
    deployment: offer.deployment ?? null,
  };
}

// One statement per batch: upsert the offers, compare with the rows as they were before
// (every CTE reads the same snapshot), write price points for new offers and price/availability
// changes (the PricePoint trigger adds each point's change ratio), and count what happened.
const UPSERT_BATCH = `
WITH input AS (
  SELECT * FROM jsonb_to_recordset($1::jsonb) AS t(
    "externalId" text, "instanceType" text, "gpuModelId" int, "gpuName" text, "gpuCount" int,
    "vramPerGpuGb" numeric, "vramTotalGb" numeric, vcpus int, "ramGb" numeric, "storageGb" numeric,
    region text, zone text, country text, "onDemandPrice" numeric, "spotPrice" numeric,
    "pricePerGpuHour" numeric, "spotPricePerGpuHour" numeric, currency text, availability text,
    interconnect text, "networkGbps" numeric, deployment text)
),
prev AS (
  SELECT o.* FROM "GpuOffer" o JOIN input i ON o."externalId" = i."externalId" WHERE o."providerId" = $2::int
),
up AS (
  INSERT INTO "GpuOffer" AS o ("providerId", "externalId", "instanceType", "gpuModelId", "gpuName", "gpuCount",
    "vramPerGpuGb", "vramTotalGb", vcpus, "ramGb", "storageGb", region, zone, country, "onDemandPrice", "spotPrice",
    "pricePerGpuHour", "spotPricePerGpuHour", currency, availability, interconnect, "networkGbps", deployment,
    "firstSeenAt", "lastSeenAt", active)
  SELECT $2::int, i."externalId", i."instanceType", i."gpuModelId", i."gpuName", i."gpuCount",
    i."vramPerGpuGb", i."vramTotalGb", i.vcpus, i."ramGb", i."storageGb", i.region, i.zone, i.country,
    i."onDemandPrice", i."spotPrice", i."pricePerGpuHour", i."spotPricePerGpuHour", i.currency,
    i.availability::"Availability", i.interconnect::"Interconnect", i."networkGbps", i.deployment::"Deployment",
    $3::timestamp(3), $3::timestamp(3), true
  FROM input i
  ON CONFLICT ("providerId", "externalId") DO UPDATE SET
    "instanceType" = EXCLUDED."instanceType", "gpuModelId" = EXCLUDED."gpuModelId", "gpuName" = EXCLUDED."gpuName",
    "gpuCount" = EXCLUDED."gpuCount", "vramPerGpuGb" = EXCLUDED."vramPerGpuGb", "vramTotalGb" = EXCLUDED."vramTotalGb",
    vcpus = EXCLUDED.vcpus, "ramGb" = EXCLUDED."ramGb", "storageGb" = EXCLUDED."storageGb", region = EXCLUDED.region,
    zone = EXCLUDED.zone, country = EXCLUDED.country, "onDemandPrice" = EXCLUDED."onDemandPrice",
    "spotPrice" = EXCLUDED."spotPrice", "pricePerGpuHour" = EXCLUDED."pricePerGpuHour",
    "spotPricePerGpuHour" = EXCLUDED."spotPricePerGpuHour", currency = EXCLUDED.currency,
    availability = EXCLUDED.availability, interconnect = EXCLUDED.interconnect, "networkGbps" = EXCLUDED."networkGbps",
    deployment = EXCLUDED.deployment, "lastSeenAt" = EXCLUDED."lastSeenAt", active = true
  RETURNING o.*
),
classified AS (
  SELECT u.id, u."onDemandPrice", u."spotPrice", u.availability, u."gpuModelId", u.region, u."pricePerGpuHour", u."gpuCount",
    p."onDemandPrice" AS "oldOnDemandPrice", p."spotPrice" AS "oldSpotPrice", p.availability AS "oldAvailability",
    p.id IS NULL AS inserted,
    p.id IS NOT NULL AND NOT p.active AS reactivated,
    p.id IS NOT NULL AND (p."onDemandPrice", p."spotPrice", p.availability)
      IS DISTINCT FROM (u."onDemandPrice", u."spotPrice", u.availability) AS repriced,
    p.id IS NOT NULL AND (NOT p.active OR
      (p."instanceType", p."gpuModelId", p."gpuName", p."gpuCount", p."vramPerGpuGb", p."vramTotalGb", p.vcpus,
       p."ramGb", p."storageGb", p.region, p.zone, p.country, p."onDemandPrice", p."spotPrice", p."pricePerGpuHour",
       p."spotPricePerGpuHour", p.currency, p.availability, p.interconnect, p."networkGbps", p.deployment)
      IS DISTINCT FROM
      (u."instanceType", u."gpuModelId", u."gpuName", u."gpuCount", u."vramPerGpuGb", u."vramTotalGb", u.vcpus,
       u."ramGb", u."storageGb", u.region, u.zone, u.country, u."onDemandPrice", u."spotPrice", u."pricePerGpuHour",
       u."spotPricePerGpuHour", u.currency, u.availability, u.interconnect, u."networkGbps", u.deployment)) AS changed
  FROM up u LEFT JOIN prev p ON p.id = u.id
),
points AS (
  INSERT INTO "PricePoint" ("offerId", "providerId", "onDemandPrice", "spotPrice", availability, "recordedAt")
  SELECT id, $2::int, "onDemandPrice", "spotPrice", availability, $3::timestamp(3) FROM classified WHERE inserted OR repriced
  RETURNING 1
)
SELECT
  count(*) FILTER (WHERE inserted)::int AS inserted,
  count(*) FILTER (WHERE changed)::int AS updated,
  count(*) FILTER (WHERE reactivated)::int AS reactivated,
  (SELECT count(*) FROM points)::int AS "pricePoints",
  COALESCE(json_agg(json_build_object(
    'offerId', id, 'kind', CASE WHEN inserted THEN 'new' WHEN reactivated THEN 'reactivated' ELSE 'changed' END,
    'gpuModelId', "gpuModelId", 'region', region, 'gpuCount', "gpuCount", 'pricePerGpuHour', "pricePerGpuHour"::text,
    'oldOnDemandPrice', "oldOnDemandPrice"::text, 'newOnDemandPrice', "onDemandPrice"::text,
    'oldSpotPrice', "oldSpotPrice"::text, 'newSpotPrice', "spotPrice"::text,
    'oldAvailability', "oldAvailability"::text, 'newAvailability', availability::text
  )) FILTER (WHERE inserted OR repriced OR reactivated), '[]'::json) AS changes
FROM classified`;

const DEACTIVATE_MISSING = `
UPDATE "GpuOffer" SET active = false
WHERE "providerId" = $1::int AND active
  AND "externalId" NOT IN (SELECT jsonb_array_elements_text($2::jsonb))
RETURNING id AS "offerId", "gpuModelId", region, "gpuCount", "pricePerGpuHour"::text AS "pricePerGpuHour",
  "onDemandPrice"::text AS "oldOnDemandPrice", "spotPrice"::text AS "oldSpotPrice", availability::text AS "oldAvailability"`;

export type { OfferChange };

/** The provider's catalog version now (0 before its first catalog): read it before fetching, pass it as basedOnVersion. */
export async function catalogVersion(prisma: PrismaClient, providerSlug: string): Promise<number> {
  return (await prisma.provider.findUnique({ where: { slug: providerSlug }, select: { catalogVersion: true } }))?.catalogVersion ?? 0;
}

/** Applies `offers` as the complete current catalog of `providerSlug`. */
export async function applyCatalog(
  prisma: PrismaClient,
  providerSlug: string,
  offers: readonly CatalogOffer[],
  opts: ApplyCatalogOptions = {},
): Promise<CatalogSyncSummary> {
  const now = (opts.now ?? new Date()).toISOString();
  const batchSize = Math.max(1, opts.batchSize ?? 1000);
  const seen = new Set<string>();
  for (const o of offers) {
    if (seen.has(o.externalId)) throw new CatalogSyncError("DUPLICATE_OFFER", `${providerSlug}: externalId ${o.externalId} appears twice`);
    seen.add(o.externalId);
  }
  const info = providerInfo(providerSlug);

  return withTxRetry(prisma, async (tx) => {
    let provider = await tx.provider.findUnique({ where: { slug: providerSlug }, select: { id: true } });
    if (!provider) {
      if (!info) throw new CatalogSyncError("UNKNOWN_PROVIDER", `unknown provider "${providerSlug}": not in the database nor in src/ingestion/registry.ts`);
      provider = await tx.provider.create({
        data: { slug: info.slug, name: info.name, kind: info.kind, apiBaseUrl: info.apiBaseUrl, complianceTags: complianceTagsOf(info.slug) },
        select: { id: true },
      });
    }
    // Serialises concurrent imports of the same provider (step 1 of the lock order, src/services/alerts.ts).
    const [{ version }] = await tx.$queryRawUnsafe<[{ version: number }]>(
      `UPDATE "Provider" SET "catalogVersion" = "catalogVersion" + 1 WHERE id = $1::int RETURNING "catalogVersion" - 1 AS version`, provider.id);
    if (opts.basedOnVersion !== undefined && version !== opts.basedOnVersion) {
      throw new CatalogSyncError("STALE_SNAPSHOT", `${providerSlug}: the snapshot was fetched from catalog version ${opts.basedOnVersion}, but version ${version} was applied meanwhile`);
    }
    const models = new Map(
      (await tx.gpuModel.findMany({ select: { id: true, name: true } })).map((m) => [m.name, m.id]),
    );
    const rows = offers.map((o) => toRow(o, models));

    const summary: CatalogSyncSummary = { inserted: 0, updated: 0, unchanged: 0, deactivated: 0, reactivated: 0, pricePoints: 0 };
    const changes: OfferChange[] = [];
    for (let i = 0; i < rows.length; i += batchSize) {
      const batch = rows.slice(i, i + batchSize);
      const [counts] = await tx.$queryRawUnsafe<(Pick<CatalogSyncSummary, "inserted" | "updated" | "reactivated" | "pricePoints"> & { changes: Omit<OfferChange, "providerId">[] })[]>(
        UPSERT_BATCH, JSON.stringify(batch), provider.id, now,
      );
      for (const c of counts!.changes) changes.push({ ...c, providerId: provider.id });
      summary.inserted += counts!.inserted;
      summary.updated += counts!.updated;
      summary.reactivated += counts!.reactivated;
      summary.pricePoints += counts!.pricePoints;
      summary.unchanged += batch.length - counts!.inserted - counts!.updated;
    }
    const withdrawn = await tx.$queryRawUnsafe<Omit<OfferChange, "providerId" | "kind" | "newOnDemandPrice" | "newSpotPrice" | "newAvailability">[]>(
      DEACTIVATE_MISSING, provider.id, JSON.stringify([...seen]));
    summary.deactivated = withdrawn.length;
    for (const w of withdrawn) changes.push({ ...w, providerId: provider.id, kind: "deactivated", newOnDemandPrice: null, newSpotPrice: null, newAvailability: null });
    if (opts.onChanges && changes.length) await opts.onChanges(tx, changes);
    return summary;
  }, { maxWait: 30_000, timeout: 300_000, what: `importing the ${providerSlug} catalog` });
}
