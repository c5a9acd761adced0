// The `fanout` benchmark's market and subscribers: a small catalog (GPU models, providers, regions) the
// ticks are spread over, and each client's `priceTicks` filter, a realistic mix: a quarter with no
// filter, popular identical filters, filters spread over model / provider / region / max price, and a
// few unique ones. Both servers apply the same filters (GPUBroker through its API, the baseline by hand
// with `wants`), and the bench counts the frames each client must get with `wants` too.
// No import from src/: the baseline process loads this file.

export const MIX_MODELS = [
  { name: "H100-SXM-80GB", vendor: "NVIDIA", architecture: "Hopper", vramGb: 80, memoryBandwidthGbps: 3350, fp16Tflops: 989, fp8Tflops: 1979, fp32Tflops: 67, formFactor: "SXM" },
  { name: "A100-SXM-80GB", vendor: "NVIDIA", architecture: "Ampere", vramGb: 80, memoryBandwidthGbps: 2039, fp16Tflops: 312, fp8Tflops: 624, fp32Tflops: 19.5, formFactor: "SXM" },
  { name: "RTX-4090", vendor: "NVIDIA", architecture: "Ada Lovelace", vramGb: 24, memoryBandwidthGbps: 1008, fp16Tflops: 165, fp8Tflops: 330, fp32Tflops: 82.6, formFactor: "PCIe" },
  { name: "L40S", vendor: "NVIDIA", architecture: "Ada Lovelace", vramGb: 48, memoryBandwidthGbps: 864, fp16Tflops: 362, fp8Tflops: 733, fp32Tflops: 91.6, formFactor: "PCIe" },
  { name: "H200-SXM-141GB", vendor: "NVIDIA", architecture: "Hopper", vramGb: 141, memoryBandwidthGbps: 4800, fp16Tflops: 989, fp8Tflops: 1979, fp32Tflops: 67, formFactor: "SXM" },
  { name: "MI300X", vendor: "AMD", architecture: "CDNA 3", vramGb: 192, memoryBandwidthGbps: 5300, fp16Tflops: 1307, fp8Tflops: 2615, fp32Tflops: 163.4, formFactor: "OAM" },
] as const;
export const MIX_PROVIDERS = [
  { slug: "runpod", name: "RunPod", kind: "MARKETPLACE" },
  { slug: "vastai", name: "Vast.ai", kind: "MARKETPLACE" },
  { slug: "lambda", name: "Lambda", kind: "NEOCLOUD" },
  { slug: "shadeform", name: "Shadeform", kind: "MARKETPLACE" },
  { slug: "aws", name: "AWS", kind: "HYPERSCALER" },
] as const;
export const MIX_REGIONS = ["US-TX-3", "us-east-1", "us-west-2", "eu-central-1", "EU-SE-1", "ap-south-1", "CA-MTL-1", "EU-RO-1"] as const;

/** The part of a tick a filter reads (names, as the wire and the baseline see them). */
export interface MixTickFacts {
  gpuModel: string | null; provider: string; region: string;
  newOnDemandPrice: string | null; oldOnDemandPrice: string | null; pricePerGpuHour: string;
}

/** A `PriceTickFilter` as a client sends it (only the fields the mix uses). */
export interface MixFilter {
  gpuModels?: string[]; providers?: string[]; regions?: string[];
  maxPricePerHour?: string; maxPricePerGpuHour?: string;
}

/** A 32-bit mix of an integer (deterministic, spread). */
export const hash = (n: number) => {
  let h = Math.imul(n ^ 0x9e3779b9, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
};

/** Where tick `seq` is listed: H100 on a third of the ticks, the other models evenly; providers and regions evenly. */
export function tickPlace(seq: number): { model: number; provider: number; region: number } {
  const h = hash(seq + 1);
  const m = h % 12;
  return { model: m < 4 ? 0 : 1 + (m % 5), provider: (h >>> 8) % MIX_PROVIDERS.length, region: (h >>> 16) % MIX_REGIONS.length };
}

/** The probe ticks' places: every model, every provider × region pair and every model × provider pair at least once. */
export function probePlaces(): { model: number; provider: number; region: number }[] {
  return Array.from({ length: MIX_PROVIDERS.length * MIX_REGIONS.length }, (_, j) => ({
    model: j % MIX_MODELS.length, provider: j % MIX_PROVIDERS.length, region: Math.floor(j / MIX_PROVIDERS.length),
  }));
}

const PER_GPU_LEVELS = ["2.005", "2.505", "3.005", "3.505"]; // half cents: never equal to a tick's price
const PER_HOUR_LEVELS = ["5.005", "10.005", "20.005", "40.005"];

/**
 * Client i's filter (null: none). 25 % none (client 0 always), 15 % H100 only (identical), 15 % one model,
 * 15 % provider + region, 15 % model + max price per GPU-hour, 10 % region + max price per hour,
 * 5 % unique (model + provider + a max price of their own).
 */
export function mixFilter(i: number): MixFilter | null {
  if (i === 0) return null;
  const h = hash(i * 7919 + 17);
  const r = h % 100;
  const model = (h >>> 8) % MIX_MODELS.length;
  const provider = (h >>> 12) % MIX_PROVIDERS.length;
  const region = (h >>> 16) % MIX_REGIONS.length;
  const level = (h >>> 20) % 4;
  const m = MIX_MODELS[model]!.name;
  const p = MIX_PROVIDERS[provider]!.slug;
  const g = MIX_REGIONS[region]!;
  if (r < 25) return null;
  if (r < 40) return { gpuModels: ["H100-SXM-80GB"] };
  if (r < 55) return { gpuModels: [m] };
  if (r < 70) return { providers: [p], regions: [g] };
  if (r < 85) return { gpuModels: [m], maxPricePerGpuHour: PER_GPU_LEVELS[level]! };
  if (r < 95) return { regions: [g], maxPricePerHour: PER_HOUR_LEVELS[level]! };
  return { gpuModels: [m], providers: [p], maxPricePerHour: (30 + i / 1000).toFixed(3) };
}

/** Does a client with this filter get the tick? The same answer as GPUBroker's `priceTicks` filter for these fields. */
export function wants(filter: MixFilter | null, t: MixTickFacts): boolean {
  if (!filter) return true;
  if (filter.gpuModels && !filter.gpuModels.includes(t.gpuModel ?? "")) return false;
  if (filter.providers && !filter.providers.includes(t.provider)) return false;
  if (filter.regions && !filter.regions.includes(t.region)) return false;
  const perHour = t.newOnDemandPrice ?? t.oldOnDemandPrice;
  if (filter.maxPricePerHour && (perHour == null || Number(perHour) > Number(filter.maxPricePerHour))) return false;
  if (filter.maxPricePerGpuHour && Number(t.pricePerGpuHour) > Number(filter.maxPricePerGpuHour)) return false;
  return true;
}

/** The filters clients 0 … n−1 use: null for every client when the mix is off. */
export const clientFilters = (n: number, mix: boolean) => Array.from({ length: n }, (_, i) => (mix ? mixFilter(i) : null));
