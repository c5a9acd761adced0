// The SQL behind rankOffers: the matching offers grouped by the values the criteria read, returned as
// one text value (parsed by parseColumns), and the winning groups' offers read back by those values.
// The scoring itself is src/domain/math/topsis.ts; the criteria are src/services/ranking.ts.
import { Prisma, type GpuOffer, type PrismaClient } from "../generated/prisma/client.ts";
import { offerWhere, type OfferFilter } from "./offers.ts";

/** The offer columns one ranking reads; offers equal on all of them are one alternative with a count. */
export type RankField = "price" | "vram" | "model" | "count" | "instancePrice" | "availability" | "provider";
const FIELD_SQL: Record<RankField, Prisma.Sql> = {
  price: Prisma.sql`o."pricePerGpuHour"`,
  vram: Prisma.sql`o."vramTotalGb"`,
  model: Prisma.sql`o."gpuModelId"`,
  count: Prisma.sql`o."gpuCount"`,
  instancePrice: Prisma.sql`o."onDemandPrice"`,
  availability: Prisma.sql`CASE o.availability WHEN 'AVAILABLE' THEN 1 WHEN 'LIMITED' THEN 0.5 WHEN 'UNKNOWN' THEN 0.25 ELSE 0 END`,
  provider: Prisma.sql`o."providerId"`,
};

/** Rows without datasheet figures (placeholders for GPUs we could not identify) cannot be scored. */
const KNOWN_SPECS = Prisma.sql`(m."vramGb" > 0 AND m."memoryBandwidthGbps" > 0 AND m."fp16Tflops" > 0)`;

export interface RankData {
  /** Offers matching the filter, with or without a known GPU model. */
  matched: number;
  /** Groups with datasheet figures, each "count,first id,field values…" (fields in the order asked), comma-joined. */
  rows: string | null;
  /** Every GPU model as "id,vramGb,memoryBandwidthGbps,fp16Tflops,fp8Tflops (0 = none)". */
  models: string | null;
  /** Every provider as "id,reliability (0.5 when unknown)", when `fields` has "provider". */
  providers: string | null;
}

/**
 * ONE statement: the matching offers with a known GPU grouped by the values the criteria read, each group
 * as "count,first id,values…" in one comma-separated text (100k offers are ~1–10k groups: the grouping is
 * cheaper in PostgreSQL than writing every row as text, and it leaves little to parse and score), plus the
 * GPU model and provider figures the criteria look up. Groups come in the order of their first offer id,
 * so with one offer per group the scores are computed in the same order as topsis() over the offers.
 * `fields` must include "model".
 */
export async function loadRankData(prisma: PrismaClient, filter: OfferFilter, fields: readonly RankField[]): Promise<RankData> {
  const positions = Prisma.raw(fields.map((_, i) => i + 1).join(", "));
  const values = Prisma.join(fields.map((_, i) => Prisma.raw(`g.f${i}`)), ", ");
  const named = Prisma.join(fields.map((f, i) => Prisma.sql`${FIELD_SQL[f]} AS ${Prisma.raw(`f${i}`)}`), ", ");
  const model = Prisma.raw(`g.f${fields.indexOf("model")}`);
  // The GPU model is joined to the groups, not to every offer (the filter needs no model columns).
  // PostgreSQL's default costs plan the grouping serially. Lowering the parallel costs for it (as this did
  // until session 13) made it slower on the 2-core machine, 45–48 against 34 ms at 100k offers (bench/README.md, rank).
  const [row] = await prisma.$queryRaw<RankData[]>`
    SELECT coalesce(sum(g.n), 0)::int AS matched,
      string_agg(concat_ws(',', g.n, g.first, ${values}), ',' ORDER BY g.first) FILTER (WHERE ${KNOWN_SPECS}) AS rows,
      (SELECT string_agg(concat_ws(',', id, "vramGb", "memoryBandwidthGbps", "fp16Tflops", coalesce("fp8Tflops", 0)), ',') FROM "GpuModel") AS models,
      ${fields.includes("provider") ? Prisma.sql`(SELECT string_agg(concat_ws(',', id, coalesce("reliabilityScore", 0.5)), ',') FROM "Provider")` : Prisma.sql`NULL::text`} AS providers
    FROM (
      SELECT ${named}, count(*) AS n, min(o.id) AS first
      FROM "GpuOffer" o
      WHERE ${offerWhere(filter)}
      GROUP BY ${positions}
    ) g LEFT JOIN "GpuModel" m ON m.id = ${model}`;
  return row!;
}

