// LLM cost: the costPerToken query and its types, plus CustomModelInput (shared with estimateWorkload).
// The resolver calls src/services/llm-cost.ts.
import { z } from "zod";
import { DEFAULT_SERVING } from "../domain/math/llm.ts";
import { GPU_COUNT_MAX } from "../services/llm-cost.ts";
import { MODEL_PRESET_LIST } from "../services/math-input.ts";
import { builder } from "./builder.ts";
import { PrecisionEnum } from "./enums.ts";
import { GpuOfferRef } from "./offer.ts";

// ---------------------------------------------------------------- Types

export const CustomModelInput = builder.inputType("CustomModelInput", {
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

// ---------------------------------------------------------------- Queries

builder.queryField("costPerToken", (t) => t.field({
  type: CostPerTokenRef,
  description: `$ per million generated and prompt tokens for an LLM on an offer (\`offer\`) or on a GPU at a price (\`gpuModel\` + \`pricePerHour\` + \`gpuCount\`); give exactly one of the two. Model: a preset (${MODEL_PRESET_LIST}) or customModel. Decode is memory-bound: tokens/s = batch / step time; cost = price / (tokens/s × 3600) × 1e6.`,
  args: {
    offer: t.arg.globalID({ for: GpuOfferRef, description: "Global ID of a GpuOffer: its GPU model, GPU count and on-demand price are used." }),
    gpuModel: t.arg.string({ description: "GPU model (any provider spelling), instead of an offer." }),
    pricePerHour: t.arg({ type: "Money", description: "Price per hour of the whole instance; required with gpuModel." }),
    gpuCount: t.arg.int({ description: "GPUs in the instance, with gpuModel (default 1).", validate: z.number().int().min(1).max(GPU_COUNT_MAX) }),
    model: t.arg.string({ description: `Model preset: ${MODEL_PRESET_LIST}.` }),
    customModel: t.arg({ type: CustomModelInput, description: "The model's architecture, instead of a preset." }),
    precision: t.arg({ type: PrecisionEnum, required: true, defaultValue: "FP16", description: "Weight precision." }),
    kvPrecision: t.arg({ type: PrecisionEnum, description: "KV-cache precision (default FP16)." }),
    batch: t.arg.int({ required: true, defaultValue: DEFAULT_SERVING.batch, description: "Sequences decoded together." }),
    contextTokens: t.arg.int({ required: true, defaultValue: DEFAULT_SERVING.contextTokens, description: "Cache length per sequence: prompt + generated tokens." }),
    promptTokens: t.arg.int({ required: true, defaultValue: DEFAULT_SERVING.promptTokens, description: "Prompt tokens per sequence (≤ contextTokens)." }),
  },
  resolve: (_root, { offer, ...args }, ctx) => ctx.services.llmCost.costPerToken({ ...args, offerId: offer?.id }, ctx.actor),
}));
