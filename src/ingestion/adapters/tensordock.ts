// TensorDock (v2 API): `GET {baseUrl}/hostnodes` with the API token as a Bearer token, answering
// `{ data: { hostnodes: [{ id, location_id, engine, uptime_percentage, available_resources: { gpus:
// [{ v0Name, availableCount, price_per_hr }], vcpu_count, ram_gb, storage_gb, max_vcpus_per_gpu?,
// max_ram_per_gpu? }, pricing: { per_vcpu_hr, per_gb_ram_hr, per_gb_storage_hr }, location: { uuid, city,
// stateprovince, country, network_speed_gbps, tier, ... } }] } }`.
// Shapes: https://dashboard.tensordock.com/api/docs/instance-creation ("List Available Hostnodes",
// GET /api/v2/hostnodes) and /api/docs/fetch-hostnodes; field names as in the Go clients
// apartmentlines/terraform-provider-tensordock and thehunmonkgroup/tensordock-cli.
// TensorDock bills each resource separately, so an offer is a VM priced exactly as deployed: `count` GPUs
// (1, 2, 4, 8 up to availableCount) at `price_per_hr` each, plus `bundle` vCPUs and GB of RAM per GPU and
// GB of storage at the hostnode's unit prices. Assumptions: `price_per_hr` is per GPU (the docs list an
// 8-GPU node at 2.2, the per-GPU H100 rate); `country` is an English country name; a node whose
// available vCPUs, RAM or storage cannot hold the bundle offers nothing at that count (not a skip).
import { z } from "zod";
import type { CatalogOffer } from "../../domain/catalog/types.ts";
import { normalizeGpuName } from "../../domain/gpu/normalize.ts";
import { skipCollector, type AdapterConfig, type FetchReport, type ProviderAdapter } from "../adapter.ts";
import { requestJson } from "../http.ts";
import { bearer, countryFromName, endpoint, interconnectFromName, issue, optionalNumber } from "./common.ts";
import { exactPrice } from "../../domain/money.ts";

/** GPU counts offered per hostnode and GPU type, as far as the node has GPUs free. */
export const TENSORDOCK_GPU_COUNTS = [1, 2, 4, 8] as const;

/** What one offer rents beside its GPUs. 100 GB is TensorDock's minimum disk for a v2 instance. */
export interface TensorDockBundle { vcpusPerGpu: number; ramGbPerGpu: number; storageGb: number }
export const TENSORDOCK_DEFAULT_BUNDLE: TensorDockBundle = { vcpusPerGpu: 4, ramGbPerGpu: 16, storageGb: 100 };

const answerSchema = z.object({ data: z.object({ hostnodes: z.array(z.unknown()) }) });
const unitPrice = z.number().nonnegative();
const hostnodeSchema = z.object({
  id: z.string().min(1),
  available_resources: z.object({
    gpus: z.array(z.unknown()),
    vcpu_count: optionalNumber,
    ram_gb: optionalNumber,
    storage_gb: optionalNumber,
    max_vcpus_per_gpu: optionalNumber,
    max_ram_per_gpu: optionalNumber,
  }),
  pricing: z.object({ per_vcpu_hr: unitPrice, per_gb_ram_hr: unitPrice, per_gb_storage_hr: unitPrice }),
  location: z.object({
    city: z.string().nullish().catch(null),
    stateprovince: z.string().nullish().catch(null),
    country: z.string().nullish().catch(null),
    network_speed_gbps: optionalNumber,
  }),
});
const gpuSchema = z.object({ v0Name: z.string().min(1), availableCount: z.number().int().nonnegative(), price_per_hr: z.unknown() });

// "geforcertx4090-pcie-24gb" → "geforce rtx4090-pcie-24gb", which the GPU normaliser reads as RTX-4090.
const readableGpuName = (v0Name: string) => v0Name.replace(/^geforce(?=[a-z])/i, "geforce ");
const fits = (needed: number, available: number | null | undefined) => available == null || needed <= available;

