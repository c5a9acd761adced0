// First-order LLM serving and training arithmetic: how much VRAM a model needs, how fast it decodes and
// prefills on a given GPU, what a million tokens cost, and how long a training run takes.
//
// Units: GB = 1e9 bytes (as GPU datasheets and spec table quote VRAM and bandwidth), TFLOPS = 1e12 FLOP/s.
// Every estimate returns the assumptions that produced it, so a caller can show its working.
//
// Model, in one place:
// - Weights: parameters × bytes per parameter (FP16/BF16 2, FP8/INT8 1, INT4 0.5). MoE models hold all
//   parameters in memory but read only the active ones per token.
// - KV cache per token: layers × elements per layer × KV bytes, elements = 2 (K and V) × kvHeads × headDim,
//   or the MLA latent width for DeepSeek-V3 (see MODEL_PRESETS).
// - Tensor parallel over gpuCount GPUs splits weights and bandwidth evenly. KV heads split over
//   min(gpuCount, kvHeads) GPUs and are replicated beyond that; an MLA latent (one shared "head") is
//   replicated on every GPU. Interconnect time is not modelled: it is part of what the efficiencies absorb.
// - Decode step (roofline): the slower of memory time = (active weight bytes / TP + KV bytes read per GPU)
//   / (bandwidth × memory efficiency) and compute time = 2·N_active·batch / (peak × GPUs × compute
//   efficiency). At the batch sizes people serve, memory time is the larger; `decode.bound` says which won.
//   KV read per sequence is the mean cache length over generation, (prompt + context) / 2 tokens, so
//   tokens/s is the average over the whole generation (step time is linear in cache length).
// - Prefill: 2·N_active FLOPs per prompt token at the FP16 peak, or the 8-bit peak for FP8/INT8 weights.
//   Causal attention's extra ~2·layers·T·hidden FLOPs per token are left out: 2–11 % of 2·N for these
//   presets at 4k-token prompts (DeepSeek-V3's wide MLA heads the most); the compute efficiency absorbs it.
// - Training: 6·N·D FLOPs (Kaplan et al. 2020, "Scaling Laws for Neural Language Models", §2.1).

export type Precision = "FP16" | "BF16" | "FP8" | "INT8" | "INT4";

export const PRECISION_BYTES: Readonly<Record<Precision, number>> = { FP16: 2, BF16: 2, FP8: 1, INT8: 1, INT4: 0.5 };

/** Memory-bound decode reaches this fraction of peak bandwidth: Databricks measured 55–60 % MBU at batch 1
 * with TensorRT-LLM ("LLM Inference Performance Engineering: Best Practices", 2023, section "Model
 * Bandwidth Utilization (MBU)"). */
export const DEFAULT_MEMORY_EFFICIENCY = 0.6;
/** Prefill is large GEMMs: 0.5 sits between GPU training MFU (~0.4, below) and the best published prefill
 * MFU, 76 % on PaLM 540B (Pope et al. 2022, "Efficiently Scaling Transformer Inference", abstract). */
export const DEFAULT_COMPUTE_EFFICIENCY = 0.5;
/** Llama 3 405B pre-training ran at 38–43 % BF16 MFU on 8K–16K H100s (Llama 3 Herd of Models, 2024, §3.3.2
 * Table 4); Llama 2 7B's published 184,320 A100-hours for 2T tokens imply ~0.39. */
export const DEFAULT_TRAINING_UTILISATION = 0.4;
/** The serving shape a $/Mtok figure assumes when none is given (ranking, sorting, costPerToken defaults). */
export const DEFAULT_SERVING = { batch: 1, contextTokens: 4096, promptTokens: 1024 } as const;
/** Every GPU holds a CUDA context, cuBLAS/NCCL workspaces and activation buffers whatever the model; 2 GB
 * is a round floor for them. */
const OVERHEAD_GB_PER_GPU = 2;
/** Activations, allocator fragmentation and graph buffers grow with the model; vLLM leaves 10 % of VRAM
 * unallocated by default (gpu_memory_utilization = 0.9). */
const OVERHEAD_FRACTION = 0.1;

