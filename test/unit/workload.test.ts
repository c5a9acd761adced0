import { describe, expect, it } from "vitest";
import { getGpuSpec } from "../../src/domain/gpu/specs.ts";
import { LlmInputError, MODEL_PRESETS, resolveModel } from "../../src/domain/math/llm.ts";
import {
  estimateWorkload, IMAGE_MODEL_PRESETS, WorkloadInputError, type WorkloadInput, type WorkloadOffer,
} from "../../src/domain/math/workload.ts";


const offer = (id: string, name: string, gpuCount: number, pricePerHour: number): WorkloadOffer<string> =>
  ({ id, gpuModel: name, gpu: getGpuSpec(name) ?? null, gpuCount, pricePerHour });

function expectError(run: () => unknown, type: typeof WorkloadInputError | typeof LlmInputError, code: string, field: string) {
  let caught: unknown;
  try {
    run();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(type);
  expect(caught).toMatchObject({ code, field });
}

describe("estimateWorkload: LLM inference", () => {
  // Llama 3 8B FP16 on one A100-SXM-80GB (2,039 GB/s, 312 TFLOPS), batch 1, 1,000 requests of 1,000 prompt
  // + 500 generated tokens per month:
  //   KV read per step = ((1000 + 1500) / 2 = 1250 tokens) × 131,072 B = 163.84 MB
  //   step = (16.06 GB weights + 0.16384 GB) / (2,039 GB/s × 0.6) = 13.2613 ms → 75.41 tokens/s
  //   prefill = 312e12 × 0.5 / (2 × 8.03e9) = 9,713.6 tokens/s
  //   busy = 500,000 × 13.2613 ms + 1,000,000 / 9,713.6 = 6,630.6 + 102.9 s = 1.8704 h
  //   at $2/h: $3.7409, i.e. $7.4818 per 1M generated tokens
  const step = (16.06e9 + 1250 * 131_072) / (2039e9 * 0.6);
  const prefill = (312e12 * 0.5) / (2 * 8.03e9);
  const busyHours = (500_000 * step + 1_000_000 / prefill) / 3600;
  const input: WorkloadInput = {
    kind: "inference", model: "llama-3-8b", precision: "FP16", periodHours: 730,
    requestsPerPeriod: 1000, tokensPerRequest: 500, promptTokens: 1000,
  };

  it("costs busy hours × price and reports $ per 1M generated tokens, prefill included", () => {
    const result = estimateWorkload(input, [offer("a", "A100-SXM-80GB", 1, 2)]);
    const [a] = result.options;
    expect(busyHours).toBeCloseTo(1.8704, 4);
    expect(a!.instanceHours).toBeCloseTo(busyHours, 12);
    expect(a!.cost).toBeCloseTo(3.7409, 4);
    expect(a!.costPerMillionTokens).toBeCloseTo(7.4818, 4);
    expect(a!.tokensPerSecond).toBeCloseTo(1 / step, 9);
    expect(a).toMatchObject({ instances: 1, gpuHours: a!.instanceHours, wallClockHours: a!.instanceHours, costPerImage: null, imagesPerHour: null });
    // 16.06 GB weights + 1500 × 131,072 B KV + max(2 GB, 10 %) overhead
    expect(a!.vramRequiredGb).toBeCloseTo(16.06 + 0.196608 + 2, 9);
    expect(a!.vramAvailableGb).toBe(80);
    expect(result.totals).toMatchObject({ outputTokens: 500_000, inputTokens: 1_000_000, requests: 1000, trainingFlops: null });
    expect(result.assumptions.join("\n")).toMatch(/batch 1; context 1500 tokens, prompt 1000 tokens/);
  });

  it("labels a preset with its source, also when given as the spec resolveModel returned; only a custom model is caller-supplied", () => {
    const source = MODEL_PRESETS["llama-3-8b"].source;
    for (const model of ["llama-3-8b", resolveModel("llama-3-8b")]) {
      const [first] = estimateWorkload({ ...input, model }, []).assumptions;
      expect(first).toMatch(/^Llama 3 8B \(/);
      expect(first).toContain(`(${source})`);
      expect(first).not.toContain("caller-supplied");
    }
    const custom = { name: "tiny", parameters: 1e9, layers: 16, kvHeads: 8, headDim: 64 };
    expect(estimateWorkload({ ...input, model: custom }, []).assumptions[0]).toMatch(/^tiny \(caller-supplied\)/);
    expect(estimateWorkload({ ...input, model: resolveModel(custom) }, []).assumptions[0]).toMatch(/^tiny \(caller-supplied\)/);
  });

  it("sorts by cost, not by hourly price, and keeps the cheapest `limit`", () => {
    // An H100 at $3 decodes 3,350 / 2,039 = 1.64× faster than an A100 at $2: cheaper per token.
    const offers = [offer("a100", "A100-SXM-80GB", 1, 2), offer("h100", "H100-SXM-80GB", 1, 3), offer("a100-cheap", "A100-SXM-80GB", 1, 1.5)];
    const result = estimateWorkload(input, offers, { limit: 2 });
    expect(result.options.map((o) => o.offerId)).toEqual(["a100-cheap", "h100"]);
    expect(result.feasible).toBe(3);
    const h100Step = (16.06e9 + 1250 * 131_072) / (3350e9 * 0.6);
    const h100Prefill = (989e12 * 0.5) / (2 * 8.03e9);
    expect(result.options[1]!.cost).toBeCloseTo(((500_000 * h100Step + 1_000_000 / h100Prefill) / 3600) * 3, 9);
  });

  it("excludes offers the model does not fit and GPUs without specs, grouped by configuration", () => {
    // Llama 3 70B FP16: 141.2 GB of weights cannot fit a 24 GB RTX 4090, nor two of them.
    const big: WorkloadInput = { ...input, model: "llama-3-70b" };
    const offers = [
      offer("4090-a", "RTX-4090", 1, 0.4), offer("4090-b", "RTX-4090", 1, 0.5), offer("4090x2", "RTX-4090", 2, 0.9),
      { id: "mystery", gpuModel: "Mystery GPU 9000", gpu: null, gpuCount: 1, pricePerHour: 0.1 },
      offer("h100x2", "H100-SXM-80GB", 2, 6),
    ];
    const result = estimateWorkload(big, offers);
    expect(result.options.map((o) => o.offerId)).toEqual(["h100x2"]);
    expect(result.feasible).toBe(1);
    expect(result.excluded.map(({ reason, gpuModel, gpuCount, offers: n }) => ({ reason, gpuModel, gpuCount, offers: n }))).toEqual([
      { reason: "INSUFFICIENT_VRAM", gpuModel: "RTX-4090", gpuCount: 1, offers: 2 },
      { reason: "UNKNOWN_GPU_MODEL", gpuModel: "Mystery GPU 9000", gpuCount: 1, offers: 1 },
      { reason: "INSUFFICIENT_VRAM", gpuModel: "RTX-4090", gpuCount: 2, offers: 1 },
    ]);
    // 141.2 GB weights + 1500 × 327,680 B KV = 141.69 GB, + 10 % overhead = 155.9 GB
    expect(result.excluded[0]!.message).toBe("Llama 3 70B at FP16 needs 155.9 GB (weights 141.2, KV cache 0.5, overhead 14.2); 1× RTX-4090 has 24 GB.");
  });

  it("derives the number of sequences from tokensPerPeriod and the context", () => {
    // 1M generated tokens, each sequence 1,024 prompt + 1,024 generated → 976.5625 sequences, 1M prompt tokens.
    const result = estimateWorkload({ kind: "inference", model: "mistral-7b", precision: "FP8", periodHours: 24, tokensPerPeriod: 1e6, promptTokens: 1024, contextTokens: 2048 }, [offer("l4", "L4", 1, 0.8)]);
    expect(result.totals).toMatchObject({ outputTokens: 1e6, inputTokens: 1e6, requests: 976.5625 });
    const [l4] = result.options;
    // FP8 weights 7.24 GB + 1,536 mean KV tokens × 131,072 B (FP16 KV) over 300 GB/s × 0.6; prefill at the 242.5 TFLOPS 8-bit peak
    const step = (7.24e9 + 1536 * 131_072) / (300e9 * 0.6);
    const seconds = 1e6 * step + 1e6 / ((242.5e12 * 0.5) / (2 * 7.24e9));
    expect(l4!.instanceHours).toBeCloseTo(seconds / 3600, 9);
    // 41,340.7 s decode (41.34 ms a token) + 119.4 s prefill (8,373.6 tokens/s) = 11.517 busy hours a day: one instance
    expect(l4!.instances).toBe(1);
    expect(l4!.instanceHours).toBeCloseTo(11.517, 3);
  });

  it("adds instances when the busy hours exceed the period", () => {
    // 10× the volume of the first case in one hour: 18.7 busy hours need 19 instances.
    const result = estimateWorkload({ ...input, requestsPerPeriod: 10_000, periodHours: 1 }, [offer("a", "A100-SXM-80GB", 1, 2)]);
    expect(result.options[0]!.instanceHours).toBeCloseTo(busyHours * 10, 9);
    expect(result.options[0]!.instances).toBe(19);
    expect(result.options[0]!.wallClockHours).toBeCloseTo((busyHours * 10) / 19, 9);
  });
});

describe("estimateWorkload: training", () => {
  // 7B parameters × 1B tokens × 6 = 4.2e19 FLOPs; 8× H100-SXM (989 TFLOPS) at 40 % MFU = 3.1648e15 FLOP/s
  //   → 13,271 s = 3.6864 h; at $24/h: $88.47. Model state 16 B × 7e9 = 112 GB < 640 GB: one instance.
  const fineTune: WorkloadInput = { kind: "training", parameters: 7e9, tokens: 1e9, precision: "BF16" };
  const hours = 4.2e19 / (989e12 * 8 * 0.4) / 3600;

  it("computes 6·N·D FLOPs, hours and cost", () => {
    const result = estimateWorkload(fineTune, [offer("h100x8", "H100-SXM-80GB", 8, 24)]);
    expect(result.totals.trainingFlops).toBe(4.2e19);
    const [o] = result.options;
    expect(hours).toBeCloseTo(3.6864, 4);
    expect(o).toMatchObject({ instances: 1, vramRequiredGb: 112, vramAvailableGb: 640, costPerMillionTokens: null });
    expect(o!.instanceHours).toBeCloseTo(hours, 12);
    expect(o!.gpuHours).toBeCloseTo(hours * 8, 12);
    expect(o!.cost).toBeCloseTo(88.47, 2);
  });

  it("adds instances to meet a target time without changing the cost (linear scaling)", () => {
    const [o] = estimateWorkload({ ...fineTune, targetHours: 1 }, [offer("h100x8", "H100-SXM-80GB", 8, 24)]).options;
    expect(o!.instances).toBe(4); // ⌈3.6864⌉
    expect(o!.wallClockHours).toBeCloseTo(hours / 4, 12);
    expect(o!.cost).toBeCloseTo(hours * 24, 9);
  });

  it("adds instances until the sharded model state fits", () => {
    // 70B × 16 B = 1,120 GB of Adam state; one 8× A100-80GB instance holds 640 GB → 2 instances.
    const [o] = estimateWorkload({ kind: "training", parameters: 70e9, tokens: 1e8, precision: "BF16" }, [offer("a100x8", "A100-SXM-80GB", 8, 16)]).options;
    expect(o).toMatchObject({ instances: 2, vramRequiredGb: 1120, vramAvailableGb: 1280 });
  });
});

describe("estimateWorkload: image generation", () => {
  it("costs SDXL at 30 steps with guidance: 416.13 TFLOPs per image", () => {
    // 30 steps × 2 × 6.761 + 10.47 = 416.13 TFLOPs; A100 at 312 × 0.5 = 156 TFLOPS → 2.6675 s per image,
    // 1,349.6 images/h; 10,000 images a month = 7.4097 busy hours, $11.1146 at $1.50/h, $0.00111146 per image.
    const result = estimateWorkload({ kind: "image", model: "sdxl", imagesPerPeriod: 10_000, periodHours: 730 }, [offer("a100", "A100-SXM-80GB", 1, 1.5), offer("3070", "RTX-3070", 1, 0.1)]);
    expect(result.totals.teraflopsPerImage).toBeCloseTo(416.13, 9);
    const [o] = result.options;
    expect(o!.imagesPerHour).toBeCloseTo((3600 * 156) / 416.13, 9);
    expect(o!.instanceHours).toBeCloseTo(7.4097, 4);
    expect(o!.cost).toBeCloseTo(11.1146, 4);
    expect(o!.costPerImage).toBeCloseTo(0.00111146, 8);
    // 6.94 GB of weights + 2 GB: an 8 GB card cannot run SDXL (KOALA README: OOM on 8 GB, runs on 11 GB).
    expect(result.excluded).toEqual([{ reason: "INSUFFICIENT_VRAM", gpuModel: "RTX-3070", gpuCount: 1, offers: 1, message: "SDXL 1.0 base needs 8.9 GB per GPU; RTX-3070 has 8 GB." }]);
  });

  it("runs one pipeline per GPU and halves the U-Net work without guidance", () => {
    const base = { kind: "image", model: "sd-1.5", imagesPerPeriod: 1000, periodHours: 24, steps: 20 } as const;
    const one = estimateWorkload(base, [offer("1", "RTX-4090", 1, 0.5)]).options[0]!;
    const four = estimateWorkload(base, [offer("4", "RTX-4090", 4, 2)]).options[0]!;
    expect(four.imagesPerHour).toBeCloseTo(one.imagesPerHour! * 4, 9);
    expect(four.cost).toBeCloseTo(one.cost, 9);
    const unguided = estimateWorkload({ ...base, guidance: false }, [offer("1", "RTX-4090", 1, 0.5)]);
    expect(unguided.totals.teraflopsPerImage).toBeCloseTo(20 * 0.803 + 2.515, 9);
  });

  it("matches its documented U-Net FLOPs to a layer count that reproduces BK-SDM's measured SD 1.x MACs", () => {
    const sd = unetMacs({ channels: [320, 640, 1280, 1280], depth: [1, 1, 1, 0], latent: 64, context: 768, midDepth: 1 });
    expect(sd.convLinear / 1e9).toBeCloseTo(338.6, 1); // thop: 338.7 G, which also counts norms
    expect((2 * (sd.convLinear + sd.attention)) / 1e12).toBeCloseTo(IMAGE_MODEL_PRESETS["sd-1.5"].unetTflopsPerEvaluation, 3);
    const xl = unetMacs({ channels: [320, 640, 1280], depth: [0, 2, 10], latent: 128, context: 2048, midDepth: 10 });
    expect((2 * (xl.convLinear + xl.attention)) / 1e12).toBeCloseTo(IMAGE_MODEL_PRESETS.sdxl.unetTflopsPerEvaluation, 3);
  });
});

describe("estimateWorkload: input errors", () => {
  const inference = { kind: "inference", model: "llama-3-8b", precision: "FP16", periodHours: 730 } as const;

  it("checks the input before (and without) any offer", () => {
    expectError(() => estimateWorkload({ ...inference }, []), WorkloadInputError, "MISSING_FIELD", "requestsPerPeriod");
    expectError(() => estimateWorkload({ ...inference, tokensPerPeriod: 1, requestsPerPeriod: 1, tokensPerRequest: 1 }, []), WorkloadInputError, "CONFLICTING_FIELDS", "requestsPerPeriod");
    expectError(() => estimateWorkload({ ...inference, requestsPerPeriod: 10 }, []), WorkloadInputError, "MISSING_FIELD", "tokensPerRequest");
    expectError(() => estimateWorkload({ ...inference, tokensPerPeriod: 100, contextTokens: 512, promptTokens: 512 }, []), WorkloadInputError, "OUT_OF_RANGE", "contextTokens");
    expectError(() => estimateWorkload({ ...inference, model: "llama-9", tokensPerPeriod: 1 }, []), LlmInputError, "UNKNOWN_MODEL", "model");
    expectError(() => estimateWorkload({ ...inference, precision: "FP4" as never, tokensPerPeriod: 1 }, []), WorkloadInputError, "INVALID_PRECISION", "precision");
    expectError(() => estimateWorkload({ kind: "training", parameters: 1e9, tokens: 1e9, precision: "INT8" as never }, []), WorkloadInputError, "INVALID_PRECISION", "precision");
    expectError(() => estimateWorkload({ kind: "training", parameters: -1, tokens: 1e9, precision: "BF16" }, []), WorkloadInputError, "OUT_OF_RANGE", "parameters");
    expectError(() => estimateWorkload({ kind: "image", model: "dall-e" as never, imagesPerPeriod: 1, periodHours: 1 }, []), WorkloadInputError, "UNKNOWN_IMAGE_MODEL", "model");
    expectError(() => estimateWorkload({ kind: "image", model: "sdxl", imagesPerPeriod: 1, periodHours: 1, utilisation: 1.5 }, []), WorkloadInputError, "OUT_OF_RANGE", "utilisation");
  });

  it("treats a GPU row without datasheet figures as unknown rather than failing", () => {
    const result = estimateWorkload({ ...inference, tokensPerPeriod: 1e6 }, [{ id: 1, gpuModel: "GAUDI2", gpu: { vramGb: 96, memoryBandwidthGbps: 0, fp16Tflops: 0 }, gpuCount: 8, pricePerHour: 10 }]);
    expect(result.options).toEqual([]);
    expect(result.excluded[0]).toMatchObject({ reason: "UNKNOWN_GPU_MODEL", offers: 1 });
  });
});

/** MACs of a diffusers UNet2DConditionModel forward pass: convolutions + linears (what thop counts), and attention's QKᵀ, AV. */
function unetMacs(c: { channels: number[]; depth: number[]; latent: number; context: number; midDepth: number }) {
  let convLinear = 0;
  let attention = 0;
  const conv = (cin: number, cout: number, k: number, r: number) => { convLinear += cin * cout * k * k * r * r; };
  const linear = (cin: number, cout: number, tokens: number) => { convLinear += cin * cout * tokens; };
  const resnet = (cin: number, cout: number, r: number) => {
    conv(cin, cout, 3, r); linear(1280, cout, 1); conv(cout, cout, 3, r);
    if (cin !== cout) conv(cin, cout, 1, r);
  };
  const transformer = (ch: number, r: number, depth: number) => {
    const n = r * r;
    linear(ch, ch, n); // proj_in
    for (let d = 0; d < depth; d++) {
      linear(ch, 4 * ch, n); // self-attention q, k, v, out
      attention += 2 * n * n * ch;
      linear(ch, 2 * ch, n); linear(c.context, 2 * ch, 77); // cross-attention q, out; k, v of 77 text tokens
      attention += 2 * n * 77 * ch;
      linear(ch, 8 * ch, n); linear(4 * ch, ch, n); // GEGLU feed-forward
    }
    linear(ch, ch, n); // proj_out
  };
  let ch = c.channels[0]!;
  let r = c.latent;
  conv(4, ch, 3, r);
  const skips = [ch];
  c.channels.forEach((out, i) => {
    for (let j = 0; j < 2; j++) {
      resnet(ch, out, r);
      ch = out;
      if (c.depth[i]) transformer(ch, r, c.depth[i]!);
      skips.push(ch);
    }
    if (i < c.channels.length - 1) { r /= 2; conv(ch, ch, 3, r); skips.push(ch); }
  });
  resnet(ch, ch, r); transformer(ch, r, c.midDepth); resnet(ch, ch, r);
  [...c.channels].reverse().forEach((out, k) => {
    const i = c.channels.length - 1 - k;
    for (let j = 0; j < 3; j++) {
      resnet(ch + skips.pop()!, out, r);
      ch = out;
      if (c.depth[i]) transformer(ch, r, c.depth[i]!);
    }
    if (k < c.channels.length - 1) { r *= 2; conv(ch, ch, 3, r); }
  });
  conv(ch, 4, 3, r);
  return { convLinear, attention };
}
