// Math over the catalog: raw TOPSIS, $ per token for an offer or a GPU, TOPSIS ranking of offers and workload
// costing. Formulas live in src/domain/math; this file loads offers, maps errors and shapes the answers.
import { z } from "zod";
import { Prisma, type GpuModel, type GpuOffer } from "../generated/prisma/client.ts";
import { normalizeGpuName } from "../domain/gpu/normalize.ts";
import { roundMoney } from "../domain/money.ts";
import {
  costPerMillionTokens, DEFAULT_COMPUTE_EFFICIENCY, DEFAULT_MEMORY_EFFICIENCY, DEFAULT_SERVING, estimateInference, LlmInputError, MODEL_PRESETS,
  resolveModel, type CustomModel, type GpuInput, type ModelSpec, type Precision,
} from "../domain/math/llm.ts";
import { topsis, TopsisInputError, type TopsisCriterion } from "../domain/math/topsis.ts";
import {
  estimateWorkload, IMAGE_MODEL_PRESETS, WorkloadInputError, type ExclusionReason, type WorkloadInput, type WorkloadOffer,
} from "../domain/math/workload.ts";
import { offerWhere, type OfferFilter } from "../infra/offers.ts";
import type { Context } from "./context.ts";
import { builder } from "./builder.ts";
import { PrecisionEnum } from "./enums.ts";
import { badInput, notFound } from "../errors.ts";
import { checkFilter, GpuOfferRef, OfferFilterInput } from "./offer.ts";

const PRESETS = Object.keys(MODEL_PRESETS).join(", ");
const LIST_SIZE = { default: 20, max: 100 } as const;
const TOPSIS_LIMITS = { rows: 10_000, columns: 100 } as const;
/** Serving shape behind COST_PER_MTOK and the costPerToken defaults. */
const SERVING = DEFAULT_SERVING;

/** Domain input errors become BAD_USER_INPUT, with the domain's own code as `reason`. */
function userError(error: unknown, argument: string): never {
  if (error instanceof TopsisInputError) throw badInput(error.message, { reason: error.code, argument });
  if (error instanceof LlmInputError || error instanceof WorkloadInputError) {
    throw badInput(error.message, { reason: error.code, argument, field: error.field });
  }
  throw error;
}

function domain<T>(argument: string, run: () => T): T {
  try {
    return run();
  } catch (error) {
    return userError(error, argument);
  }
}

const toGpuInput = (m: Pick<GpuModel, "vramGb" | "memoryBandwidthGbps" | "fp16Tflops" | "fp8Tflops">): GpuInput => ({
  vramGb: m.vramGb, memoryBandwidthGbps: m.memoryBandwidthGbps, fp16Tflops: m.fp16Tflops.toNumber(), fp8Tflops: m.fp8Tflops?.toNumber() ?? null,
});
/** Rows without datasheet figures (placeholders for GPUs we could not identify) cannot be estimated. */
const hasSpecs = (m: Pick<GpuModel, "vramGb" | "memoryBandwidthGbps" | "fp16Tflops">) => m.vramGb > 0 && m.memoryBandwidthGbps > 0 && m.fp16Tflops.gt(0);
const KNOWN_SPECS = Prisma.sql`(m."vramGb" > 0 AND m."memoryBandwidthGbps" > 0 AND m."fp16Tflops" > 0)`;


// ---------------------------------------------------------------- Shared types

const CustomModelInput = builder.inputType("CustomModelInput", {
  description: "A transformer described by its config.json figures, for models without a preset.",
  fields: (t) => ({
    name: t.string({ description: "A label for the answers.", validate: z.string().max(100) }),
    parameters: t.float({ required: true, description: "All parameters (what VRAM holds), e.g. 7.24e9." }),
    activeParameters: t.float({ description: "Parameters used per token (MoE models); default all." }),
    layers: t.int({ required: true, description: "num_hidden_layers." }),
    kvHeads: t.int({ required: true, description: "num_key_value_heads." }),
    headDim: t.int({ required: true, description: "hidden_size / num_attention_heads." }),
    kvElementsPerLayer: t.int({ description: "KV elements cached per token per layer when not 2 × kvHeads × headDim (MLA latent caches)." }),
  }),
});

type CustomModelArg = { [K in keyof CustomModel]: CustomModel[K] | null };

function modelArg(args: { model?: string | null; customModel?: CustomModelArg | null }, required: boolean): ModelSpec | null {
  if (args.model != null && args.customModel != null) throw badInput("Give either model (a preset name) or customModel, not both.", { argument: "model" });
  const model = args.model ?? (args.customModel ? (dropNulls(args.customModel) as CustomModel) : null);
  if (model === null) {
    if (required) throw badInput(`Give a model: a preset (${PRESETS}) or customModel.`, { argument: "model" });
    return null;
  }
  return domain(args.model != null ? "model" : "customModel", () => resolveModel(model));
}

const dropNulls = <T extends object>(value: T) => Object.fromEntries(Object.entries(value).filter(([, v]) => v != null)) as { [K in keyof T]: Exclude<T[K], null> };

// ---------------------------------------------------------------- topsis

const TopsisCriterionEnum = builder.enumType("TopsisCriterion", {
  description: "Which direction of a criterion is better.",
  values: {
    BENEFIT: { value: "benefit", description: "Higher is better (memory, speed)." },
    COST: { value: "cost", description: "Lower is better (price)." },
  } as const,
});

const TopsisResultRef = builder.simpleObject("TopsisResult", {
  description: "TOPSIS (Hwang & Yoon) over a decision matrix. Lists are in row order unless stated.",
  fields: (t) => ({
    closeness: t.floatList({ description: "Relative closeness to the ideal, S⁻ / (S⁺ + S⁻), in [0, 1]; 0.5 when every weighted column is constant (one row, identical rows)." }),
    rank: t.intList({ description: "1 = best; equal closeness shares the best rank (1, 2, 2, 4)." }),
    order: t.intList({ description: "Row indices (0-based), best first; ties in row order." }),
    weightsUsed: t.floatList({ description: "The weights normalised to sum 1, per column." }),
    ideal: t.floatList({ description: "The ideal point A⁺ per column (weighted, normalised)." }),
    antiIdeal: t.floatList({ description: "The anti-ideal point A⁻ per column (weighted, normalised)." }),
    distanceToIdeal: t.floatList({ description: "S⁺ per row: Euclidean distance to the ideal." }),
    distanceToAntiIdeal: t.floatList({ description: "S⁻ per row: Euclidean distance to the anti-ideal." }),
  }),
});