export interface ModelSpec {
  name: string;
  /** All parameters (what VRAM holds). */
  parameters: number;
  /** Parameters used per token (= parameters for dense models; what decode reads and prefill computes). */
  activeParameters: number;
  layers: number;
  kvHeads: number;
  headDim: number;
  /** KV elements cached per token per layer when not 2 × kvHeads × headDim (MLA latent caches). */
  kvElementsPerLayer?: number;
  hidden?: number;
  heads?: number;
  vocab?: number;
  source: string;
}

export type ModelPresetName =
  | "llama-3-8b"
  | "llama-3-70b"
  | "llama-3.1-405b"
  | "mistral-7b"
  | "mixtral-8x7b"
  | "qwen-2.5-72b"
  | "deepseek-v3";

// Architecture fields are the Hugging Face config.json values (num_hidden_layers, num_key_value_heads,
// hidden_size / num_attention_heads, vocab_size); parameter counts are the model card's, cross-checked by
// summing the tensor shapes those configs imply.
export const MODEL_PRESETS: Readonly<Record<ModelPresetName, ModelSpec>> = {
  "llama-3-8b": {
    name: "Llama 3 8B", parameters: 8.03e9, activeParameters: 8.03e9, layers: 32, kvHeads: 8, headDim: 128,
    hidden: 4096, heads: 32, vocab: 128256,
    source: "huggingface.co/meta-llama/Meta-Llama-3-8B config.json; 8.03B parameters",
  },
  "llama-3-70b": {
    name: "Llama 3 70B", parameters: 70.6e9, activeParameters: 70.6e9, layers: 80, kvHeads: 8, headDim: 128,
    hidden: 8192, heads: 64, vocab: 128256,
    source: "huggingface.co/meta-llama/Meta-Llama-3-70B config.json; 70.6B parameters",
  },
  "llama-3.1-405b": {
    name: "Llama 3.1 405B", parameters: 405.9e9, activeParameters: 405.9e9, layers: 126, kvHeads: 8, headDim: 128,
    hidden: 16384, heads: 128, vocab: 128256,
    source: "huggingface.co/meta-llama/Llama-3.1-405B config.json; 405.9B parameters (Llama 3 Herd of Models, Table 3: 126 layers, 8 KV heads)",
  },
  "mistral-7b": {
    name: "Mistral 7B", parameters: 7.24e9, activeParameters: 7.24e9, layers: 32, kvHeads: 8, headDim: 128,
    hidden: 4096, heads: 32, vocab: 32000,
    source: "huggingface.co/mistralai/Mistral-7B-v0.1 config.json; 7.24B parameters",
  },
  "mixtral-8x7b": {
    name: "Mixtral 8x7B", parameters: 46.7e9, activeParameters: 12.9e9, layers: 32, kvHeads: 8, headDim: 128,
    hidden: 4096, heads: 32, vocab: 32000,
    source: "huggingface.co/mistralai/Mixtral-8x7B-v0.1 config.json; 46.7B total / 12.9B active (Mistral AI, 'Mixtral of experts', 2023)",
  },
  "qwen-2.5-72b": {
    name: "Qwen 2.5 72B", parameters: 72.7e9, activeParameters: 72.7e9, layers: 80, kvHeads: 8, headDim: 128,
    hidden: 8192, heads: 64, vocab: 152064,
    source: "huggingface.co/Qwen/Qwen2.5-72B config.json; 72.7B parameters",
  },
  // MLA caches one compressed latent per token per layer: kv_lora_rank 512 + the decoupled RoPE key
  // qk_rope_head_dim 64 = 576 elements (DeepSeek-V2 Technical Report §2.1), not 2 × 128 heads × 128. Simplifications:
  // the latent is replicated on every tensor-parallel GPU (no data-parallel attention), and decode reads the
  // 37B active parameters, ignoring that a batch routes to more experts than one token does.
  "deepseek-v3": {
    name: "DeepSeek-V3", parameters: 671e9, activeParameters: 37e9, layers: 61, kvHeads: 128, headDim: 128,
    kvElementsPerLayer: 576, hidden: 7168, heads: 128, vocab: 129280,
    source: "huggingface.co/deepseek-ai/DeepSeek-V3 config.json (kv_lora_rank 512, qk_rope_head_dim 64); 671B total / 37B active (DeepSeek-V3 Technical Report, abstract); MTP module excluded",
  },
};

