// Price alerts and notifications, the one module: users save an offers filter with a price threshold
// and read, page and mark their notifications; ingestion evaluates the alerts inside each import's
// transaction; every notification is written to the event log (infra/event-log.ts) in the transaction
// that creates it, so live listeners get it once it commits, and a reconnecting one can replay it.
//
// Evaluation is SQL: for each alert the changed offers could affect, the cheapest active offer matching
// its saved filter is compared with the threshold. An alert fires once per crossing: `below` remembers
// that it already did. Saved filters are the OfferFilter input canonicalised at save time (GPU models as
// canonical names, providers as lower-case slugs); names become ids at evaluation time, so the SQL
// pre-selection of alerts can compare names without normalising spellings.
import type { Logger } from "pino";
import { z } from "zod";
import { Prisma, type Notification, type PriceAlert, type PrismaClient } from "../generated/prisma/client.ts";
import { formatMoney, parseMoney } from "../domain/money.ts";
import { badInput, notFound } from "../errors.ts";
import { canonicalGpuName } from "../infra/names.ts";
import { retryOnLockConflict, withTxRetry } from "../infra/transactions.ts";
import { providersHoldingAll, type ComplianceTag } from "../domain/catalog/compliance.ts";
import type { OfferChange } from "../domain/catalog/types.ts";
import type { OfferFilter, OfferFilterInput } from "../domain/offers/filter.ts";
import { toRowId } from "../domain/ids.ts";
import { offerWhere } from "../infra/offers.ts";
import type { NotificationEvent } from "../infra/pubsub-types.ts";
import { appendEvents, type EventLog } from "../infra/event-log.ts";
import { requireScope, type Actor } from "./actor.ts";
import { resolveOfferFilter } from "./offers.ts";
import { checkPageArgs, PAGE_SIZE } from "./paging.ts";

export const MAX_ALERTS_PER_USER = 50;
/** Validation rules the GraphQL arguments declare too, so both reject the same input with the same message. */
export const alertNameRule = z.string().trim().min(1, "The name must not be empty.").max(100, "A name has at most 100 characters.");
export const notificationIdsRule = z.array(z.union([z.string(), z.number()])).max(1000, "At most 1000 ids at once.");

type Tx = Prisma.TransactionClient;
export type AlertPriceField = "PRICE_PER_GPU" | "PRICE";

/** The offers filter an alert watches, as a caller gives it: names, not ids (unknown names are rejected). */
export type AlertFilterInput = Omit<OfferFilterInput, "costPairs">;

/** What PriceAlert.filter holds: the offers filter with names instead of ids (never includeInactive). */
export type SavedAlertFilter = Omit<OfferFilter, "gpuModelIds" | "providerIds" | "includeInactive" | "costPairs"> & {
  gpuModels?: string[];
  providers?: string[];
  /** Providers holding every tag, resolved when the alert is checked (the tags a provider holds can change). */
  complianceTags?: { all: ComplianceTag[] };
};

/** What alert evaluation reads of an import's changes. */
export type ChangedOffer = Pick<OfferChange, "gpuModelId" | "providerId" | "region">;

/** The window of notifications the GraphQL connection asks for (take/skip/cursor, plus the relations to load). */
export type NotificationPage = Pick<Prisma.NotificationFindManyArgs, "take" | "skip" | "cursor" | "select" | "include">;

export interface AlertDeps { prisma: PrismaClient; events: Pick<EventLog, "kick">; log: Logger }