builder.queryField("topsis", (t) => t.field({
  type: TopsisResultRef,
  description: `Raw TOPSIS: rows are alternatives, columns criteria. Vector normalisation per column (x / √Σx²), weights normalised to sum 1, closeness = S⁻ / (S⁺ + S⁻). Values must be ≥ 0; at most ${TOPSIS_LIMITS.rows} rows and ${TOPSIS_LIMITS.columns} columns.`,
  args: {
    matrix: t.arg({ type: t.arg.listRef(["Float"]), required: true, description: "Decision matrix, one row per alternative, one value (≥ 0) per criterion." }),
    weights: t.arg.floatList({ required: true, description: "One weight per column, ≥ 0, at least one positive; any scale (normalised)." }),
    criteria: t.arg({ type: [TopsisCriterionEnum], required: true, description: "One direction per column." }),
  },
  resolve: (_root, { matrix, weights, criteria }) => {
    if (matrix.length > TOPSIS_LIMITS.rows || (matrix[0]?.length ?? 0) > TOPSIS_LIMITS.columns) {
      throw badInput(`The matrix is too large: at most ${TOPSIS_LIMITS.rows} rows and ${TOPSIS_LIMITS.columns} columns (got ${matrix.length} × ${matrix[0]?.length ?? 0}).`, { reason: "TOO_LARGE", argument: "matrix" });
    }
    const r = domain("matrix", () => topsis({ matrix, weights, criteria: criteria as TopsisCriterion[] }));  // `reason` names the argument at fault
    return { ...r, distanceToIdeal: r.distances.best, distanceToAntiIdeal: r.distances.worst };
  },
}));

// ---------------------------------------------------------------- costPerToken

const VramBreakdownRef = builder.simpleObject("VramBreakdown", {
  description: "Memory an LLM deployment needs, in GB (1e9 bytes), against what the GPUs hold.",
  fields: (t) => ({
    weightsGb: t.float({ description: "Parameters × bytes per parameter." }),
    kvCacheGb: t.float({ description: "KV cache for batch × context tokens (replicated where tensor parallelism exceeds the KV heads)." }),
    overheadGb: t.float({ description: "CUDA context, activations, fragmentation: max(2 GB per GPU, 10 % of weights + KV)." }),
    totalGb: t.float({ description: "weights + KV cache + overhead." }),
    availableGb: t.float({ description: "VRAM of all GPUs together." }),
  }),
});

const DecodeBoundEnum = builder.enumType("DecodeBound", {
  description: "What limits a decode step.",
  values: { MEMORY: { value: "memory", description: "Reading weights and KV cache from memory." }, COMPUTE: { value: "compute", description: "Tensor-core arithmetic (large batches)." } } as const,
});

const LlmAssumptionsRef = builder.simpleObject("LlmAssumptions", {
  description: "Everything the LLM estimate assumed, so it can be checked or reproduced.",
  fields: (t) => ({
    weightPrecision: t.field({ type: PrecisionEnum, description: "Precision of the weights." }),
    kvPrecision: t.field({ type: PrecisionEnum, description: "Precision of the KV cache." }),
    bytesPerParameter: t.float({ description: "Bytes per weight." }),
    kvBytesPerToken: t.float({ description: "Bytes one token adds to the KV cache (whole model)." }),
    parameters: t.float({ description: "All parameters." }),
    activeParameters: t.float({ description: "Parameters read and computed per token." }),
    tensorParallel: t.int({ description: "GPUs the weights and bandwidth are split over." }),
    kvShards: t.int({ description: "GPUs the KV cache is split over; the rest hold replicas." }),
    batch: t.int({ description: "Sequences decoded together." }),
    contextTokens: t.int({ description: "Cache length per sequence at the end (prompt + generated)." }),
    promptTokens: t.int({ description: "Prompt tokens per sequence." }),
    decodeKvTokensPerSequence: t.float({ description: "Mean cache length a decode step reads: (prompt + context) / 2." }),
    memoryBandwidthGbps: t.float({ description: "Peak memory bandwidth per GPU, GB/s." }),
    memoryEfficiency: t.float({ description: "Fraction of peak bandwidth decode reaches (Databricks MBU, 55–60 %)." }),
    computeEfficiency: t.float({ description: "Fraction of peak FLOPS prefill reaches." }),
    peakTflops: t.float({ description: "Peak tensor TFLOPS per GPU used for compute." }),
    peakPrecision: t.string({ description: "\"FP16\" or \"8-bit\": which peak applies." }),
    overhead: t.string({ description: "The overhead rule applied." }),
  }),
});

const CostPerTokenRef = builder.simpleObject("CostPerToken", {
  description: "Cost and speed of serving an LLM on one instance (first-order roofline model, see assumptions).",
  fields: (t) => ({
    model: t.string({ description: "The model's name." }),
    gpuModel: t.string({ description: "Canonical GPU model." }),
    gpuCount: t.int({ description: "GPUs in the instance (tensor parallel)." }),
    pricePerHour: t.field({ type: "Money", description: "Price per hour of the whole instance." }),
    fits: t.boolean({ description: "Whether weights + KV cache + overhead fit in the instance's VRAM." }),
    outputCostPerMillionTokens: t.field({ type: "Money", nullable: true, description: "$ per 1M generated tokens: price / (decode tokens/s × 3600) × 1e6; null when the model does not fit." }),
    inputCostPerMillionTokens: t.field({ type: "Money", nullable: true, description: "$ per 1M prompt (prefill) tokens: price / (prefill tokens/s × 3600) × 1e6; null when the model does not fit." }),
    outputTokensPerSecond: t.float({ description: "Decode tokens per second over the whole batch (as if it fit)." }),
    perSequenceTokensPerSecond: t.float({ description: "Decode tokens per second each sequence sees." }),
    inputTokensPerSecond: t.float({ description: "Prefill tokens per second (compute-bound)." }),
    decodeBound: t.field({ type: DecodeBoundEnum, description: "Whether memory or compute limits decode." }),
    vram: t.field({ type: VramBreakdownRef, description: "Memory needed against memory available." }),
    assumptions: t.field({ type: LlmAssumptionsRef, description: "What produced these numbers." }),
  }),
});

async function loadGpuModel(ctx: Context, name: string): Promise<GpuModel> {
  const match = normalizeGpuName(name);
  const model = match.known ? await ctx.prisma.gpuModel.findUnique({ where: { name: match.name } }) : null;
  if (!model) throw notFound(`No GPU model matches "${name}". The gpuModels query lists every known model.`, { argument: "gpuModel" });
  if (!hasSpecs(model)) throw badInput(`We have no datasheet figures for ${model.name}, so its speed cannot be estimated.`, { reason: "UNKNOWN_GPU_MODEL", argument: "gpuModel" });
  return model;
}

