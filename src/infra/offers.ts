// Offer search in SQL: the offer filter (defined once in src/domain/offers/filter.ts) compiled to a
// WHERE clause shared by the page, the total count and the facets; keyset pagination over
// (sort column, id), stable while prices do not move across the cursor.
import { Prisma, type GpuModel, type GpuOffer, type PrismaClient, type Provider } from "../generated/prisma/client.ts";
import { fromJsonRows, jsonRow, rowShape } from "./json-rows.ts";
import { directRead } from "./db.ts";
import { toRowId } from "../domain/ids.ts";
import { rolledWithin } from "./price-retention.ts";
import {
  OFFER_CRITERIA, OFFER_CRITERION_KEYS, emptyMatchesNothing, flagOn, listValues, type CostPair, type Criterion, type OfferFilter, type Range,
} from "../domain/offers/filter.ts";

export type { CostPair, OfferFilter, Range } from "../domain/offers/filter.ts";

export const OFFER_SORT_FIELDS = {
  PRICE: { column: "onDemandPrice", cast: "numeric" },
  PRICE_PER_GPU: { column: "pricePerGpuHour", cast: "numeric" },
  VRAM_PER_GPU: { column: "vramPerGpuGb", cast: "numeric" },
  VRAM_TOTAL: { column: "vramTotalGb", cast: "numeric" },
  GPU_COUNT: { column: "gpuCount", cast: "int" },
  LAST_SEEN: { column: "lastSeenAt", cast: "timestamp(3)" },
  /** Computed per page from `filter.costPairs`; not a stored column. */
  COST_PER_MTOK: { column: "costPerMtok", cast: "numeric" },
} as const;
export type OfferSortField = keyof typeof OFFER_SORT_FIELDS;
export interface OfferOrder { field: OfferSortField; direction: "ASC" | "DESC" }

const col = (name: string) => Prisma.raw(`o."${name}"`);

function range(column: string, r: Range<number | string> | null | undefined, cast: "numeric" | "int"): Prisma.Sql[] {
  if (!r) return [];
  const out: Prisma.Sql[] = [];
  const type = Prisma.raw(cast);
  if (r.min != null) out.push(Prisma.sql`${col(column)} >= ${String(r.min)}::${type}`);
  if (r.max != null) out.push(Prisma.sql`${col(column)} <= ${String(r.max)}::${type}`);
  return out;
}

/**
 * `column IN values`, written as `=` for one value so the planner can use ordered indexes.
 * Enum columns compare as text; char(n) columns take a bpchar parameter so their index applies.
 */
function inList(column: string, values: readonly (string | number)[], kind: "int" | "text" | "char" | "enum"): Prisma.Sql[] {
  const type = Prisma.raw({ int: "int", text: "text", char: "bpchar", enum: "text" }[kind]);
  const target = kind === "enum" ? Prisma.sql`${col(column)}::text` : col(column);
  return values.length === 1
    ? [Prisma.sql`${target} = ${values[0]}::${type}`]
    : [Prisma.sql`${target} = ANY(${[...values]}::${type}[])`];
}

/** One criterion of the shared definition (src/domain/offers/filter.ts) as SQL over `"GpuOffer" o`. */
function criterionSql(c: Criterion, option: unknown): Prisma.Sql[] {
  switch (c.kind) {
    case "flag":
      if (!flagOn(c, option)) return [];
      return [c.requires === "true" ? col(c.field) : Prisma.sql`${col(c.field)} IS NOT NULL`];
    case "list": {
      const values = option as readonly (string | number)[] | null | undefined;
      if (!values?.length) return values && emptyMatchesNothing(c) ? [Prisma.sql`FALSE`] : [];
      // The vendor is the GPU model's: matched through the model ids, so the gpuModelId indexes apply.
      if (c.field === "gpuVendor") return [Prisma.sql`o."gpuModelId" IN (SELECT id FROM "GpuModel" WHERE vendor::text = ANY(${[...values]}::text[]))`];
      return inList(c.field, listValues(c, values), c.values);
    }
    case "range":
      return range(c.field, option as Range<number> | null | undefined, c.values === "int" ? "int" : "numeric");
    case "money":
      return range(c.field, option as Range<string> | null | undefined, "numeric");
    case "pairs": {
      const pairs = option as readonly CostPair[] | null | undefined;
      if (!pairs) return [];
      const [a, b] = c.fields.map(col);
      return [pairs.length
        ? Prisma.sql`(${a}, ${b}) IN (${Prisma.join(pairs.map((p) => Prisma.sql`(${p.gpuModelId}::int, ${p.gpuCount}::int)`))})`
        : Prisma.sql`FALSE`];
    }
  }
}

