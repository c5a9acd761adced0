// Offer search: filter resolution (GPU model spellings and provider slugs to ids, shared with ranking,
// workload, alerts and subscriptions), keyset pages in any order (including $ per 1M tokens for an
// LLM), total counts, facets and one offer by id. Public: every actor may read the catalog.
import { resolveCursorConnection } from "@pothos/plugin-relay";
import type { GpuModel, GpuOffer, PrismaClient, Provider } from "../generated/prisma/client.ts";
import { DEFAULT_SERVING, LlmInputError, MODEL_PRESETS, estimateInference, pricePerMillionTokens, type Precision } from "../domain/math/llm.ts";
import type { CostPair, OfferFilter, OfferFilterInput } from "../domain/offers/filter.ts";
import { toRowId } from "../domain/ids.ts";
import { providersHoldingAll } from "../domain/catalog/compliance.ts";
import { badInput, notFound } from "../errors.ts";
import { resolveGpuModels, resolveNames } from "../infra/names.ts";
import { createEpochCache } from "../infra/epoch-cache.ts";
import {
  catalogEpoch, countOffers, decodeOfferCursor, encodeOfferCursor, findOfferPageWith, offerFacets, offerGpuPairs,
  type FacetBucket, type OfferCursor, type OfferOrder, type OfferPageWith, type OfferSortField,
} from "../infra/offers.ts";
import type { Actor } from "./actor.ts";
import { checkPageArgs, PAGE_SIZE } from "./paging.ts";

export type { OfferFilter, OfferFilterInput } from "../domain/offers/filter.ts";
export type { OfferSortField } from "../infra/offers.ts";

export { PAGE_SIZE };

type Reader = Pick<PrismaClient, "gpuModel" | "provider">;

/**
 * Resolves GPU model spellings and provider slugs to ids; unknown names are BAD_USER_INPUT, not
 * empty results. Every filter over offers (search, facets, ranking, workload, alerts, ticks) goes through here.
 */
export async function resolveOfferFilter(prisma: Reader, input: OfferFilterInput | null | undefined): Promise<OfferFilter> {
  const { gpuModels, providers, complianceTags, ...filter } = input ?? {};
  const resolved: OfferFilter = filter;
  if (gpuModels?.length) {
    const { models, unknown } = await resolveGpuModels(prisma, gpuModels);
    // Listed as the caller spelled them, in their order.
    const bad = gpuModels.filter((raw) => unknown.includes(raw));
    if (bad.length) throw badInput(`Unknown GPU model${bad.length > 1 ? "s" : ""}: ${bad.map((u) => `"${u}"`).join(", ")}. The gpuModels query lists every known model.`, { field: "filter.gpuModels", unknown: bad });
    resolved.gpuModelIds = [...new Set([...models.values()].map((m) => m.id))];
  }
  if (providers?.length) {
    const slugs = [...new Set(providers.map((s) => s.trim().toLowerCase()))];
    const { ids, unknown } = await resolveNames(prisma, "providers", slugs);
    if (unknown.length) throw badInput(`Unknown provider slug${unknown.length > 1 ? "s" : ""}: ${unknown.map((u) => `"${u}"`).join(", ")}. The providers query lists every slug.`, { field: "filter.providers", unknown });
    resolved.providerIds = ids;
  }
  const tags = complianceTags?.all;
  if (tags?.length) {
    // Providers holding every tag (none: the filter matches no offer), within `providers` when both are given.
    const holders = await prisma.provider.findMany({ where: { complianceTags: { hasEvery: [...new Set(tags)] } }, select: { id: true, complianceTags: true }, orderBy: { id: "asc" } });
    resolved.providerIds = providersHoldingAll(tags, holders.map((p) => ({ id: p.id, tags: p.complianceTags })), resolved.providerIds);
  }
  return resolved;
}

export interface OfferOrderInput {
  field?: OfferSortField | null;
  direction?: "ASC" | "DESC" | null;
  /** For COST_PER_MTOK: the LLM preset. */
  model?: string | null;
  /** For COST_PER_MTOK: weight precision (default FP16). */
  precision?: Precision | null;
}

export interface OfferSearchInput {
  filter?: OfferFilterInput | null;
  orderBy?: OfferOrderInput | null;
  first?: number | null;
  after?: string | null;
  last?: number | null;
  before?: string | null;
}

