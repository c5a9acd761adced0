import { resolveCursorConnection } from "@pothos/plugin-relay";
import { z } from "zod";
import { Prisma, type GpuOffer } from "../generated/prisma/client.ts";
import { normalizeGpuName } from "../domain/gpu/normalize.ts";
import { DEFAULT_SERVING, LlmInputError, MODEL_PRESETS, estimateInference, type Precision } from "../domain/math/llm.ts";
import {
  countOffers, decodeOfferCursor, offerGpuPairs, type CostPair, encodeOfferCursor, findOfferPage, offerFacets,
  priceHistory, type OfferCursor, type OfferFilter, type OfferOrder, type OfferSortField,
} from "../infra/offers.ts";
import type { Context } from "./context.ts";
import { resolveNames } from "../infra/names.ts";
import { builder } from "./builder.ts";
import { AvailabilityEnum, DeploymentEnum, GpuVendorEnum, InterconnectEnum, PrecisionEnum, SortDirectionEnum } from "./enums.ts";
import { badInput, notFound } from "../errors.ts";

export const PAGE_SIZE = { default: 20, max: 100 } as const;

// ---------------------------------------------------------------- Types

const num = (v: Prisma.Decimal | string | number | null) => (v == null ? null : Number(v));

export const GpuOfferRef = builder.prismaNode("GpuOffer", {
  id: { field: "id" },
  description: "One rentable GPU configuration: a provider's instance type in one region (or zone) at one price.",
  fields: (t) => ({
    externalId: t.exposeString("externalId", { description: "The provider's own identifier for this offer (unique per provider)." }),
    instanceType: t.exposeString("instanceType", { description: "The provider's instance type or SKU, e.g. \"gpu_8x_h100_sxm5\"." }),
    gpuName: t.exposeString("gpuName", { description: "The GPU name as the provider spells it." }),
    gpuCount: t.exposeInt("gpuCount", { description: "GPUs in the instance." }),
    vramPerGpuGb: t.float({ description: "Memory per GPU in GB.", resolve: (o) => num(o.vramPerGpuGb)! }),
    vramTotalGb: t.float({ description: "Memory across all GPUs in GB.", resolve: (o) => num(o.vramTotalGb)! }),
    vcpus: t.exposeInt("vcpus", { nullable: true, description: "Virtual CPUs." }),
    ramGb: t.float({ nullable: true, description: "System memory in GB.", resolve: (o) => num(o.ramGb) }),
    storageGb: t.float({ nullable: true, description: "Included disk in GB.", resolve: (o) => num(o.storageGb) }),
    region: t.exposeString("region", { description: "The provider's region name." }),
    zone: t.exposeString("zone", { nullable: true, description: "Availability zone or data centre, when the provider names one." }),
    country: t.exposeString("country", { nullable: true, description: "ISO 3166-1 alpha-2 country of the region, when known." }),
    onDemandPrice: t.expose("onDemandPrice", { type: "Money", description: "On-demand price per hour for the whole instance." }),
    spotPrice: t.expose("spotPrice", { type: "Money", nullable: true, description: "Spot / interruptible / bid price per hour for the whole instance; null when not offered." }),
    pricePerGpuHour: t.expose("pricePerGpuHour", { type: "Money", description: "On-demand price per GPU-hour (onDemandPrice ÷ gpuCount)." }),
    spotPricePerGpuHour: t.expose("spotPricePerGpuHour", { type: "Money", nullable: true, description: "Spot price per GPU-hour; null when not offered." }),
    currency: t.exposeString("currency", { description: "ISO 4217 currency of the prices." }),
    availability: t.expose("availability", { type: AvailabilityEnum, description: "Can it be rented now?" }),
    interconnect: t.expose("interconnect", { type: InterconnectEnum, nullable: true, description: "GPU-to-GPU link, when known." }),
    networkGbps: t.float({ nullable: true, description: "Network bandwidth in Gbit/s, when known.", resolve: (o) => num(o.networkGbps) }),
    deployment: t.expose("deployment", { type: DeploymentEnum, nullable: true, description: "VM, container or bare metal, when known." }),
    firstSeenAt: t.expose("firstSeenAt", { type: "DateTime", description: "When we first saw this offer." }),
    lastSeenAt: t.expose("lastSeenAt", { type: "DateTime", description: "When the provider last listed this offer." }),
    active: t.exposeBoolean("active", { description: "False once the provider stopped listing it." }),
    costPerMillionTokens: t.field({
      type: "Money",
      nullable: true,
      description: "$ per 1M generated tokens of the model chosen in `orderBy` when sorting by COST_PER_MTOK; null otherwise (see costPerToken for any offer).",
      resolve: (o) => (o as unknown as { costPerMtok?: Prisma.Decimal | null }).costPerMtok ?? null,
    }),
  }),
});