builder.queryField("costPerToken", (t) => t.field({
  type: CostPerTokenRef,
  description: `$ per million generated and prompt tokens for an LLM on an offer (\`offer\`) or on a GPU at a price (\`gpuModel\` + \`pricePerHour\` + \`gpuCount\`); give exactly one of the two. Model: a preset (${PRESETS}) or customModel. Decode is memory-bound: tokens/s = batch / step time; cost = price / (tokens/s × 3600) × 1e6.`,
  args: {
    offer: t.arg.globalID({ for: GpuOfferRef, description: "Global ID of a GpuOffer: its GPU model, GPU count and on-demand price are used." }),
    gpuModel: t.arg.string({ description: "GPU model (any provider spelling), instead of an offer." }),
    pricePerHour: t.arg({ type: "Money", description: "Price per hour of the whole instance; required with gpuModel." }),
    gpuCount: t.arg.int({ description: "GPUs in the instance, with gpuModel (default 1).", validate: z.number().int().min(1).max(64) }),
    model: t.arg.string({ description: `Model preset: ${PRESETS}.` }),
    customModel: t.arg({ type: CustomModelInput, description: "The model's architecture, instead of a preset." }),
    precision: t.arg({ type: PrecisionEnum, required: true, defaultValue: "FP16", description: "Weight precision." }),
    kvPrecision: t.arg({ type: PrecisionEnum, description: "KV-cache precision (default FP16)." }),
    batch: t.arg.int({ required: true, defaultValue: SERVING.batch, description: "Sequences decoded together." }),
    contextTokens: t.arg.int({ required: true, defaultValue: SERVING.contextTokens, description: "Cache length per sequence: prompt + generated tokens." }),
    promptTokens: t.arg.int({ required: true, defaultValue: SERVING.promptTokens, description: "Prompt tokens per sequence (≤ contextTokens)." }),
  },
  resolve: async (_root, args, ctx) => {
    let gpuModel: GpuModel;
    let gpuCount: number;
    let pricePerHour: string;
    if (args.offer) {
      if (args.gpuModel != null || args.pricePerHour != null || args.gpuCount != null) {
        throw badInput("Give either offer, or gpuModel with pricePerHour (and gpuCount), not both: an offer brings its own GPU, count and price.", { argument: "offer" });
      }
      const id = Number(args.offer.id);
      const offer = Number.isSafeInteger(id) ? await ctx.prisma.gpuOffer.findUnique({ where: { id }, include: { gpuModel: true } }) : null;
      if (!offer) throw notFound("No offer has this ID.", { argument: "offer" });
      if (!offer.gpuModel || !hasSpecs(offer.gpuModel)) {
        throw badInput(`This offer's GPU ("${offer.gpuName}") is not a model we have datasheet figures for, so its speed cannot be estimated.`, { reason: "UNKNOWN_GPU_MODEL", argument: "offer" });
      }
      gpuModel = offer.gpuModel;
      gpuCount = offer.gpuCount;
      pricePerHour = offer.onDemandPrice.toString();
    } else {
      if (args.gpuModel == null || args.pricePerHour == null) throw badInput("Give an offer, or a gpuModel with its pricePerHour.", { argument: args.gpuModel == null ? "gpuModel" : "pricePerHour" });
      gpuModel = await loadGpuModel(ctx, args.gpuModel);
      gpuCount = args.gpuCount ?? 1;
      pricePerHour = args.pricePerHour;
    }
    const model = modelArg(args, true)!;
    const e = domain("model", () => estimateInference({
      model, gpu: toGpuInput(gpuModel), gpuCount, batch: args.batch, contextTokens: args.contextTokens, promptTokens: args.promptTokens,
      precision: args.precision, kvPrecision: args.kvPrecision ?? undefined,
    }));
    const cost = (tokensPerSecond: number) => (e.fits ? roundMoney(costPerMillionTokens({ pricePerHour, tokensPerSecond }).costPerMillionTokens) : null);
    return {
      model: e.model, gpuModel: gpuModel.name, gpuCount, pricePerHour, fits: e.fits,
      outputCostPerMillionTokens: cost(e.decode.tokensPerSecond), inputCostPerMillionTokens: cost(e.prefill.tokensPerSecond),
      outputTokensPerSecond: e.decode.tokensPerSecond, perSequenceTokensPerSecond: e.decode.perSequenceTokensPerSecond,
      inputTokensPerSecond: e.prefill.tokensPerSecond, decodeBound: e.decode.bound, vram: e.vram, assumptions: e.assumptions,
    };
  },
}));

// ---------------------------------------------------------------- rankOffers

const RANK_CRITERIA = {
  PRICE_PER_GPU_HOUR: { direction: "cost", description: "On-demand price per GPU-hour (lower is better)." },
  TOTAL_VRAM: { direction: "benefit", description: "Memory across all GPUs of the instance, GB." },
  FP16_TFLOPS: { direction: "benefit", description: "Dense FP16/BF16 TFLOPS of one GPU (datasheet)." },
  MEMORY_BANDWIDTH: { direction: "benefit", description: "Memory bandwidth of one GPU, GB/s (datasheet)." },
  COST_PER_MTOK: { direction: "cost", description: `$ per 1M generated tokens of \`model\` on the whole instance (lower is better; batch ${SERVING.batch}, context ${SERVING.contextTokens}, prompt ${SERVING.promptTokens}); offers the model does not fit are excluded.` },
  AVAILABILITY: { direction: "benefit", description: "AVAILABLE 1, LIMITED 0.5, UNKNOWN 0.25, UNAVAILABLE 0." },
  PROVIDER_RELIABILITY: { direction: "benefit", description: "The provider's 0–1 reliability score; 0.5 when unknown." },
} as const satisfies Record<string, { direction: TopsisCriterion; description: string }>;
type RankCriterion = keyof typeof RANK_CRITERIA;

const RankCriterionEnum = builder.enumType("RankCriterion", {
  description: "An offer property TOPSIS can weigh.",
  values: Object.fromEntries(Object.entries(RANK_CRITERIA).map(([k, v]) => [k, { description: `${v.description} ${v.direction === "cost" ? "Cost" : "Benefit"} criterion.` }])) as Record<RankCriterion, { description: string }>,
});

const RankCriterionInput = builder.inputType("RankCriterionInput", {
  description: "One criterion and its weight.",
  fields: (t) => ({
    criterion: t.field({ type: RankCriterionEnum, required: true, description: "What to weigh." }),
    weight: t.float({ required: true, description: "Any non-negative weight; weights are normalised to sum 1." }),
  }),
});

const RankCriterionValueRef = builder.simpleObject("RankCriterionValue", {
  description: "The value of one criterion for one offer, as TOPSIS used it (before normalisation).",
  fields: (t) => ({
    criterion: t.field({ type: RankCriterionEnum, description: "The criterion." }),
    value: t.float({ description: "Its value, in the unit the criterion states." }),
  }),
});