/** Compiles a validated filter to a WHERE fragment over `"GpuOffer" o`; `matchesOffer` is the same filter in memory. */
export function offerWhere(f: OfferFilter = {}): Prisma.Sql {
  const parts = OFFER_CRITERION_KEYS.flatMap((key) => criterionSql(OFFER_CRITERIA[key], f[key]));
  return parts.length ? Prisma.join(parts, " AND ") : Prisma.sql`TRUE`;
}

export interface OfferCursor { field: OfferSortField; value: string; id: number }

export function encodeOfferCursor(order: OfferOrder, offer: GpuOffer): string {
  const raw = (offer as unknown as Record<string, unknown>)[OFFER_SORT_FIELDS[order.field].column];
  const value = raw instanceof Date ? raw.toISOString() : String(raw);
  return Buffer.from(JSON.stringify([order.field, value, offer.id])).toString("base64url");
}

/** Returns the decoded cursor, or null when it is not one of ours (the caller reports it). */
export function decodeOfferCursor(cursor: string): OfferCursor | null {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
    if (!Array.isArray(parsed) || parsed.length !== 3) return null;
    const [field, value, id] = parsed as [unknown, unknown, unknown];
    const rowId = toRowId(id);
    if (typeof field !== "string" || !(field in OFFER_SORT_FIELDS) || typeof value !== "string" || typeof id !== "number" || rowId === null) return null;
    // Only values the column's type holds: a forged one must not become an out-of-range error in SQL.
    const cast = OFFER_SORT_FIELDS[field as OfferSortField].cast;
    const valid = cast === "timestamp(3)" ? /^\d{4}-\d{2}-\d{2}T[\d:.]+Z$/.test(value) && !Number.isNaN(Date.parse(value))
      : cast === "int" ? /^-?\d{1,9}$/.test(value)
      : /^-?\d{1,20}(\.\d{1,20})?$/.test(value);
    return valid ? { field: field as OfferSortField, value, id: rowId } : null;
  } catch {
    return null;
  }
}

export interface OfferPageArgs {
  filter?: OfferFilter;
  order: OfferOrder;
  after?: OfferCursor | undefined;
  before?: OfferCursor | undefined;
  limit: number;
  /** Read backwards (for `last`); the caller reverses the rows. */
  inverted: boolean;
}

export async function findOfferPage(prisma: PrismaClient, a: OfferPageArgs): Promise<GpuOffer[]> {
  const page = offerPageSql(a);
  return page ? prisma.$queryRaw<GpuOffer[]>(page.sql) : [];
}

/** The page's statement (`SELECT o.*` [+ "costPerMtok"] in order) and its ORDER BY over the selected columns; null when nothing can match. */
function offerPageSql(a: OfferPageArgs): { sql: Prisma.Sql; orderBy: (alias: string) => Prisma.Sql } | null {
  const { column, cast } = OFFER_SORT_FIELDS[a.order.field];
  const byCost = a.order.field === "COST_PER_MTOK";
  if (byCost && !a.filter?.costPairs) throw new Error("COST_PER_MTOK needs filter.costPairs");
  // $/Mtok = instance price × the pair's factor, rounded so the cursor holds exactly what SQL compares
  const sortKey = byCost ? Prisma.sql`round(o."onDemandPrice" * cf.factor, 4)` : col(column);
  const key = Prisma.sql`(${sortKey}, o."id")`;
  const asc = (a.order.direction === "ASC") !== a.inverted;
  const keyset = (c: OfferCursor, after: boolean) => {
    // "after" in ASC order means greater; reading DESC flips it
    const greater = after === (a.order.direction === "ASC");
    return Prisma.sql`${key} ${Prisma.raw(greater ? ">" : "<")} (${c.value}::${Prisma.raw(cast)}, ${c.id}::int)`;
  };
  const pin = pinnedColumn(a);
  const conds = [offerWhere(pin ? { ...a.filter, [pin.filterKey]: null } : a.filter)];
  if (a.after) conds.push(keyset(a.after, true));
  if (a.before) conds.push(keyset(a.before, false));
  const where = Prisma.join(conds, " AND ");
  const dir = Prisma.raw(asc ? "ASC" : "DESC");
  const orderBy = Prisma.sql`${sortKey} ${dir}, o."id" ${dir}`;
  const outerOrder = (alias: string) => Prisma.raw(`${alias}."${byCost ? "costPerMtok" : column}" ${asc ? "ASC" : "DESC"}, ${alias}."id" ${asc ? "ASC" : "DESC"}`);
  if (byCost) {
    const pairs = a.filter!.costPairs!;
    if (!pairs.length) return null;
    const factors = Prisma.join(pairs.map((p) => Prisma.sql`(${p.gpuModelId}::int, ${p.gpuCount}::int, ${p.factor}::numeric)`));
    return {
      sql: Prisma.sql`
      SELECT o.*, ${sortKey} AS "costPerMtok" FROM "GpuOffer" o
      JOIN (VALUES ${factors}) AS cf(mid, cnt, factor) ON cf.mid = o."gpuModelId" AND cf.cnt = o."gpuCount"
      WHERE ${where} ORDER BY ${orderBy} LIMIT ${a.limit}`,
      orderBy: outerOrder,
    };
  }
  if (!pin) return { sql: Prisma.sql`SELECT o.* FROM "GpuOffer" o WHERE ${where} ORDER BY ${orderBy} LIMIT ${a.limit}`, orderBy: outerOrder };
  // Filtered by GPU model (or provider) and sorted by price per GPU: read the first page of each
  // pinned id from its (id, active, price, id) index and merge. The id arrives as a lateral
  // parameter, so the planner cannot pick the global price index and filter its way through the
  // cheaper offers of every other model instead (24 ms → 0.1 ms on 100k offers, bench/README.md).
  return {
    sql: Prisma.sql`
    SELECT o.* FROM unnest(${pin.ids}::int[]) AS pin(id)
    CROSS JOIN LATERAL (
      SELECT * FROM "GpuOffer" o WHERE ${col(pin.column)} = pin.id AND ${where} ORDER BY ${orderBy} LIMIT ${a.limit}
    ) o
    ORDER BY ${orderBy} LIMIT ${a.limit}`,
    orderBy: outerOrder,
  };
}