export function createAlertService({ prisma, events }: AlertDeps) {
  /** After a commit that may have written notifications: the event log delivers them. */
  const delivered = (notifications: readonly Notification[]) => { if (notifications.length) events.kick(); };


  async function ownAlert(id: string | number, userId: number): Promise<number> {
    const alert = await prisma.priceAlert.findFirst({ where: { id: rowId(id, "price alert"), userId }, select: { id: true } });
    if (!alert) throw notFound(`You have no price alert with the ID "${id}".`, { argument: "id" });
    return alert.id;
  }

  return {
    /** The caller's price alerts, newest first. */
    async priceAlerts(_input: Record<string, never>, actor: Actor): Promise<PriceAlert[]> {
      const userId = requireScope(actor, "alerts:write").id;
      return prisma.priceAlert.findMany({ where: { userId }, orderBy: { id: "desc" } });
    },

    /** Saves a filter with a threshold (at most MAX_ALERTS_PER_USER per account) and checks it at once. */
    async createPriceAlert(
      input: { name: string; filter?: AlertFilterInput | null; threshold: string; priceField?: AlertPriceField | null },
      actor: Actor,
    ): Promise<PriceAlert> {
      const userId = requireScope(actor, "alerts:write").id;
      const name = valid(alertNameRule, input.name, "name");
      const threshold = parseMoney(input.threshold);
      await resolveOfferFilter(prisma, input.filter); // unknown names → BAD_USER_INPUT, as in `offers`
      const { id, notifications } = await withTxRetry(prisma, async (tx) => {
        await lockAlertEvaluation(tx); // the lock order (see ALERT_LOCK_KEY): evaluation, then the user
        await tx.$queryRaw`SELECT id FROM "User" WHERE id = ${userId} FOR NO KEY UPDATE`; // serialises the per-user limit
        if (await tx.priceAlert.count({ where: { userId } }) >= MAX_ALERTS_PER_USER) {
          throw badInput(`You already have ${MAX_ALERTS_PER_USER} price alerts, the most an account may have. Delete one first.`, { limit: MAX_ALERTS_PER_USER });
        }
        const alert = await tx.priceAlert.create({
          data: { userId, name, filter: toSavedFilter(input.filter) as Prisma.InputJsonObject, threshold, priceField: input.priceField ?? "PRICE_PER_GPU" },
          select: { id: true },
        });
        return { id: alert.id, notifications: await checkAlerts(tx, [alert.id], new Date()) };
      }, { what: "creating the price alert" });
      delivered(notifications);
      return prisma.priceAlert.findUniqueOrThrow({ where: { id } });
    },

    /** Renames, re-prices, pauses or resumes one of the caller's alerts (omitted fields stay) and re-checks it. */
    async updatePriceAlert(
      input: { id: string | number; name?: string | null; threshold?: string | null; paused?: boolean | null },
      actor: Actor,
    ): Promise<PriceAlert> {
      const userId = requireScope(actor, "alerts:write").id;
      const name = input.name == null ? undefined : valid(alertNameRule, input.name, "name");
      const threshold = input.threshold == null ? undefined : parseMoney(input.threshold);
      const id = await ownAlert(input.id, userId);
      const notifications = await withTxRetry(prisma, async (tx) => {
        await lockAlertEvaluation(tx);
        await lockUsers(tx, [userId]);
        await tx.priceAlert.update({ where: { id }, data: { name, threshold, paused: input.paused ?? undefined } });
        return checkAlerts(tx, [id], new Date());
      }, { what: "changing the price alert" });
      delivered(notifications);
      return prisma.priceAlert.findUniqueOrThrow({ where: { id } });
    },

    /** Deletes one of the caller's alerts and returns the id given; its notifications stay (with no alert). */
    async deletePriceAlert(input: { id: string | number }, actor: Actor): Promise<string> {
      const userId = requireScope(actor, "alerts:write").id;
      const { count } = await prisma.priceAlert.deleteMany({ where: { id: rowId(input.id, "price alert"), userId } });
      if (!count) throw notFound(`You have no price alert with the ID "${input.id}".`, { argument: "id" });
      return String(input.id);
    },

    /** The caller's notifications, newest first: the connection's `page`, or else the newest `first` (default 20). */
    async notifications(
      input: { unreadOnly?: boolean | null; first?: number | null; last?: number | null; page?: NotificationPage },
      actor: Actor,
    ): Promise<Notification[]> {
      const userId = requireScope(actor, "alerts:write").id;
      checkPageArgs(input, { bothAllowed: true });
      return prisma.notification.findMany({
        ...(input.page ?? { take: input.first ?? PAGE_SIZE.default }),
        where: { userId, ...(input.unreadOnly ? { readAt: null } : {}) },
        orderBy: { id: "desc" },
      });
    },

    /** How many of the caller's notifications are unread (all of them, not one page). */
    async unreadCount(_input: Record<string, never>, actor: Actor): Promise<number> {
      const userId = requireScope(actor, "alerts:write").id;
      return prisma.notification.count({ where: { userId, readAt: null } });
    },

    /** Marks the given notifications (or all with all: true) read; returns how many were unread. A foreign id marks nothing. */
    async markNotificationsRead(input: { ids?: readonly (string | number)[] | null; all?: boolean | null }, actor: Actor): Promise<number> {
      const userId = requireScope(actor, "alerts:write").id;
      const now = new Date();
      if ((input.ids != null) === !!input.all) throw badInput("Give either ids or all: true.");
      if (input.all) {
        return retryOnLockConflict(async () => (await prisma.notification.updateMany({ where: { userId, readAt: null }, data: { readAt: now } })).count, { what: "marking the notifications read" });
      }
      const ids = [...new Set(valid(notificationIdsRule, input.ids, "ids").map((id) => rowId(id, "notification")))];
      return withTxRetry(prisma, async (tx) => {
        const own = await tx.notification.findMany({ where: { id: { in: ids }, userId }, select: { id: true } });
        if (own.length !== ids.length) {
          const found = new Set(own.map((n) => n.id));
          const missing = ids.filter((id) => !found.has(id));
          throw notFound(`You have no notification with the ID${missing.length > 1 ? "s" : ""} ${missing.map((m) => `"${m}"`).join(", ")}.`, { argument: "ids" });
        }
        return (await tx.notification.updateMany({ where: { id: { in: ids }, userId, readAt: null }, data: { readAt: now } })).count;
      }, { what: "marking the notifications read" });
    },
  };
}

