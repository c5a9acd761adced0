import { describe, expect, it } from "vitest";
import { getGpuSpec, type GpuSpec } from "../../src/domain/gpu/specs.ts";
import {
  costPerMillionTokens,
  estimateInference,
  kvBytesPerToken,
  LlmInputError,
  MODEL_PRESETS,
  trainingEstimate,
  type InferenceInput,
} from "../../src/domain/math/llm.ts";

// Sources of the published numbers
//
// [DBX] M. Agarwal, A. Qureshi, N. Sardana, L. Li, J. Quevedo, D. Khudia, "LLM Inference Performance Engineering:
//   Best Practices", Databricks blog, Oct 2023, https://www.databricks.com/blog/llm-inference-performance-engineering-best-practices
//   - section "Model Bandwidth Utilization (MBU)": "if a 7B parameter running with 16-bit precision has TPOT equal
//     to 14ms, then it's moving 14GB of parameters in 14ms translating to 1TB/sec bandwidth usage. If the peak
//     bandwidth of the machine is 2TB/sec, we are running at an MBU of 50%." (KV cache ignored: small at batch 1.)
//     So at 100 % of 2 TB/s one token takes 7 ms, at 50 % 14 ms.
//   - section "Latency", Table 1 ("Larger models like Llama2 70B needs at least 4xA100-40B GPUs to fit in memory",
//     512-token prompts, batch 1) and Figure 5's note: Llama-v2-70B in float16 "doesn't fit" on 1×80GB or 2×40GB.
// [LLAMA2] H. Touvron et al., "Llama 2: Open Foundation and Fine-Tuned Chat Models", arXiv:2307.09288 (2023):
//   §2.2.1 Table 2, Llama 2 7B pre-training took 184,320 GPU-hours on A100-80GB; Table 1, 2.0T tokens.
//   Parameter count 6.74B from the meta-llama/Llama-2-7b-hf config.json (32 layers, 4096 wide, 11008 FFN,
//   32000 vocab). Llama 2 70B: 68.98B parameters, 80 layers, 8 KV heads, head dim 128 (its config.json).
// [KAPLAN] J. Kaplan et al., "Scaling Laws for Neural Language Models", arXiv:2001.08361 (2020), §2.1 and
//   Table 1: training compute C ≈ 6·N·D.
// [LLAMA3] Meta-Llama-3-8B config.json (https://huggingface.co/meta-llama/Meta-Llama-3-8B): 32 layers,
//   8 key/value heads, head dim 4096 / 32 = 128 → 2 × 32 × 8 × 128 × 2 bytes = 131,072 bytes per token.

function gpu(name: string): GpuSpec {
  const spec = getGpuSpec(name);
  if (!spec) throw new Error(`spec table has no ${name}`);
  return spec;
}

const A100_80 = gpu("A100-SXM-80GB");
const A100_40 = gpu("A100-SXM-40GB");
const H100 = gpu("H100-SXM-80GB");

/** The Databricks example's machine: 2 TB/s peak. */
const TWO_TB_PER_S = { vramGb: 80, memoryBandwidthGbps: 2000, fp16Tflops: 312 };
/** A 7B model with Llama 2 7B's attention shape (32 layers × 32 KV heads × 128). */
const SEVEN_B = { name: "7B", parameters: 7e9, layers: 32, kvHeads: 32, headDim: 128 };
const LLAMA_2_70B = { name: "Llama 2 70B", parameters: 68.98e9, layers: 80, kvHeads: 8, headDim: 128 };

const base: Omit<InferenceInput, "model" | "gpu"> = { gpuCount: 1, batch: 1, contextTokens: 1, promptTokens: 1, precision: "FP16" };

