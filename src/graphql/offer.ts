import { z } from "zod";
import type { FieldNode, GraphQLResolveInfo } from "graphql";
import { Prisma } from "../generated/prisma/client.ts";
import { MODEL_PRESETS } from "../domain/math/llm.ts";
import type { OfferPage, OfferPageIncludes, OfferSortField } from "../services/offers.ts";
import { PAGE_SIZE } from "../services/paging.ts";
import { builder } from "./builder.ts";
import { selectedFieldNames, selects } from "./selection.ts";
import { AvailabilityEnum, ComplianceTagEnum, DeploymentEnum, GpuVendorEnum, InterconnectEnum, PrecisionEnum, SortDirectionEnum } from "./enums.ts";
import { toRowId } from "../domain/ids.ts";


// ---------------------------------------------------------------- Types

export const GpuOfferRef = builder.prismaNode("GpuOffer", {
  id: { field: "id" },
  // A malformed or out-of-range id names no row (0 never does): `node` answers null, as for a missing one.
  findUnique: (id) => ({ id: toRowId(id) ?? 0 }),
  nullable: true,
  description: "One rentable GPU configuration: a provider's instance type in one region (or zone) at one price.",
  fields: (t) => ({
    externalId: t.exposeString("externalId", { description: "The provider's own identifier for this offer (unique per provider)." }),
    instanceType: t.exposeString("instanceType", { description: "The provider's instance type or SKU, e.g. \"gpu_8x_h100_sxm5\"." }),
    gpuName: t.exposeString("gpuName", { description: "The GPU name as the provider spells it." }),
    gpuCount: t.exposeInt("gpuCount", { description: "GPUs in the instance." }),
    vramPerGpuGb: t.exposeFloat("vramPerGpuGb", { description: "Memory per GPU in GB." }),
    vramTotalGb: t.exposeFloat("vramTotalGb", { description: "Memory across all GPUs in GB." }),
    vcpus: t.exposeInt("vcpus", { nullable: true, description: "Virtual CPUs." }),
    ramGb: t.exposeFloat("ramGb", { nullable: true, description: "System memory in GB." }),
    storageGb: t.exposeFloat("storageGb", { nullable: true, description: "Included disk in GB." }),
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
    networkGbps: t.exposeFloat("networkGbps", { nullable: true, description: "Network bandwidth in Gbit/s, when known." }),
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

/**
 * What each GpuOffer field reads of its row (the fields above, plus provider in provider.ts and gpuModel in
 * gpu-model.ts): the `offers` page reads only the columns its selection needs. A field missing here (a new one)
 * makes the page read whole rows again, so it stays correct; keep the list with the fields.
 */
const OFFER_FIELD_COLUMNS: Readonly<Record<string, readonly string[]>> = {
  __typename: [], id: ["id"], externalId: ["externalId"], instanceType: ["instanceType"], gpuName: ["gpuName"], gpuCount: ["gpuCount"],
  vramPerGpuGb: ["vramPerGpuGb"], vramTotalGb: ["vramTotalGb"], vcpus: ["vcpus"], ramGb: ["ramGb"], storageGb: ["storageGb"],
  region: ["region"], zone: ["zone"], country: ["country"], onDemandPrice: ["onDemandPrice"], spotPrice: ["spotPrice"],
  pricePerGpuHour: ["pricePerGpuHour"], spotPricePerGpuHour: ["spotPricePerGpuHour"], currency: ["currency"],
  availability: ["availability"], interconnect: ["interconnect"], networkGbps: ["networkGbps"], deployment: ["deployment"],
  firstSeenAt: ["firstSeenAt"], lastSeenAt: ["lastSeenAt"], active: ["active"],
  // costPerMtok comes with every row of a COST_PER_MTOK page, and is absent (null) otherwise
  costPerMillionTokens: [],
  provider: ["providerId"], gpuModel: ["gpuModelId"],
};

/** The columns the offers' selected fields read, or undefined (every column) when one of them is not listed above. */
function offerColumns(names: Iterable<string>): string[] | undefined {
  const columns = new Set<string>();
  for (const name of names) {
    const read = OFFER_FIELD_COLUMNS[name];
    if (!read) return undefined;
    for (const c of read) columns.add(c);
  }
  return [...columns].sort();
}

/**
 * What the `offers` page reads with its rows (total, relations, columns), from the selection: worked out once per
 * `offers` field of a parsed document (Yoga's parse cache hands back the same AST), not on every request.
 */
function pageIncludes(info: GraphQLResolveInfo): OfferPageIncludes {
  const nodes = info.fieldNodes;
  let known = includesByField.get(nodes[0]!);
  if (!known) includesByField.set(nodes[0]!, (known = []));
  // Several nodes when the field is selected more than once (merged); the first one may belong to a fragment shared by operations.
  const hit = known.find((k) => k.nodes.length === nodes.length && k.nodes.every((n, i) => n === nodes[i]));
  if (hit) return hit.includes;
  const includes: OfferPageIncludes = {
    totalCount: selects(info, ["totalCount"]),
    relations: selects(info, ["edges", "node", "provider"]) || selects(info, ["edges", "node", "gpuModel"]) || selects(info, ["nodes", "provider"]) || selects(info, ["nodes", "gpuModel"]),
    columns: offerColumns([...selectedFieldNames(info, ["edges", "node"]), ...selectedFieldNames(info, ["nodes"])]),
  };
  known.push({ nodes: [...nodes], includes });
  return includes;
}
const includesByField = new WeakMap<FieldNode, { nodes: readonly FieldNode[]; includes: OfferPageIncludes }[]>();

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
type SchemaTypes = typeof builder extends PothosSchemaTypes.SchemaBuilder<infer T> ? T : never;

const ComplianceTagsFilterInput = builder.inputType("ComplianceTagsFilter", {
  description: "Offers whose provider holds compliance attestations (see Provider.compliance for each one's source).",
  fields: (t) => ({
    all: t.field({ type: [ComplianceTagEnum], required: true, description: "Every one of these tags, e.g. [SOC2, HIPAA]; an empty list sets no condition." }),
  }),
});

/** GPU models, providers, regions and compliance tags: the part of the offer filter every filter input shares (offers, alerts, ticks). */
export const whereFields = (t: PothosSchemaTypes.InputFieldBuilder<SchemaTypes, "InputObject">) => ({
  gpuModels: t.stringList({ description: "GPU models, by canonical name or any provider spelling (\"H100\", \"a100-80gb\").", validate: nameList("GPU model") }),
  providers: t.stringList({ description: "Provider slugs, e.g. [\"runpod\", \"lambda\"].", validate: nameList("provider slug") }),
  regions: t.stringList({ description: "Provider region names, exactly as listed on offers.", validate: nameList("region") }),
  complianceTags: t.field({ type: ComplianceTagsFilterInput, description: "Only offers of providers holding these compliance attestations. With `providers`, only those of the listed providers that hold them; when no provider holds them all, nothing matches." }),
});

export const OfferFilterInput = builder.inputType("OfferFilter", {
  description: "Narrows the offers. Every field is optional; given fields are combined with AND, values inside a list with OR.",
  fields: (t) => ({
    ...whereFields(t),
    gpuVendors: t.field({ type: [GpuVendorEnum], description: "GPU vendors." }),
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


// ---------------------------------------------------------------- Helpers

// ---------------------------------------------------------------- Queries

const OfferFacetRef = builder.simpleObject("OfferFacet", {
  description: "One group of matching offers with its price spread (per GPU-hour, on-demand).",
  fields: (t) => ({
    value: t.string({ nullable: true, description: "The GPU model name, provider slug, region, country code or compliance tag; null groups offers whose GPU model (or country) we could not identify." }),
    count: t.int({ description: "Matching offers in the group." }),
    minPricePerGpuHour: t.field({ type: "Money", description: "Cheapest price per GPU-hour." }),
    medianPricePerGpuHour: t.field({ type: "Money", description: "Median price per GPU-hour (interpolated, 4 decimals)." }),
    maxPricePerGpuHour: t.field({ type: "Money", description: "Dearest price per GPU-hour." }),
  }),
});

const OfferFacetsRef = builder.simpleObject("OfferFacets", {
  description: "Matching offers grouped five ways; each list is sorted by count, largest first.",
  fields: (t) => ({
    gpuModels: t.field({ type: [OfferFacetRef], description: "Grouped by canonical GPU model." }),
    providers: t.field({ type: [OfferFacetRef], description: "Grouped by provider slug." }),
    regions: t.field({ type: [OfferFacetRef], description: "Grouped by provider region." }),
    countries: t.field({ type: [OfferFacetRef], description: "Grouped by ISO 3166-1 alpha-2 country of the region; null groups offers whose country is unknown." }),
    complianceTags: t.field({ type: [OfferFacetRef], description: "Grouped by compliance tag of the offer's provider (a ComplianceTag name): an offer counts under each tag its provider holds, so these counts do not add up to the total. Tags no matching offer's provider holds are left out." }),
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

builder.queryFields((t) => ({
  offers: t.connection(
    {
      type: GpuOfferRef,
      description: `Search the catalog. Relay connection: page with first/after or last/before (default ${PAGE_SIZE.default}, max ${PAGE_SIZE.max}). Defaults to active offers, cheapest per GPU-hour first. Pages are keyed on (sort value, id): walking them returns every offer exactly once only while prices do not move across the cursor; an offer repriced past it mid-walk can be seen twice or missed.`,
      args: {
        filter: t.arg({ type: OfferFilterInput, description: "What to match." }),
        orderBy: t.arg({ type: OfferOrderInput, description: "How to sort; default PRICE_PER_GPU ascending." }),
      },
      resolve: async (_root, args, ctx, info) => {
        // The page, its total and its providers / GPU models in one statement, when they are selected;
        // the batch loaders then answer provider and gpuModel from what the statement returned. The
        // offers carry only the columns their selected fields read.
        const page = await ctx.services.offers.search(args, ctx.actor, pageIncludes(info));
        for (const p of page.providers) ctx.loaders.provider.prime(p.id, p);
        for (const m of page.gpuModels) ctx.loaders.gpuModel.prime(m.id, m);
        return page;
      },
    },
    {
      name: "OfferConnection",
      description: "A page of offers.",
      fields: (c) => ({
        totalCount: c.int({
          description: "All offers matching the filter (not just this page).",
          resolve: (conn, _args, ctx) => {
            const page = conn as unknown as OfferPage;
            return page.totalCount ?? ctx.services.offers.totalCount(page.filter, ctx.actor);
          },
        }),
      }),
    },
    { name: "OfferEdge", description: "An offer and its cursor." },
  ),
  offer: t.field({
    type: GpuOfferRef,
    description: "One offer by its global ID (as returned in `offers`). Unknown IDs are a NOT_FOUND error.",
    args: { id: t.arg.globalID({ required: true, for: GpuOfferRef, description: "Global ID of a GpuOffer." }) },
    resolve: (_root, { id }, ctx) => ctx.services.offers.byId({ id: id.id }, ctx.actor),
  }),
  offerFacets: t.field({
    type: OfferFacetsRef,
    description: "Counts and min/median/max price per GPU-hour of the matching offers, grouped by GPU model, provider, region, country and compliance tag.",
    args: { filter: t.arg({ type: OfferFilterInput, description: "Same filter as `offers`." }) },
    resolve: (_root, args, ctx) => ctx.services.offers.facets(args, ctx.actor),
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
    resolve: (_root, args, ctx) => ctx.services.priceHistory.buckets({ ...args, offer: args.offer?.id }, ctx.actor),
  }),
}));