/** The value, or BAD_USER_INPUT with the rule's message. */
function valid<T>(rule: z.ZodType<T>, value: unknown, argument: string): T {
  const parsed = rule.safeParse(value);
  if (!parsed.success) throw badInput(parsed.error.issues[0]?.message ?? `Invalid ${argument}.`, { argument });
  return parsed.data;
}

/** Database id from an ID argument; anything else cannot be one of the caller's rows. */
function rowId(id: string | number, what: string): number {
  const n = toRowId(id);
  if (n === null) throw notFound(`You have no ${what} with the ID "${id}".`);
  return n;
}

// ---------------------------------------------------------------- Notification events

/** The event for a stored notification. */
export function notificationEvent(n: Notification): NotificationEvent {
  return {
    id: n.id, userId: n.userId, alertId: n.alertId, kind: n.kind, title: n.title, body: n.body,
    data: (n.data ?? {}) as Record<string, unknown>, createdAt: n.createdAt.toISOString(),
  };
}

// ---------------------------------------------------------------- Evaluation

const PRICE_COLUMN = { PRICE_PER_GPU: "pricePerGpuHour", PRICE: "onDemandPrice" } as const;
const UNIT = { PRICE_PER_GPU: "/GPU-h", PRICE: "/h" } as const;

// "gpbalert" as a 64-bit key: concurrent imports evaluate alerts one after the other, each seeing
// the other's committed prices, so two imports can neither double-fire nor wrongly re-arm an alert.
//
// THE LOCK ORDER of offer-, alert- and user-level work. A transaction takes these in this order and
// never waits for an earlier one while it holds a later one:
//   1. the Provider row, by the import's catalogVersion bump (one import per provider: src/ingestion/catalog-sync.ts)
//   2. that provider's GpuOffer and PricePoint rows (the import's upserts)
//   3. ALERT_LOCK_KEY, transaction-scoped (lockAlertEvaluation: evaluation, alert creation and changes)
//   4. User rows, in id order (FOR NO KEY UPDATE for the per-user alert limit; FOR KEY SHARE before
//      evaluation writes, which a notification's foreign key would otherwise take after step 5)
//   5. PriceAlert rows, then Notification rows
//   6. the event streams' counter rows (appendEvents, src/infra/event-log.ts), "notification" then
//      "market", held until commit: every writer takes them last, so they are held the shortest time
// Creating an alert once took 4 before 3 while an import held 3 and wanted 4 for a notification's
// foreign key: a deadlock. What still collides (40P01, 40001) is run again by withTxRetry.
const ALERT_LOCK_KEY = "7453565553868108404";
// Alerts per statement: each adds one small ORDER BY … LIMIT 1 sub-select and a few parameters.
const BATCH = 100;

/** Step 3 of the lock order: the alert-evaluation lock, until the transaction ends (taking it again is a no-op). */
export async function lockAlertEvaluation(tx: Tx): Promise<void> {
  await tx.$queryRawUnsafe(`SELECT 1 AS locked FROM pg_advisory_xact_lock(${ALERT_LOCK_KEY})`);
}

// Step 4: the owners' rows as a notification's foreign key check would lock them, but in id order and before step 5.
async function lockUsers(tx: Tx, userIds: readonly number[]): Promise<void> {
  const ids = [...new Set(userIds)];
  if (ids.length) await tx.$queryRaw`SELECT id FROM "User" WHERE id = ANY(${ids}::int[]) ORDER BY id FOR KEY SHARE`;
}