function expectError(run: () => unknown, code: string, field: string, message: RegExp) {
  let caught: unknown;
  try {
    run();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(LlmInputError);
  expect((caught as LlmInputError).code).toBe(code);
  expect((caught as LlmInputError).field).toBe(field);
  expect((caught as LlmInputError).message).toMatch(message);
}

describe("estimateInference: decode against published arithmetic", () => {
  it("takes 7 ms per token for a 7B FP16 model at 100 % of 2 TB/s and 14 ms at 50 % MBU [DBX]", () => {
    // One token of KV (0.5 MiB) beside 14 GB of weights: the published figures hold to 0.01 %.
    const ideal = estimateInference({ ...base, model: SEVEN_B, gpu: TWO_TB_PER_S, efficiencies: { memory: 1 } });
    expect(ideal.vram.weightsGb).toBe(14);
    expect(ideal.decode.stepTimeMs).toBeGreaterThan(7);
    expect(ideal.decode.stepTimeMs / 7 - 1).toBeLessThan(1e-4);
    const measured = estimateInference({ ...base, model: SEVEN_B, gpu: TWO_TB_PER_S, efficiencies: { memory: 0.5 } });
    expect(measured.decode.stepTimeMs / 14 - 1).toBeLessThan(1e-4);
    expect(measured.decode.tokensPerSecond).toBeCloseTo(1000 / 14, 2);
    expect(measured.decode.bound).toBe("memory");
  });

  it("gives the A100-80GB (2,039 GB/s) the same ~7 ms at full bandwidth, within 3 % [DBX]", () => {
    const result = estimateInference({ ...base, model: SEVEN_B, gpu: A100_80, efficiencies: { memory: 1 } });
    expect(Math.abs(result.decode.stepTimeMs / 7 - 1)).toBeLessThan(0.03);
    // Default memory efficiency 0.6 lands between the 7 ms roofline and the 14 ms measured at 50 % MBU.
    const defaults = estimateInference({ ...base, model: SEVEN_B, gpu: A100_80 });
    expect(defaults.decode.stepTimeMs).toBeCloseTo(14e9 / (2039e9 * 0.6) * 1000, 2);
    expect(defaults.assumptions.memoryEfficiency).toBe(0.6);
  });

  it("reads the mean KV cache over the generation and scales tokens/s with the batch", () => {
    const model = MODEL_PRESETS["llama-3-8b"];
    const result = estimateInference({ ...base, model: "llama-3-8b", gpu: A100_80, batch: 8, promptTokens: 1000, contextTokens: 3000 });
    const bytes = 8.03e9 * 2 + 8 * 2000 * 131_072;
    const stepSeconds = bytes / (2039e9 * 0.6);
    expect(result.assumptions.decodeKvTokensPerSequence).toBe(2000);
    expect(result.decode.stepTimeMs).toBeCloseTo(stepSeconds * 1000, 9);
    expect(result.decode.tokensPerSecond).toBeCloseTo(8 / stepSeconds, 6);
    expect(result.decode.perSequenceTokensPerSecond).toBeCloseTo(1 / stepSeconds, 6);
    expect(result.model).toBe(model.name);
  });

  it("turns compute-bound at large batches (roofline)", () => {
    const result = estimateInference({ ...base, model: "llama-3-8b", gpu: A100_80, batch: 1024, contextTokens: 2, promptTokens: 1 });
    expect(result.decode.bound).toBe("compute");
    expect(result.decode.stepTimeMs).toBeCloseTo(((2 * 8.03e9 * 1024) / (312e12 * 0.5)) * 1000, 6);
  });

  it("reads only the active parameters of an MoE model per token, but holds all of them", () => {
    const mixtral = estimateInference({ ...base, model: "mixtral-8x7b", gpu: H100, gpuCount: 2, contextTokens: 1024, promptTokens: 512 });
    expect(mixtral.vram.weightsGb).toBeCloseTo(93.4, 9);
    const expectedBytesPerGpu = (12.9e9 * 2) / 2 + (768 * 131_072) / 2;
    expect(mixtral.decode.stepTimeMs).toBeCloseTo((expectedBytesPerGpu / (3350e9 * 0.6)) * 1000, 9);
    const asDense = estimateInference({ ...base, model: { ...MODEL_PRESETS["mixtral-8x7b"], activeParameters: undefined }, gpu: H100, gpuCount: 2, contextTokens: 1024, promptTokens: 512 });
    expect(asDense.decode.stepTimeMs / mixtral.decode.stepTimeMs).toBeGreaterThan(3.5);
    expect(mixtral.prefill.tokensPerSecond).toBeCloseTo((989e12 * 2 * 0.5) / (2 * 12.9e9), 6);
  });
});

describe("estimateInference: memory", () => {
  it("sizes the Llama 3 8B KV cache at exactly 131,072 bytes (128 KiB) per token [LLAMA3]", () => {
    expect(kvBytesPerToken(MODEL_PRESETS["llama-3-8b"])).toBe(131_072);
    const result = estimateInference({ ...base, model: "llama-3-8b", gpu: A100_80, contextTokens: 8192, promptTokens: 1024 });
    expect(result.assumptions.kvBytesPerToken).toBe(131_072);
    expect(result.vram.kvCacheGb).toBe((8192 * 131_072) / 1e9);
    expect(kvBytesPerToken(MODEL_PRESETS["llama-3-8b"], "FP8")).toBe(65_536);
  });

  it("does not fit Llama 3 70B FP16 on one 80 GB GPU but fits it on two", () => {
    const workload = { ...base, model: "llama-3-70b", contextTokens: 4096, promptTokens: 512 } as const;
    const one = estimateInference({ ...workload, gpu: A100_80 });
    expect(one.vram.weightsGb).toBeCloseTo(141.2, 9); // the weights alone are 1.8× the card
    expect(one.fits).toBe(false);
    const two = estimateInference({ ...workload, gpu: A100_80, gpuCount: 2 });
    // 141.2 GB weights + 1.34 GB KV + 10 % overhead = 156.8 GB of 160 GB.
    expect(two.vram.totalGb).toBeCloseTo((141.2e9 + 4096 * 327_680) * 1.1 / 1e9, 9);
    expect(two.vram.availableGb).toBe(160);
    expect(two.fits).toBe(true);
  });

  it("agrees with where Llama 2 70B FP16 fits in Databricks' measurements (512-token prompts, batch 1) [DBX]", () => {
    const workload = { ...base, model: LLAMA_2_70B, contextTokens: 512, promptTokens: 512 };
    expect(estimateInference({ ...workload, gpu: A100_80 }).fits).toBe(false);
    expect(estimateInference({ ...workload, gpu: A100_40, gpuCount: 2 }).fits).toBe(false);
    expect(estimateInference({ ...workload, gpu: A100_40, gpuCount: 4 }).fits).toBe(true);
  });

  it("halves FP8's weight bytes at INT4, and halves FP16's at FP8", () => {
    const at = (precision: InferenceInput["precision"]) => estimateInference({ ...base, model: "qwen-2.5-72b", gpu: H100, precision });
    expect(at("INT4").vram.weightsGb).toBe(at("FP8").vram.weightsGb / 2);
    expect(at("FP8").vram.weightsGb).toBe(at("FP16").vram.weightsGb / 2);
    expect(at("INT4").assumptions.bytesPerParameter).toBe(0.5);
  });

  it("uses the default overhead max(2 GB per GPU, 10 %) unless one is given", () => {
    const small = estimateInference({ ...base, model: "mistral-7b", gpu: A100_80, gpuCount: 4 });
    expect(small.vram.overheadGb).toBe(8);
    const given = estimateInference({ ...base, model: "mistral-7b", gpu: A100_80, overheadGb: 0.5 });
    expect(given.vram.overheadGb).toBe(0.5);
    expect(given.assumptions.overhead).toBe("caller-supplied");
  });

  it("caches DeepSeek-V3's MLA latent (512 + 64 per layer) and replicates it across tensor-parallel GPUs", () => {
    expect(kvBytesPerToken(MODEL_PRESETS["deepseek-v3"])).toBe(61 * 576 * 2);
    const result = estimateInference({ ...base, model: "deepseek-v3", gpu: gpu("H200-SXM-141GB"), gpuCount: 8, precision: "FP8", contextTokens: 1000 });
    expect(result.assumptions.kvShards).toBe(1);
    expect(result.vram.kvCacheGb).toBeCloseTo((8 * 1000 * 70_272) / 1e9, 12);
    expect(result.vram.weightsGb).toBe(671);
    expect(result.fits).toBe(true);
  });

  it("replicates GQA KV heads when there are more GPUs than KV heads", () => {
    const result = estimateInference({ ...base, model: "llama-3.1-405b", gpu: H100, gpuCount: 16, precision: "FP8", contextTokens: 1000 });
    expect(result.assumptions.kvShards).toBe(8);
    expect(result.vram.kvCacheGb).toBeCloseTo((2 * 1000 * 126 * 2 * 8 * 128 * 2) / 1e9, 12);
  });
});

describe("estimateInference: prefill", () => {
  it("spends 2·N FLOPs per prompt token at the FP16 peak × efficiency", () => {
    const result = estimateInference({ ...base, model: "llama-3-8b", gpu: A100_80, batch: 4, contextTokens: 2048, promptTokens: 1000 });
    expect(result.prefill.timeMs).toBeCloseTo(((2 * 8.03e9 * 4 * 1000) / (312e12 * 0.5)) * 1000, 9);
    expect(result.prefill.tokensPerSecond).toBeCloseTo((312e12 * 0.5) / (2 * 8.03e9), 6);
    expect(result.assumptions.peakPrecision).toBe("FP16");
  });

  it("uses the 8-bit peak for FP8/INT8 weights, the FP16 peak for INT4 and for GPUs without an 8-bit path", () => {
    const run = (precision: InferenceInput["precision"], card: InferenceInput["gpu"]) =>
      estimateInference({ ...base, model: "llama-3-8b", gpu: card, precision }).assumptions.peakTflops;
    expect(run("FP8", H100)).toBe(1979);
    expect(run("INT8", A100_80)).toBe(624);
    expect(run("INT4", H100)).toBe(989);
    expect(run("FP8", gpu("V100-SXM-32GB"))).toBe(125);
  });
});

describe("costPerMillionTokens", () => {
  it("prices $2.00/h at 1,000 tokens/s at $0.5556 per million tokens", () => {
    expect(costPerMillionTokens({ pricePerHour: "2.00", tokensPerSecond: 1000 })).toEqual({
      costPerMillionTokens: 0.5556,
      pricePerHour: 2,
      tokensPerSecond: 1000,
      tokensPerHour: 3_600_000,
      formula: "2 / (1000 × 3600) × 1e6",
    });
    expect(costPerMillionTokens({ pricePerHour: 2, tokensPerSecond: 1000 }).costPerMillionTokens).toBe(0.5556);
  });

  it("rounds half-up at 4 decimals", () => {
    // $1.39/h at 2,500 tok/s = 1.39e6 / 9e6 = 0.154444… → 0.1544; $0.18/h at 100 tok/s = 0.5 exactly.
    expect(costPerMillionTokens({ pricePerHour: "1.39", tokensPerSecond: 2500 }).costPerMillionTokens).toBe(0.1544);
    expect(costPerMillionTokens({ pricePerHour: "0.18", tokensPerSecond: 100 }).costPerMillionTokens).toBe(0.5);
    // $2.07/h at 800 tok/s is exactly 0.71875, which floats compute as 0.71874999…; it must still round up.
    expect(costPerMillionTokens({ pricePerHour: "2.07", tokensPerSecond: 800 }).costPerMillionTokens).toBe(0.7188);
  });

  it("rejects prices that are not plain non-negative decimals, and non-positive throughput", () => {
    expectError(() => costPerMillionTokens({ pricePerHour: "-1", tokensPerSecond: 10 }), "INVALID_NUMBER", "pricePerHour", /plain decimal/);
    expectError(() => costPerMillionTokens({ pricePerHour: "two", tokensPerSecond: 10 }), "INVALID_NUMBER", "pricePerHour", /"two"/);
    expectError(() => costPerMillionTokens({ pricePerHour: -1, tokensPerSecond: 10 }), "OUT_OF_RANGE", "pricePerHour", /negative/);
    expectError(() => costPerMillionTokens({ pricePerHour: 1, tokensPerSecond: 0 }), "OUT_OF_RANGE", "tokensPerSecond", /greater than 0/);
  });
});

describe("trainingEstimate", () => {
  it("costs 6·N·D: 7B parameters × 1T tokens = 4.2e22 FLOPs [KAPLAN]", () => {
    const result = trainingEstimate({ parameters: 7e9, tokens: 1e12, gpu: H100, gpuCount: 64, precision: "BF16" });
    expect(result.flops).toBeCloseTo(4.2e22, -8);
    expect(result.hours).toBeCloseTo(4.2e22 / (989e12 * 64 * 0.4) / 3600, 9);
    expect(result.gpuHours).toBeCloseTo(result.hours * 64, 9);
    expect(result.assumptions.utilisation).toBe(0.4);
  });

  it("lands within 5 % of Llama 2 7B's published 184,320 A100-hours at the default 40 % MFU [LLAMA2]", () => {
    const result = trainingEstimate({ parameters: 6.74e9, tokens: 2e12, gpu: A100_80, gpuCount: 2048, precision: "BF16" });
    expect(Math.abs(result.gpuHours / 184_320 - 1)).toBeLessThan(0.05);
  });

  it("uses the 8-bit peak for FP8 and rejects inference-only formats", () => {
    expect(trainingEstimate({ parameters: 1e9, tokens: 1e9, gpu: H100, gpuCount: 1, precision: "FP8" }).assumptions.peakTflops).toBe(1979);
    expectError(() => trainingEstimate({ parameters: 1e9, tokens: 1e9, gpu: H100, gpuCount: 1, precision: "INT4" as "FP8" }), "INVALID_PRECISION", "precision", /inference formats/);
    expectError(() => trainingEstimate({ parameters: 1e9, tokens: 1e9, gpu: H100, gpuCount: 1, precision: "BF16", utilisation: 1.2 }), "OUT_OF_RANGE", "utilisation", /between 0\.01 and 1/);
  });
});

describe("input errors", () => {
  const ok: InferenceInput = { ...base, model: "llama-3-8b", gpu: A100_80 };

  it("names the unknown preset and lists the known ones", () => {
    expectError(() => estimateInference({ ...ok, model: "gpt-5" }), "UNKNOWN_MODEL", "model", /"gpt-5".*llama-3-8b/);
    expect(estimateInference({ ...ok, model: " Llama-3-8B " }).model).toBe("Llama 3 8B");
  });

  it("rejects batch, context or GPU counts below 1 and fractional counts", () => {
    expectError(() => estimateInference({ ...ok, batch: 0 }), "OUT_OF_RANGE", "batch", /whole number ≥ 1 \(got 0\)/);
    expectError(() => estimateInference({ ...ok, contextTokens: 0, promptTokens: 0 }), "OUT_OF_RANGE", "contextTokens", /≥ 1/);
    expectError(() => estimateInference({ ...ok, gpuCount: 0 }), "OUT_OF_RANGE", "gpuCount", /≥ 1/);
    expectError(() => estimateInference({ ...ok, batch: 1.5 }), "OUT_OF_RANGE", "batch", /whole number/);
    expectError(() => estimateInference({ ...ok, promptTokens: 5, contextTokens: 4 }), "OUT_OF_RANGE", "promptTokens", /cannot exceed contextTokens/);
  });

  it("rejects non-finite numbers, bad precisions and efficiencies outside [0.01, 1]", () => {
    expectError(() => estimateInference({ ...ok, batch: Number.NaN }), "INVALID_NUMBER", "batch", /finite/);
    expectError(() => estimateInference({ ...ok, gpu: { ...A100_80, memoryBandwidthGbps: Infinity } }), "INVALID_NUMBER", "gpu.memoryBandwidthGbps", /finite/);
    expectError(() => estimateInference({ ...ok, precision: "FP4" as "FP8" }), "INVALID_PRECISION", "precision", /FP16, BF16, FP8, INT8, INT4/);
    expectError(() => estimateInference({ ...ok, kvPrecision: "fp8" as "FP8" }), "INVALID_PRECISION", "kvPrecision", /"fp8"/);
    expectError(() => estimateInference({ ...ok, efficiencies: { memory: 0 } }), "OUT_OF_RANGE", "efficiencies.memory", /between 0\.01 and 1/);
    expectError(() => estimateInference({ ...ok, efficiencies: { memory: 5e-324 } }), "OUT_OF_RANGE", "efficiencies.memory", /between 0\.01 and 1/);
    expectError(() => estimateInference({ ...ok, efficiencies: { compute: 1.5 } }), "OUT_OF_RANGE", "efficiencies.compute", /between 0\.01 and 1/);
    expectError(() => estimateInference({ ...ok, overheadGb: -1 }), "OUT_OF_RANGE", "overheadGb", /negative/);
  });

  it("validates custom models", () => {
    expectError(() => estimateInference({ ...ok, model: { ...SEVEN_B, parameters: 0 } }), "OUT_OF_RANGE", "model.parameters", /greater than 0/);
    expectError(() => estimateInference({ ...ok, model: { ...SEVEN_B, activeParameters: 8e9 } }), "OUT_OF_RANGE", "model.activeParameters", /cannot exceed/);
    expectError(() => estimateInference({ ...ok, model: { ...SEVEN_B, kvHeads: 0 } }), "OUT_OF_RANGE", "model.kvHeads", /≥ 1/);
  });
});

describe("MODEL_PRESETS", () => {
  it("cites a source for every preset and keeps active ≤ total parameters", () => {
    for (const [key, spec] of Object.entries(MODEL_PRESETS)) {
      expect(spec.source.length, key).toBeGreaterThan(20);
      expect(spec.activeParameters, key).toBeLessThanOrEqual(spec.parameters);
      if (spec.hidden !== undefined && spec.heads !== undefined && spec.kvElementsPerLayer === undefined) {
        expect(spec.hidden / spec.heads, key).toBe(spec.headDim);
      }
    }
  });
});