const RankedOfferRef = builder.simpleObject("RankedOffer", {
  description: "An offer with its TOPSIS score.",
  fields: (t) => ({
    offer: t.field({ type: GpuOfferRef, description: "The offer." }),
    closeness: t.float({ description: "Relative closeness to the ideal offer, in [0, 1]; higher is better." }),
    rank: t.int({ description: "1 = best among all considered offers; ties share the best rank." }),
    values: t.field({ type: [RankCriterionValueRef], description: "The criterion values used, in the order the criteria were given." }),
  }),
});

const RankWeightRef = builder.simpleObject("RankWeight", {
  description: "A criterion as TOPSIS applied it.",
  fields: (t) => ({
    criterion: t.field({ type: RankCriterionEnum, description: "The criterion." }),
    weight: t.float({ description: "Its weight normalised so all weights sum to 1." }),
    direction: t.field({ type: TopsisCriterionEnum, description: "Whether higher (BENEFIT) or lower (COST) is better." }),
  }),
});

const ExclusionReasonEnum = builder.enumType("ExclusionReason", {
  description: "Why a matching offer was left out of a ranking or estimate.",
  values: {
    UNKNOWN_GPU_MODEL: { description: "Its GPU is not a model we have datasheet figures for." },
    INSUFFICIENT_VRAM: { description: "The model or workload does not fit in its GPU memory." },
  } satisfies Record<ExclusionReason, { description: string }>,
});

const ExclusionCountRef = builder.simpleObject("ExclusionCount", {
  description: "How many matching offers were left out for one reason.",
  fields: (t) => ({
    reason: t.field({ type: ExclusionReasonEnum, description: "The reason." }),
    count: t.int({ description: "Offers left out for it." }),
  }),
});

const OfferRankingRef = builder.simpleObject("OfferRanking", {
  description: "Matching offers ranked by TOPSIS over the chosen criteria.",
  fields: (t) => ({
    ranked: t.field({ type: [RankedOfferRef], description: "The best offers, best first (ties: lower offer id first)." }),
    considered: t.int({ description: "Offers that took part in the ranking." }),
    excluded: t.int({ description: "Matching offers left out (see exclusions)." }),
    exclusions: t.field({ type: [ExclusionCountRef], description: "Left-out offers by reason." }),
    weights: t.field({ type: [RankWeightRef], description: "The criteria with normalised weights, in the order given." }),
    assumptions: t.stringList({ description: "How criteria values were derived." }),
  }),
});

interface RankArgs { criteria: { criterion: RankCriterion; weight: number }[]; model: ModelSpec | null; precision: Precision; first: number }

function checkCriteria(criteria: RankArgs["criteria"], model: ModelSpec | null) {
  if (!criteria.length) throw badInput("Give at least one criterion.", { reason: "NO_CRITERIA", argument: "criteria" });
  const seen = new Set<string>();
  for (const { criterion, weight } of criteria) {
    if (seen.has(criterion)) throw badInput(`${criterion} is given twice; give each criterion once.`, { reason: "DUPLICATE_CRITERION", argument: "criteria" });
    seen.add(criterion);
    if (!(weight >= 0)) throw badInput(`The weight of ${criterion} is ${weight}; weights must be ≥ 0.`, { reason: "INVALID_WEIGHT", argument: "criteria" });
  }
  if (!criteria.some((c) => c.weight > 0)) throw badInput("All weights are zero; at least one criterion needs a positive weight.", { reason: "ZERO_WEIGHTS", argument: "criteria" });
  if (seen.has("COST_PER_MTOK") && !model) throw badInput(`COST_PER_MTOK needs a model: pass \`model\` (${PRESETS}).`, { reason: "MODEL_REQUIRED", argument: "model" });
}

// The offer columns one ranking reads; offers equal on all of them are one alternative with a count.
type Field = "price" | "vram" | "model" | "count" | "instancePrice" | "availability" | "provider";
const FIELD_SQL: Record<Field, Prisma.Sql> = {
  price: Prisma.sql`o."pricePerGpuHour"`,
  vram: Prisma.sql`o."vramTotalGb"`,
  model: Prisma.sql`o."gpuModelId"`,
  count: Prisma.sql`o."gpuCount"`,
  instancePrice: Prisma.sql`o."onDemandPrice"`,
  availability: Prisma.sql`CASE o.availability WHEN 'AVAILABLE' THEN 1 WHEN 'LIMITED' THEN 0.5 WHEN 'UNKNOWN' THEN 0.25 ELSE 0 END`,
  provider: Prisma.sql`o."providerId"`,
};
const CRITERION_FIELDS: Record<RankCriterion, Field[]> = {
  PRICE_PER_GPU_HOUR: ["price"], TOTAL_VRAM: ["vram"], FP16_TFLOPS: ["model"], MEMORY_BANDWIDTH: ["model"],
  COST_PER_MTOK: ["model", "count", "instancePrice"], AVAILABILITY: ["availability"], PROVIDER_RELIABILITY: ["provider"],
};

interface RankData { matched: number; rows: string | null; models: string | null; providers: string | null }

/**
 * ONE statement: the matching offers with a known GPU grouped by the values the criteria read, each group
 * as "count,first id,values…" in one comma-separated text (100k offers are ~1–10k groups: the grouping is
 * cheaper in PostgreSQL than writing every row as text, and it leaves little to parse and score), plus the
 * GPU model and provider figures the criteria look up. Groups come in the order of their first offer id,
 * so with one offer per group the scores are computed in the same order as topsis() over the offers.
 */
