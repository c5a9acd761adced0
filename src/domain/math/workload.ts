// What a workload costs on each candidate offer, and which offers cannot run it. Three kinds:
//
// - LLM inference: the volume (generated tokens, or requests × tokens per request, per period) divided by the
//   offer's decode and prefill speed from estimateInference (llm.ts) gives busy instance-hours; cost = hours ×
//   price. An offer whose GPUs cannot hold weights + KV cache + overhead is excluded (INSUFFICIENT_VRAM).
// - Training / fine-tuning: 6·N·D FLOPs at the GPU's peak × utilisation (trainingEstimate). Full-parameter
//   mixed-precision Adam keeps 16 bytes of model state per parameter (fp16 weights 2 + gradients 2 + fp32
//   master weights, momentum and variance 12: Rajbhandari et al. 2020, "ZeRO: Memory Optimizations Toward
//   Training Trillion Parameter Models", §3.1), sharded over every GPU (ZeRO-3 / FSDP); activations are not
//   counted and LoRA is not modelled. Instances = max(what holds the state, what meets the target time);
//   data parallelism is assumed to scale linearly, so the cost does not depend on the instance count.
// - Image generation: FLOPs per image = steps × (2 with classifier-free guidance, else 1) × U-Net FLOPs per
//   evaluation + VAE decode, at the FP16 peak × utilisation; one pipeline per GPU (data parallel). See
//   IMAGE_MODEL_PRESETS for where each figure comes from.
//
// Results are per offer; cost scales with the price, so callers may pass only the cheapest offers of each
// (GPU model, GPU count) configuration. Every estimate lists the assumptions that produced it.
import {
  DEFAULT_COMPUTE_EFFICIENCY, DEFAULT_MEMORY_EFFICIENCY, DEFAULT_TRAINING_UTILISATION, estimateInference, MIN_FRACTION_OF_PEAK, PRECISION_BYTES,
  resolveModel, trainingEstimate, type GpuInput, type InferenceInput, type Precision, type TrainingPrecision,
} from "./llm.ts";

/** Hours in each period a volume may be given for (a month is 365 × 24 / 12). */
export const PERIOD_HOURS = { HOUR: 1, DAY: 24, WEEK: 168, MONTH: 730 } as const;
export type WorkloadPeriod = keyof typeof PERIOD_HOURS;

export interface InferenceWorkload {
  kind: "inference";
  model: InferenceInput["model"];
  precision: Precision;
  kvPrecision?: Precision;
  /** Sequences decoded together; default 1 (a single stream: the slowest, most conservative case). */
  batch?: number;
  /** Hours in the period the volume is given for (730 = a month). */
  periodHours: number;
  /** Give either requestsPerPeriod (with tokensPerRequest) or tokensPerPeriod. */
  requestsPerPeriod?: number;
  /** Generated tokens per request. */
  tokensPerRequest?: number;
  /** Generated tokens per period. */
  tokensPerPeriod?: number;
  /** Prompt tokens per request (prefilled); default 0. */
  promptTokens?: number;
  /** Cache length per sequence (prompt + generated). Default: promptTokens + tokensPerRequest with requests,
   * 4096 with tokensPerPeriod, where each sequence then generates contextTokens − promptTokens tokens. */
  contextTokens?: number;
  efficiencies?: { memory?: number; compute?: number };
}

export interface TrainingWorkload {
  kind: "training";
  parameters: number;
  tokens: number;
  precision: TrainingPrecision;
  /** Wall-clock hours to finish in; more instances are added until it is met. */
  targetHours?: number;
  utilisation?: number;
}

export type ImageModelName = "sdxl" | "sd-1.5";

export interface ImageWorkload {
  kind: "image";
  model: ImageModelName;
  imagesPerPeriod: number;
  periodHours: number;
  /** Denoising steps; default 30. */
  steps?: number;
  /** Classifier-free guidance runs the U-Net twice per step; default true. */
  guidance?: boolean;
  /** Fraction of the FP16 peak reached; default DEFAULT_COMPUTE_EFFICIENCY (0.5). */
  utilisation?: number;
}

export type WorkloadInput = InferenceWorkload | TrainingWorkload | ImageWorkload;