// ---------------------------------------------------------------- Inputs

const ordered = <T>(lessOrEqual: (a: T, b: T) => boolean) =>
  z.object({ min: z.any().nullish(), max: z.any().nullish() }).refine(
    (r) => r.min == null || r.max == null || lessOrEqual(r.min as T, r.max as T),
    { message: "min must not be greater than max" },
  );

const IntRange = builder.inputType("IntRange", {
  description: "An inclusive range of whole numbers; either bound may be omitted.",
  fields: (t) => ({
    min: t.int({ description: "Smallest value allowed.", validate: z.number().int().min(0) }),
    max: t.int({ description: "Largest value allowed.", validate: z.number().int().min(0) }),
  }),
  validate: ordered<number>((a, b) => a <= b),
});

const FloatRange = builder.inputType("FloatRange", {
  description: "An inclusive range of numbers; either bound may be omitted.",
  fields: (t) => ({
    min: t.float({ description: "Smallest value allowed.", validate: z.number().min(0) }),
    max: t.float({ description: "Largest value allowed.", validate: z.number().min(0) }),
  }),
  validate: ordered<number>((a, b) => a <= b),
});

const MoneyRange = builder.inputType("MoneyRange", {
  description: "An inclusive price range per hour; either bound may be omitted.",
  fields: (t) => ({
    min: t.field({ type: "Money", description: "Lowest price allowed." }),
    max: t.field({ type: "Money", description: "Highest price allowed." }),
  }),
  validate: ordered<string>((a, b) => new Prisma.Decimal(a).lte(b)),
});

const nameList = (what: string) => z.array(z.string().trim().min(1, `${what} must not be empty`).max(100)).max(100);

export const OfferFilterInput = builder.inputType("OfferFilter", {
  description: "Narrows the offers. Every field is optional; given fields are combined with AND, values inside a list with OR.",
  fields: (t) => ({
    gpuModels: t.stringList({ description: "GPU models, by canonical name or any provider spelling (\"H100\", \"a100-80gb\").", validate: nameList("GPU model") }),
    gpuVendors: t.field({ type: [GpuVendorEnum], description: "GPU vendors." }),
    providers: t.stringList({ description: "Provider slugs, e.g. [\"runpod\", \"lambda\"].", validate: nameList("provider slug") }),
    regions: t.stringList({ description: "Provider region names, exactly as listed on offers.", validate: nameList("region") }),
    countries: t.stringList({ description: "ISO 3166-1 alpha-2 country codes, e.g. [\"US\", \"DE\"].", validate: z.array(z.string().regex(/^[A-Za-z]{2}$/, "country codes have two letters, e.g. \"US\"")).max(250) }),
    gpuCount: t.field({ type: IntRange, description: "GPUs per instance." }),
    vramPerGpuGb: t.field({ type: FloatRange, description: "Memory per GPU in GB." }),
    vramTotalGb: t.field({ type: FloatRange, description: "Memory across all GPUs in GB." }),
    vcpus: t.field({ type: IntRange, description: "Virtual CPUs." }),
    ramGb: t.field({ type: FloatRange, description: "System memory in GB." }),
    price: t.field({ type: MoneyRange, description: "On-demand price per hour for the whole instance." }),
    pricePerGpu: t.field({ type: MoneyRange, description: "On-demand price per GPU-hour." }),
    spotPrice: t.field({ type: MoneyRange, description: "Spot price per hour for the whole instance (offers without spot are excluded when set)." }),
    spotPricePerGpu: t.field({ type: MoneyRange, description: "Spot price per GPU-hour (offers without spot are excluded when set)." }),
    spotOnly: t.boolean({ description: "Only offers that have a spot price." }),
    availability: t.field({ type: [AvailabilityEnum], description: "Availability states to include." }),
    interconnect: t.field({ type: [InterconnectEnum], description: "GPU interconnects to include." }),
    deployment: t.field({ type: [DeploymentEnum], description: "Deployment kinds to include." }),
    includeInactive: t.boolean({ description: "Also return offers the provider no longer lists (default false)." }),
  }),
});