async function loadRankData(ctx: Context, filter: OfferFilter, fields: Field[]): Promise<RankData> {
  const positions = Prisma.raw(fields.map((_, i) => i + 1).join(", "));
  const values = Prisma.join(fields.map((_, i) => Prisma.raw(`g.f${i}`)), ", ");
  const named = Prisma.join(fields.map((f, i) => Prisma.sql`${FIELD_SQL[f]} AS ${Prisma.raw(`f${i}`)}`), ", ");
  const model = Prisma.raw(`g.f${fields.indexOf("model")}`);
  // The GPU model is joined to the groups, not to every offer (the filter needs no model columns).
  // The grouping reads every matching offer: let PostgreSQL split it over parallel workers, which its
  // default costs do not do for a 100k-row table (69 against 109 ms, bench/README.md, rank).
  const [row] = await ctx.prisma.$transaction(async (tx) => {
    await tx.$executeRaw`SELECT set_config('parallel_setup_cost', '100', true), set_config('parallel_tuple_cost', '0.01', true)`;
    return tx.$queryRaw<RankData[]>`
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
  });
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

/** Weights scaled to sum 1, computed as topsis() does. */
const normalise = (weights: readonly number[]) => {
  const sum = weights.reduce((s, w) => s + w, 0);
  return weights.map((w) => w / sum);
};

/**
 * Closeness per row: a column-major TOPSIS with the same arithmetic, operation for operation, as
 * domain/math/topsis.ts. With `counts`, row i stands for counts[i] identical alternatives: it weighs the
 * vector norms (Σ count·x²) and nothing else, so the result is what topsis() gives over the expanded rows
 * (bit for bit when every count is 1, up to the order of the sums otherwise).
 */
export function topsisColumns(columns: readonly Float64Array[], weightsUsed: readonly number[], benefit: readonly boolean[], counts?: Float64Array): Float64Array {
  const m = columns.length;
  const n = columns[0]?.length ?? 0;
  const norms = new Float64Array(m);
  const ideal = new Float64Array(m);
  const antiIdeal = new Float64Array(m);
  for (let j = 0; j < m; j++) {
    const x = columns[j]!;
    let scale = 0;
    for (let i = 0; i < n; i++) if (x[i]! > scale) scale = x[i]!;
    let sum = 0;
    if (scale > 0) {
      if (counts) for (let i = 0; i < n; i++) sum += counts[i]! * (x[i]! / scale) ** 2;
      else for (let i = 0; i < n; i++) sum += (x[i]! / scale) ** 2;
    }
    const norm = (norms[j] = scale * Math.sqrt(sum));
    const w = weightsUsed[j]!;
    let max = -Infinity, min = Infinity;
    for (let i = 0; i < n; i++) {
      const v = norm === 0 ? 0 : (x[i]! / norm) * w;
      if (v > max) max = v;
      if (v < min) min = v;
    }
    ideal[j] = benefit[j] ? max : min;
    antiIdeal[j] = benefit[j] ? min : max;
  }
  const closeness = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0, worst = 0;
    for (let j = 0; j < m; j++) {
      const norm = norms[j]!;
      const v = norm === 0 ? 0 : (columns[j]![i]! / norm) * weightsUsed[j]!;
      best += (v - ideal[j]!) ** 2;
      worst += (v - antiIdeal[j]!) ** 2;
    }
    const sPlus = Math.sqrt(best), sMinus = Math.sqrt(worst);
    const total = sPlus + sMinus;
    closeness[i] = total === 0 ? 0.5 : sMinus / total;
  }
  return closeness;
}

/** Row indices of the `k` best (closeness desc, id asc) with competition ranks as topsis() assigns them. */
export function topRows(closeness: Float64Array, ids: Float64Array, k: number): { row: number; rank: number }[] {
  const top: number[] = [];
  const before = (a: number, b: number) => closeness[a]! > closeness[b]! || (closeness[a] === closeness[b] && ids[a]! < ids[b]!);
  for (let i = 0; i < closeness.length && k > 0; i++) {
    if (top.length === k && !before(i, top[k - 1]!)) continue;
    let at = top.length === k ? k - 1 : top.length;
    while (at > 0 && before(i, top[at - 1]!)) { top[at] = top[at - 1]!; at--; }
    top[at] = i;
  }
  // topsis(): ties within 1e-12 (relative) of the leader share its rank and list by input (here: id) order.
  const ranks: number[] = [];
  let leader = 0;
  top.forEach((row, position) => {
    const a = closeness[row]!, b = closeness[top[leader]!]!;
    if (Math.abs(a - b) > 1e-12 * Math.max(Math.abs(a), Math.abs(b))) leader = position;
    ranks.push(leader === position ? position + 1 : ranks[leader]!);
  });
  return top.map((row, p) => ({ row, rank: ranks[p]! })).sort((a, b) => a.rank - b.rank || ids[a.row]! - ids[b.row]!);
}

/**
 * The best `k` offers of the ranked groups (closeness desc, then offer id), read with a second statement:
 * the groups that can hold them are the best ones until they count k offers, plus any group with exactly
 * the boundary's closeness (its offers may have lower ids).
 */
async function topOffers(ctx: Context, filter: OfferFilter, fields: Field[], groups: { values: Float64Array[]; closeness: Float64Array; counts: Float64Array; first: Float64Array }, k: number) {
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
  return ctx.prisma.$queryRaw<(GpuOffer & { group: number })[]>`
    SELECT o.*, t.g AS "group"
    FROM "GpuOffer" o JOIN (VALUES ${rows}) AS t(${names}) ON (${columns}) = (${keys})
    WHERE ${offerWhere(filter)}
    ORDER BY t.c DESC, o.id LIMIT ${k}`;
}

async function rankOffers(ctx: Context, filter: OfferFilter, args: RankArgs) {
  // Always grouped by GPU model: whether a group has datasheet figures depends on it.
  const fields = [...new Set<Field>(["model", ...args.criteria.flatMap((c) => CRITERION_FIELDS[c.criterion])])];
  const data = await loadRankData(ctx, filter, fields);
  const parsed = parseColumns(data.rows, fields.length + 2);
  const counts = parsed[0]!, first = parsed[1]!;
  const column = (f: Field) => parsed[fields.indexOf(f) + 2]!;
  let n = counts.length;
  let considered = counts.reduce((sum, c) => sum + c, 0);
  const exclusions = new Map<ExclusionReason, number>([["UNKNOWN_GPU_MODEL", data.matched - considered]]);

  const specs = new Map<number, GpuInput>();
  const models = parseColumns(data.models, 5);
  models[0]!.forEach((id, i) => specs.set(id, { vramGb: models[1]![i]!, memoryBandwidthGbps: models[2]![i]!, fp16Tflops: models[3]![i]!, fp8Tflops: models[4]![i]! || null }));
  const reliability = new Map<number, number>();
  const providers = parseColumns(data.providers, 2);
  providers[0]!.forEach((id, i) => reliability.set(id, providers[1]![i]!));

  const lookup = (keys: Float64Array, value: (key: number) => number) => {
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) out[i] = value(keys[i]!);
    return out;
  };
  const values: Float64Array[] = args.criteria.map(({ criterion }) => {
    switch (criterion) {
      case "PRICE_PER_GPU_HOUR": return column("price");
      case "TOTAL_VRAM": return column("vram");
      case "AVAILABILITY": return column("availability");
      case "FP16_TFLOPS": return lookup(column("model"), (id) => specs.get(id)!.fp16Tflops);
      case "MEMORY_BANDWIDTH": return lookup(column("model"), (id) => specs.get(id)!.memoryBandwidthGbps);
      case "PROVIDER_RELIABILITY": return lookup(column("provider"), (id) => reliability.get(id) ?? 0.5);
      case "COST_PER_MTOK": {
        const model = column("model"), count = column("count"), price = column("instancePrice");
        // Decode speed depends only on (GPU model, GPU count): estimate each configuration once.
        const speed = new Map<number, number>();
        const out = new Float64Array(n);
        for (let i = 0; i < n; i++) {
          const key = model[i]! * 4096 + count[i]!;
          let tokensPerSecond = speed.get(key);
          if (tokensPerSecond === undefined) {
            const e = estimateInference({ model: args.model!, gpu: specs.get(model[i]!)!, gpuCount: count[i]!, ...SERVING, precision: args.precision });
            speed.set(key, (tokensPerSecond = e.fits ? e.decode.tokensPerSecond : NaN));
          }
          out[i] = (price[i]! * 1e6) / (tokensPerSecond * 3600);
        }
        return out;
      }
    }
  });
  // The field columns, kept aligned with the groups, to find the winners' offers by their values.
  const keys = fields.map(column);

  // Groups the model does not fit have no $/Mtok: compact every column in place past them.
  const cost = args.criteria.findIndex((c) => c.criterion === "COST_PER_MTOK");
  if (cost >= 0) {
    let kept = 0;
    const compacted = new Set([...values, ...keys]); // a criterion may read a key column itself
    for (let i = 0; i < n; i++) {
      if (Number.isNaN(values[cost]![i])) continue;
      counts[kept] = counts[i]!;
      first[kept] = first[i]!;
      for (const v of compacted) v[kept] = v[i]!;
      kept++;
    }
    const fitting = counts.subarray(0, kept).reduce((sum, c) => sum + c, 0);
    exclusions.set("INSUFFICIENT_VRAM", considered - fitting);
    considered = fitting;
    n = kept;
  }

  const weightsUsed = normalise(args.criteria.map((c) => c.weight));
  const benefit = args.criteria.map((c) => RANK_CRITERIA[c.criterion].direction === "benefit");
  const closeness = topsisColumns(values.map((v) => v.subarray(0, n)), weightsUsed, benefit, counts.subarray(0, n));
  const winners = await topOffers(ctx, filter, fields, {
    values: keys.map((v) => v.subarray(0, n)), closeness, counts: counts.subarray(0, n), first: first.subarray(0, n),
  }, args.first);
  // Ranks as topsis() assigns them over the winners in order (ties within 1e-12 share the leader's rank).
  const top = topRows(Float64Array.from(winners, (o) => closeness[o.group]!), Float64Array.from(winners, (o) => o.id), winners.length);
  return {
    ranked: top.map((t) => {
      const { group, ...offer } = winners[t.row]!;
      return {
        offer: offer as GpuOffer, closeness: closeness[group]!, rank: t.rank,
        values: args.criteria.map((c, j) => ({ criterion: c.criterion, value: values[j]![group]! })),
      };
    }),
    considered,
    excluded: data.matched - considered,
    exclusions: [...exclusions].filter(([, count]) => count > 0).map(([reason, count]) => ({ reason, count })),
    weights: args.criteria.map((c, j) => ({ criterion: c.criterion, weight: weightsUsed[j]!, direction: RANK_CRITERIA[c.criterion].direction })),
    assumptions: [
      "offers whose GPU model has no datasheet figures are left out",
      ...args.criteria.map((c) => `${c.criterion}: ${RANK_CRITERIA[c.criterion].description}`),
      ...(args.model && cost >= 0 ? [`COST_PER_MTOK: ${args.model.name} at ${args.precision}, tensor parallel over the instance's GPUs, decode at ${DEFAULT_MEMORY_EFFICIENCY} of peak bandwidth, on-demand instance price`] : []),
    ],
  };
}