export type CustomModel = Omit<ModelSpec, "name" | "source" | "activeParameters"> & {
  name?: string;
  /** Defaults to `parameters` (a dense model). */
  activeParameters?: number;
};

export interface GpuInput {
  vramGb: number;
  memoryBandwidthGbps: number;
  /** Dense FP16/BF16 tensor TFLOPS. */
  fp16Tflops: number;
  /** Dense 8-bit tensor TFLOPS (FP8, or INT8 where the GPU has no FP8); absent → the FP16 peak is used. */
  fp8Tflops?: number | null;
}

export interface InferenceInput {
  /** A preset name, a custom architecture, or a preset's spec from MODEL_PRESETS / resolveModel. */
  model: ModelPresetName | CustomModel | ModelSpec | string;
  gpu: GpuInput;
  gpuCount: number;
  /** Concurrent sequences decoded together. */
  batch: number;
  /** Prompt + generated tokens per sequence: the cache each sequence holds at the end. */
  contextTokens: number;
  promptTokens: number;
  /** Weight precision. */
  precision: Precision;
  /** KV-cache precision; FP16 unless the server quantises its cache. */
  kvPrecision?: Precision;
  efficiencies?: { memory?: number; compute?: number };
  /** Replaces the default overhead rule (max(2 GB × GPUs, 10 % of weights + KV)). */
  overheadGb?: number;
}

export interface InferenceEstimate {
  model: string;
  fits: boolean;
  vram: { weightsGb: number; kvCacheGb: number; overheadGb: number; totalGb: number; availableGb: number };
  decode: { stepTimeMs: number; tokensPerSecond: number; perSequenceTokensPerSecond: number; bound: "memory" | "compute" };
  prefill: { tokensPerSecond: number; timeMs: number };
  assumptions: {
    weightPrecision: Precision;
    kvPrecision: Precision;
    bytesPerParameter: number;
    kvBytesPerElement: number;
    kvBytesPerToken: number;
    parameters: number;
    activeParameters: number;
    tensorParallel: number;
    /** GPUs the KV cache is split over; the rest hold replicas. */
    kvShards: number;
    batch: number;
    contextTokens: number;
    promptTokens: number;
    /** Mean cache length a decode step reads per sequence: (prompt + context) / 2. */
    decodeKvTokensPerSequence: number;
    memoryBandwidthGbps: number;
    memoryEfficiency: number;
    computeEfficiency: number;
    peakTflops: number;
    peakPrecision: "FP16" | "8-bit";
    overhead: string;
  };
}

export type LlmErrorCode = "UNKNOWN_MODEL" | "INVALID_PRECISION" | "INVALID_NUMBER" | "OUT_OF_RANGE";

export class LlmInputError extends Error {
  readonly code: LlmErrorCode;
  readonly field: string;
  constructor(code: LlmErrorCode, field: string, message: string) {
    super(message);
    this.name = "LlmInputError";
    this.code = code;
    this.field = field;
  }
}

const GB = 1e9;
const TERA = 1e12;

const PRESET_SPECS: ReadonlySet<unknown> = new Set(Object.values(MODEL_PRESETS));

/** A preset name (or a preset's spec, as resolveModel returned it) → the preset; a custom model → validated, caller-supplied. */
export function resolveModel(model: InferenceInput["model"]): ModelSpec {
  // Resolving twice must not relabel a preset as "caller-supplied" (services resolve first, to validate).
  if (PRESET_SPECS.has(model)) return model as ModelSpec;
  if (typeof model === "string") {
    const preset = (MODEL_PRESETS as Record<string, ModelSpec>)[model.trim().toLowerCase()];
    if (!preset) {
      throw new LlmInputError("UNKNOWN_MODEL", "model", `Unknown model preset "${model}"; known presets: ${Object.keys(MODEL_PRESETS).join(", ")}. Or pass the model's parameters, layers, kvHeads and headDim.`);
    }
    return preset;
  }
  positive("model.parameters", model.parameters);
  const activeParameters = model.activeParameters ?? model.parameters;
  positive("model.activeParameters", activeParameters);
  if (activeParameters > model.parameters) {
    throw new LlmInputError("OUT_OF_RANGE", "model.activeParameters", `model.activeParameters (${activeParameters}) cannot exceed model.parameters (${model.parameters}).`);
  }
  wholeAtLeast("model.layers", model.layers, 1);
  wholeAtLeast("model.kvHeads", model.kvHeads, 1);
  wholeAtLeast("model.headDim", model.headDim, 1);
  if (model.kvElementsPerLayer !== undefined) wholeAtLeast("model.kvElementsPerLayer", model.kvElementsPerLayer, 1);
  return { ...model, name: model.name ?? "custom model", activeParameters, source: "caller-supplied" };
}

