import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parseSkypilotVms, SkypilotFormatError } from "../../src/domain/catalog/skypilot.ts";
import { normalizeDecimal } from "../../src/domain/money.ts";
import type { CatalogOffer } from "../../src/domain/catalog/types.ts";

const SHARED = fileURLToPath(new URL("../../data/skypilot-catalog/v8/", import.meta.url));
const LOCAL = fileURLToPath(new URL("../../data/catalogs/", import.meta.url));
const read = (path: string) => readFileSync(path, "utf8");

// Expected numbers computed independently with Python's csv module (rows without a GPU name or
// with count 0 → noGpu; GPU rows with an empty/unparsable/zero Price → invalid).
const FILES = [
  { name: "lambda", path: `${SHARED}lambda/vms.csv`, rows: 408, offers: 374, noGpu: 34, invalid: 0, gpuMemory: "per-gpu" },
  { name: "vast", path: `${SHARED}vast/vms.csv`, rows: 67, offers: 67, noGpu: 0, invalid: 0, gpuMemory: "total" },
  { name: "shadeform", path: `${SHARED}shadeform/vms.csv`, rows: 118, offers: 118, noGpu: 0, invalid: 0, gpuMemory: "per-gpu" },
  { name: "primeintellect", path: `${SHARED}primeintellect/vms.csv`, rows: 190, offers: 100, noGpu: 75, invalid: 15, gpuMemory: "total" },
  { name: "runpod", path: `${SHARED}runpod/vms.csv`, rows: 2057, offers: 2057, noGpu: 0, invalid: 0, gpuMemory: "per-gpu" },
  { name: "hyperstack", path: `${LOCAL}hyperstack-vms.csv`, rows: 25, offers: 25, noGpu: 0, invalid: 0, gpuMemory: "per-gpu" },
  { name: "aws", path: `${LOCAL}aws-vms.csv`, rows: 160, offers: 151, noGpu: 0, invalid: 9, gpuMemory: "per-gpu" },
] as const;

function offer(offers: CatalogOffer[], externalId: string): CatalogOffer {
  const found = offers.find((o) => o.externalId === externalId);
  if (!found) throw new Error(`no offer ${externalId}`);
  return found;
}

