// A small deterministic market for query tests: few distinct prices on purpose (ties must not
// break paging), several providers, regions and GPU models.
import { Prisma, type PrismaClient } from "../../src/generated/prisma/client.ts";

export const MODELS = [
  { name: "H100-SXM-80GB", vendor: "NVIDIA", architecture: "Hopper", vramGb: 80, memoryBandwidthGbps: 3350, fp16Tflops: 989, fp8Tflops: 1979, fp32Tflops: 67, formFactor: "SXM" },
  { name: "A100-SXM-80GB", vendor: "NVIDIA", architecture: "Ampere", vramGb: 80, memoryBandwidthGbps: 2039, fp16Tflops: 312, fp8Tflops: 624, fp32Tflops: 19.5, formFactor: "SXM" },
  { name: "RTX-4090", vendor: "NVIDIA", architecture: "Ada Lovelace", vramGb: 24, memoryBandwidthGbps: 1008, fp16Tflops: 165, fp8Tflops: 330, fp32Tflops: 82.6, formFactor: "PCIe" },
  { name: "MI300X", vendor: "AMD", architecture: "CDNA 3", vramGb: 192, memoryBandwidthGbps: 5300, fp16Tflops: 1307, fp8Tflops: 2615, fp32Tflops: 163.4, formFactor: "OAM" },
] as const;

export const PROVIDERS = [
  { slug: "alpha", name: "Alpha Cloud", kind: "NEOCLOUD" },
  { slug: "beta", name: "Beta Market", kind: "MARKETPLACE" },
  { slug: "gamma", name: "Gamma Compute", kind: "HYPERSCALER" },
] as const;

const REGIONS = [
  { region: "us-east-1", country: "US" },
  { region: "eu-central-1", country: "DE" },
  { region: "ap-south-1", country: "IN" },
];
const PER_GPU = ["1.2500", "1.9900", "2.4900", "2.4900", "3.1000"];
const COUNTS = [1, 2, 4, 8];

export interface MarketOffer {
  id: number; provider: string; model: string | null; gpuCount: number; region: string; country: string;
  pricePerGpuHour: string; onDemandPrice: string; spotPrice: string | null; vcpus: number; ramGb: number;
  vramPerGpuGb: number; availability: string; interconnect: string | null; active: boolean;
}

/** Inserts `count` offers (deterministic) and returns them as plain values for expectations. */
export async function seedMarket(prisma: PrismaClient, count: number): Promise<MarketOffer[]> {
  await prisma.gpuModel.createMany({ data: MODELS.map((m) => ({ ...m })), skipDuplicates: true });
  await prisma.provider.createMany({ data: PROVIDERS.map((p) => ({ ...p })), skipDuplicates: true });
  const models = new Map((await prisma.gpuModel.findMany()).map((m) => [m.name, m]));
  const providers = new Map((await prisma.provider.findMany()).map((p) => [p.slug, p.id]));
  const rows = Array.from({ length: count }, (_, i) => {
    const model = i % 11 === 10 ? null : MODELS[i % MODELS.length]!;
    const gpuCount = COUNTS[Math.floor(i / 4) % COUNTS.length]!;
    const perGpu = new Prisma.Decimal(PER_GPU[i % PER_GPU.length]!);
    const spot = i % 3 === 0 ? perGpu.mul(gpuCount).mul("0.6").toDecimalPlaces(4) : null;
    const { region, country } = REGIONS[i % REGIONS.length]!;
    const vram = model?.vramGb ?? 16;
    return {
      providerId: providers.get(PROVIDERS[i % PROVIDERS.length]!.slug)!,
      externalId: `offer-${i}`,
      instanceType: `${gpuCount}x-${model?.name ?? "mystery"}`,
      gpuModelId: model ? models.get(model.name)!.id : null,
      gpuName: model?.name ?? "Mystery GPU 9000",
      gpuCount,
      vramPerGpuGb: vram,
      vramTotalGb: vram * gpuCount,
      vcpus: 8 * gpuCount,
      ramGb: 32 * gpuCount,
      region, country,
      onDemandPrice: perGpu.mul(gpuCount).toFixed(4),
      spotPrice: spot?.toFixed(4) ?? null,
      pricePerGpuHour: perGpu.toFixed(4),
      spotPricePerGpuHour: spot ? spot.div(gpuCount).toDecimalPlaces(4).toFixed(4) : null,
      availability: (["AVAILABLE", "LIMITED", "UNAVAILABLE", "UNKNOWN"] as const)[i % 4],
      interconnect: gpuCount >= 8 ? ("SXM" as const) : null,
      active: i % 17 !== 16,
      lastSeenAt: new Date(Date.UTC(2026, 10, 1) + (i % 7) * 3_600_000),
    };
  });
  for (let i = 0; i < rows.length; i += 500) await prisma.gpuOffer.createMany({ data: rows.slice(i, i + 500) });
  const stored = await prisma.gpuOffer.findMany({ orderBy: { id: "asc" }, include: { provider: true, gpuModel: true } });
  return stored.map((o) => ({
    id: o.id, provider: o.provider.slug, model: o.gpuModel?.name ?? null, gpuCount: o.gpuCount, region: o.region,
    country: o.country!, pricePerGpuHour: o.pricePerGpuHour.toFixed(4), onDemandPrice: o.onDemandPrice.toFixed(4),
    spotPrice: o.spotPrice?.toFixed(4) ?? null, vcpus: o.vcpus!, ramGb: Number(o.ramGb), vramPerGpuGb: Number(o.vramPerGpuGb),
    availability: o.availability, interconnect: o.interconnect, active: o.active,
  }));
}

/** Decodes a Relay global ID to the database id. */
export const dbId = (globalId: string) => Number(Buffer.from(globalId, "base64").toString("utf8").split(":")[1]);
export const globalId = (type: string, id: number) => Buffer.from(`${type}:${id}`).toString("base64");