builder.queryField("rankOffers", (t) => t.field({
  type: OfferRankingRef,
  description: `Ranks the matching offers by TOPSIS over weighted criteria (any non-negative weights, normalised). Offers without a known GPU model are excluded and counted. No match gives an empty ranking; a single offer gets closeness 0.5. Returns the best \`first\` (default ${LIST_SIZE.default}, max ${LIST_SIZE.max}).`,
  args: {
    filter: t.arg({ type: OfferFilterInput, description: "Which offers to rank (same filter as `offers`; active offers by default)." }),
    criteria: t.arg({ type: [RankCriterionInput], required: true, description: "Criteria with weights; each criterion at most once." }),
    model: t.arg.string({ description: `Model preset for COST_PER_MTOK: ${PRESETS}.` }),
    precision: t.arg({ type: PrecisionEnum, required: true, defaultValue: "FP16", description: "Weight precision for COST_PER_MTOK." }),
    first: t.arg.int({ required: true, defaultValue: LIST_SIZE.default, description: `How many ranked offers to return (0–${LIST_SIZE.max}).`, validate: z.number().int().min(0).max(LIST_SIZE.max, `first must be at most ${LIST_SIZE.max}`) }),
  },
  resolve: async (_root, args, ctx) => {
    const model = modelArg({ model: args.model }, false);
    checkCriteria(args.criteria, model);
    const filter = await checkFilter(ctx, args.filter);
    return rankOffers(ctx, filter, { criteria: args.criteria, model, precision: args.precision, first: args.first });
  },
}));

// ---------------------------------------------------------------- estimateWorkload

const PERIOD_HOURS = { HOUR: 1, DAY: 24, WEEK: 168, MONTH: 730 } as const;
const WorkloadPeriodEnum = builder.enumType("WorkloadPeriod", {
  description: "The period a volume is given for.",
  values: {
    HOUR: { description: "One hour." }, DAY: { description: "24 hours." }, WEEK: { description: "168 hours." },
    MONTH: { description: "730 hours (365 × 24 / 12)." },
  } satisfies Record<keyof typeof PERIOD_HOURS, { description: string }>,
});

const TrainingPrecisionEnum = builder.enumType("TrainingPrecision", {
  description: "Training number format: which peak TFLOPS applies.",
  values: {
    FP16: { description: "FP16 mixed precision (the FP16 tensor peak)." },
    BF16: { description: "BF16 mixed precision (the FP16/BF16 tensor peak)." },
    FP8: { description: "FP8 (the 8-bit tensor peak; only meaningful on GPUs with FP8, Hopper/Ada and newer)." },
  } as const,
});

const ImageModelEnum = builder.enumType("ImageModel", {
  description: "Image models with a documented per-image cost.",
  values: Object.fromEntries(Object.entries({ SDXL: "sdxl", SD_1_5: "sd-1.5" } as const).map(([key, value]) => {
    const spec = IMAGE_MODEL_PRESETS[value];
    return [key, { value, description: `${spec.name}, ${spec.resolution}×${spec.resolution}: ${spec.unetTflopsPerEvaluation} TFLOPs per U-Net evaluation, ${spec.weightsGb} GB of FP16 weights.` }];
  })) as { SDXL: { value: "sdxl"; description: string }; SD_1_5: { value: "sd-1.5"; description: string } },
});

