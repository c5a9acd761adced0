// Market KPIs and insights: the market now, one GPU model, one provider, and how prices moved over a
// window. Public reads: any caller, anonymous included. The figures are computed in SQL by
// src/infra/kpi.ts, which also defines them.
import type { PrismaClient } from "../generated/prisma/client.ts";
import { badInput, notFound } from "../errors.ts";
import {
  gpuKpis, marketInsights, marketOverview, providerKpis, WINDOW_MS,
  type GpuKpis, type InsightWindow, type MarketInsights, type MarketOverview, type ProviderKpis,
} from "../infra/kpi.ts";
import { resolveGpuModel } from "../infra/names.ts";
import type { Actor } from "./actor.ts";

export {
  BEST_VALUE_WORKLOAD,
  type BestValue, type CheapestOffer, type GpuKpis, type InsightWindow, type MarketInsights, type MarketOverview,
  type ModelMedianPrice, type ModelMove, type OfferMove, type PriceTrend, type ProviderKpis, type ProviderPriceIndex,
} from "../infra/kpi.ts";

/** Entries per ranked list of marketInsights. */
export const INSIGHT_LIMIT = { default: 5, max: 50 } as const;

export function createKpiService({ prisma }: { prisma: PrismaClient }) {
  return {
    /** Headline figures of the whole market from the active offers. */
    marketOverview(_actor: Actor): Promise<MarketOverview> {
      return marketOverview(prisma);
    },

    /** Key figures for one GPU model, by canonical name or any provider spelling; unknown models are NOT_FOUND. */
    async gpuKpis(input: { model: string }, _actor: Actor): Promise<GpuKpis> {
      const found = await resolveGpuModel(prisma, input.model);
      if (!found) throw notFound(`No GPU model matches "${input.model}". The gpuModels query lists every known model.`, { argument: "model" });
      return gpuKpis(prisma, found.id, new Date());
    },

    /** Key figures for one provider by slug; unknown slugs are NOT_FOUND. */
    async providerKpis(input: { slug: string }, _actor: Actor): Promise<ProviderKpis> {
      const provider = await prisma.provider.findUnique({ where: { slug: input.slug.trim().toLowerCase() }, select: { id: true } });
      if (!provider) throw notFound(`No provider has the slug "${input.slug}". The providers query lists them all.`, { argument: "slug" });
      return providerKpis(prisma, provider.id, new Date());
    },

    /** Movers, models cheaper and dearer, cheapest per model, provider price index and best value over `window` (default 7 days). */
    marketInsights(input: { window?: InsightWindow | null; limit?: number | null }, _actor: Actor): Promise<MarketInsights> {
      const window = input.window ?? "DAYS_7";
      const limit = input.limit ?? INSIGHT_LIMIT.default;
      if (!Object.hasOwn(WINDOW_MS, window)) throw badInput(`window must be one of ${Object.keys(WINDOW_MS).join(", ")} (got ${JSON.stringify(window)}).`, { argument: "window" });
      if (!Number.isInteger(limit) || limit < 1 || limit > INSIGHT_LIMIT.max) throw badInput(`limit must be between 1 and ${INSIGHT_LIMIT.max} (got ${limit}).`, { argument: "limit" });
      return marketInsights(prisma, new Date(), window, limit);
    },
  };
}