describe("parseSkypilotVms on the public catalogs", () => {
  for (const f of FILES) {
    it(`${f.name}: exact counts, unique external ids, prices as decimal strings`, () => {
      const r = parseSkypilotVms(read(f.path));
      expect({ rows: r.rows, offers: r.offers.length, noGpu: r.skipped.noGpu, invalid: r.skipped.invalid, gpuMemory: r.gpuMemory })
        .toEqual({ rows: f.rows, offers: f.offers, noGpu: f.noGpu, invalid: f.invalid, gpuMemory: f.gpuMemory });
      expect(new Set(r.offers.map((o) => o.externalId)).size).toBe(r.offers.length);
      for (const o of r.offers) {
        expect(o.onDemandPrice).toMatch(/^\d+(\.\d{1,4})?$/);
        if (o.spotPrice != null) expect(o.spotPrice).toMatch(/^\d+(\.\d{1,4})?$/);
        expect(Number.isInteger(o.gpuCount) && o.gpuCount > 0).toBe(true);
        expect(o.vramPerGpuGb).toBeGreaterThan(0);
      }
    });
  }

  it("lambda: fields of an 8× H100 SXM row", () => {
    const o = offer(parseSkypilotVms(read(`${SHARED}lambda/vms.csv`)).offers, "gpu_8x_h100_sxm5|us-east-1|");
    expect(o).toMatchObject({
      instanceType: "gpu_8x_h100_sxm5", gpuName: "H100", gpuCount: 8, vcpus: 208, ramGb: 1800,
      region: "us-east-1", zone: null, onDemandPrice: "31.92", spotPrice: null, currency: "USD",
      interconnect: "SXM", deployment: null, vramPerGpuGb: 80, gpuModel: "H100-SXM-80GB", country: "US",
    });
  });

  it("vast: zero spot price is no spot price; VRAM per GPU from a per-instance total", () => {
    const offers = parseSkypilotVms(read(`${SHARED}vast/vms.csv`)).offers;
    expect(offer(offers, "1x-H200-32-65536|France, FR, EU|")).toMatchObject({ onDemandPrice: "2.65", spotPrice: null, gpuCount: 1 });
    const rtx = offer(offers, "8x-RTX_4090-32-65536|United States, US, NA|");
    expect(rtx).toMatchObject({ onDemandPrice: "2.77", gpuCount: 8, vramPerGpuGb: 24 });
    expect(offer(offers, "1x-H100_NVL-32-65536|Bulgaria, BG, EU|"))
      .toMatchObject({ gpuModel: "H100-NVL-94GB", vramPerGpuGb: 94, interconnect: "NVLINK", country: "BG" });
    // 81920 MiB for two GPUs: read per GPU it would be an 80 GB A100.
    expect(offer(offers, "2x-A100_SXM4-32-65536|Slovenia, SI, EU|"))
      .toMatchObject({ gpuModel: "A100-SXM-40GB", vramPerGpuGb: 40, gpuCount: 2, onDemandPrice: "1.49", country: "SI" });
  });

  it("shadeform: GB written into SizeInMiB", () => {
    const o = offer(parseSkypilotVms(read(`${SHARED}shadeform/vms.csv`)).offers, "massedcompute_A6000x8|kansascity-usa-1|");
    expect(o).toMatchObject({ onDemandPrice: "4.56", spotPrice: null, gpuCount: 8, vcpus: 62, ramGb: 384, vramPerGpuGb: 48, gpuModel: "RTX-A6000" });
    // Not in the spec table: no model, VRAM as the catalog states it.
    const gaudi = offer(parseSkypilotVms(read(`${SHARED}shadeform/vms.csv`)).offers, "denvr_Gaudi2x8|houston-usa-1|");
    expect(gaudi).toMatchObject({ gpuName: "GAUDI2", gpuModel: null, vramPerGpuGb: 96, gpuCount: 8, onDemandPrice: "8.8" });
  });

  it("primeintellect: float artefacts rounded to 4 decimals, spot-only rows invalid", () => {
    const r = parseSkypilotVms(read(`${SHARED}primeintellect/vms.csv`));
    expect(offer(r.offers, "oblivus__4xA100_80GB__124__480|CA|MON1").onDemandPrice).toBe("5.8855");
    expect(offer(r.offers, "oblivus__2xA6000_48GB__60__116|CA|MON1").onDemandPrice).toBe("1.1055");
    expect(offer(r.offers, "nebius__1xH100_80GB__16__200|FI|eu-north1").onDemandPrice).toBe("2.118");
    expect(offer(r.offers, "oblivus__8xA100_80GB__252__1920__NVLINK|CA|MON1").interconnect).toBe("NVLINK");
    expect(r.offers.some((o) => o.instanceType.endsWith("__SPOT"))).toBe(false);
    expect(r.errors).toHaveLength(15);
    expect(r.errors[0]!.reason).toBe('unparsable Price ""');
    const rtx = offer(r.offers, "datacrunch__8xRTX6000Ada_48GB__80__480|FI|FIN-01");
    expect(rtx).toMatchObject({ onDemandPrice: "6.61", gpuCount: 8, vramPerGpuGb: 48, zone: "FIN-01" });
  });

  it("runpod: spot price kept, GPU form factor from GpuInfo", () => {
    const offers = parseSkypilotVms(read(`${SHARED}runpod/vms.csv`)).offers;
    expect(offer(offers, "3x_A100-80GB_SECURE|IN|AP-IN-1")).toMatchObject({
      onDemandPrice: "4.17", spotPrice: "4.17", gpuCount: 3, vcpus: 24, ramGb: 351, zone: "AP-IN-1", interconnect: "PCIE", vramPerGpuGb: 80,
      gpuModel: "A100-PCIE-80GB", country: "IN",
    });
    expect(offer(offers, "1x_A100-80GB-SXM_SECURE|IN|AP-IN-1")).toMatchObject({ interconnect: "SXM", gpuModel: "A100-SXM-80GB" });
    expect(offer(offers, "1x_H100_SECURE|IN|AP-IN-1").gpuModel).toBe("H100-PCIE-80GB");
    expect(offer(offers, "10x_A40_SECURE|US|US-KS-2").onDemandPrice).toBe("4.4");
  });

  it("aws: 6-decimal prices rounded half-up, trailing zeros of the rounding dropped", () => {
    const offers = parseSkypilotVms(read(`${LOCAL}aws-vms.csv`)).offers;
    expect(offer(offers, "p4d.24xlarge|us-east-1|use1-az1"))
      .toMatchObject({ onDemandPrice: "21.9576", spotPrice: "2.4655", gpuCount: 8, vramPerGpuGb: 40, gpuModel: "A100-SXM-40GB", country: "US" });
    expect(offer(offers, "p4de.24xlarge|eu-central-1|euc1-az1")).toMatchObject({ gpuModel: "A100-SXM-80GB", country: "DE", onDemandPrice: "34.2912" });
    expect(offer(offers, "p5.48xlarge|ap-northeast-1|apne1-az1")).toMatchObject({ onDemandPrice: "68.8", spotPrice: "68.8" });
    expect(offer(offers, "p5.4xlarge|us-east-1|use1-az1")).toMatchObject({ onDemandPrice: "6.88", spotPrice: null, gpuCount: 1 });
  });

  it("hyperstack: interconnect from the GPU name", () => {
    const offers = parseSkypilotVms(read(`${LOCAL}hyperstack-vms.csv`)).offers;
    expect(offer(offers, "n3-A100x8-NVLink|CANADA-1|").interconnect).toBe("NVLINK");
    expect(offer(offers, "n3-H100-SXM5x8|US-1|")).toMatchObject({ interconnect: "SXM", onDemandPrice: "19.2", ramGb: 960 });
    expect(offer(offers, "n3-L40x1|CANADA-1|")).toMatchObject({ interconnect: null, onDemandPrice: "1.0", vramPerGpuGb: 48 });
  });
});