/**
 * Parses "1,2.49,80.00,…" (k fields per row, unsigned decimals) into k columns without making a string per
 * value. (int·10ᵈ + frac) / 10ᵈ divides two exact integers once, so it is the same double Number() gives.
 */
export function parseColumns(text: string | null, k: number): Float64Array[] {
  if (!text) return Array.from({ length: k }, () => new Float64Array(0));
  let values = 1;
  for (let i = text.indexOf(","); i !== -1; i = text.indexOf(",", i + 1)) values++;
  const n = values / k;
  const columns = Array.from({ length: k }, () => new Float64Array(n));
  let whole = 0, scale = 1, fraction = false, field = 0, row = 0;
  for (let i = 0, end = text.length; i <= end; i++) {
    const c = i < end ? text.charCodeAt(i) : 44;
    if (c === 44) {
      columns[field]![row] = fraction ? whole / scale : whole;
      whole = 0; scale = 1; fraction = false;
      if (++field === k) { field = 0; row++; }
    } else if (c === 46) {
      fraction = true;
    } else {
      whole = whole * 10 + (c - 48);
      if (fraction) scale *= 10;
    }
  }
  return columns;
}

export interface ScoredGroups {
  /** Per field (as given to loadRankData), the group's value. */
  values: readonly Float64Array[];
  closeness: Float64Array;
  counts: Float64Array;
  /** Each group's lowest offer id. */
  first: Float64Array;
}

/**
 * The best `k` offers of the scored groups (closeness desc, then offer id), read with a second statement:
 * the groups that can hold them are the best ones until they count k offers, plus any group with exactly
 * the boundary's closeness (its offers may have lower ids). Each offer comes with its group's index.
 */
export async function topOffers(prisma: PrismaClient, filter: OfferFilter, fields: readonly RankField[], groups: ScoredGroups, k: number): Promise<(GpuOffer & { group: number })[]> {
  const n = groups.closeness.length;
  const order = Array.from({ length: n }, (_, i) => i)
    .sort((a, b) => groups.closeness[b]! - groups.closeness[a]! || groups.first[a]! - groups.first[b]!);
  const chosen: number[] = [];
  let offers = 0;
  for (const g of order) {
    if (offers >= k && groups.closeness[g] !== groups.closeness[chosen.at(-1)!]) break;
    chosen.push(g);
    offers += groups.counts[g]!;
  }
  if (!chosen.length || k === 0) return [];
  const columns = Prisma.join(fields.map((f) => FIELD_SQL[f]), ", ");
  const rows = Prisma.join(chosen.map((g) => Prisma.sql`(${g}::int, ${groups.closeness[g]!}::float8, ${Prisma.join(fields.map((_, j) => Prisma.sql`${groups.values[j]![g]!}::numeric`), ", ")})`), ", ");
  const keys = Prisma.join(fields.map((_, j) => Prisma.raw(`t.f${j}`)), ", ");
  const names = Prisma.raw(["g", "c", ...fields.map((_, j) => `f${j}`)].join(", "));
  // The groups' values include the GPU model, so every offer found has datasheet figures.
  return prisma.$queryRaw<(GpuOffer & { group: number })[]>`
    SELECT o.*, t.g AS "group"
    FROM "GpuOffer" o JOIN (VALUES ${rows}) AS t(${names}) ON (${columns}) = (${keys})
    WHERE ${offerWhere(filter)}
    ORDER BY t.c DESC, o.id LIMIT ${k}`;
}