/** What findOfferPageWith reads with a page. */
export interface OfferPageWants {
  /** The filter's total count. */
  total: boolean;
  /** The page's providers and GPU models (full rows). */
  relations: boolean;
  /**
   * Only these GpuOffer columns of each row (plus id and the sort column, which the cursors need); default every
   * column. For a caller that reads nothing else of the rows (the GraphQL page, from its selection).
   */
  columns?: readonly string[] | undefined;
}

export interface OfferPageWith {
  rows: GpuOffer[];
  /** All offers matching the filter (cursor aside), when asked for. */
  total: number | null;
  /** The page's providers and GPU models (full rows), when asked for. */
  providers: Provider[];
  gpuModels: GpuModel[];
}

// The parts of findOfferPageWith's statement that never change, built once.
const NO_TOTAL = Prisma.sql`NULL::int`;
const NO_RELATIONS = Prisma.sql`NULL::json AS providers, NULL::json AS models`;
const COST_COLUMN = { costPerMtok: "Decimal" as const };
let PAGE_RELATIONS: Prisma.Sql | undefined;

/**
 * One page, and in the same statement (one round trip) what the caller asks for with it: the total count of
 * the filter and the page's providers and GPU models. The rows travel as one JSON value built by PostgreSQL
 * (src/infra/json-rows.ts), not as rows mapped column by column.
 */
export async function findOfferPageWith(prisma: PrismaClient, a: OfferPageArgs, want: OfferPageWants): Promise<OfferPageWith> {
  const page = offerPageSql(a);
  const total = want.total ? Prisma.sql`(SELECT count(*)::int FROM "GpuOffer" o WHERE ${offerWhere(a.filter)})` : NO_TOTAL;
  if (!page) {
    const [row] = await directRead<{ total: number | null }>(prisma, Prisma.sql`SELECT ${total} AS total`);
    return { rows: [], total: row?.total ?? null, providers: [], gpuModels: [] };
  }
  const extra = a.order.field === "COST_PER_MTOK" ? COST_COLUMN : undefined;
  const shape = rowShape("GpuOffer", extra, want.columns && pageColumns(want.columns, a.order.field));
  const relations = want.relations ? (PAGE_RELATIONS ??= Prisma.sql`
      (SELECT coalesce(json_agg(${jsonRow("Provider", "r")}), '[]') FROM "Provider" r WHERE r.id IN (SELECT "providerId" FROM page)) AS providers,
      (SELECT coalesce(json_agg(${jsonRow("GpuModel", "r")}), '[]') FROM "GpuModel" r WHERE r.id IN (SELECT "gpuModelId" FROM page)) AS models`)
    : NO_RELATIONS;
  const [row] = await directRead<{ total: number | null; rows: unknown[]; providers: unknown[] | null; models: unknown[] | null }>(prisma, Prisma.sql`
    WITH page AS MATERIALIZED (${page.sql})
    SELECT ${total} AS total,
      (SELECT coalesce(json_agg(${shape.sql("page")} ORDER BY ${page.orderBy("page")}), '[]') FROM page) AS rows,
      ${relations}`);
  return {
    rows: shape.read<GpuOffer>(row!.rows),
    total: row!.total,
    providers: fromJsonRows<Provider>("Provider", row!.providers ?? []),
    gpuModels: fromJsonRows<GpuModel>("GpuModel", row!.models ?? []),
  };
}