/** One page of offers, Relay-shaped; `filter` is the resolved filter, for `totalCount`. */
export interface OfferPage {
  edges: { cursor: string; node: GpuOffer }[];
  pageInfo: { hasNextPage: boolean; hasPreviousPage: boolean; startCursor?: string | null; endCursor?: string | null };
  filter: OfferFilter;
  /** All matching offers, when `include.totalCount` asked for it (read with the page). */
  totalCount: number | null;
  /** The page's providers and GPU models, when `include.relations` asked for them (read with the page). */
  providers: Provider[];
  gpuModels: GpuModel[];
}

/** What to read with a page, in the same statement. */
export interface OfferPageIncludes {
  totalCount?: boolean;
  relations?: boolean;
  /**
   * Only these GpuOffer columns of each offer (id and the sort column always come); default every column. For a
   * caller that reads nothing else of the offers (the GraphQL page, from its selection).
   */
  columns?: readonly string[] | undefined;
}

export interface OfferFacet {
  /** GPU model name, provider slug or region; null groups offers whose GPU is not identified. */
  value: string | null;
  count: number;
  minPricePerGpuHour: GpuOffer["pricePerGpuHour"];
  medianPricePerGpuHour: GpuOffer["pricePerGpuHour"];
  maxPricePerGpuHour: GpuOffer["pricePerGpuHour"];
}
export interface OfferFacets {
  gpuModels: OfferFacet[]; providers: OfferFacet[]; regions: OfferFacet[]; countries: OfferFacet[];
  /** By compliance tag of the offer's provider: an offer counts under each tag its provider holds. */
  complianceTags: OfferFacet[];
}

function parseCursor(name: "after" | "before", cursor: string | null | undefined, order: OfferOrder): OfferCursor | undefined {
  if (cursor == null) return undefined;
  const parsed = decodeOfferCursor(cursor);
  if (!parsed) throw badInput(`${name} is not a valid offers cursor. Pass pageInfo.endCursor or startCursor from a previous page.`, { argument: name });
  if (parsed.field !== order.field) throw badInput(`${name} is a cursor for orderBy ${parsed.field}, but this query sorts by ${order.field}. Start again without a cursor.`, { argument: name });
  return parsed;
}

/**
 * An edge whose cursor is encoded when first read (then kept): a page usually shows pageInfo.endCursor, not one cursor
 * per edge. A class, not an object literal with a getter: V8 creates those far more slowly than the base64 they save
 * (50 edges: 74 µs as literals, 26 µs with eager cursors, 1.3 µs like this).
 */
class LazyEdge {
  readonly #order: OfferOrder;
  #cursor: string | undefined;
  constructor(order: OfferOrder, readonly node: GpuOffer) {
    this.#order = order;
  }

