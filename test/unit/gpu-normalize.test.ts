import { readFileSync } from "node:fs";
import { parse } from "csv-parse/sync";
import { describe, expect, it } from "vitest";
import { normalizeGpuName } from "../../src/domain/gpu/normalize.ts";
import { GPU_SPECS, getGpuSpec } from "../../src/domain/gpu/specs.ts";

const CATALOG = new URL("../../data/skypilot-catalog/", import.meta.url);
const PROVIDERS = ["lambda", "primeintellect", "runpod", "shadeform", "vast"] as const;

type Row = Record<string, string>;
function csv(path: string): Row[] {
  return parse(readFileSync(new URL(path, CATALOG), "utf8"), { columns: true }) as Row[];
}
const VMS = Object.fromEntries(PROVIDERS.map((p) => [p, csv(`v8/${p}/vms.csv`)])) as Record<(typeof PROVIDERS)[number], Row[]>;

// GpuInfo is JSON in some files and a Python literal in others; only the names are needed.
function gpuInfoNames(gpuInfo: string | undefined): string[] {
  return [...(gpuInfo ?? "").matchAll(/["']Name["']\s*:\s*["']([^"']+)["']/g)].map((m) => m[1]!);
}

/** Canonical name, or null for unknown; a known name must exist in the spec table. */
function canonical(raw: string, hints?: Parameters<typeof normalizeGpuName>[1]): string | null {
  const match = normalizeGpuName(raw, hints);
  if (!match.known) {
    expect(match.raw).toBe(raw);
    return null;
  }
  expect(getGpuSpec(match.name), `${raw} → ${match.name}`).toBeDefined();
  return match.name;
}

// Every GPU spelling in the shared catalogs, with what it must map to (null = deliberately unknown:
// TPUs are not GPUs; Gaudi and the AWS-only Radeon Pro V520 have no comparable datasheet figures).
const CATALOG_NAMES: Record<string, string | null> = {
  "A10": "A10", "A100": "A100-SXM-40GB", "A100 PCIe": "A100-PCIE-80GB", "A100 SXM": "A100-SXM-40GB", "A100-80GB": "A100-SXM-80GB",
  "A100-80GB-SXM": "A100-SXM-80GB", "A10G": "A10G", "A16": "A16", "A30": "A30", "A40": "A40", "A4000": "RTX-A4000",
  "A5000": "RTX-A5000", "A6000": "RTX-A6000", "A800": "A800-PCIE-80GB", "B200": "B200", "B300": "B300", "GAUDI2": null,
  "GH200": "GH200-96GB", "GTX1660S": "GTX-1660-SUPER", "Gaudi HL-205": null, "H100": "H100-SXM-80GB",
  "H100 PCIe": "H100-PCIE-80GB", "H100-MEGA": "H100-SXM-80GB", "H100-NVL": "H100-NVL-94GB", "H100-NVLINK": "H100-SXM-80GB",
  "H100-SXM": "H100-SXM-80GB", "H200": "H200-SXM-141GB", "H200-SXM": "H200-SXM-141GB", "K80": "K80", "L4": "L4",
  "L40": "L40", "L40S": "L40S", "M4000": "QUADRO-M4000", "M60": "M60", "MI300X": "MI300X", "P100": "P100", "P4": "P4",
  "P4000": "QUADRO-P4000", "RTX3060": "RTX-3060", "RTX3070": "RTX-3070", "RTX3080": "RTX-3080", "RTX3090": "RTX-3090",
  "RTX4000-Ada": "RTX-4000-ADA", "RTX4060": "RTX-4060", "RTX4070": "RTX-4070", "RTX4090": "RTX-4090",
  "RTX5060": "RTX-5060", "RTX5090": "RTX-5090", "RTX6000": "QUADRO-RTX-6000", "RTX6000-Ada": "RTX-6000-ADA",
  "RTX6000Ada": "RTX-6000-ADA", "RTX8000": "QUADRO-RTX-8000", "RTXA2000": "RTX-A2000", "RTXA4000": "RTX-A4000",
  "RTXA4500": "RTX-A4500", "RTXA5000": "RTX-A5000", "RTXA6000": "RTX-A6000", "RTXPRO6000S": "RTX-PRO-6000",
  "RTXPRO6000WS": "RTX-PRO-6000", "RTXPro6000": "RTX-PRO-6000", "Radeon MI25": "MI25", "Radeon Pro V520": null,
  "T4": "T4", "T4g": "T4", "V100": "V100-SXM-16GB", "V100-32GB": "V100-SXM-32GB", "tpu-v2": null, "tpu-v3": null,
  "tpu-v4": null, "tpu-v5litepod": null, "tpu-v5p": null, "tpu-v6e": null,
};

describe("normalizeGpuName over the shared SkyPilot catalogs", () => {
  it("lists every accelerator, metadata GPU, vms AcceleratorName and GpuInfo name in the files", () => {
    const names = new Set<string>();
    for (const row of csv("v8/common/accelerators.csv")) names.add(row.AcceleratorName!);
    for (const row of csv("v7/common/metadata.csv")) names.add(row.GPU!);
    for (const rows of Object.values(VMS)) {
      for (const row of rows) {
        if (row.AcceleratorName) names.add(row.AcceleratorName);
        for (const name of gpuInfoNames(row.GpuInfo)) names.add(name);
      }
    }
    expect([...names].sort()).toEqual(Object.keys(CATALOG_NAMES).sort());
  });

  it.each(Object.entries(CATALOG_NAMES))("%s → %s", (raw, expected) => {
    expect(canonical(raw)).toBe(expected);
  });

  it("honours the form factor each vms.csv instance type states", () => {
    for (const [provider, rows] of Object.entries(VMS)) {
      for (const row of rows) {
        if (!row.AcceleratorName || CATALOG_NAMES[row.AcceleratorName] === null) continue;
        const name = canonical(row.AcceleratorName, { instanceType: row.InstanceType });
        expect(name, `${provider} ${row.InstanceType}`).not.toBeNull();
        const instance = (row.InstanceType ?? "").toLowerCase();
        const stated = /sxm|nvlink/.test(instance) ? "SXM" : /pcie/.test(instance) ? "PCIe" : /nvl/.test(instance) ? "NVL" : null;
        if (stated) expect(getGpuSpec(name!)!.formFactor, `${provider} ${row.InstanceType}`).toBe(stated);
      }
    }
  });

  it("resolves every Lambda row exactly, using the per-GPU memory from GpuInfo", () => {
    const byInstanceType: Array<[RegExp, string]> = [
      [/^gpu_8x_v100(_n)?$/, "V100-SXM-16GB"], [/^gpu_\dx_a6000$/, "RTX-A6000"], [/^gpu_\dx_a100(_sxm4)?$/, "A100-SXM-40GB"],
      [/^gpu_8x_a100_80gb_sxm4$/, "A100-SXM-80GB"], [/^gpu_1x_rtx6000$/, "QUADRO-RTX-6000"], [/^gpu_1x_a10$/, "A10"],
      [/^gpu_1x_h100_pcie$/, "H100-PCIE-80GB"], [/^gpu_\dx_h100_sxm5$/, "H100-SXM-80GB"], [/^gpu_\dx_b200_sxm6$/, "B200"],
      [/^gpu_1x_gh200$/, "GH200-96GB"],
    ];
    const gpuRows = VMS.lambda.filter((row) => row.AcceleratorName);
    expect(gpuRows.length).toBeGreaterThan(300);
    for (const row of gpuRows) {
      const mib = Number(/SizeInMiB['"]?\s*:\s*(\d+)/.exec(row.GpuInfo ?? "")?.[1]);
      const expected = byInstanceType.find(([pattern]) => pattern.test(row.InstanceType!))?.[1];
      expect(expected, row.InstanceType).toBeDefined();
      expect(canonical(row.AcceleratorName!, { instanceType: row.InstanceType, vramGb: mib / 1024 }), row.InstanceType).toBe(expected);
    }
  });

  it("recovers the variant Vast's AcceleratorName column drops from its instance type", () => {
    const pairs = new Map(VMS.vast.map((row) => [row.InstanceType!, canonical(row.AcceleratorName!, { instanceType: row.InstanceType })]));
    expect(pairs.get("2x-RTX_4070S_Ti-32-65536")).toBe("RTX-4070-TI-SUPER");
    expect(pairs.get("1x-RTX_4060_Ti-32-65536")).toBe("RTX-4060-TI-16GB");
    expect(pairs.get("2x-RTX_3060_Ti-32-65536")).toBe("RTX-3060-TI");
    expect(pairs.get("1x-RTX_3060-32-65536")).toBe("RTX-3060");
    expect(pairs.get("1x-H100_NVL-32-65536")).toBe("H100-NVL-94GB");
    expect(pairs.get("1x-A100_PCIE-32-65536")).toBe("A100-PCIE-80GB");
    expect(pairs.get("1x-RTX_6000Ada-32-65536")).toBe("RTX-6000-ADA");
  });
});

describe("normalizeGpuName for provider API spellings", () => {
  it.each([
    // RunPod gpuTypes ids / display names
    ["NVIDIA H100 80GB HBM3", "H100-SXM-80GB"], ["NVIDIA H100 PCIe", "H100-PCIE-80GB"], ["NVIDIA H100 NVL", "H100-NVL-94GB"],
    ["NVIDIA A100 80GB PCIe", "A100-PCIE-80GB"], ["NVIDIA A100-SXM4-80GB", "A100-SXM-80GB"], ["NVIDIA GeForce RTX 4090", "RTX-4090"],
    ["NVIDIA RTX A6000", "RTX-A6000"], ["NVIDIA RTX 6000 Ada Generation", "RTX-6000-ADA"], ["NVIDIA L40S", "L40S"],
    ["NVIDIA H200", "H200-SXM-141GB"], ["AMD Instinct MI300X OAM", "MI300X"], ["NVIDIA RTX 4000 Ada Generation", "RTX-4000-ADA"],
    ["NVIDIA GeForce RTX 3090", "RTX-3090"], ["NVIDIA B200", "B200"], ["NVIDIA H200 NVL", "H200-NVL-141GB"],
    ["NVIDIA RTX PRO 6000 Blackwell Server Edition", "RTX-PRO-6000"], ["NVIDIA RTX PRO 6000 Blackwell Workstation Edition", "RTX-PRO-6000"],
    ["Tesla V100-SXM2-32GB", "V100-SXM-32GB"], ["Tesla V100-PCIE-16GB", "V100-PCIE-16GB"], ["NVIDIA A100-PCIE-40GB", "A100-PCIE-40GB"],
    // Vast.ai gpu_name
    ["H100 SXM", "H100-SXM-80GB"], ["H100 PCIE", "H100-PCIE-80GB"], ["H100 NVL", "H100-NVL-94GB"], ["A100 SXM4", "A100-SXM-40GB"],
    ["A100 PCIE", "A100-PCIE-80GB"], ["RTX 4090", "RTX-4090"], ["RTX 3090", "RTX-3090"], ["RTX A6000", "RTX-A6000"],
    ["RTX 6000Ada", "RTX-6000-ADA"], ["L40S", "L40S"], ["Tesla V100", "V100-SXM-16GB"], ["RTX 5090", "RTX-5090"],
    ["H200", "H200-SXM-141GB"], ["Q RTX 8000", "QUADRO-RTX-8000"], ["A40", "A40"], ["RTX 4070S Ti", "RTX-4070-TI-SUPER"],
    ["RTX 4060 Ti", "RTX-4060-TI-16GB"], ["GTX 1660 S", "GTX-1660-SUPER"], ["RTX PRO 6000 WS", "RTX-PRO-6000"],
    // Lambda instance types and descriptions
    ["gpu_1x_h100_pcie", "H100-PCIE-80GB"], ["gpu_8x_h100_sxm5", "H100-SXM-80GB"], ["gpu_1x_a100_sxm4", "A100-SXM-40GB"],
    ["gpu_8x_a100_80gb_sxm4", "A100-SXM-80GB"], ["gpu_1x_a10", "A10"], ["gpu_1x_a6000", "RTX-A6000"], ["gpu_8x_v100", "V100-SXM-16GB"],
    ["gpu_1x_gh200", "GH200-96GB"], ["gpu_8x_b200_sxm6", "B200"], ["1x H100 (80 GB PCIe)", "H100-PCIE-80GB"],
    ["8x A100 (80 GB SXM4)", "A100-SXM-80GB"], ["1x GH200 (96 GB)", "GH200-96GB"],
    // Shadeform gpu_type
    ["H100", "H100-SXM-80GB"], ["A100_80G", "A100-SXM-80GB"], ["A100", "A100-SXM-40GB"], ["A6000", "RTX-A6000"], ["B200", "B200"],
    ["A10", "A10"], ["V100", "V100-SXM-16GB"], ["MI300X", "MI300X"], ["RTX4090", "RTX-4090"], ["GH200", "GH200-96GB"],
  ])("%s → %s", (raw, expected) => {
    expect(canonical(raw)).toBe(expected);
  });

  it("maps every canonical name to itself", () => {
    for (const spec of GPU_SPECS) expect(canonical(spec.name)).toBe(spec.name);
  });

  it("ignores case, spaces, dashes and underscores", () => {
    for (const raw of ["a100-sxm4-80gb", "A100_SXM4_80GB", "a100 sxm4 80 gb", "A100SXM4 80G", "  NVIDIA  A100--SXM4__80GB  "]) {
      expect(canonical(raw), raw).toBe("A100-SXM-80GB");
    }
    for (const raw of ["rtx6000ada", "RTX-6000-ADA", "rtx_6000_ada", "Rtx 6000 Ada"]) expect(canonical(raw), raw).toBe("RTX-6000-ADA");
  });
});

describe("normalizeGpuName hints", () => {
  it("uses the memory size to choose among variants", () => {
    expect(canonical("A100", { vramGb: 80 })).toBe("A100-SXM-80GB");
    expect(canonical("A100", { vramGb: 79.6 })).toBe("A100-SXM-80GB"); // 81,559 MiB reported as GiB
    expect(canonical("A100", { vramGb: 40 })).toBe("A100-SXM-40GB");
    expect(canonical("H100", { vramGb: 94 })).toBe("H100-NVL-94GB");
    expect(canonical("V100", { vramGb: 32 })).toBe("V100-SXM-32GB");
    expect(canonical("GH200", { vramGb: 144 })).toBe("GH200-144GB");
    expect(canonical("RTX6000", { vramGb: 48 })).toBe("RTX-6000-ADA");
    expect(canonical("RTX6000", { vramGb: 96 })).toBe("RTX-PRO-6000");
    expect(canonical("RTX 4060 Ti", { vramGb: 8 })).toBe("RTX-4060-TI-8GB");
  });

  it("uses the instance type's form factor and memory", () => {
    expect(canonical("H100", { instanceType: "gpu_1x_h100_pcie" })).toBe("H100-PCIE-80GB");
    expect(canonical("H100", { instanceType: "h100-sxm5-80gb_eth" })).toBe("H100-SXM-80GB");
    expect(canonical("A100", { instanceType: "oblivus A100_PCIE_80GB" })).toBe("A100-PCIE-80GB");
    expect(canonical("A100", { instanceType: "gpu_8x_a100_80gb_sxm4" })).toBe("A100-SXM-80GB");
    expect(canonical("A100-80GB", { instanceType: "n3-A100x8-NVLink" })).toBe("A100-SXM-80GB");
    expect(canonical("A100", { instanceType: "crusoe_A100-80G-sxm4x8" })).toBe("A100-SXM-80GB");
  });

  it("lets the name win over hints, and ignores hints that fit no variant", () => {
    expect(canonical("A100 PCIe 40GB", { vramGb: 80, instanceType: "x_sxm4" })).toBe("A100-PCIE-40GB");
    expect(canonical("H100 SXM", { vramGb: 94 })).toBe("H100-SXM-80GB");
    expect(canonical("A100", { instanceType: "a2-ultragpu-1g" })).toBe("A100-SXM-40GB"); // "1g" is not a memory size here
    expect(canonical("A100", { vramGb: 640 })).toBe("A100-SXM-40GB"); // a whole server's memory
    expect(canonical("L40S", { vramGb: null, instanceType: null })).toBe("L40S");
    expect(canonical("L40", { instanceType: "g3-l40s-large" })).toBe("L40");
  });
});

describe("normalizeGpuName bridged PCIe cards", () => {
  it("reads \"PCIe NVLink\" as PCIe cards with NVLink bridges, not SXM boards", () => {
    expect(normalizeGpuName("H100-80G-PCIe-NVLink")).toEqual({ known: true, name: "H100-PCIE-80GB" });
    expect(normalizeGpuName("A100-80G-PCIe-NVLink")).toEqual({ known: true, name: "A100-PCIE-80GB" });
    expect(normalizeGpuName("H100-NVLINK")).toEqual({ known: true, name: "H100-SXM-80GB" });
  });
});

describe("normalizeGpuName unknowns", () => {
  it.each([
    "", "   ", "garbage", "GPU", "NVIDIA", "tpu-v4", "TPU v5p", "Gaudi HL-205", "Intel Gaudi 2", "Radeon Pro V520",
    "RTX 4070 Ti", "RTX 3080 Ti", "NVIDIA GeForce RTX 4080", "A100X", "H100x8", "L40SS", "MI300A",
  ])("%j is unknown and keeps its raw spelling", (raw) => {
    expect(normalizeGpuName(raw)).toEqual({ known: false, raw });
  });

  it("does not confuse neighbouring models", () => {
    expect([canonical("A10"), canonical("A100"), canonical("A10G")]).toEqual(["A10", "A100-SXM-40GB", "A10G"]);
    expect([canonical("L4"), canonical("L40"), canonical("L40S")]).toEqual(["L4", "L40", "L40S"]);
    expect([canonical("H100"), canonical("GH200"), canonical("H200")]).toEqual(["H100-SXM-80GB", "GH200-96GB", "H200-SXM-141GB"]);
    expect([canonical("A40"), canonical("A4000"), canonical("P4"), canonical("P4000")]).toEqual(["A40", "RTX-A4000", "P4", "QUADRO-P4000"]);
  });
});