const positiveFloat = z.number().positive();
const InferenceWorkloadInput = builder.inputType("InferenceWorkloadInput", {
  description: "LLM serving volume. Give requestsPerPeriod with tokensPerRequest, or tokensPerPeriod.",
  fields: (t) => ({
    model: t.string({ description: `Model preset: ${PRESETS}.` }),
    customModel: t.field({ type: CustomModelInput, description: "The model's architecture, instead of a preset." }),
    precision: t.field({ type: PrecisionEnum, required: true, defaultValue: "FP16", description: "Weight precision." }),
    kvPrecision: t.field({ type: PrecisionEnum, description: "KV-cache precision (default FP16)." }),
    batch: t.int({ description: "Sequences decoded together (default 1: one stream, the conservative case)." }),
    requestsPerPeriod: t.float({ description: "Requests per period.", validate: positiveFloat }),
    tokensPerRequest: t.int({ description: "Generated tokens per request (with requestsPerPeriod)." }),
    tokensPerPeriod: t.float({ description: "Generated tokens per period (instead of requests).", validate: positiveFloat }),
    promptTokens: t.int({ description: "Prompt tokens per request (default 0)." }),
    contextTokens: t.int({ description: "Cache length per sequence; default prompt + generated tokens per request, or 4096 with tokensPerPeriod." }),
    period: t.field({ type: WorkloadPeriodEnum, required: true, defaultValue: "MONTH", description: "The period the volume is given for." }),
  }),
});

const TrainingWorkloadInput = builder.inputType("TrainingWorkloadInput", {
  description: "A training or full fine-tuning run: 6 × parameters × tokens FLOPs.",
  fields: (t) => ({
    parameters: t.float({ required: true, description: "Model parameters, e.g. 8e9.", validate: positiveFloat }),
    tokens: t.float({ required: true, description: "Training tokens, e.g. 2e9.", validate: positiveFloat }),
    precision: t.field({ type: TrainingPrecisionEnum, required: true, defaultValue: "BF16", description: "Training number format." }),
    targetHours: t.float({ description: "Finish within this many hours: instances are added (linear scaling assumed).", validate: positiveFloat }),
    utilisation: t.float({ description: "Model FLOPs utilisation in (0, 1]; default 0.4 (Llama 3 pre-training reached 38–43 %)." }),
  }),
});

const ImageWorkloadInput = builder.inputType("ImageWorkloadInput", {
  description: "Image generation volume.",
  fields: (t) => ({
    model: t.field({ type: ImageModelEnum, required: true, defaultValue: "sdxl", description: "The image model." }),
    imagesPerPeriod: t.float({ required: true, description: "Images per period.", validate: positiveFloat }),
    period: t.field({ type: WorkloadPeriodEnum, required: true, defaultValue: "MONTH", description: "The period the volume is given for." }),
    steps: t.int({ description: "Denoising steps (default 30)." }),
    guidance: t.boolean({ description: "Classifier-free guidance, two U-Net passes per step (default true)." }),
    utilisation: t.float({ description: `Fraction of the FP16 peak reached, (0, 1]; default ${DEFAULT_COMPUTE_EFFICIENCY}.` }),
  }),
});

const WorkloadInputRef = builder.inputType("WorkloadInput", {
  description: "A workload to cost: give exactly one of inference, training or image.",
  fields: (t) => ({
    inference: t.field({ type: InferenceWorkloadInput, description: "LLM inference." }),
    training: t.field({ type: TrainingWorkloadInput, description: "Training or fine-tuning." }),
    image: t.field({ type: ImageWorkloadInput, description: "Image generation." }),
  }),
});

const WorkloadKindEnum = builder.enumType("WorkloadKind", {
  description: "The kind of workload estimated.",
  values: { INFERENCE: { value: "inference", description: "LLM inference." }, TRAINING: { value: "training", description: "Training or fine-tuning." }, IMAGE: { value: "image", description: "Image generation." } } as const,
});

const WorkloadOptionRef = builder.simpleObject("WorkloadOption", {
  description: "What the workload costs on one offer.",
  fields: (t) => ({
    offer: t.field({ type: GpuOfferRef, description: "The offer." }),
    instances: t.int({ description: "Instances run side by side: enough for the volume within the period, the training state, or the target time." }),
    instanceHours: t.float({ description: "Billed instance-hours (busy time for inference and images)." }),
    gpuHours: t.float({ description: "instanceHours × GPUs per instance." }),
    wallClockHours: t.float({ description: "Hours until done with `instances` instances." }),
    cost: t.field({ type: "Money", description: "instanceHours × on-demand price per hour." }),
    costPerMillionTokens: t.field({ type: "Money", nullable: true, description: "Inference: cost per 1M generated tokens, prefill time included." }),
    tokensPerSecond: t.float({ nullable: true, description: "Inference: decode tokens per second of one instance." }),
    costPerImage: t.field({ type: "Money", nullable: true, description: "Image generation: cost per image." }),
    imagesPerHour: t.float({ nullable: true, description: "Image generation: images per hour of one instance." }),
    vramRequiredGb: t.float({ description: "Inference: weights + KV + overhead; training: model state; images: per GPU." }),
    vramAvailableGb: t.float({ description: "Inference: one instance; training: all instances; images: one GPU." }),
  }),
});

const WorkloadExclusionRef = builder.simpleObject("WorkloadExclusion", {
  description: "Matching offers of one configuration that cannot run the workload, and why.",
  fields: (t) => ({
    reason: t.field({ type: ExclusionReasonEnum, description: "Why." }),
    gpuModel: t.string({ description: "GPU model (or the provider's GPU name when unknown)." }),
    gpuCount: t.int({ description: "GPUs per instance." }),
    offers: t.int({ description: "Matching offers of this configuration." }),
    message: t.string({ description: "The reason in words, with the numbers." }),
  }),
});

const WorkloadTotalsRef = builder.simpleObject("WorkloadTotals", {
  description: "The workload's size as estimated; fields of other kinds are null.",
  fields: (t) => ({
    outputTokens: t.float({ nullable: true, description: "Inference: generated tokens per period." }),
    inputTokens: t.float({ nullable: true, description: "Inference: prompt tokens per period." }),
    requests: t.float({ nullable: true, description: "Inference: sequences per period." }),
    trainingFlops: t.float({ nullable: true, description: "Training: 6 × parameters × tokens." }),
    images: t.float({ nullable: true, description: "Image generation: images per period." }),
    teraflopsPerImage: t.float({ nullable: true, description: "Image generation: TFLOPs per image." }),
  }),
});