  get cursor(): string {
    return (this.#cursor ??= encodeOfferCursor(this.#order, this.node));
  }

  /** As the eager edge serialised. */
  toJSON(): { cursor: string; node: GpuOffer } {
    return { cursor: this.cursor, node: this.node };
  }
}

/** Facets kept per filter and catalog epoch: at most this many filters, least recently used dropped first. */
export const FACET_CACHE_SIZE = 200;

export function createOfferService({ prisma }: { prisma: PrismaClient }) {
  // offerFacets reads every matching offer (~200 ms unfiltered on 100k): answered once per catalog change
  // (ingestion cycle) and filter, on every node, keyed by the catalog epoch read before the facets.
  const facetCache = createEpochCache<FacetBucket[]>(FACET_CACHE_SIZE);
  const cachedFacets = async (filter: OfferFilter) =>
    facetCache.get(JSON.stringify(filter), await catalogEpoch(prisma), () => offerFacets(prisma, filter));

  /** For COST_PER_MTOK: the (GPU model, count) pairs the LLM fits on, each with its price → $/Mtok factor. */
  async function costPairs(filter: OfferFilter, model: string | null | undefined, precision: Precision): Promise<CostPair[]> {
    if (!model) throw badInput(`orderBy COST_PER_MTOK needs orderBy.model (${Object.keys(MODEL_PRESETS).join(", ")}).`, { argument: "orderBy.model" });
    const pairs: CostPair[] = [];
    for (const pair of await offerGpuPairs(prisma, filter)) {
      let estimate;
      try {
        estimate = estimateInference({ model, gpu: pair, gpuCount: pair.gpuCount, precision, ...DEFAULT_SERVING });
      } catch (err) {
        if (err instanceof LlmInputError) throw badInput(err.message, { argument: "orderBy.model", reason: err.code });
        throw err;
      }
      if (!estimate.fits || !(estimate.decode.tokensPerSecond > 0)) continue;
      // the $/Mtok of one $/h: SQL multiplies it by each offer's hourly price
      pairs.push({ gpuModelId: pair.gpuModelId, gpuCount: pair.gpuCount, factor: pricePerMillionTokens(1, estimate.decode.tokensPerSecond).toPrecision(12) });
    }
    return pairs;
  }

  return {
    /** The filter resolved to ids, as search uses it (unknown GPU models or providers are BAD_USER_INPUT). */
    resolveFilter(input: OfferFilterInput | null | undefined, _actor: Actor): Promise<OfferFilter> {
      return resolveOfferFilter(prisma, input);
    },

    /**
     * One page of matching offers: first/after forwards, last/before backwards (default 20, max 100),
     * default order price per GPU-hour ascending. Pages are keyed on (sort value, id), so a walk sees
     * each offer once as long as prices do not move across the cursor while it pages.
     */
    async search(input: OfferSearchInput, _actor: Actor, include: OfferPageIncludes = {}): Promise<OfferPage> {
      checkPageArgs(input);
      const order: OfferOrder = { field: input.orderBy?.field ?? "PRICE_PER_GPU", direction: input.orderBy?.direction ?? "ASC" };
      const after = parseCursor("after", input.after, order);
      const before = parseCursor("before", input.before, order);
      const filter = await resolveOfferFilter(prisma, input.filter);
      if (order.field === "COST_PER_MTOK") filter.costPairs = await costPairs(filter, input.orderBy?.model, input.orderBy?.precision ?? "FP16");
      // Relay paging by the relay plugin's own helper (a plain function: no schema involved); the page, its
      // total and its relations in one statement.
      let read: OfferPageWith | undefined;
      // The helper's cursors are placeholders: each edge encodes its own when read (LazyEdge), and pageInfo's two
      // are encoded below, as the helper would (plain values: getters closing over this function cost more in GC).
      const connection = await resolveCursorConnection<Promise<GpuOffer[]>>(
        { args: input, defaultSize: PAGE_SIZE.default, maxSize: PAGE_SIZE.max, toCursor: () => "" },
        async ({ limit, inverted }) => {
          read = await findOfferPageWith(prisma, { filter, order, after, before, limit, inverted },
            { total: !!include.totalCount, relations: !!include.relations, columns: include.columns });
          return read.rows;
        },
      );
      const edges = connection.edges.filter((e) => e != null).map((e) => new LazyEdge(order, e.node));
      const pageInfo = connection.pageInfo;
      return {
        edges,
        // With no edges the helper's cursors are the request's own (after ?? before ?? ""), as they were.
        pageInfo: edges.length ? {
          startCursor: edges[0]!.cursor,
          endCursor: edges[edges.length - 1]!.cursor,
          hasPreviousPage: pageInfo.hasPreviousPage,
          hasNextPage: pageInfo.hasNextPage,
        } : pageInfo,
        filter,
        totalCount: read?.total ?? null,
        providers: read?.providers ?? [],
        gpuModels: read?.gpuModels ?? [],
      };
    },

    /** All offers matching a search's resolved filter (`page.filter`), not just one page. */
    totalCount(filter: OfferFilter, _actor: Actor): Promise<number> {
      return countOffers(prisma, filter);
    },

    /** Counts and min/median/max price per GPU-hour of the matching offers by GPU model, provider, region, country and compliance tag. */
    async facets(input: { filter?: OfferFilterInput | null }, _actor: Actor): Promise<OfferFacets> {
      const buckets = await cachedFacets(await resolveOfferFilter(prisma, input.filter));
      const pick = (d: string) => buckets.filter((b) => b.dimension === d).map(({ key, dimension: _, ...b }) => ({ value: key, ...b }));
      return { gpuModels: pick("GPU_MODEL"), providers: pick("PROVIDER"), regions: pick("REGION"), countries: pick("COUNTRY"), complianceTags: pick("COMPLIANCE_TAG") };
    },

    /** One offer by its database id (the id part of its global ID). */
    async byId(input: { id: string }, _actor: Actor): Promise<GpuOffer> {
      if (!Number.isSafeInteger(Number(input.id))) throw badInput(`"${input.id}" is not an offer ID.`, { argument: "id" });
      const offerId = toRowId(input.id); // a whole number beyond the stored ids names no offer
      const offer = offerId === null ? null : await prisma.gpuOffer.findUnique({ where: { id: offerId } });
      if (!offer) throw notFound("No offer has this ID.", { argument: "id" });
      return offer;
    },
  };
}