export interface ImageModelSpec {
  name: string;
  resolution: number;
  /** One U-Net forward pass (MACs × 2) at the native resolution. */
  unetTflopsPerEvaluation: number;
  /** VAE decode of one image at the native resolution. */
  decodeTflops: number;
  /** All weights in FP16: U-Net, text encoder(s), VAE. */
  weightsGb: number;
  source: string;
}

// U-Net FLOPs come from counting every convolution and linear layer of the diffusers UNet2DConditionModel
// configs, plus attention's QKᵀ and AV products. The same count gives 338.6 GMACs of convolutions + linears
// for SD 1.x at 512², where BK-SDM measured 338.7 GMACs with thop (Nota-NetsPresso/BK-SDM issue #53,
// src/count_macs_params.py), which checks the method. VAE decode: BK-SDM's measured 1,240.1 GMACs at 512²
// (same KL-f8 decoder in SDXL, per the SDXL report §2.4), ×4 for 1024² pixels, plus its mid-block attention.
export const IMAGE_MODEL_PRESETS: Readonly<Record<ImageModelName, ImageModelSpec>> = {
  sdxl: {
    name: "SDXL 1.0 base", resolution: 1024, unetTflopsPerEvaluation: 6.761, decodeTflops: 10.47, weightsGb: 6.94,
    source: "U-Net [320, 640, 1280] channels, transformer depth [0, 2, 10], 2048-wide context (Podell et al. 2023, " +
      "'SDXL', Table 1; stabilityai/stable-diffusion-xl-base-1.0 unet/config.json) at a 128² latent: 2,988.7 GMACs " +
      "convolutions + linears, 392.0 GMACs attention = 6.761 TFLOPs; decode 4 × 1,240.1 + 274.9 GMACs = 10.47 TFLOPs; " +
      "weights 3.47B parameters (U-Net 2.57B, text encoders 0.82B, VAE 0.08B) × 2 bytes",
  },
  "sd-1.5": {
    name: "Stable Diffusion 1.5", resolution: 512, unetTflopsPerEvaluation: 0.803, decodeTflops: 2.515, weightsGb: 2.13,
    source: "U-Net at a 64² latent: 338.6 GMACs convolutions + linears (BK-SDM/thop: 338.7), 63.0 GMACs attention = " +
      "0.803 TFLOPs; decode 1,240.1 + 17.2 GMACs = 2.515 TFLOPs; weights 1.07B parameters × 2 bytes",
  },
};

/** Model state bytes per parameter for full-parameter mixed-precision Adam (ZeRO §3.1). */
export const TRAINING_STATE_BYTES_PER_PARAMETER = 16;
/** CUDA context, activations and scratch of one image pipeline: SDXL (6.9 GB of weights) then needs 8.9 GB,
 * matching the KOALA authors' observation that SDXL-Base does not run on an 8 GB GPU but does on 11 GB
 * (github.com/youngwanLEE/sdxl-koala README, "Latency and memory usage comparison on different GPUs"). */
const IMAGE_WORKING_GB = 2;
const DEFAULT_CONTEXT_TOKENS = 4096;
const DEFAULT_STEPS = 30;

export interface WorkloadOffer<Id> {
  id: Id;
  /** Canonical GPU model name, or the provider's spelling when the model is unknown. */
  gpuModel: string;
  /** Datasheet figures; null when the GPU model has no known spec. */
  gpu: GpuInput | null;
  gpuCount: number;
  /** Price per hour of the whole instance. */
  pricePerHour: number;
}

export interface WorkloadOption<Id> {
  offerId: Id;
  gpuModel: string;
  gpuCount: number;
  pricePerHour: number;
  /** Instances run side by side: enough for the volume within the period, the training state, or the target time. */
  instances: number;
  /** Billed instance-hours (busy time only for inference and images). */
  instanceHours: number;
  gpuHours: number;
  /** Hours until the work is done with `instances` instances. */
  wallClockHours: number;
  /** instanceHours × pricePerHour. */
  cost: number;
  /** Inference: cost per million generated tokens, prefill time included. */
  costPerMillionTokens: number | null;
  /** Inference: decode tokens per second of one instance. */
  tokensPerSecond: number | null;
  costPerImage: number | null;
  /** Images per hour of one instance. */
  imagesPerHour: number | null;
  /** Inference: weights + KV + overhead; training: model state; images: weights + working memory per GPU. */
  vramRequiredGb: number;
  /** Inference: all GPUs of one instance; training: all GPUs of all instances; images: one GPU. */
  vramAvailableGb: number;
}

