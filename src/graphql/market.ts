// Market KPIs and insights: the types and the four queries; resolvers call src/services/kpis.ts. A figure
// the data cannot give is null, and its sibling `…Reason` says why (null exactly when the figure is set).
import {
  BEST_VALUE_WORKLOAD, INSIGHT_LIMIT,
  type BestValue, type CheapestOffer, type GpuKpis, type InsightWindow, type MarketInsights, type MarketOverview,
  type ModelMedianPrice, type ModelMove, type OfferMove, type PriceTrend, type ProviderKpis, type ProviderPriceIndex,
} from "../services/kpis.ts";
import { builder } from "./builder.ts";
import { GpuModelRef } from "./gpu-model.ts";
import { GpuOfferRef } from "./offer.ts";
import { ProviderRef } from "./provider.ts";
import { required } from "../infra/loaders.ts";

const RATIO = "a fraction, rounded to 6 decimals";
const reason = (what: string) => ({ nullable: true, description: `Why ${what} is null; null when it is set.` }) as const;

// ---------------------------------------------------------------- Types

const InsightWindowEnum = builder.enumType("InsightWindow", {
  description: "How far back a price comparison looks from now.",
  values: {
    HOURS_24: { description: "24 hours." },
    DAYS_7: { description: "7 days." },
    DAYS_30: { description: "30 days." },
  } satisfies Record<InsightWindow, { description: string }>,
});

const ModelMedianRef = builder.objectRef<ModelMedianPrice>("MarketModelMedian").implement({
  description: "The median on-demand price per GPU-hour of one GPU model's active offers.",
  fields: (t) => ({
    gpuModel: t.field({ type: GpuModelRef, description: "The GPU model.", resolve: (r, _a, ctx) => required(ctx.loaders.gpuModel.get(r.gpuModelId)) }),
    offers: t.exposeInt("offers", { description: "Active offers of the model." }),
    medianPricePerGpuHour: t.expose("medianPricePerGpuHour", { type: "Money", description: "Median price per GPU-hour (percentile_cont, 4 decimals)." }),
  }),
});

const CheapestOfferRef = builder.objectRef<CheapestOffer>("MarketCheapestOffer").implement({
  description: "The active offer with the lowest on-demand price per GPU-hour (ties: lowest offer id).",
  fields: (t) => ({
    offer: t.field({ type: GpuOfferRef, description: "The offer.", resolve: (r) => r.offer }),
    pricePerGpuHour: t.expose("pricePerGpuHour", { type: "Money", description: "Its on-demand price per GPU-hour." }),
  }),
});

const MarketOverviewRef = builder.objectRef<MarketOverview>("MarketOverview").implement({
  description: "The market right now, from the active offers.",
  fields: (t) => ({
    activeOffers: t.exposeInt("activeOffers", { description: "Offers currently listed." }),
    providers: t.exposeInt("providers", { description: "Providers with at least one active offer." }),
    gpuModels: t.exposeInt("gpuModels", { description: "Known GPU models with at least one active offer." }),
    medianPricePerGpuHour: t.field({ type: [ModelMedianRef], description: "Median price per GPU-hour for each GPU model with active offers, by model name.", resolve: (r) => r.medianPricePerGpuHour }),
    cheapestH100: t.field({ type: CheapestOfferRef, nullable: true, description: "Cheapest active offer per GPU-hour of any H100 variant (SXM, PCIe, NVL).", resolve: (r) => r.cheapest.H100.offer }),
    cheapestH100Reason: t.string({ ...reason("cheapestH100"), resolve: (r) => r.cheapest.H100.reason }),
    cheapestA100: t.field({ type: CheapestOfferRef, nullable: true, description: "Cheapest active offer per GPU-hour of any A100 variant (SXM or PCIe, 40 or 80 GB).", resolve: (r) => r.cheapest.A100.offer }),
    cheapestA100Reason: t.string({ ...reason("cheapestA100"), resolve: (r) => r.cheapest.A100.reason }),
    cheapestRtx4090: t.field({ type: CheapestOfferRef, nullable: true, description: "Cheapest active RTX 4090 offer per GPU-hour.", resolve: (r) => r.cheapest.RTX4090.offer }),
    cheapestRtx4090Reason: t.string({ ...reason("cheapestRtx4090"), resolve: (r) => r.cheapest.RTX4090.reason }),
  }),
});