/** Bytes one token adds to the KV cache (whole model, before tensor-parallel sharding). */
export function kvBytesPerToken(model: ModelSpec, kvPrecision: Precision = "FP16"): number {
  const elementsPerLayer = model.kvElementsPerLayer ?? 2 * model.kvHeads * model.headDim;
  return model.layers * elementsPerLayer * PRECISION_BYTES[precisionOf("kvPrecision", kvPrecision)];
}

export function estimateInference(input: InferenceInput): InferenceEstimate {
  const model = resolveModel(input.model);
  const gpu = validGpu(input.gpu);
  const tp = wholeAtLeast("gpuCount", input.gpuCount, 1);
  const batch = wholeAtLeast("batch", input.batch, 1);
  const contextTokens = wholeAtLeast("contextTokens", input.contextTokens, 1);
  const promptTokens = wholeAtLeast("promptTokens", input.promptTokens, 0);
  if (promptTokens > contextTokens) {
    throw new LlmInputError("OUT_OF_RANGE", "promptTokens", `promptTokens (${promptTokens}) cannot exceed contextTokens (${contextTokens}), which counts prompt plus generated tokens.`);
  }
  const weightPrecision = precisionOf("precision", input.precision);
  const kvPrecision = precisionOf("kvPrecision", input.kvPrecision ?? "FP16");
  const memoryEfficiency = fraction("efficiencies.memory", input.efficiencies?.memory ?? DEFAULT_MEMORY_EFFICIENCY);
  const computeEfficiency = fraction("efficiencies.compute", input.efficiencies?.compute ?? DEFAULT_COMPUTE_EFFICIENCY);

  const bytesPerParameter = PRECISION_BYTES[weightPrecision];
  const kvPerToken = kvBytesPerToken(model, kvPrecision);
  const kvShards = model.kvElementsPerLayer === undefined ? Math.min(tp, model.kvHeads) : 1;
  const kvReplication = tp / kvShards;

  const weightsBytes = model.parameters * bytesPerParameter;
  const kvCacheBytes = batch * contextTokens * kvPerToken * kvReplication;
  const modelGb = (weightsBytes + kvCacheBytes) / GB;
  let overheadGb: number;
  let overhead: string;
  if (input.overheadGb === undefined) {
    overheadGb = Math.max(OVERHEAD_GB_PER_GPU * tp, OVERHEAD_FRACTION * modelGb);
    overhead = `max(${OVERHEAD_GB_PER_GPU} GB × ${tp} GPU, ${OVERHEAD_FRACTION * 100} % of weights + KV cache)`;
  } else {
    overheadGb = nonNegative("overheadGb", input.overheadGb);
    overhead = "caller-supplied";
  }
  const totalGb = modelGb + overheadGb;
  const availableGb = gpu.vramGb * tp;

  const decodeKvTokensPerSequence = (promptTokens + contextTokens) / 2;
  const bytesPerGpuPerStep = (model.activeParameters * bytesPerParameter) / tp + (batch * decodeKvTokensPerSequence * kvPerToken) / kvShards;
  const memorySeconds = bytesPerGpuPerStep / (gpu.memoryBandwidthGbps * GB * memoryEfficiency);
  const eightBit = (weightPrecision === "FP8" || weightPrecision === "INT8") && gpu.fp8Tflops != null;
  const peakTflops = eightBit ? gpu.fp8Tflops! : gpu.fp16Tflops;
  const flopsPerSecond = peakTflops * TERA * tp * computeEfficiency;
  const computeSeconds = (2 * model.activeParameters * batch) / flopsPerSecond;
  const stepSeconds = Math.max(memorySeconds, computeSeconds);

  return {
    model: model.name,
    fits: totalGb <= availableGb,
    vram: { weightsGb: weightsBytes / GB, kvCacheGb: kvCacheBytes / GB, overheadGb, totalGb, availableGb },
    decode: {
      stepTimeMs: stepSeconds * 1000,
      tokensPerSecond: batch / stepSeconds,
      perSequenceTokensPerSecond: 1 / stepSeconds,
      bound: computeSeconds > memorySeconds ? "compute" : "memory",
    },
    prefill: {
      tokensPerSecond: flopsPerSecond / (2 * model.activeParameters),
      timeMs: ((2 * model.activeParameters * batch * promptTokens) / flopsPerSecond) * 1000,
    },
    assumptions: {
      weightPrecision,
      kvPrecision,
      bytesPerParameter,
      kvBytesPerElement: PRECISION_BYTES[kvPrecision],
      kvBytesPerToken: kvPerToken,
      parameters: model.parameters,
      activeParameters: model.activeParameters,
      tensorParallel: tp,
      kvShards,
      batch,
      contextTokens,
      promptTokens,
      decodeKvTokensPerSequence,
      memoryBandwidthGbps: gpu.memoryBandwidthGbps,
      memoryEfficiency,
      computeEfficiency,
      peakTflops,
      peakPrecision: eightBit ? "8-bit" : "FP16",
      overhead,
    },
  };
}