const OfferOrderFieldEnum = builder.enumType("OfferOrderField", {
  description: "What to sort offers by. Ties are broken by offer id, so paging is stable.",
  values: {
    PRICE: { description: "On-demand price per hour of the whole instance." },
    PRICE_PER_GPU: { description: "On-demand price per GPU-hour." },
    VRAM_PER_GPU: { description: "Memory per GPU." },
    VRAM_TOTAL: { description: "Memory across all GPUs." },
    GPU_COUNT: { description: "Number of GPUs." },
    LAST_SEEN: { description: "When the provider last listed the offer." },
    COST_PER_MTOK: { description: "$ per 1M generated tokens of `orderBy.model` on the whole instance (batch 1, context 4096, prompt 1024, tensor parallel over its GPUs). Only offers the model fits on are listed." },
  } satisfies Record<OfferSortField, { description: string }>,
});

const OfferOrderInput = builder.inputType("OfferOrder", {
  description: "Sort order for offers.",
  fields: (t) => ({
    field: t.field({ type: OfferOrderFieldEnum, required: true, defaultValue: "PRICE_PER_GPU", description: "Sort key." }),
    direction: t.field({ type: SortDirectionEnum, required: true, defaultValue: "ASC", description: "Sort direction." }),
    model: t.string({ description: `For COST_PER_MTOK: the LLM preset (${Object.keys(MODEL_PRESETS).join(", ")}).` }),
    precision: t.field({ type: PrecisionEnum, description: "For COST_PER_MTOK: weight precision (default FP16)." }),
  }),
});


/** For COST_PER_MTOK: the (GPU model, count) pairs the LLM fits on, each with its price → $/Mtok factor. */
async function costPairs(ctx: Context, filter: OfferFilter, model: string | null | undefined, precision: Precision): Promise<CostPair[]> {
  if (!model) throw badInput(`orderBy COST_PER_MTOK needs orderBy.model (${Object.keys(MODEL_PRESETS).join(", ")}).`, { argument: "orderBy.model" });
  const pairs: CostPair[] = [];
  for (const pair of await offerGpuPairs(ctx.prisma, filter)) {
    let estimate;
    try {
      estimate = estimateInference({ model, gpu: pair, gpuCount: pair.gpuCount, precision, ...DEFAULT_SERVING });
    } catch (err) {
      if (err instanceof LlmInputError) throw badInput(err.message, { argument: "orderBy.model", reason: err.code });
      throw err;
    }
    if (!estimate.fits || !(estimate.decode.tokensPerSecond > 0)) continue;
    // $/Mtok = $/h ÷ (tokens/s × 3600) × 1e6
    pairs.push({ gpuModelId: pair.gpuModelId, gpuCount: pair.gpuCount, factor: (1e6 / (estimate.decode.tokensPerSecond * 3600)).toPrecision(12) });
  }
  return pairs;
}

// ---------------------------------------------------------------- Helpers

export type FilterInput = Omit<OfferFilter, "gpuModelIds" | "providerIds"> & { gpuModels?: string[] | null; providers?: string[] | null };

/** Resolves GPU model spellings and provider slugs to ids; unknown names are errors, not empty results. */
export async function checkFilter(ctx: Context, input: FilterInput | null | undefined): Promise<OfferFilter> {
  const { gpuModels, providers, ...filter } = input ?? {};
  const resolved: OfferFilter = filter;
  if (gpuModels?.length) {
    const wanted = gpuModels.map((raw) => {
      const match = normalizeGpuName(raw);
      return { raw, name: match.known ? match.name : raw.trim() };
    });
    const { ids, unknown } = await resolveNames(ctx.prisma, "models", [...new Set(wanted.map((w) => w.name))]);
    const bad = wanted.filter((w) => unknown.includes(w.name)).map((w) => w.raw);
    if (bad.length) throw badInput(`Unknown GPU model${bad.length > 1 ? "s" : ""}: ${bad.map((u) => `"${u}"`).join(", ")}. The gpuModels query lists every known model.`, { field: "filter.gpuModels", unknown: bad });
    resolved.gpuModelIds = ids;
  }
  if (providers?.length) {
    const slugs = [...new Set(providers.map((s) => s.trim().toLowerCase()))];
    const { ids, unknown } = await resolveNames(ctx.prisma, "providers", slugs);
    if (unknown.length) throw badInput(`Unknown provider slug${unknown.length > 1 ? "s" : ""}: ${unknown.map((u) => `"${u}"`).join(", ")}. The providers query lists every slug.`, { field: "filter.providers", unknown });
    resolved.providerIds = ids;
  }
  return resolved;
}