export type ExclusionReason = "UNKNOWN_GPU_MODEL" | "INSUFFICIENT_VRAM";

export interface WorkloadExclusion {
  reason: ExclusionReason;
  gpuModel: string;
  gpuCount: number;
  /** Offers of this configuration excluded for this reason. */
  offers: number;
  message: string;
}

export interface WorkloadTotals {
  outputTokens: number | null;
  inputTokens: number | null;
  requests: number | null;
  trainingFlops: number | null;
  images: number | null;
  teraflopsPerImage: number | null;
}

export interface WorkloadEstimate<Id> {
  kind: WorkloadInput["kind"];
  /** Cheapest first (ties: lower price per hour, then input order), at most `limit`. */
  options: WorkloadOption<Id>[];
  /** Offers that can run the workload (before `limit`). */
  feasible: number;
  excluded: WorkloadExclusion[];
  totals: WorkloadTotals;
  assumptions: string[];
}

export type WorkloadErrorCode =
  | "MISSING_FIELD" | "CONFLICTING_FIELDS" | "INVALID_NUMBER" | "OUT_OF_RANGE" | "INVALID_PRECISION" | "UNKNOWN_IMAGE_MODEL" | "INVALID_KIND";

export class WorkloadInputError extends Error {
  readonly code: WorkloadErrorCode;
  readonly field: string;
  constructor(code: WorkloadErrorCode, field: string, message: string) {
    super(message);
    this.name = "WorkloadInputError";
    this.code = code;
    this.field = field;
  }
}

/** Per-configuration result: what one instance of (GPU model, count) does, or why it cannot. */
type Capability =
  | { ok: true; instanceHours: number; instances?: number; tokensPerSecond?: number; imagesPerHour?: number; vramRequiredGb: number; vramAvailableGb: number }
  | { ok: false; reason: ExclusionReason; message: string };

interface Plan {
  totals: WorkloadTotals;
  assumptions: string[];
  periodHours: number | null;
  capability(gpu: GpuInput, gpuCount: number, gpuModel: string): Capability;
  /** Unit costs of one option from its total cost. */
  per(cost: number): Pick<WorkloadOption<unknown>, "costPerMillionTokens" | "costPerImage">;
}

/** Estimates the workload on every offer; the input is validated first, so it throws even without offers. */
export function estimateWorkload<Id>(input: WorkloadInput, offers: readonly WorkloadOffer<Id>[], options: { limit?: number } = {}): WorkloadEstimate<Id> {
  const plan = input.kind === "inference" ? inferencePlan(input)
    : input.kind === "training" ? trainingPlan(input)
    : input.kind === "image" ? imagePlan(input)
    : fail("INVALID_KIND", "kind", `Workload kind must be "inference", "training" or "image" (got ${JSON.stringify((input as { kind: unknown }).kind)}).`);
  const limit = options.limit ?? 10;

  const capabilities = new Map<string, Capability>();
  const exclusions = new Map<string, WorkloadExclusion>();
  const feasible: WorkloadOption<Id>[] = [];
  for (const offer of offers) {
    const key = `${offer.gpuModel}\u0000${offer.gpuCount}`;
    let capability = capabilities.get(key);
    if (!capability) {
      capability = offer.gpu && knownGpu(offer.gpu)
        ? plan.capability(offer.gpu, offer.gpuCount, offer.gpuModel)
        : { ok: false, reason: "UNKNOWN_GPU_MODEL", message: `"${offer.gpuModel}" is not a GPU model with known specs, so its speed and memory cannot be estimated.` };
      capabilities.set(key, capability);
    }
    if (!capability.ok) {
      const exclusion = exclusions.get(key) ?? { reason: capability.reason, gpuModel: offer.gpuModel, gpuCount: offer.gpuCount, offers: 0, message: capability.message };
      exclusion.offers++;
      exclusions.set(key, exclusion);
      continue;
    }
    const { instanceHours } = capability;
    const instances = capability.instances ?? Math.max(1, Math.ceil(instanceHours / plan.periodHours! - 1e-9));
    const cost = instanceHours * offer.pricePerHour;
    feasible.push({
      offerId: offer.id, gpuModel: offer.gpuModel, gpuCount: offer.gpuCount, pricePerHour: offer.pricePerHour,
      instances, instanceHours, gpuHours: instanceHours * offer.gpuCount, wallClockHours: instanceHours / instances, cost,
      ...plan.per(cost),
      tokensPerSecond: capability.tokensPerSecond ?? null, imagesPerHour: capability.imagesPerHour ?? null,
      vramRequiredGb: capability.vramRequiredGb, vramAvailableGb: capability.vramAvailableGb,
    });
  }
  // Array#sort is stable, so equal costs and prices keep the input order.
  feasible.sort((a, b) => a.cost - b.cost || a.pricePerHour - b.pricePerHour);
  return {
    kind: input.kind,
    options: feasible.slice(0, limit),
    feasible: feasible.length,
    excluded: [...exclusions.values()].sort((a, b) => b.offers - a.offers || a.gpuModel.localeCompare(b.gpuModel) || a.gpuCount - b.gpuCount),
    totals: plan.totals,
    assumptions: plan.assumptions,
  };
}