const PriceSpreadRef = builder.objectRef<NonNullable<GpuKpis["pricePerGpuHour"]>>("GpuPriceSpread").implement({
  description: "Spread of on-demand prices per GPU-hour over a GPU model's active offers (percentile_cont, 4 decimals).",
  fields: (t) => ({
    min: t.expose("min", { type: "Money", description: "Cheapest." }),
    median: t.expose("median", { type: "Money", description: "50th percentile." }),
    p90: t.expose("p90", { type: "Money", description: "90th percentile, interpolated between neighbours." }),
  }),
});

const PriceTrendRef = builder.objectRef<PriceTrend>("GpuPriceTrend").implement({
  description: "Like-for-like price change: the active offers that already had a price at `since`, their median per GPU-hour then and now. "
    + "An offer's price at `since` is its last recorded price point at or before it (a price holds until the next point); now, its listed price.",
  fields: (t) => ({
    since: t.expose("since", { type: "DateTime", description: "Start of the window (now minus the window)." }),
    offersCompared: t.exposeInt("offersCompared", { description: "Offers priced at both ends of the window." }),
    medianThen: t.expose("medianThen", { type: "Money", description: "Their median price per GPU-hour at `since`." }),
    medianNow: t.expose("medianNow", { type: "Money", description: "Their median listed price per GPU-hour now." }),
    change: t.exposeFloat("change", { description: `medianNow ÷ medianThen − 1 (unrounded medians); ${RATIO}: −0.05 is 5 % cheaper.` }),
  }),
});

const GpuKpisRef = builder.objectRef<GpuKpis>("GpuKpis").implement({
  description: "Key figures for one GPU model: current prices from its active offers, trends from their price history.",
  fields: (t) => ({
    gpuModel: t.field({ type: GpuModelRef, description: "The GPU model.", resolve: (r, _a, ctx) => required(ctx.loaders.gpuModel.get(r.gpuModelId)) }),
    asOf: t.expose("asOf", { type: "DateTime", description: "The time the trends are computed for (now)." }),
    activeOffers: t.exposeInt("activeOffers", { description: "Active offers of the model." }),
    providers: t.exposeInt("providers", { description: "Providers with active offers of the model." }),
    pricePerGpuHour: t.field({ type: PriceSpreadRef, nullable: true, description: "Min, median and p90 on-demand price per GPU-hour.", resolve: (r) => r.pricePerGpuHour }),
    pricePerGpuHourReason: t.string({ ...reason("pricePerGpuHour"), resolve: (r) => r.pricePerGpuHourReason }),
    spotOffers: t.exposeInt("spotOffers", { description: "Active offers with a spot price." }),
    spotDiscount: t.float({ nullable: true, description: `Median over offers with a spot price of 1 − spot ÷ on-demand (per GPU-hour); ${RATIO}: 0.4 is 40 % off.`, resolve: (r) => r.spotDiscount }),
    spotDiscountReason: t.string({ ...reason("spotDiscount"), resolve: (r) => r.spotDiscountReason }),
    availabilityShare: t.float({ nullable: true, description: `Share of AVAILABLE or LIMITED offers among active offers whose availability is known (not UNKNOWN); ${RATIO}.`, resolve: (r) => r.availabilityShare }),
    availabilityShareReason: t.string({ ...reason("availabilityShare"), resolve: (r) => r.availabilityShareReason }),
    priceChange24h: t.field({ type: PriceTrendRef, nullable: true, description: "Median price per GPU-hour now vs 24 hours ago.", resolve: (r) => r.priceChange.HOURS_24.trend }),
    priceChange24hReason: t.string({ ...reason("priceChange24h"), resolve: (r) => r.priceChange.HOURS_24.reason }),
    priceChange7d: t.field({ type: PriceTrendRef, nullable: true, description: "Median price per GPU-hour now vs 7 days ago.", resolve: (r) => r.priceChange.DAYS_7.trend }),
    priceChange7dReason: t.string({ ...reason("priceChange7d"), resolve: (r) => r.priceChange.DAYS_7.reason }),
    priceChange30d: t.field({ type: PriceTrendRef, nullable: true, description: "Median price per GPU-hour now vs 30 days ago.", resolve: (r) => r.priceChange.DAYS_30.trend }),
    priceChange30dReason: t.string({ ...reason("priceChange30d"), resolve: (r) => r.priceChange.DAYS_30.reason }),
  }),
});