function checkPageArgs(args: { first?: number | null; last?: number | null }) {
  if (args.first != null && args.last != null) throw badInput("Use either first (with after) or last (with before), not both.");
  for (const name of ["first", "last"] as const) {
    const n = args[name];
    if (n != null && (n < 0 || n > PAGE_SIZE.max)) throw badInput(`${name} must be between 0 and ${PAGE_SIZE.max} (got ${n}).`, { argument: name });
  }
}

function parseCursor(name: "after" | "before", cursor: string | null | undefined, order: OfferOrder): OfferCursor | undefined {
  if (cursor == null) return undefined;
  const parsed = decodeOfferCursor(cursor);
  if (!parsed) throw badInput(`${name} is not a valid offers cursor. Pass pageInfo.endCursor or startCursor from a previous page.`, { argument: name });
  if (parsed.field !== order.field) throw badInput(`${name} is a cursor for orderBy ${parsed.field}, but this query sorts by ${order.field}. Start again without a cursor.`, { argument: name });
  return parsed;
}

// ---------------------------------------------------------------- Queries

const OfferFacetRef = builder.simpleObject("OfferFacet", {
  description: "One group of matching offers with its price spread (per GPU-hour, on-demand).",
  fields: (t) => ({
    value: t.string({ nullable: true, description: "The GPU model name, provider slug or region; null groups offers whose GPU we could not identify." }),
    count: t.int({ description: "Matching offers in the group." }),
    minPricePerGpuHour: t.field({ type: "Money", description: "Cheapest price per GPU-hour." }),
    medianPricePerGpuHour: t.field({ type: "Money", description: "Median price per GPU-hour (interpolated, 4 decimals)." }),
    maxPricePerGpuHour: t.field({ type: "Money", description: "Dearest price per GPU-hour." }),
  }),
});

const OfferFacetsRef = builder.simpleObject("OfferFacets", {
  description: "Matching offers grouped three ways; each list is sorted by count, largest first.",
  fields: (t) => ({
    gpuModels: t.field({ type: [OfferFacetRef], description: "Grouped by canonical GPU model." }),
    providers: t.field({ type: [OfferFacetRef], description: "Grouped by provider slug." }),
    regions: t.field({ type: [OfferFacetRef], description: "Grouped by provider region." }),
  }),
});

const HistoryBucketEnum = builder.enumType("HistoryBucket", {
  description: "Width of a price-history bucket.",
  values: { HOUR: { description: "One hour." }, DAY: { description: "One day (UTC)." }, WEEK: { description: "One ISO week, starting Monday." } } as const,
});

const PriceBucketRef = builder.simpleObject("PriceBucket", {
  description: "Recorded prices in one time bucket. Points are written when a price or availability changes, so empty buckets are omitted (the price held).",
  fields: (t) => ({
    start: t.field({ type: "DateTime", description: "Start of the bucket." }),
    min: t.field({ type: "Money", description: "Lowest recorded price." }),
    avg: t.field({ type: "Money", description: "Mean of the recorded prices (4 decimals)." }),
    max: t.field({ type: "Money", description: "Highest recorded price." }),
    points: t.int({ description: "Number of recorded price points." }),
  }),
});

const BUCKET_MS = { HOUR: 3_600_000, DAY: 86_400_000, WEEK: 604_800_000 } as const;
const MAX_BUCKETS = 5_000;