const WorkloadEstimateRef = builder.simpleObject("WorkloadEstimate", {
  description: "The cheapest matching offers for a workload, and why the others cannot run it.",
  fields: (t) => ({
    kind: t.field({ type: WorkloadKindEnum, description: "The workload kind." }),
    options: t.field({ type: [WorkloadOptionRef], description: "Cheapest first (ties: lower hourly price, then lower offer id)." }),
    considered: t.int({ description: "Offers matching the filter." }),
    feasible: t.int({ description: "Matching offers that can run the workload." }),
    excluded: t.int({ description: "Matching offers that cannot." }),
    exclusions: t.field({ type: [WorkloadExclusionRef], description: "Excluded offers by configuration and reason, largest group first." }),
    totals: t.field({ type: WorkloadTotalsRef, description: "The workload's size." }),
    assumptions: t.stringList({ description: "Every assumption behind the numbers." }),
  }),
});

type WorkloadArgs = typeof WorkloadInputRef.$inferInput;

function toWorkload(input: WorkloadArgs): WorkloadInput {
  const given = (["inference", "training", "image"] as const).filter((k) => input[k] != null);
  if (given.length !== 1) throw badInput(`Give exactly one of inference, training or image (got ${given.length ? given.join(", ") : "none"}).`, { argument: "input" });
  if (input.inference) {
    const { model, customModel, period, ...rest } = input.inference;
    return { kind: "inference", ...dropNulls(rest), model: modelArg({ model, customModel }, true)!, periodHours: PERIOD_HOURS[period] };
  }
  if (input.training) return { kind: "training", ...dropNulls(input.training) };
  const { period, ...rest } = input.image!;
  return { kind: "image", ...dropNulls(rest), periodHours: PERIOD_HOURS[period] };
}

interface Candidate {
  id: number; gpuModelId: number | null; gpuName: string; gpuCount: number; onDemandPrice: Prisma.Decimal; total: number;
  name: string | null; vramGb: number | null; memoryBandwidthGbps: number | null; fp16Tflops: Prisma.Decimal | null; fp8Tflops: Prisma.Decimal | null;
}

/** Cost scales with price within a (GPU model, count) configuration: its `first` cheapest offers cover the cheapest overall. */
function loadCandidates(ctx: Context, filter: OfferFilter, first: number) {
  return ctx.prisma.$queryRaw<Candidate[]>`
    SELECT c.id, c."gpuModelId", c."gpuName", c."gpuCount", c."onDemandPrice", c.total,
           m.name, m."vramGb", m."memoryBandwidthGbps", m."fp16Tflops", m."fp8Tflops"
    FROM (
      SELECT o.id, o."gpuModelId", o."gpuName", o."gpuCount", o."onDemandPrice",
             row_number() OVER (PARTITION BY coalesce(o."gpuModelId"::text, o."gpuName"), o."gpuCount" ORDER BY o."onDemandPrice", o.id) AS position,
             count(*) OVER (PARTITION BY coalesce(o."gpuModelId"::text, o."gpuName"), o."gpuCount")::int AS total
      FROM "GpuOffer" o WHERE ${offerWhere(filter)}
    ) c LEFT JOIN "GpuModel" m ON m.id = c."gpuModelId"
    WHERE c.position <= ${Math.max(first, 1)}
    ORDER BY c."onDemandPrice", c.id`;
}

builder.queryField("estimateWorkload", (t) => t.field({
  type: WorkloadEstimateRef,
  description: `What a workload (LLM inference, training, image generation) costs on the matching offers: the cheapest \`first\` (default 10, max ${LIST_SIZE.max}) with hours and cost, plus the offers that cannot run it and why. Every number lists its assumptions.`,
  args: {
    input: t.arg({ type: WorkloadInputRef, required: true, description: "The workload." }),
    filter: t.arg({ type: OfferFilterInput, description: "Which offers to consider (same filter as `offers`; active offers by default)." }),
    first: t.arg.int({ required: true, defaultValue: 10, description: `How many options to return (0–${LIST_SIZE.max}).`, validate: z.number().int().min(0).max(LIST_SIZE.max, `first must be at most ${LIST_SIZE.max}`) }),
  },
  resolve: async (_root, args, ctx) => {
    const workload = toWorkload(args.input);
    domain("input", () => estimateWorkload(workload, []));  // validates before any SQL
    const filter = await checkFilter(ctx, args.filter);
    const candidates = await loadCandidates(ctx, filter, args.first);
    const offers: WorkloadOffer<number>[] = candidates.map((c) => ({
      id: c.id, gpuModel: c.name ?? c.gpuName, gpuCount: c.gpuCount, pricePerHour: c.onDemandPrice.toNumber(),
      gpu: c.name !== null && c.vramGb! > 0 && c.memoryBandwidthGbps! > 0 && c.fp16Tflops!.gt(0)
        ? toGpuInput({ vramGb: c.vramGb!, memoryBandwidthGbps: c.memoryBandwidthGbps!, fp16Tflops: c.fp16Tflops!, fp8Tflops: c.fp8Tflops })
        : null,
    }));
    const estimate = estimateWorkload(workload, offers, { limit: args.first });
    // The estimate saw each configuration's cheapest offers; its exclusions cover the whole configuration.
    const totals = new Map(candidates.map((c, i) => [`${offers[i]!.gpuModel}\u0000${c.gpuCount}`, c.total]));
    const exclusions = estimate.excluded
      .map((e) => ({ ...e, offers: totals.get(`${e.gpuModel}\u0000${e.gpuCount}`) ?? e.offers }))
      .sort((a, b) => b.offers - a.offers);
    const considered = [...new Map(candidates.map((c) => [`${c.gpuModelId ?? c.gpuName}\u0000${c.gpuCount}`, c.total])).values()].reduce((s, n) => s + n, 0);
    const excluded = exclusions.reduce((s, e) => s + e.offers, 0);
    const rows = new Map((await ctx.prisma.gpuOffer.findMany({ where: { id: { in: estimate.options.map((o) => o.offerId) } } })).map((o) => [o.id, o]));
    return {
      kind: estimate.kind, considered, feasible: considered - excluded, excluded, exclusions, totals: estimate.totals, assumptions: estimate.assumptions,
      options: estimate.options.map((o) => ({
        ...o, offer: rows.get(o.offerId)!, cost: roundMoney(o.cost),
        costPerMillionTokens: o.costPerMillionTokens === null ? null : roundMoney(o.costPerMillionTokens),
        costPerImage: o.costPerImage === null ? null : roundMoney(o.costPerImage),
      })),
    };
  },
}));