export function createTensorDockAdapter(config: AdapterConfig, bundle: TensorDockBundle = TENSORDOCK_DEFAULT_BUNDLE): ProviderAdapter {
  return {
    slug: "tensordock",
    async fetchOffers(opts = {}): Promise<FetchReport> {
      const url = endpoint(config.baseUrl, "/hostnodes");
      if (!config.apiKey) throw new Error("tensordock: no API token configured (the v2 API answers 401 without one)");
      const { data, attempts } = await requestJson(url, { method: "GET", signal: opts.signal, headers: bearer(config.apiKey) }, config);
      const answer = answerSchema.safeParse(data);
      if (!answer.success) throw new Error(`tensordock: unexpected answer from ${url} (${issue(answer.error)})`);

      const skips = skipCollector();
      const offers: CatalogOffer[] = [];
      const seen = new Set<string>();
      for (const [index, raw] of answer.data.data.hostnodes.entries()) {
        const parsed = hostnodeSchema.safeParse(raw);
        if (!parsed.success) { skips.skip(`hostnodes[${index}]: ${issue(parsed.error)}`); continue; }
        const { id, available_resources: free, pricing, location } = parsed.data;
        if (seen.has(id)) { skips.skip(`${id}: listed twice`); continue; }
        seen.add(id);
        const place = [location.city, location.stateprovince, location.country].map((p) => p?.trim()).filter(Boolean).join(", ");
        for (const rawGpu of free.gpus) {
          const gpu = gpuSchema.safeParse(rawGpu);
          if (!gpu.success) { skips.skip(`${id} gpu: ${issue(gpu.error)}`); continue; }
          const { v0Name, availableCount, price_per_hr: perGpu } = gpu.data;
          if (typeof perGpu !== "number" || !(perGpu > 0)) {
            skips.skip(`${id} ${v0Name}: price_per_hr ${JSON.stringify(perGpu)} is not a positive number`);
            continue;
          }
          const vram = /(\d+(?:\.\d+)?)gb$/i.exec(v0Name)?.[1];
          const vramPerGpuGb = vram === undefined ? null : Number(vram);
          const match = normalizeGpuName(readableGpuName(v0Name), { vramGb: vramPerGpuGb });
          for (const gpuCount of TENSORDOCK_GPU_COUNTS) {
            const vcpus = gpuCount * bundle.vcpusPerGpu;
            const ramGb = gpuCount * bundle.ramGbPerGpu;
            if (gpuCount > availableCount || !fits(vcpus, free.vcpu_count) || !fits(ramGb, free.ram_gb) || !fits(bundle.storageGb, free.storage_gb)
              || !fits(bundle.vcpusPerGpu, free.max_vcpus_per_gpu) || !fits(bundle.ramGbPerGpu, free.max_ram_per_gpu)) continue;
            const onDemandPrice = exactPrice([[gpuCount, perGpu], [vcpus, pricing.per_vcpu_hr], [ramGb, pricing.per_gb_ram_hr], [bundle.storageGb, pricing.per_gb_storage_hr]]);
            if (onDemandPrice === null) { skips.skip(`${id} ${v0Name}: price not computable`); break; }
            offers.push({
              externalId: `${id}|${v0Name}|${gpuCount}`,
              instanceType: `${gpuCount}x ${v0Name}`,
              gpuName: v0Name,
              gpuModel: match.known ? match.name : null,
              gpuCount,
              vramPerGpuGb,
              vcpus,
              ramGb,
              storageGb: bundle.storageGb,
              region: place || "unknown",
              zone: null,
              country: countryFromName(location.country),
              onDemandPrice,
              spotPrice: null,
              currency: "USD",
              availability: "AVAILABLE",
              interconnect: interconnectFromName(v0Name),
              networkGbps: location.network_speed_gbps,
              deployment: "VM",
            });
          }
        }
      }
      return { offers, skipped: skips.count, skipReasons: skips.reasons, requests: attempts };
    },
  };
}