export interface CostPerMillionTokens {
  /** Price per 1M tokens in the hourly price's currency, rounded half-up to 4 decimals. */
  costPerMillionTokens: number;
  pricePerHour: number;
  tokensPerSecond: number;
  tokensPerHour: number;
  formula: string;
}

/**
 * $ per million tokens: price per hour / (tokens per second × 3600) × 1e6, unrounded (the one place this
 * formula lives). pricePerMillionTokens(1, tokensPerSecond) is the factor that turns any hourly price into
 * $/Mtok at that speed; a speed of NaN (the model does not fit) gives NaN.
 */
export function pricePerMillionTokens(pricePerHour: number, tokensPerSecond: number): number {
  return (pricePerHour * 1e6) / (tokensPerSecond * 3600);
}

/** pricePerMillionTokens with its inputs validated, rounded half-up to 4 decimals, and its working. */
export function costPerMillionTokens(input: { pricePerHour: string | number; tokensPerSecond: number }): CostPerMillionTokens {
  const pricePerHour = parsePrice(input.pricePerHour);
  const tokensPerSecond = positive("tokensPerSecond", input.tokensPerSecond);
  const tokensPerHour = tokensPerSecond * 3600;
  return {
    costPerMillionTokens: roundHalfUp(pricePerMillionTokens(pricePerHour, tokensPerSecond), 4),
    pricePerHour,
    tokensPerSecond,
    tokensPerHour,
    formula: `${pricePerHour} / (${tokensPerSecond} × 3600) × 1e6`,
  };
}

export type TrainingPrecision = "FP16" | "BF16" | "FP8";

export interface TrainingInput {
  parameters: number;
  tokens: number;
  gpu: GpuInput;
  gpuCount: number;
  /** FP8 uses the GPU's 8-bit peak, which is INT8 on GPUs without FP8: only ask for FP8 where it exists. */
  precision: TrainingPrecision;
  /** Model FLOPs utilisation, [0.01, 1]; the cited default is a BF16 figure, FP8 runs usually reach less. */
  utilisation?: number;
}

export interface TrainingEstimate {
  flops: number;
  hours: number;
  gpuHours: number;
  assumptions: { formula: string; parameters: number; tokens: number; gpuCount: number; precision: TrainingPrecision; peakTflops: number; utilisation: number };
}