const ProviderKpisRef = builder.objectRef<ProviderKpis>("ProviderKpis").implement({
  description: "Key figures for one provider: its prices against the market, availability, reliability and price volatility.",
  fields: (t) => ({
    provider: t.field({ type: ProviderRef, description: "The provider.", resolve: (r, _a, ctx) => required(ctx.loaders.provider.get(r.providerId)) }),
    asOf: t.expose("asOf", { type: "DateTime", description: "The time the volatility window ends (now)." }),
    activeOffers: t.exposeInt("activeOffers", { description: "The provider's active offers." }),
    priceIndex: t.float({
      nullable: true,
      description: "Price level against the market: for each GPU model the provider sells, its median price per GPU-hour ÷ the whole market's median "
        + `(all providers, this one included); then the geometric mean of those ratios weighted by the provider's offers per model. 1 = market price, 0.9 = 10 % cheaper; ${RATIO}.`,
      resolve: (r) => r.priceIndex,
    }),
    priceIndexReason: t.string({ ...reason("priceIndex"), resolve: (r) => r.priceIndexReason }),
    priceIndexModels: t.exposeInt("priceIndexModels", { description: "GPU models the price index compares." }),
    availabilityShare: t.float({ nullable: true, description: `Share of AVAILABLE or LIMITED offers among active offers whose availability is known; ${RATIO}.`, resolve: (r) => r.availabilityShare }),
    availabilityShareReason: t.string({ ...reason("availabilityShare"), resolve: (r) => r.availabilityShareReason }),
    reliabilityScore: t.float({ nullable: true, description: "The provider's 0–1 reliability score.", resolve: (r) => r.reliabilityScore }),
    reliabilityScoreReason: t.string({ ...reason("reliabilityScore"), resolve: (r) => r.reliabilityScoreReason }),
    volatility: t.float({
      nullable: true,
      description: "Sample standard deviation of the relative on-demand price changes (new ÷ previous − 1) of the provider's offers, withdrawn ones "
        + `included, recorded in the last 30 days (availability-only points excluded; at least 2 changes needed); ${RATIO}.`,
      resolve: (r) => r.volatility,
    }),
    volatilityReason: t.string({ ...reason("volatility"), resolve: (r) => r.volatilityReason }),
    priceChanges: t.exposeInt("priceChanges", { description: "On-demand price changes in the volatility window." }),
    volatilitySince: t.expose("volatilitySince", { type: "DateTime", description: "Start of the volatility window." }),
  }),
});

const OfferMoveRef = builder.objectRef<OfferMove>("MarketOfferMove").implement({
  description: "One offer's on-demand price change over the window: its last recorded price at or before the start vs its listed price now.",
  fields: (t) => ({
    offer: t.field({ type: GpuOfferRef, description: "The offer.", resolve: (r) => r.offer }),
    priceThen: t.expose("priceThen", { type: "Money", description: "On-demand price per hour (whole instance) at the window start." }),
    priceNow: t.expose("priceNow", { type: "Money", description: "On-demand price per hour (whole instance) now." }),
    change: t.exposeFloat("change", { description: `priceNow ÷ priceThen − 1; ${RATIO}.` }),
  }),
});

const ModelMoveRef = builder.objectRef<ModelMove>("MarketModelMove").implement({
  description: "One GPU model's like-for-like median price change per GPU-hour over the window (same definition as GpuPriceTrend).",
  fields: (t) => ({
    gpuModel: t.field({ type: GpuModelRef, description: "The GPU model.", resolve: (r, _a, ctx) => required(ctx.loaders.gpuModel.get(r.gpuModelId)) }),
    offersCompared: t.exposeInt("offersCompared", { description: "Active offers priced at both ends of the window." }),
    medianThen: t.expose("medianThen", { type: "Money", description: "Their median price per GPU-hour at the window start." }),
    medianNow: t.expose("medianNow", { type: "Money", description: "Their median price per GPU-hour now." }),
    change: t.exposeFloat("change", { description: `medianNow ÷ medianThen − 1; ${RATIO}.` }),
  }),
});

const ProviderIndexRef = builder.objectRef<ProviderPriceIndex>("MarketProviderPriceIndex").implement({
  description: "A provider's price index (see ProviderKpis.priceIndex).",
  fields: (t) => ({
    provider: t.field({ type: ProviderRef, description: "The provider.", resolve: (r, _a, ctx) => required(ctx.loaders.provider.get(r.providerId)) }),
    priceIndex: t.exposeFloat("priceIndex", { description: `Offer-weighted geometric mean of provider median ÷ market median per GPU model; 1 = market price; ${RATIO}.` }),
    gpuModels: t.exposeInt("gpuModels", { description: "GPU models compared." }),
    offers: t.exposeInt("offers", { description: "Active offers of those models." }),
  }),
});

