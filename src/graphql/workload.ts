// Workload estimation: the estimateWorkload query and its input and result types. The resolver calls
// src/services/workload.ts.
import { z } from "zod";
import { DEFAULT_COMPUTE_EFFICIENCY } from "../domain/math/llm.ts";
import { IMAGE_MODEL_PRESETS } from "../domain/math/workload.ts";
import { LIST_SIZE, MODEL_PRESET_LIST } from "../services/math-input.ts";
import { PERIOD_HOURS, WORKLOAD_OPTIONS_DEFAULT } from "../services/workload.ts";
import { builder } from "./builder.ts";
import { PrecisionEnum } from "./enums.ts";
import { CustomModelInput } from "./llm.ts";
import { GpuOfferRef, OfferFilterInput } from "./offer.ts";
import { ExclusionReasonEnum } from "./ranking.ts";

// ---------------------------------------------------------------- Inputs

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

/** The ImageModel enum's names and the values services take. */
export const IMAGE_MODEL_VALUES = { SDXL: "sdxl", SD_1_5: "sd-1.5" } as const;

export const ImageModelEnum = builder.enumType("ImageModel", {
  description: "Image models with a documented per-image cost.",
  values: Object.fromEntries(Object.entries(IMAGE_MODEL_VALUES).map(([key, value]) => {
    const spec = IMAGE_MODEL_PRESETS[value];
    return [key, { value, description: `${spec.name}, ${spec.resolution}×${spec.resolution}: ${spec.unetTflopsPerEvaluation} TFLOPs per U-Net evaluation, ${spec.weightsGb} GB of FP16 weights.` }];
  })) as { SDXL: { value: "sdxl"; description: string }; SD_1_5: { value: "sd-1.5"; description: string } },
});

const positiveFloat = z.number().positive();
const InferenceWorkloadInput = builder.inputType("InferenceWorkloadInput", {
  description: "LLM serving volume. Give requestsPerPeriod with tokensPerRequest, or tokensPerPeriod.",
  fields: (t) => ({
    model: t.string({ description: `Model preset: ${MODEL_PRESET_LIST}.` }),
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
    utilisation: t.float({ description: "Model FLOPs utilisation in [0.01, 1]; default 0.4 (Llama 3 pre-training reached 38–43 %)." }),
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
    utilisation: t.float({ description: `Fraction of the FP16 peak reached, [0.01, 1]; default ${DEFAULT_COMPUTE_EFFICIENCY}.` }),
  }),
});

export const WorkloadInputRef = builder.inputType("WorkloadInput", {
  description: "A workload to cost: give exactly one of inference, training or image.",
  fields: (t) => ({
    inference: t.field({ type: InferenceWorkloadInput, description: "LLM inference." }),
    training: t.field({ type: TrainingWorkloadInput, description: "Training or fine-tuning." }),
    image: t.field({ type: ImageWorkloadInput, description: "Image generation." }),
  }),
});

// ---------------------------------------------------------------- Types

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

// ---------------------------------------------------------------- Queries

builder.queryField("estimateWorkload", (t) => t.field({
  type: WorkloadEstimateRef,
  description: `What a workload (LLM inference, training, image generation) costs on the matching offers: the cheapest \`first\` (default ${WORKLOAD_OPTIONS_DEFAULT}, max ${LIST_SIZE.max}) with hours and cost, plus the offers that cannot run it and why. Every number lists its assumptions.`,
  args: {
    input: t.arg({ type: WorkloadInputRef, required: true, description: "The workload." }),
    filter: t.arg({ type: OfferFilterInput, description: "Which offers to consider (same filter as `offers`; active offers by default)." }),
    first: t.arg.int({ required: true, defaultValue: WORKLOAD_OPTIONS_DEFAULT, description: `How many options to return (0–${LIST_SIZE.max}).`, validate: z.number().int().min(0).max(LIST_SIZE.max, `first must be at most ${LIST_SIZE.max}`) }),
  },
  resolve: (_root, args, ctx) => ctx.services.workload.estimateWorkload(args, ctx.actor),
}));