const NO_TOTALS: WorkloadTotals = { outputTokens: null, inputTokens: null, requests: null, trainingFlops: null, images: null, teraflopsPerImage: null };

function inferencePlan(w: InferenceWorkload): Plan {
  const model = resolveModel(w.model);
  precision("precision", w.precision);
  if (w.kvPrecision !== undefined) precision("kvPrecision", w.kvPrecision);
  const periodHours = positive("periodHours", w.periodHours);
  const batch = whole("batch", w.batch ?? 1, 1);
  const promptTokens = whole("promptTokens", w.promptTokens ?? 0, 0);
  const byRequests = w.requestsPerPeriod !== undefined;
  if (byRequests === (w.tokensPerPeriod !== undefined)) {
    fail(byRequests ? "CONFLICTING_FIELDS" : "MISSING_FIELD", "requestsPerPeriod", "Give the volume as either requestsPerPeriod (with tokensPerRequest) or tokensPerPeriod, not both or neither.");
  }
  let requests: number;
  let outputTokens: number;
  let contextTokens: number;
  if (byRequests) {
    requests = positive("requestsPerPeriod", w.requestsPerPeriod);
    if (w.tokensPerRequest === undefined) fail("MISSING_FIELD", "tokensPerRequest", "tokensPerRequest (generated tokens per request) is required with requestsPerPeriod.");
    const perRequest = whole("tokensPerRequest", w.tokensPerRequest, 1);
    contextTokens = whole("contextTokens", w.contextTokens ?? promptTokens + perRequest, 1);
    if (contextTokens < promptTokens + perRequest) {
      fail("OUT_OF_RANGE", "contextTokens", `contextTokens (${contextTokens}) must hold the prompt and the generated tokens (${promptTokens} + ${perRequest}).`);
    }
    outputTokens = requests * perRequest;
  } else {
    if (w.tokensPerRequest !== undefined) fail("CONFLICTING_FIELDS", "tokensPerRequest", "tokensPerRequest goes with requestsPerPeriod; with tokensPerPeriod each sequence generates contextTokens − promptTokens tokens.");
    outputTokens = positive("tokensPerPeriod", w.tokensPerPeriod);
    contextTokens = whole("contextTokens", w.contextTokens ?? DEFAULT_CONTEXT_TOKENS, 1);
    if (contextTokens <= promptTokens) fail("OUT_OF_RANGE", "contextTokens", `contextTokens (${contextTokens}) must exceed promptTokens (${promptTokens}) so each sequence generates something.`);
    requests = outputTokens / (contextTokens - promptTokens);
  }
  const inputTokens = requests * promptTokens;
  const efficiencies = {
    memory: fraction("efficiencies.memory", w.efficiencies?.memory ?? DEFAULT_MEMORY_EFFICIENCY),
    compute: fraction("efficiencies.compute", w.efficiencies?.compute ?? DEFAULT_COMPUTE_EFFICIENCY),
  };
  return {
    periodHours,
    totals: { ...NO_TOTALS, outputTokens, inputTokens, requests },
    assumptions: [
      `${model.name} (${model.source}); weights ${w.precision}, KV cache ${w.kvPrecision ?? "FP16"}; batch ${batch}; context ${contextTokens} tokens, prompt ${promptTokens} tokens per sequence`,
      `${fmt(outputTokens)} generated and ${fmt(inputTokens)} prompt tokens per ${periodHours} h (${fmt(requests)} sequences)`,
      "busy time = generated tokens ÷ decode tokens/s + prompt tokens ÷ prefill tokens/s; instances = ⌈busy hours ÷ period⌉; cost = busy hours × price (an always-on deployment pays instances × period × price)",
      `decode at ${efficiencies.memory} of peak memory bandwidth, prefill at ${efficiencies.compute} of peak FLOPS; VRAM, overhead and tensor parallelism over all GPUs of an instance as in estimateInference (llm.ts)`,
    ],
    capability(gpu, gpuCount, gpuModel) {
      const e = estimateInference({
        model, gpu, gpuCount, batch, contextTokens, promptTokens, precision: w.precision, kvPrecision: w.kvPrecision, efficiencies,
      });
      if (!e.fits) {
        return { ok: false, reason: "INSUFFICIENT_VRAM", message: `${model.name} at ${w.precision} needs ${gb(e.vram.totalGb)} GB (weights ${gb(e.vram.weightsGb)}, KV cache ${gb(e.vram.kvCacheGb)}, overhead ${gb(e.vram.overheadGb)}); ${gpuCount}× ${gpuModel} has ${gb(e.vram.availableGb)} GB.` };
      }
      const seconds = outputTokens / e.decode.tokensPerSecond + inputTokens / e.prefill.tokensPerSecond;
      return { ok: true, instanceHours: seconds / 3600, tokensPerSecond: e.decode.tokensPerSecond, vramRequiredGb: e.vram.totalGb, vramAvailableGb: e.vram.availableGb };
    },
    per: (cost) => ({ costPerMillionTokens: (cost / outputTokens) * 1e6, costPerImage: null }),
  };
}

