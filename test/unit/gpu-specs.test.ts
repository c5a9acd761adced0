import { describe, expect, it } from "vitest";
import { GPU_SPECS, getGpuSpec } from "../../src/domain/gpu/specs.ts";

// GPUs without tensor/matrix cores: their FP16 figure is a vector rate and they have no FP8/INT8 tensor path.
const NON_TENSOR = new Set(["P100", "P4", "K80", "M60", "QUADRO-M4000", "QUADRO-P4000", "GTX-1660-SUPER", "MI25"]);

describe("GPU_SPECS", () => {
  it("lists at least 30 models under unique canonical upper-case names", () => {
    const names = GPU_SPECS.map((spec) => spec.name);
    expect(names.length).toBeGreaterThanOrEqual(30);
    expect(new Set(names).size).toBe(names.length);
    for (const name of names) expect(name).toMatch(/^[A-Z0-9]+(?:-[A-Z0-9]+)*$/);
  });

  it("cites a datasheet for every entry", () => {
    for (const spec of GPU_SPECS) {
      expect(spec.sources.datasheet.length, spec.name).toBeGreaterThan(10);
      if (spec.sources.note !== undefined) expect(spec.sources.note.length, spec.name).toBeGreaterThan(10);
    }
  });

  it("keeps memory figures as positive integers", () => {
    for (const spec of GPU_SPECS) {
      expect(Number.isInteger(spec.vramGb) && spec.vramGb > 0, spec.name).toBe(true);
      expect(Number.isInteger(spec.memoryBandwidthGbps) && spec.memoryBandwidthGbps > 0, spec.name).toBe(true);
    }
  });

  it("uses the known vendors and form factors", () => {
    for (const spec of GPU_SPECS) {
      expect(["NVIDIA", "AMD", "INTEL", "GOOGLE"], spec.name).toContain(spec.vendor);
      expect(["SXM", "PCIe", "NVL", "OAM", "Superchip"], spec.name).toContain(spec.formFactor);
      expect(spec.architecture.length, spec.name).toBeGreaterThan(2);
    }
  });

  it("has tensor rates at or above FP32 on tensor-core GPUs, and FP8/INT8 at or above FP16", () => {
    for (const spec of GPU_SPECS) {
      expect(spec.fp32Tflops, spec.name).toBeGreaterThan(0);
      if (NON_TENSOR.has(spec.name)) {
        expect(spec.fp8Tflops, spec.name).toBeNull();
        expect(spec.fp16Tflops, spec.name).toBeGreaterThanOrEqual(spec.fp32Tflops);
      } else {
        expect(spec.fp16Tflops, spec.name).toBeGreaterThan(spec.fp32Tflops);
        if (spec.fp8Tflops !== null) expect(spec.fp8Tflops, spec.name).toBeGreaterThanOrEqual(spec.fp16Tflops);
      }
    }
    for (const name of NON_TENSOR) expect(getGpuSpec(name), name).toBeDefined();
  });

  it("has no FP8/INT8 tensor path only on Volta and non-tensor GPUs", () => {
    const withoutFp8 = GPU_SPECS.filter((spec) => spec.fp8Tflops === null).map((spec) => spec.name);
    expect(withoutFp8.filter((name) => !NON_TENSOR.has(name)).sort()).toEqual([
      "V100-PCIE-16GB", "V100-PCIE-32GB", "V100-SXM-16GB", "V100-SXM-32GB",
    ]);
  });

  it("gives memory-variant siblings the same compute", () => {
    const pairs = [["A100-SXM-40GB", "A100-SXM-80GB"], ["V100-SXM-16GB", "V100-SXM-32GB"], ["RTX-4060-TI-8GB", "RTX-4060-TI-16GB"],
      ["QUADRO-RTX-6000", "QUADRO-RTX-8000"], ["GH200-96GB", "GH200-144GB"], ["H100-SXM-80GB", "H200-SXM-141GB"]];
    for (const [a, b] of pairs) {
      const [x, y] = [getGpuSpec(a!)!, getGpuSpec(b!)!];
      expect([x.fp16Tflops, x.fp8Tflops, x.fp32Tflops], `${a} vs ${b}`).toEqual([y.fp16Tflops, y.fp8Tflops, y.fp32Tflops]);
      expect(x.vramGb, `${a} vs ${b}`).toBeLessThan(y.vramGb);
    }
  });
});

describe("datasheet spot checks", () => {
  it.each([
    // name, vramGb, GB/s, dense FP16, FP8/INT8, FP32
    ["H100-SXM-80GB", 80, 3350, 989, 1979, 67],
    ["H100-PCIE-80GB", 80, 2000, 756, 1513, 51],
    ["A100-SXM-80GB", 80, 2039, 312, 624, 19.5],
    ["A100-PCIE-40GB", 40, 1555, 312, 624, 19.5],
    ["H200-SXM-141GB", 141, 4800, 989, 1979, 67],
    ["L40S", 48, 864, 362.05, 733, 91.6],
    ["L4", 24, 300, 121, 242.5, 30.3],
    ["A10", 24, 600, 125, 250, 31.2],
    ["T4", 16, 320, 65, 130, 8.1],
    ["V100-SXM-16GB", 16, 900, 125, null, 15.7],
    ["RTX-4090", 24, 1008, 165.2, 330.3, 82.6],
    ["RTX-A6000", 48, 768, 154.85, 309.7, 38.7],
    ["MI300X", 192, 5300, 1307.4, 2614.9, 163.4],
  ] as const)("%s", (name, vramGb, bandwidth, fp16, fp8, fp32) => {
    const spec = getGpuSpec(name);
    expect(spec).toBeDefined();
    expect([spec!.vramGb, spec!.memoryBandwidthGbps, spec!.fp16Tflops, spec!.fp8Tflops, spec!.fp32Tflops]).toEqual([vramGb, bandwidth, fp16, fp8, fp32]);
  });
});

describe("getGpuSpec", () => {
  it("finds a model by canonical name, ignoring case and surrounding space", () => {
    expect(getGpuSpec("H100-SXM-80GB")?.architecture).toBe("Hopper");
    expect(getGpuSpec(" l40s ")?.name).toBe("L40S");
    expect(getGpuSpec("rtx-4090")?.vendor).toBe("NVIDIA");
  });

  it("returns undefined for provider spellings and unknown names", () => {
    expect(getGpuSpec("H100")).toBeUndefined();
    expect(getGpuSpec("NVIDIA H100 80GB HBM3")).toBeUndefined();
    expect(getGpuSpec("")).toBeUndefined();
  });
});