const { model, precision, batch, contextTokens, promptTokens } = BEST_VALUE_WORKLOAD;
const BestValueRef = builder.objectRef<BestValue>("MarketBestValue").implement({
  description: `Estimated serving cost of ${model} (${precision}, batch ${batch}, ${contextTokens}-token context of which ${promptTokens} prompt) `
    + "on one GPU model's cheapest offer; decode speed from the memory-bandwidth model of `costPerToken` with its default efficiencies.",
  fields: (t) => ({
    gpuModel: t.field({ type: GpuModelRef, description: "The GPU model.", resolve: (r, _a, ctx) => required(ctx.loaders.gpuModel.get(r.gpuModelId)) }),
    offer: t.field({ type: GpuOfferRef, description: "The model's cheapest active offer per GPU-hour, on which the cost is computed.", resolve: (r) => r.offer }),
    tokensPerSecond: t.exposeFloat("tokensPerSecond", { description: "Estimated decode tokens per second on the whole offer." }),
    costPerMillionTokens: t.field({ type: "Money", description: "On-demand price per hour ÷ (tokens per second × 3600) × 1e6, 4 decimals.", resolve: (r) => String(r.costPerMillionTokens) }),
  }),
});

const MarketInsightsRef = builder.objectRef<MarketInsights>("MarketInsights").implement({
  description: "How the market moved over a window, from price history, plus where it stands now.",
  fields: (t) => ({
    window: t.field({ type: InsightWindowEnum, description: "The window compared.", resolve: (r) => r.window }),
    since: t.expose("since", { type: "DateTime", description: "Start of the window." }),
    asOf: t.expose("asOf", { type: "DateTime", description: "End of the window (now)." }),
    risers: t.field({ type: [OfferMoveRef], description: "Active offers whose on-demand price rose the most (relative), largest first.", resolve: (r) => r.risers }),
    fallers: t.field({ type: [OfferMoveRef], description: "Active offers whose on-demand price fell the most (relative), largest fall first.", resolve: (r) => r.fallers }),
    modelsCheaper: t.field({ type: [ModelMoveRef], description: "GPU models whose median price per GPU-hour fell, largest fall first.", resolve: (r) => r.modelsCheaper }),
    modelsDearer: t.field({ type: [ModelMoveRef], description: "GPU models whose median price per GPU-hour rose, largest rise first.", resolve: (r) => r.modelsDearer }),
    cheapestPerModel: t.field({ type: [CheapestOfferRef], description: "Every GPU model's cheapest active offer per GPU-hour, by model name (not limited).", resolve: (r) => r.cheapestPerModel }),
    providerPriceIndex: t.field({ type: [ProviderIndexRef], description: "Every provider with active offers of known models, cheapest (lowest index) first (not limited).", resolve: (r) => r.providerPriceIndex }),
    bestValueLlama3_8b: t.field({ type: [BestValueRef], description: `GPU models ranked by estimated $ per million tokens for ${model} on their cheapest offer, cheapest first; models it does not fit are left out.`, resolve: (r) => r.bestValue }),
  }),
});

// ---------------------------------------------------------------- Queries

builder.queryFields((t) => ({
  marketOverview: t.field({
    type: MarketOverviewRef,
    description: "Headline figures of the whole market from the active offers.",
    resolve: (_root, _args, ctx) => ctx.services.kpis.marketOverview(ctx.actor),
  }),
  gpuKpis: t.field({
    type: GpuKpisRef,
    description: "Key figures for one GPU model. Unknown models are a NOT_FOUND error; a known model without offers or history gets null figures with reasons.",
    args: { model: t.arg.string({ required: true, description: "Canonical name or any provider spelling, e.g. \"H100\", \"a100-80gb\"." }) },
    resolve: (_root, args, ctx) => ctx.services.kpis.gpuKpis(args, ctx.actor),
  }),
  providerKpis: t.field({
    type: ProviderKpisRef,
    description: "Key figures for one provider. Unknown slugs are a NOT_FOUND error.",
    args: { slug: t.arg.string({ required: true, description: "Provider slug, e.g. \"runpod\"." }) },
    resolve: (_root, args, ctx) => ctx.services.kpis.providerKpis(args, ctx.actor),
  }),
  marketInsights: t.field({
    type: MarketInsightsRef,
    description: "Biggest price movers, GPU models getting cheaper or dearer, the cheapest offer per model and the provider price index.",
    args: {
      window: t.arg({ type: InsightWindowEnum, required: true, defaultValue: "DAYS_7", description: "How far back to compare." }),
      limit: t.arg.int({ required: true, defaultValue: INSIGHT_LIMIT.default, description: `Entries per ranked list (risers, fallers, modelsCheaper, modelsDearer, bestValueLlama3_8b); 1 to ${INSIGHT_LIMIT.max}.` }),
    },
    resolve: (_root, args, ctx) => ctx.services.kpis.marketInsights(args, ctx.actor),
  }),
}));