function trainingPlan(w: TrainingWorkload): Plan {
  const parameters = positive("parameters", w.parameters);
  const tokens = positive("tokens", w.tokens);
  if (w.precision !== "FP16" && w.precision !== "BF16" && w.precision !== "FP8") {
    fail("INVALID_PRECISION", "precision", `Training precision must be FP16, BF16 or FP8 (got ${JSON.stringify(w.precision)}); INT8/INT4 are inference formats.`);
  }
  const targetHours = w.targetHours === undefined ? undefined : positive("targetHours", w.targetHours);
  const utilisation = fraction("utilisation", w.utilisation ?? DEFAULT_TRAINING_UTILISATION);
  const stateGb = (TRAINING_STATE_BYTES_PER_PARAMETER * parameters) / 1e9;
  return {
    periodHours: null,
    totals: { ...NO_TOTALS, trainingFlops: 6 * parameters * tokens },
    assumptions: [
      `6 × ${fmt(parameters)} parameters × ${fmt(tokens)} tokens = ${fmt(6 * parameters * tokens)} FLOPs at the ${w.precision === "FP8" ? "8-bit (INT8 on GPUs without FP8)" : "FP16/BF16"} peak × model FLOPs utilisation ${utilisation}`,
      `model state ${TRAINING_STATE_BYTES_PER_PARAMETER} bytes per parameter (mixed-precision Adam, ZeRO §3.1) = ${gb(stateGb)} GB sharded over all GPUs; activations not counted`,
      `instances = max(enough VRAM for the state, ${targetHours === undefined ? "1" : `enough to finish within ${targetHours} h`}); linear data-parallel scaling, so cost = single-instance hours × price`,
    ],
    capability(gpu, gpuCount) {
      const t = trainingEstimate({ parameters, tokens, gpu, gpuCount, precision: w.precision, utilisation });
      const capacityGb = gpu.vramGb * gpuCount;
      const instances = Math.max(1, Math.ceil(stateGb / capacityGb - 1e-9), targetHours === undefined ? 1 : Math.ceil(t.hours / targetHours - 1e-9));
      return { ok: true, instanceHours: t.hours, instances, vramRequiredGb: stateGb, vramAvailableGb: capacityGb * instances };
    },
    per: () => ({ costPerMillionTokens: null, costPerImage: null }),
  };
}

