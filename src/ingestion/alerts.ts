// Price alerts, evaluated in SQL inside an import's transaction: for each alert the changed offers
// could affect, find the cheapest active offer matching its saved filter and compare it with the
// threshold. An alert fires once per crossing: `below` remembers that it already did.
//
// Saved filters are the GraphQL OfferFilter input, canonicalised at save time (GPU models as
// canonical names, providers as lower-case slugs); names become ids at evaluation time, so the
// SQL pre-selection of alerts can compare names without normalising spellings.
import { Prisma, type Notification } from "../generated/prisma/client.ts";
import { normalizeGpuName } from "../domain/gpu/normalize.ts";
import { formatMoney } from "../domain/money.ts";
import { offerWhere, type OfferFilter } from "../infra/offers.ts";
import type { NotificationEvent } from "../infra/pubsub-types.ts";
import type { OfferChange } from "./catalog-sync.ts";

export type NotificationRow = Notification;
type Tx = Prisma.TransactionClient;

/** What PriceAlert.filter holds: the offers filter with names instead of ids (never includeInactive). */
export type SavedAlertFilter = Omit<OfferFilter, "gpuModelIds" | "providerIds" | "includeInactive"> & {
  gpuModels?: string[];
  providers?: string[];
};

export type AlertPriceField = "PRICE_PER_GPU" | "PRICE";
const PRICE_COLUMN = { PRICE_PER_GPU: "pricePerGpuHour", PRICE: "onDemandPrice" } as const;
const UNIT = { PRICE_PER_GPU: "/GPU-h", PRICE: "/h" } as const;

// "gpbalert" as a 64-bit key: concurrent imports evaluate alerts one after the other, each seeing
// the other's committed prices, so two imports can neither double-fire nor wrongly re-arm an alert.
const ALERT_LOCK_KEY = "7453565553868108404";
// Alerts per statement: each adds one small ORDER BY … LIMIT 1 sub-select and a few parameters.
const BATCH = 100;

/**
 * The form an alert's filter is saved in: GPU model spellings → canonical names, slugs lower-cased,
 * null, empty and includeInactive entries dropped (the SQL pre-selection relies on absent = any).
 * The caller has validated the input (unknown names are rejected before saving).
 */
export function toSavedFilter(input: Record<string, unknown> | null | undefined): SavedAlertFilter {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(input ?? {})) {
    if (value == null || key === "includeInactive" || (Array.isArray(value) && !value.length)) continue;
    if (key === "gpuModels") {
      out[key] = [...new Set((value as string[]).map((raw) => { const m = normalizeGpuName(raw); return m.known ? m.name : raw.trim(); }))];
    } else if (key === "providers") {
      out[key] = [...new Set((value as string[]).map((s) => s.trim().toLowerCase()))];
    } else if (typeof value === "object" && !Array.isArray(value)) {
      const range = Object.fromEntries(Object.entries(value).filter(([, v]) => v != null));
      if (Object.keys(range).length) out[key] = range;
    } else {
      out[key] = value;
    }
  }
  return out as SavedAlertFilter;
}

/**
 * Re-checks every non-paused alert whose filter could match one of the changed offers (same GPU
 * model/vendor, provider and region lists; other criteria are left to the exact check), in the
 * caller's transaction. Returns the notifications it wrote.
 */
export async function evaluateAlerts(tx: Tx, changes: readonly OfferChange[], now: Date): Promise<NotificationRow[]> {
  if (!changes.length) return [];
  await tx.$queryRawUnsafe(`SELECT 1 AS locked FROM pg_advisory_xact_lock(${ALERT_LOCK_KEY})`);
  const keys = new Map(changes.map((c) => [`${c.gpuModelId}|${c.providerId}|${c.region}`, { m: c.gpuModelId, p: c.providerId, r: c.region }]));
  const rows = await tx.$queryRaw<{ id: number }[]>`
    WITH changed AS (SELECT * FROM jsonb_to_recordset(${JSON.stringify([...keys.values()])}::jsonb) AS c(m int, p int, r text)),
    models AS (SELECT name, vendor::text AS vendor FROM "GpuModel" WHERE id IN (SELECT m FROM changed)),
    slugs AS (SELECT slug FROM "Provider" WHERE id IN (SELECT p FROM changed))
    SELECT a.id FROM "PriceAlert" a
    WHERE NOT a.paused
      AND (a.filter->'gpuModels' IS NULL OR EXISTS (SELECT 1 FROM jsonb_array_elements_text(a.filter->'gpuModels') v WHERE v IN (SELECT name FROM models)))
      AND (a.filter->'gpuVendors' IS NULL OR EXISTS (SELECT 1 FROM jsonb_array_elements_text(a.filter->'gpuVendors') v WHERE v IN (SELECT vendor FROM models)))
      AND (a.filter->'providers' IS NULL OR EXISTS (SELECT 1 FROM jsonb_array_elements_text(a.filter->'providers') v WHERE v IN (SELECT slug FROM slugs)))
      AND (a.filter->'regions' IS NULL OR EXISTS (SELECT 1 FROM jsonb_array_elements_text(a.filter->'regions') v WHERE v IN (SELECT r FROM changed)))
    ORDER BY a.id`;
  return checkAlerts(tx, rows.map((r) => r.id), now, { locked: true });
}

interface Fired {
  alertId: number; userId: number; name: string; priceField: AlertPriceField; threshold: string;
  offerId: number; price: string; provider: string; gpuName: string; gpuModel: string | null;
  gpuCount: number; region: string; country: string | null;
}

/**
 * Evaluates the given alerts now (paused ones are left alone): fires those whose cheapest match
 * is at or below the threshold and were not below yet, re-arms those that were below and no
 * longer are. Used after imports and when an alert is created or changed.
 */