export function trainingEstimate(input: TrainingInput): TrainingEstimate {
  const parameters = positive("parameters", input.parameters);
  const tokens = positive("tokens", input.tokens);
  const gpu = validGpu(input.gpu);
  const gpuCount = wholeAtLeast("gpuCount", input.gpuCount, 1);
  if (input.precision !== "FP16" && input.precision !== "BF16" && input.precision !== "FP8") {
    throw new LlmInputError("INVALID_PRECISION", "precision", `Training precision must be FP16, BF16 or FP8 (got ${JSON.stringify(input.precision)}); INT8/INT4 are inference formats.`);
  }
  const utilisation = fraction("utilisation", input.utilisation ?? DEFAULT_TRAINING_UTILISATION);
  const peakTflops = input.precision === "FP8" && gpu.fp8Tflops != null ? gpu.fp8Tflops : gpu.fp16Tflops;
  const flops = 6 * parameters * tokens;
  const hours = flops / (peakTflops * TERA * gpuCount * utilisation) / 3600;
  return {
    flops,
    hours,
    gpuHours: hours * gpuCount,
    assumptions: { formula: "6 × parameters × tokens", parameters, tokens, gpuCount, precision: input.precision, peakTflops, utilisation },
  };
}

// ---- validation -------------------------------------------------------------------------------------

function finite(field: string, value: unknown): number {
  if (typeof value !== "number" || !Number.isFinite(value)) {
    throw new LlmInputError("INVALID_NUMBER", field, `${field} must be a finite number (got ${String(value)}).`);
  }
  return value;
}

function positive(field: string, value: unknown): number {
  const n = finite(field, value);
  if (n <= 0) throw new LlmInputError("OUT_OF_RANGE", field, `${field} must be greater than 0 (got ${n}).`);
  return n;
}

function nonNegative(field: string, value: unknown): number {
  const n = finite(field, value);
  if (n < 0) throw new LlmInputError("OUT_OF_RANGE", field, `${field} cannot be negative (got ${n}).`);
  return n;
}

function wholeAtLeast(field: string, value: unknown, min: number): number {
  const n = finite(field, value);
  if (!Number.isInteger(n) || n < min) {
    throw new LlmInputError("OUT_OF_RANGE", field, `${field} must be a whole number ≥ ${min} (got ${n}).`);
  }
  return n;
}

/** The smallest fraction of a GPU's peak an estimate accepts (utilisation, efficiencies). */
export const MIN_FRACTION_OF_PEAK = 0.01;

function fraction(field: string, value: unknown): number {
  const n = finite(field, value);
  // Below 1 % no GPU runs in practice, and the hours it implies overflow: the physical range is [0.01, 1].
  if (!(n >= MIN_FRACTION_OF_PEAK && n <= 1)) throw new LlmInputError("OUT_OF_RANGE", field, `${field} is a fraction of peak and must be between 0.01 and 1 (got ${n}).`);
  return n;
}

function precisionOf(field: string, value: unknown): Precision {
  if (typeof value !== "string" || !Object.hasOwn(PRECISION_BYTES, value)) {
    throw new LlmInputError("INVALID_PRECISION", field, `${field} must be one of ${Object.keys(PRECISION_BYTES).join(", ")} (got ${JSON.stringify(value)}).`);
  }
  return value as Precision;
}

function validGpu(gpu: GpuInput): GpuInput {
  positive("gpu.vramGb", gpu.vramGb);
  positive("gpu.memoryBandwidthGbps", gpu.memoryBandwidthGbps);
  positive("gpu.fp16Tflops", gpu.fp16Tflops);
  if (gpu.fp8Tflops != null) positive("gpu.fp8Tflops", gpu.fp8Tflops);
  return gpu;
}

function parsePrice(raw: string | number): number {
  if (typeof raw === "string") {
    if (!/^\d+(\.\d+)?$/.test(raw.trim())) {
      throw new LlmInputError("INVALID_NUMBER", "pricePerHour", `pricePerHour must be a plain decimal such as "2.00" (got ${JSON.stringify(raw)}).`);
    }
    return Number(raw.trim());
  }
  return nonNegative("pricePerHour", raw);
}

/** Rounds half-up at `decimals`, nudging by a relative epsilon so 0.55555 (stored as 0.5555499…) rounds up. */
function roundHalfUp(value: number, decimals: number): number {
  const scale = 10 ** decimals;
  return Math.round(value * scale * (1 + Number.EPSILON)) / scale;
}
