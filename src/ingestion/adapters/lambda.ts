// Lambda: `GET {baseUrl}/instance-types` with the API key as a Bearer token, answering
// `{ data: { "<name>": { instance_type: { name, description, gpu_description, price_cents_per_hour,
// specs: { vcpus, memory_gib, storage_gib, gpus } }, regions_with_capacity_available: [{ name, description }] } } }`.
// Shapes: https://docs-api.lambda.ai/api/cloud#listInstanceTypes (spec https://cloud.lambda.ai/api/v1/openapi.json).
// One offer per instance type × region with capacity, so every offer is AVAILABLE; a type with no
// capacity anywhere yields no offer (Lambda names no region for it) and its earlier offers go inactive.
import { z } from "zod";
import { countryForRegion } from "../../domain/catalog/region.ts";
import type { CatalogOffer } from "../../domain/catalog/types.ts";
import { skipCollector, type AdapterConfig, type FetchReport, type ProviderAdapter } from "../adapter.ts";
import { requestJson } from "../http.ts";
import { bearer, endpoint, interconnectFromName, issue, optionalNumber } from "./common.ts";
import { dollarsFromCents } from "../../domain/money.ts";

const answerSchema = z.object({ data: z.record(z.string(), z.unknown()) });
const entrySchema = z.object({
  instance_type: z.object({
    name: z.string().min(1),
    description: z.string().nullish().catch(null),
    gpu_description: z.string().nullish().catch(null),
    price_cents_per_hour: z.unknown(),
    specs: z.object({ vcpus: optionalNumber, memory_gib: optionalNumber, storage_gib: optionalNumber, gpus: z.number().int().nonnegative() }),
  }),
  regions_with_capacity_available: z.array(z.object({ name: z.string().min(1), description: z.string().nullish().catch(null) })),
});

export function createLambdaAdapter(config: AdapterConfig): ProviderAdapter {
  return {
    slug: "lambda",
    async fetchOffers(opts = {}): Promise<FetchReport> {
      const url = endpoint(config.baseUrl, "/instance-types");
      if (!config.apiKey) throw new Error("lambda: no API key configured (Lambda answers 401 without one)");
      const { data, attempts } = await requestJson(url, {
        method: "GET",
        signal: opts.signal,
        headers: bearer(config.apiKey),
      }, config);
      const answer = answerSchema.safeParse(data);
      if (!answer.success) throw new Error(`lambda: unexpected answer from ${url} (${issue(answer.error)})`);

      const skips = skipCollector();
      const offers: CatalogOffer[] = [];
      const seen = new Set<string>();
      for (const [key, raw] of Object.entries(answer.data.data)) {
        const parsed = entrySchema.safeParse(raw);
        if (!parsed.success) { skips.skip(`${key}: ${issue(parsed.error)}`); continue; }
        const { instance_type: type, regions_with_capacity_available: regions } = parsed.data;
        if (type.specs.gpus === 0) { skips.skip(`${type.name}: no GPU`); continue; }
        const onDemandPrice = dollarsFromCents(type.price_cents_per_hour);
        if (onDemandPrice === null) {
          skips.skip(`${type.name}: price_cents_per_hour ${JSON.stringify(type.price_cents_per_hour)} is not a positive number`);
          continue;
        }
        // "H100 (80 GB SXM5)": the GPU spelling the normaliser reads, memory and form factor included.
        const gpuName = type.gpu_description || type.description || type.name;
        const vram = /(\d+(?:\.\d+)?)\s*GB/i.exec(gpuName)?.[1];
        for (const region of regions) {
          const externalId = `${type.name}|${region.name}`;
          if (seen.has(externalId)) { skips.skip(`${externalId}: listed twice`); continue; }
          seen.add(externalId);
          offers.push({
            externalId,
            instanceType: type.name,
            gpuName,
            gpuCount: type.specs.gpus,
            vramPerGpuGb: vram === undefined ? null : Number(vram),
            vcpus: type.specs.vcpus,
            ramGb: type.specs.memory_gib,
            storageGb: type.specs.storage_gib,
            region: region.name,
            zone: null,
            country: countryForRegion(region.name),
            onDemandPrice,
            spotPrice: null,
            currency: "USD",
            availability: "AVAILABLE",
            interconnect: interconnectFromName(`${type.name} ${gpuName}`),
            networkGbps: null,
            deployment: "VM",
          });
        }
      }
      return { offers, skipped: skips.count, skipReasons: skips.reasons, requests: attempts };
    },
  };
}