export async function checkAlerts(tx: Tx, alertIds: readonly number[], now: Date, opts: { locked?: boolean } = {}): Promise<NotificationRow[]> {
  if (!alertIds.length) return [];
  if (!opts.locked) await tx.$queryRawUnsafe(`SELECT 1 AS locked FROM pg_advisory_xact_lock(${ALERT_LOCK_KEY})`);
  const alerts = await tx.priceAlert.findMany({
    where: { id: { in: [...alertIds] }, paused: false }, select: { id: true, filter: true, priceField: true }, orderBy: { id: "asc" },
  });
  if (!alerts.length) return [];
  const names = await nameIds(tx, alerts.map((a) => a.filter as SavedAlertFilter));
  const at = now.toISOString();
  const fired: Fired[] = [];
  for (let i = 0; i < alerts.length; i += BATCH) {
    const batch = alerts.slice(i, i + BATCH);
    const best = batch.map((a) => {
      const price = Prisma.raw(`o."${PRICE_COLUMN[a.priceField]}"`);
      return Prisma.sql`(SELECT ${a.id}::int AS "alertId", o.id AS "offerId", ${price} AS price FROM "GpuOffer" o
        WHERE ${offerWhere(toOfferFilter(a.filter as SavedAlertFilter, names))} ORDER BY ${price}, o.id LIMIT 1)`;
    });
    // Both UPDATEs re-check `below` on the row they lock, so a concurrent change cannot fire twice.
    fired.push(...await tx.$queryRaw<Fired[]>`
      WITH best AS (${Prisma.join(best, " UNION ALL ")}),
      fired AS (
        UPDATE "PriceAlert" a SET below = true, "lastTriggeredAt" = ${at}::timestamp(3), "lastOfferId" = b."offerId",
          "lastPrice" = b.price, "updatedAt" = ${at}::timestamp(3)
        FROM best b
        WHERE a.id = b."alertId" AND NOT a.paused AND NOT a.below AND b.price <= a.threshold
        RETURNING a.id AS "alertId", a."userId", a.name, a."priceField"::text AS "priceField", a.threshold::text AS threshold,
          b."offerId", b.price::text AS price
      ),
      rearmed AS (
        UPDATE "PriceAlert" a SET below = false, "updatedAt" = ${at}::timestamp(3)
        WHERE a.id = ANY(${batch.map((a) => a.id)}::int[]) AND a.below AND NOT a.paused
          AND NOT EXISTS (SELECT 1 FROM best b WHERE b."alertId" = a.id AND b.price <= a.threshold)
        RETURNING a.id
      )
      SELECT f.*, p.slug AS provider, o."gpuName", m.name AS "gpuModel", o."gpuCount", o.region, o.country::text AS country
      FROM fired f
      JOIN "GpuOffer" o ON o.id = f."offerId"
      JOIN "Provider" p ON p.id = o."providerId"
      LEFT JOIN "GpuModel" m ON m.id = o."gpuModelId"
      ORDER BY f."alertId"`);
  }
  if (!fired.length) return [];
  const created = await tx.notification.createManyAndReturn({ data: fired.map((f) => notificationFor(f, now)) });
  return created.sort((a, b) => a.id - b.id);
}

function notificationFor(f: Fired, now: Date): Prisma.NotificationCreateManyInput {
  const unit = UNIT[f.priceField];
  const threshold = formatMoney(f.threshold);
  const price = formatMoney(f.price);
  const where = f.country ? `${f.region} (${f.country})` : f.region;
  return {
    userId: f.userId,
    alertId: f.alertId,
    kind: "price_alert",
    title: `${f.name}: at or under $${threshold}${unit}`,
    body: `${f.provider} ${f.gpuCount}x ${f.gpuName} at $${price}${unit} in ${where}.`,
    data: {
      offerId: f.offerId, price, threshold, priceField: f.priceField,
      provider: f.provider, gpuModel: f.gpuModel, gpuCount: f.gpuCount, region: f.region,
    },
    createdAt: now,
  };
}

interface NameIds { models: Map<string, number>; providers: Map<string, number> }

async function nameIds(tx: Tx, filters: SavedAlertFilter[]): Promise<NameIds> {
  const out: NameIds = { models: new Map(), providers: new Map() };
  const models = [...new Set(filters.flatMap((f) => f.gpuModels ?? []))];
  const slugs = [...new Set(filters.flatMap((f) => f.providers ?? []))];
  if (models.length) for (const m of await tx.gpuModel.findMany({ where: { name: { in: models } }, select: { id: true, name: true } })) out.models.set(m.name, m.id);
  if (slugs.length) for (const p of await tx.provider.findMany({ where: { slug: { in: slugs } }, select: { id: true, slug: true } })) out.providers.set(p.slug, p.id);
  return out;
}

// A name that no longer resolves becomes id -1: it matches nothing (an empty list would match everything).
function toOfferFilter(saved: SavedAlertFilter, names: NameIds): OfferFilter {
  const { gpuModels, providers, ...rest } = saved;
  return {
    ...rest,
    includeInactive: false,
    gpuModelIds: gpuModels?.length ? gpuModels.map((n) => names.models.get(n) ?? -1) : null,
    providerIds: providers?.length ? providers.map((s) => names.providers.get(s) ?? -1) : null,
  };
}

/** The pub/sub event for a stored notification. */
export function notificationEvent(n: NotificationRow): NotificationEvent {
  return {
    id: n.id, userId: n.userId, alertId: n.alertId, kind: n.kind, title: n.title, body: n.body,
    data: (n.data ?? {}) as Record<string, unknown>, createdAt: n.createdAt.toISOString(),
  };
}