describe("parseSkypilotVms input handling", () => {
  it("CRLF and LF, with or without a final newline, give identical results", () => {
    const crlf = read(`${SHARED}lambda/vms.csv`);
    expect(crlf).toContain("\r\n");
    const lf = crlf.replace(/\r\n/g, "\n");
    const expected = parseSkypilotVms(crlf);
    expect(parseSkypilotVms(lf)).toEqual(expected);
    expect(parseSkypilotVms(lf.trimEnd())).toEqual(expected);
    const runpodLf = read(`${SHARED}runpod/vms.csv`);
    expect(parseSkypilotVms(runpodLf.replace(/\n/g, "\r\n"))).toEqual(parseSkypilotVms(runpodLf));
  });

  it("a missing required column is a clear error", () => {
    const text = "InstanceType,AcceleratorName,AcceleratorCount,Cost,Region\nx,H100,1,2.5,us\n";
    expect(() => parseSkypilotVms(text)).toThrow(SkypilotFormatError);
    expect(() => parseSkypilotVms(text)).toThrow(/missing required column Price/);
    expect(() => parseSkypilotVms("")).toThrow(/empty file/);
  });

  it("a bad row is counted, never thrown", () => {
    const text = [
      "Region,Price,AcceleratorCount,AcceleratorName,InstanceType,SpotPrice",
      "us-east-1,1.50,1,H100,ok-1,",
      "us-east-1,abc,1,H100,bad-price,",
      "us-east-1,2.00,1.5,H100,bad-count,",
      "us-east-1,2.00,1,H100,bad-spot,n/a",
      "us-east-1,0,1,H100,free,",
      "us-east-1,0.10,,,cpu-only,",
      "us-east-1,1.50,1,H100,ok-1,",
    ].join("\n");
    const r = parseSkypilotVms(text);
    expect(r.offers.map((o) => o.externalId)).toEqual(["ok-1|us-east-1|"]);
    expect(r.skipped).toEqual({ noGpu: 1, invalid: 5 });
    expect(r.errors).toEqual([
      { line: 3, reason: 'unparsable Price "abc"' },
      { line: 4, reason: 'AcceleratorCount "1.5" is not a whole number' },
      { line: 5, reason: 'unparsable SpotPrice "n/a"' },
      { line: 6, reason: "Price is zero" },
      { line: 8, reason: "duplicate row for ok-1|us-east-1|" },
    ]);
  });

  it("VRAM of GPUs not in the spec table comes from GpuInfo, per the file's convention", () => {
    const header = "InstanceType,AcceleratorName,AcceleratorCount,GpuInfo,Price,Region";
    const info = (mib: number, n: number) => `"{'Gpus': [{'Name': 'Zork9', 'Count': ${n}, 'MemoryInfo': {'SizeInMiB': ${mib}}}]}"`;
    const perInstance = parseSkypilotVms([header, `a,Zork9,1,${info(24576, 1)},1,r`, `b,Zork9,2,${info(49152, 2)},2,r`].join("\n"));
    expect(perInstance.gpuMemory).toBe("total");
    expect(perInstance.offers.map((o) => o.vramPerGpuGb)).toEqual([24, 24]);
    const perGpu = parseSkypilotVms([header, `a,Zork9,1,${info(24576, 1)},1,r`, `b,Zork9,2,${info(24576, 2)},2,r`].join("\n"));
    expect(perGpu.gpuMemory).toBe("per-gpu");
    expect(perGpu.offers.map((o) => o.vramPerGpuGb)).toEqual([24, 24]);
    const gb = parseSkypilotVms([header, `a,Zork9,4,${info(20, 4)},1,r`].join("\n"));
    expect(gb.offers[0]!.vramPerGpuGb).toBe(20);
    const forced = parseSkypilotVms([header, `a,Zork9,2,${info(49152, 2)},1,r`].join("\n"), { gpuMemory: "total" });
    expect(forced.offers[0]!.vramPerGpuGb).toBe(24);
  });

  it("normalizeDecimal never goes through a float", () => {
    expect(normalizeDecimal("1.39")).toBe("1.39");
    expect(normalizeDecimal("0.00")).toBe("0.00");
    expect(normalizeDecimal("5.8854999999999995")).toBe("5.8855");
    expect(normalizeDecimal("1.1055000000000001")).toBe("1.1055");
    expect(normalizeDecimal("9.99995")).toBe("10");
    expect(normalizeDecimal("0.00004")).toBe("0");
    expect(normalizeDecimal("123456789.123456789")).toBe("123456789.1235");
    for (const bad of ["", "abc", "-1", "1e-5", "1.2.3", " "]) expect(normalizeDecimal(bad)).toBeNull();
  });
});