function imagePlan(w: ImageWorkload): Plan {
  if (!Object.hasOwn(IMAGE_MODEL_PRESETS, w.model)) {
    fail("UNKNOWN_IMAGE_MODEL", "model", `Unknown image model ${JSON.stringify(w.model)}; known: ${Object.keys(IMAGE_MODEL_PRESETS).join(", ")}.`);
  }
  const spec = IMAGE_MODEL_PRESETS[w.model];
  const images = positive("imagesPerPeriod", w.imagesPerPeriod);
  const periodHours = positive("periodHours", w.periodHours);
  const steps = whole("steps", w.steps ?? DEFAULT_STEPS, 1);
  const guidance = w.guidance ?? true;
  const utilisation = fraction("utilisation", w.utilisation ?? DEFAULT_COMPUTE_EFFICIENCY);
  const teraflopsPerImage = steps * (guidance ? 2 : 1) * spec.unetTflopsPerEvaluation + spec.decodeTflops;
  const vramRequiredGb = spec.weightsGb + IMAGE_WORKING_GB;
  return {
    periodHours,
    totals: { ...NO_TOTALS, images, teraflopsPerImage },
    assumptions: [
      `${spec.name} at ${spec.resolution}×${spec.resolution}: ${steps} steps × ${guidance ? "2 (classifier-free guidance)" : "1"} × ${spec.unetTflopsPerEvaluation} TFLOPs + ${spec.decodeTflops} TFLOPs decode = ${fmt(teraflopsPerImage)} TFLOPs per image (${spec.source})`,
      `FP16 peak × utilisation ${utilisation}; one pipeline per GPU, needing ${gb(vramRequiredGb)} GB (weights + ${IMAGE_WORKING_GB} GB working memory)`,
      `${fmt(images)} images per ${periodHours} h; instances = ⌈busy hours ÷ period⌉; cost = busy hours × price`,
    ],
    capability(gpu, gpuCount, gpuModel) {
      if (gpu.vramGb < vramRequiredGb) {
        return { ok: false, reason: "INSUFFICIENT_VRAM", message: `${spec.name} needs ${gb(vramRequiredGb)} GB per GPU; ${gpuModel} has ${gb(gpu.vramGb)} GB.` };
      }
      const imagesPerHour = (gpuCount * 3600 * gpu.fp16Tflops * utilisation) / teraflopsPerImage;
      return { ok: true, instanceHours: images / imagesPerHour, imagesPerHour, vramRequiredGb, vramAvailableGb: gpu.vramGb };
    },
    per: (cost) => ({ costPerMillionTokens: null, costPerImage: cost / images }),
  };
}

// ---- validation -------------------------------------------------------------------------------------

function fail(code: WorkloadErrorCode, field: string, message: string): never {
  throw new WorkloadInputError(code, field, message);
}

function finite(field: string, value: unknown): number {
  if (typeof value !== "number" || !Number.isFinite(value)) fail("INVALID_NUMBER", field, `${field} must be a finite number (got ${String(value)}).`);
  return value;
}

function positive(field: string, value: unknown): number {
  const n = finite(field, value);
  if (n <= 0) fail("OUT_OF_RANGE", field, `${field} must be greater than 0 (got ${n}).`);
  return n;
}

function whole(field: string, value: unknown, min: number): number {
  const n = finite(field, value);
  if (!Number.isInteger(n) || n < min) fail("OUT_OF_RANGE", field, `${field} must be a whole number ≥ ${min} (got ${n}).`);
  return n;
}

function fraction(field: string, value: unknown): number {
  const n = finite(field, value);
  // Below 1 % no GPU runs in practice, and the hours it implies overflow: the physical range is [0.01, 1].
  if (!(n >= MIN_FRACTION_OF_PEAK && n <= 1)) fail("OUT_OF_RANGE", field, `${field} is a fraction of peak and must be between 0.01 and 1 (got ${n}).`);
  return n;
}

function precision(field: string, value: unknown): void {
  if (typeof value !== "string" || !Object.hasOwn(PRECISION_BYTES, value)) {
    fail("INVALID_PRECISION", field, `${field} must be one of ${Object.keys(PRECISION_BYTES).join(", ")} (got ${JSON.stringify(value)}).`);
  }
}

/** A spec the estimators can use: every figure they divide by is a positive number. */
function knownGpu(gpu: GpuInput): boolean {
  return gpu.vramGb > 0 && gpu.memoryBandwidthGbps > 0 && gpu.fp16Tflops > 0 && (gpu.fp8Tflops == null || gpu.fp8Tflops > 0);
}

const gb = (n: number) => (Math.round(n * 10) / 10).toString();
const fmt = (n: number) => (Number.isInteger(n) && Math.abs(n) < 1e15 ? n.toLocaleString("en-US") : n.toPrecision(4));
