// Shadeform: `GET {baseUrl}/instances/types` with the `X-API-KEY` header, answering `{ instance_types:
// [{ cloud, shade_instance_type, cloud_instance_type, configuration: { memory_in_gb, storage_in_gb, vcpus,
// num_gpus, gpu_type, interconnect, nvlink, vram_per_gpu_in_gb, ... }, hourly_price, deployment_type,
// availability: [{ region, available, display_name }] }] }`, `hourly_price` in cents for the whole instance.
// Shapes: https://docs.shadeform.ai/api-reference/instances/instances-types. One offer per type × listed
// region, available or not. Assumed (the docs show only "vm"): deployment_type "container" and
// "baremetal"/"bare_metal" name the other deployments; anything else is left unknown.
import { z } from "zod";
import { countryForRegion } from "../../domain/catalog/region.ts";
import type { CatalogOffer, Deployment, Interconnect } from "../../domain/catalog/types.ts";
import { normalizeGpuName } from "../../domain/gpu/normalize.ts";
import { skipCollector, type AdapterConfig, type FetchReport, type ProviderAdapter } from "../adapter.ts";
import { requestJson } from "../http.ts";
import { endpoint, interconnectFromName, issue, optionalNumber } from "./common.ts";
import { dollarsFromCents } from "../../domain/money.ts";

const answerSchema = z.object({ instance_types: z.array(z.unknown()) });
const typeSchema = z.object({
  cloud: z.string().min(1),
  shade_instance_type: z.string().min(1),
  configuration: z.object({
    memory_in_gb: optionalNumber,
    storage_in_gb: optionalNumber,
    vcpus: optionalNumber,
    num_gpus: z.number().int().nonnegative(),
    gpu_type: z.string().min(1),
    interconnect: z.string().nullish().catch(null),
    nvlink: z.boolean().nullish().catch(null),
    vram_per_gpu_in_gb: optionalNumber,
  }),
  hourly_price: z.unknown(),
  deployment_type: z.string().nullish().catch(null),
  availability: z.array(z.object({ region: z.string().min(1), available: z.boolean(), display_name: z.string().nullish().catch(null) })),
});

const DEPLOYMENTS: Record<string, Deployment> = { vm: "VM", container: "CONTAINER", baremetal: "BARE_METAL", bare_metal: "BARE_METAL" };

function interconnectOf(interconnect: string | null | undefined, nvlink: boolean | null | undefined): Interconnect | null {
  const named = interconnectFromName(interconnect ?? "");
  return named !== "SXM" && nvlink ? "NVLINK" : named; // PCIe cards bridged with NVLink
}

export function createShadeformAdapter(config: AdapterConfig): ProviderAdapter {
  return {
    slug: "shadeform",
    async fetchOffers(opts = {}): Promise<FetchReport> {
      const url = endpoint(config.baseUrl, "/instances/types");
      if (!config.apiKey) throw new Error("shadeform: no API key configured (X-API-KEY is required)");
      const { data, attempts } = await requestJson(url, {
        method: "GET",
        signal: opts.signal,
        headers: { "x-api-key": config.apiKey },
      }, config);
      const answer = answerSchema.safeParse(data);
      if (!answer.success) throw new Error(`shadeform: unexpected answer from ${url} (${issue(answer.error)})`);

      const skips = skipCollector();
      const offers: CatalogOffer[] = [];
      const seen = new Set<string>();
      for (const [index, raw] of answer.data.instance_types.entries()) {
        const parsed = typeSchema.safeParse(raw);
        if (!parsed.success) { skips.skip(`instance_types[${index}]: ${issue(parsed.error)}`); continue; }
        const { cloud, shade_instance_type: shadeType, configuration: spec, hourly_price: cents } = parsed.data;
        const name = `${cloud}/${shadeType}`;
        if (spec.num_gpus === 0) { skips.skip(`${name}: no GPU`); continue; }
        const onDemandPrice = dollarsFromCents(cents);
        if (onDemandPrice === null) { skips.skip(`${name}: hourly_price ${JSON.stringify(cents)} is not a positive number`); continue; }
        // gpu_type ("A100") omits the form factor that `interconnect` ("sxm4") states, so both are read here.
        const match = normalizeGpuName(`${spec.gpu_type} ${spec.interconnect ?? ""}`, { vramGb: spec.vram_per_gpu_in_gb, instanceType: shadeType });
        for (const { region, available, display_name: place } of parsed.data.availability) {
          const externalId = `${cloud}|${shadeType}|${region}`;
          if (seen.has(externalId)) { skips.skip(`${externalId}: listed twice`); continue; }
          seen.add(externalId);
          offers.push({
            externalId,
            instanceType: `${cloud}_${shadeType}`,
            gpuName: spec.gpu_type,
            gpuModel: match.known ? match.name : null,
            gpuCount: spec.num_gpus,
            vramPerGpuGb: spec.vram_per_gpu_in_gb,
            vcpus: spec.vcpus,
            ramGb: spec.memory_in_gb,
            storageGb: spec.storage_in_gb,
            region,
            zone: null,
            // display_name leads with the country ("US, Wichita, KS") when the region name does not say.
            country: countryForRegion(region) ?? (place ? countryForRegion(place.split(",")[0]!.trim()) : null),
            onDemandPrice,
            spotPrice: null,
            currency: "USD",
            availability: available ? "AVAILABLE" : "UNAVAILABLE",
            interconnect: interconnectOf(spec.interconnect, spec.nvlink),
            networkGbps: null,
            deployment: DEPLOYMENTS[parsed.data.deployment_type?.toLowerCase() ?? ""] ?? null,
          });
        }
      }
      return { offers, skipped: skips.count, skipReasons: skips.reasons, requests: attempts };
    },
  };
}