/**
 * `columns` with id and the sort column (the cursors read them): one list per list of the caller's (kept per document
 * by the GraphQL layer) and sort field, so the row shape is found by identity, without a key built per request.
 */
function pageColumns(columns: readonly string[], field: OfferSortField): readonly string[] {
  let byField = pageColumnLists.get(columns);
  if (!byField) pageColumnLists.set(columns, (byField = new Map()));
  let only = byField.get(field);
  if (!only) {
    // costPerMtok is not a column: it comes with every row of a COST_PER_MTOK page (COST_COLUMN)
    only = [...new Set([...columns, "id", ...(field === "COST_PER_MTOK" ? [] : [OFFER_SORT_FIELDS[field].column])])].sort();
    byField.set(field, only);
  }
  return only;
}
const pageColumnLists = new WeakMap<readonly string[], Map<OfferSortField, readonly string[]>>();

/** The filter column whose (column, active, pricePerGpuHour, id) index serves this page, if any. */
function pinnedColumn(a: OfferPageArgs) {
  if (a.order.field !== "PRICE_PER_GPU" || a.filter?.includeInactive) return null;
  if (a.filter?.gpuModelIds?.length) return { column: "gpuModelId", filterKey: "gpuModelIds", ids: a.filter.gpuModelIds } as const;
  if (a.filter?.providerIds?.length) return { column: "providerId", filterKey: "providerIds", ids: a.filter.providerIds } as const;
  return null;
}

export interface GpuPair { gpuModelId: number; gpuCount: number; vramGb: number; memoryBandwidthGbps: number; fp16Tflops: number; fp8Tflops: number | null }

/** The distinct (GPU model, GPU count) configurations among the matching offers, with their GPU's figures. */
export async function offerGpuPairs(prisma: PrismaClient, filter?: OfferFilter): Promise<GpuPair[]> {
  return prisma.$queryRaw<GpuPair[]>`
    SELECT DISTINCT o."gpuModelId", o."gpuCount", m."vramGb", m."memoryBandwidthGbps",
      m."fp16Tflops"::float8 AS "fp16Tflops", m."fp8Tflops"::float8 AS "fp8Tflops"
    FROM "GpuOffer" o JOIN "GpuModel" m ON m.id = o."gpuModelId"
    WHERE ${offerWhere(filter)}`;
}