/**
 * The form an alert's filter is saved in: GPU model spellings → canonical names, slugs lower-cased,
 * null, empty and includeInactive entries dropped (the SQL pre-selection relies on absent = any).
 * The caller has validated the input (unknown names are rejected before saving).
 */
export function toSavedFilter(input: AlertFilterInput | Record<string, unknown> | null | undefined): SavedAlertFilter {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(input ?? {})) {
    if (value == null || key === "includeInactive" || (Array.isArray(value) && !value.length)) continue;
    if (key === "gpuModels") {
      out[key] = [...new Set((value as string[]).map(canonicalGpuName))];
    } else if (key === "providers") {
      out[key] = [...new Set((value as string[]).map((s) => s.trim().toLowerCase()))];
    } else if (key === "complianceTags") {
      const all = [...new Set((value as { all?: ComplianceTag[] | null }).all ?? [])].sort();
      if (all.length) out[key] = { all };
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
 * import's transaction. Returns the notifications it wrote (their events are in the transaction too: kick the event log after commit).
 */
export async function evaluateAlerts(tx: Tx, changes: readonly ChangedOffer[], now: Date): Promise<Notification[]> {
  if (!changes.length) return [];
  await lockAlertEvaluation(tx);
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
  return checkAlerts(tx, rows.map((r) => r.id), now);
}

interface Fired {
  alertId: number; userId: number; name: string; priceField: AlertPriceField; threshold: string;
  offerId: number; price: string; provider: string; gpuName: string; gpuModel: string | null;
  gpuCount: number; region: string; country: string | null;
}

/**
 * Evaluates the given alerts now (paused ones are left alone): fires those whose cheapest match
 * is at or below the threshold and were not below yet, re-arms those that were below and no
 * longer are. Used after imports and when an alert is created or changed; the caller holds the
 * alert-evaluation lock (lock order step 3).
 */
async function checkAlerts(tx: Tx, alertIds: readonly number[], now: Date): Promise<Notification[]> {
  if (!alertIds.length) return [];
  const alerts = await tx.priceAlert.findMany({
    where: { id: { in: [...alertIds] }, paused: false }, select: { id: true, userId: true, filter: true, priceField: true }, orderBy: { id: "asc" },
  });
  if (!alerts.length) return [];
  await lockUsers(tx, alerts.map((a) => a.userId));
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
  const created = (await tx.notification.createManyAndReturn({ data: fired.map((f) => notificationFor(f, now)) })).sort((a, b) => a.id - b.id);
  await appendEvents(tx, "notification", created.map(notificationEvent)); // written with the rows (lock order step 6)
  return created;
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

interface NameIds { models: Map<string, number>; providers: Map<string, number>; tagged: { id: number; tags: string[] }[] }

// Read in the evaluating transaction (not the cached resolver): the import may have just added the provider.
async function nameIds(tx: Tx, filters: SavedAlertFilter[]): Promise<NameIds> {
  const out: NameIds = { models: new Map(), providers: new Map(), tagged: [] };
  const models = [...new Set(filters.flatMap((f) => f.gpuModels ?? []))];
  const slugs = [...new Set(filters.flatMap((f) => f.providers ?? []))];
  if (models.length) for (const m of await tx.gpuModel.findMany({ where: { name: { in: models } }, select: { id: true, name: true } })) out.models.set(m.name, m.id);
  if (slugs.length) for (const p of await tx.provider.findMany({ where: { slug: { in: slugs } }, select: { id: true, slug: true } })) out.providers.set(p.slug, p.id);
  if (filters.some((f) => f.complianceTags?.all.length)) {
    out.tagged = (await tx.provider.findMany({ where: { complianceTags: { isEmpty: false } }, select: { id: true, complianceTags: true }, orderBy: { id: "asc" } }))
      .map((p) => ({ id: p.id, tags: p.complianceTags }));
  }
  return out;
}

// A name that no longer resolves becomes id -1: it matches nothing (an empty list would match everything).
// Compliance tags narrow the providers to those holding every tag (none left: nothing matches, as in `offers`).
function toOfferFilter(saved: SavedAlertFilter, names: NameIds): OfferFilter {
  const { gpuModels, providers, complianceTags, ...rest } = saved;
  let providerIds = providers?.length ? providers.map((s) => names.providers.get(s) ?? -1) : null;
  if (complianceTags?.all.length) providerIds = providersHoldingAll(complianceTags.all, names.tagged, providerIds);
  return { ...rest, includeInactive: false, gpuModelIds: gpuModels?.length ? gpuModels.map((n) => names.models.get(n) ?? -1) : null, providerIds };
}