builder.queryFields((t) => ({
  offers: t.connection(
    {
      type: GpuOfferRef,
      description: `Search the catalog. Relay connection: page with first/after or last/before (default ${PAGE_SIZE.default}, max ${PAGE_SIZE.max}). Defaults to active offers, cheapest per GPU-hour first.`,
      args: {
        filter: t.arg({ type: OfferFilterInput, description: "What to match." }),
        orderBy: t.arg({ type: OfferOrderInput, description: "How to sort; default PRICE_PER_GPU ascending." }),
      },
      resolve: async (_root, args, ctx) => {
        checkPageArgs(args);
        const order: OfferOrder = { field: args.orderBy?.field ?? "PRICE_PER_GPU", direction: args.orderBy?.direction ?? "ASC" };
        const after = parseCursor("after", args.after, order);
        const before = parseCursor("before", args.before, order);
        const filter = await checkFilter(ctx, args.filter);
        if (order.field === "COST_PER_MTOK") filter.costPairs = await costPairs(ctx, filter, args.orderBy?.model, args.orderBy?.precision ?? "FP16");
        const connection = await resolveCursorConnection<Promise<GpuOffer[]>>(
          { args, defaultSize: PAGE_SIZE.default, maxSize: PAGE_SIZE.max, toCursor: (offer) => encodeOfferCursor(order, offer) },
          ({ limit, inverted }) => findOfferPage(ctx.prisma, { filter, order, after, before, limit, inverted }),
        );
        return { ...connection, filter };
      },
    },
    {
      name: "OfferConnection",
      description: "A page of offers.",
      fields: (c) => ({
        totalCount: c.int({
          description: "All offers matching the filter (not just this page).",
          resolve: (conn, _args, ctx) => countOffers(ctx.prisma, (conn as unknown as { filter: OfferFilter }).filter),
        }),
      }),
    },
    { name: "OfferEdge", description: "An offer and its cursor." },
  ),
  offer: t.prismaField({
    type: GpuOfferRef,
    description: "One offer by its global ID (as returned in `offers`). Unknown IDs are a NOT_FOUND error.",
    args: { id: t.arg.globalID({ required: true, for: GpuOfferRef, description: "Global ID of a GpuOffer." }) },
    resolve: async (query, _root, { id }, ctx) => {
      const offerId = Number(id.id);
      if (!Number.isSafeInteger(offerId)) throw badInput(`"${id.id}" is not an offer ID.`, { argument: "id" });
      const offer = await ctx.prisma.gpuOffer.findUnique({ ...query, where: { id: offerId } });
      if (!offer) throw notFound("No offer has this ID.", { argument: "id" });
      return offer;
    },
  }),
  offerFacets: t.field({
    type: OfferFacetsRef,
    description: "Counts and min/median/max price per GPU-hour of the matching offers, grouped by GPU model, provider and region.",
    args: { filter: t.arg({ type: OfferFilterInput, description: "Same filter as `offers`." }) },
    resolve: async (_root, args, ctx) => {
      const buckets = await offerFacets(ctx.prisma, await checkFilter(ctx, args.filter));
      const pick = (d: string) => buckets.filter((b) => b.dimension === d).map(({ key, ...b }) => ({ value: key, ...b }));
      return { gpuModels: pick("GPU_MODEL"), providers: pick("PROVIDER"), regions: pick("REGION") };
    },
  }),
  priceHistory: t.field({
    type: [PriceBucketRef],
    description: "Recorded prices over time, in buckets: for one offer (its on-demand price per hour) or for a GPU model (price per GPU-hour across its offers). Give exactly one of offer or gpuModel.",
    args: {
      offer: t.arg.globalID({ for: GpuOfferRef, description: "Global ID of a GpuOffer." }),
      gpuModel: t.arg.string({ description: "GPU model name (any provider spelling)." }),
      from: t.arg({ type: "DateTime", description: "Start (inclusive); default 30 days before `to`." }),
      to: t.arg({ type: "DateTime", description: "End (exclusive); default now." }),
      bucket: t.arg({ type: HistoryBucketEnum, defaultValue: "DAY", required: true, description: "Bucket width." }),
    },
    resolve: async (_root, args, ctx) => {
      if ((args.offer == null) === (args.gpuModel == null)) throw badInput("Give exactly one of offer or gpuModel.");
      const to = args.to ?? new Date();
      const from = args.from ?? new Date(to.getTime() - 30 * BUCKET_MS.DAY);
      if (from >= to) throw badInput("from must be before to.", { argument: "from" });
      if ((to.getTime() - from.getTime()) / BUCKET_MS[args.bucket] > MAX_BUCKETS) {
        throw badInput(`That range holds more than ${MAX_BUCKETS} ${args.bucket} buckets; use a wider bucket or a shorter range.`, { argument: "bucket" });
      }
      if (args.offer) {
        const offerId = Number(args.offer.id);
        const offer = Number.isSafeInteger(offerId) ? await ctx.prisma.gpuOffer.findUnique({ where: { id: offerId }, select: { id: true } }) : null;
        if (!offer) throw notFound("No offer has this ID.", { argument: "offer" });
        return priceHistory(ctx.prisma, { offerId, from, to, bucket: args.bucket });
      }
      const match = normalizeGpuName(args.gpuModel!);
      const model = match.known ? await ctx.prisma.gpuModel.findUnique({ where: { name: match.name }, select: { id: true } }) : null;
      if (!model) throw notFound(`No GPU model matches "${args.gpuModel}".`, { argument: "gpuModel" });
      return priceHistory(ctx.prisma, { gpuModelId: model.id, from, to, bucket: args.bucket });
    },
  }),
}));