export async function countOffers(prisma: PrismaClient, filter?: OfferFilter): Promise<number> {
  const [row] = await prisma.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM "GpuOffer" o WHERE ${offerWhere(filter)}`;
  return row?.n ?? 0;
}

/**
 * A number that grows with every catalog applied to any provider (the sum of Provider.catalogVersion, bumped in
 * the same transaction as the offers it applies: src/ingestion/catalog-sync.ts, the only writer of offers). Equal
 * epochs mean equal offers, on every node: what per-cycle caches key on. Read it before the data it keys.
 */
export async function catalogEpoch(prisma: PrismaClient): Promise<number> {
  const [row] = await directRead<{ epoch: number }>(prisma, Prisma.sql`SELECT coalesce(sum("catalogVersion"), 0)::float8 AS epoch FROM "Provider"`);
  return row?.epoch ?? 0;
}

export interface FacetBucket {
  dimension: "GPU_MODEL" | "PROVIDER" | "REGION" | "COUNTRY" | "COMPLIANCE_TAG";
  key: string | null;
  count: number;
  minPricePerGpuHour: Prisma.Decimal;
  medianPricePerGpuHour: Prisma.Decimal;
  maxPricePerGpuHour: Prisma.Decimal;
}

const FACET_STATS = Prisma.sql`count(*)::int AS count,
      min(o."pricePerGpuHour") AS "minPricePerGpuHour",
      (percentile_cont(0.5) WITHIN GROUP (ORDER BY o."pricePerGpuHour"))::numeric(12,4) AS "medianPricePerGpuHour",
      max(o."pricePerGpuHour") AS "maxPricePerGpuHour"`;

/**
 * Counts and min/median/max price per GPU-hour by GPU model, provider, region and country, and by compliance tag
 * of the offer's provider (an offer counts once under each tag its provider holds), in one statement.
 */
export async function offerFacets(prisma: PrismaClient, filter?: OfferFilter): Promise<FacetBucket[]> {
  const where = offerWhere(filter);
  return prisma.$queryRaw<FacetBucket[]>`
    SELECT * FROM (
      SELECT
        CASE WHEN GROUPING(m.name) = 0 THEN 'GPU_MODEL' WHEN GROUPING(p.slug) = 0 THEN 'PROVIDER' WHEN GROUPING(o.region) = 0 THEN 'REGION' ELSE 'COUNTRY' END AS dimension,
        COALESCE(m.name, p.slug, o.region, o.country::text) AS key,
        ${FACET_STATS}
      FROM "GpuOffer" o
      JOIN "Provider" p ON p.id = o."providerId"
      LEFT JOIN "GpuModel" m ON m.id = o."gpuModelId"
      WHERE ${where}
      GROUP BY GROUPING SETS ((m.name), (p.slug), (o.region), (o.country))
      UNION ALL
      SELECT 'COMPLIANCE_TAG', t.tag, ${FACET_STATS}
      FROM "GpuOffer" o
      JOIN "Provider" p ON p.id = o."providerId"
      CROSS JOIN LATERAL unnest(p."complianceTags") AS t(tag)
      WHERE ${where}
      GROUP BY t.tag
    ) f
    ORDER BY count DESC, key ASC`;
}

export type HistoryBucket = "HOUR" | "DAY" | "WEEK";
export interface PriceBucket { start: Date; min: Prisma.Decimal; avg: Prisma.Decimal; max: Prisma.Decimal; points: number }

/**
 * Price points grouped in time buckets. For one offer: the instance's on-demand price; for a GPU
 * model: price per GPU-hour across all its offers (comparable across GPU counts). Hours rolled up after
 * the raw period (src/infra/price-retention.ts) count when all their points lie in [from, to): their
 * count, min, max and Σ enter the bucket as their points did (per GPU: Σ ÷ GPUs for the hour, where the
 * points' prices are divided one by one, equal to 20 significant digits).
 */
export async function priceHistory(
  prisma: PrismaClient,
  a: { offerId?: number; gpuModelId?: number; from: Date; to: Date; bucket: HistoryBucket },
): Promise<PriceBucket[]> {
  const unit = Prisma.raw(`'${a.bucket.toLowerCase()}'`);
  const perGpu = (x: Prisma.Sql) => (a.offerId != null ? x : Prisma.sql`${x} / o."gpuCount"`);
  const scope = a.offerId != null ? Prisma.sql`o.id = ${a.offerId}` : Prisma.sql`o."gpuModelId" = ${a.gpuModelId}`;
  const [from, to] = [Prisma.sql`${a.from}::timestamp(3)`, Prisma.sql`${a.to}::timestamp(3)`];
  return prisma.$queryRaw<PriceBucket[]>`
    WITH part AS (
      SELECT date_trunc(${unit}, pp."recordedAt") AS start, min(${perGpu(Prisma.sql`pp."onDemandPrice"`)}) AS lo,
             max(${perGpu(Prisma.sql`pp."onDemandPrice"`)}) AS hi, sum(${perGpu(Prisma.sql`pp."onDemandPrice"`)}) AS total, count(*) AS points
      FROM "PricePoint" pp JOIN "GpuOffer" o ON o.id = pp."offerId"
      WHERE ${scope} AND pp."recordedAt" >= ${from} AND pp."recordedAt" < ${to}
      GROUP BY 1
      UNION ALL
      SELECT date_trunc(${unit}, r.hour), min(${perGpu(Prisma.sql`r."onDemandMin"`)}), max(${perGpu(Prisma.sql`r."onDemandMax"`)}),
             sum(${perGpu(Prisma.sql`r."onDemandSum"`)}), sum(r.points)
      FROM "PriceRollup" r JOIN "GpuOffer" o ON o.id = r."offerId"
      WHERE ${scope} AND ${rolledWithin(from, to, "[)")}
      GROUP BY 1
    )
    SELECT start, min(lo)::numeric(12,4) AS min, (sum(total) / sum(points))::numeric(12,4) AS avg, max(hi)::numeric(12,4) AS max,
           sum(points)::int AS points
    FROM part GROUP BY 1 ORDER BY 1`;
}
