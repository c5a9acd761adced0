// Prime Intellect: `GET {baseUrl}/availability/gpus?page=N&page_size=100` with the API key as a Bearer
// token (permission "Availability → Read"), answering `{ items: [{ cloudId, gpuType, socket, provider,
// dataCenter, country, gpuCount, gpuMemory, disk | vcpu | memory: { defaultCount, pricePerUnit,
// defaultIncludedInPrice, ... }, internetSpeed, stockStatus, security, prices: { onDemand, communityPrice,
// isVariable, currency }, isSpot, ... }], totalCount }`.
// Shapes: https://docs.primeintellect.ai/api-reference/check-gpu-availability and the OpenAPI operation
// https://docs.primeintellect.ai/api-reference/availability/get-gpu-availability (the older
// `GET /api/v1/availability/`, a map of GPU type → offers, is listed there as legacy); the official CLI
// (PrimeIntellect-ai/prime, prime_cli/api/availability.py) pages the same way.
// One offer per item. Assumptions: `prices.onDemand` (else `communityPrice`) is the whole configuration's
// price per hour (multi-GPU items price all `gpuCount` GPUs, as in SkyPilot's Prime catalog); a resource
// with `defaultIncludedInPrice: false` adds defaultCount × pricePerUnit, so the price is that of the
// default configuration; `gpuMemory` is GB per GPU; spot items (`isSpot: true`) are left out, as their
// price is no on-demand price; `internetSpeed` has no documented unit and is not used.
import { z } from "zod";
import { countryForRegion } from "../../domain/catalog/region.ts";
import type { Availability, CatalogOffer } from "../../domain/catalog/types.ts";
import { normalizeGpuName } from "../../domain/gpu/normalize.ts";
import { skipCollector, type AdapterConfig, type FetchReport, type ProviderAdapter } from "../adapter.ts";
import { requestJson } from "../http.ts";
import { bearer, endpoint, interconnectFromName, issue, optionalNumber } from "./common.ts";
import { exactPrice } from "../../domain/money.ts";

export interface PrimeIntellectPaging {
  /** Items per request (the API's maximum is 100). Default 100. */
  pageSize?: number;
  /** Requests per run before giving up. Default 50. */
  maxPages?: number;
}

const pageSchema = z.object({ items: z.array(z.unknown()), totalCount: z.number().int().nonnegative().nullish().catch(null) });
const resourceSchema = z.object({
  defaultCount: optionalNumber,
  pricePerUnit: optionalNumber,
  defaultIncludedInPrice: z.boolean().nullish().catch(null),
}).nullish().catch(null);
const itemSchema = z.object({
  cloudId: z.string().min(1),
  gpuType: z.string().min(1),
  socket: z.string().nullish().catch(null),
  provider: z.string().min(1),
  dataCenter: z.string().nullish().catch(null),
  country: z.string().nullish().catch(null),
  gpuCount: z.number().int().positive(),
  gpuMemory: optionalNumber,
  disk: resourceSchema,
  vcpu: resourceSchema,
  memory: resourceSchema,
  stockStatus: z.string().nullish().catch(null),
  security: z.string().nullish().catch(null),
  prices: z.object({ onDemand: z.unknown(), communityPrice: z.unknown(), currency: z.string().nullish().catch(null) }),
  isSpot: z.boolean().nullish().catch(null),
});
type Item = z.infer<typeof itemSchema>;

const STOCK: Record<string, Availability> = {
  available: "AVAILABLE", high: "AVAILABLE", medium: "AVAILABLE", low: "LIMITED", unavailable: "UNAVAILABLE", "out of stock": "UNAVAILABLE",
};

/** The default configuration's price per hour, exact; null unless the base price is a number > 0. */
function defaultConfigurationPrice(item: Item): string | null {
  const base = item.prices.onDemand ?? item.prices.communityPrice;
  if (typeof base !== "number" || !(base > 0)) return null;
  const extras = [item.disk, item.vcpu, item.memory]
    .filter((r) => r?.defaultIncludedInPrice === false && r.defaultCount != null && r.pricePerUnit != null)
    .map((r) => [r!.defaultCount, r!.pricePerUnit] as const);
  return exactPrice([[1, base], ...extras]);
}

function toOffer(item: Item, onDemandPrice: string): CatalogOffer {
  const security = item.security ?? "secure_cloud";
  const match = normalizeGpuName(`${item.gpuType} ${item.socket ?? ""}`, { vramGb: item.gpuMemory, instanceType: item.cloudId });
  const region = item.dataCenter?.trim() || item.country?.trim() || "unknown";
  return {
    externalId: `${item.provider}|${item.cloudId}|${item.gpuCount}|${item.dataCenter ?? ""}|${security}`,
    instanceType: `${item.provider}__${item.cloudId}`,
    gpuName: item.gpuType,
    gpuModel: match.known ? match.name : null,
    gpuCount: item.gpuCount,
    vramPerGpuGb: item.gpuMemory,
    vcpus: item.vcpu?.defaultCount == null ? null : Math.round(item.vcpu.defaultCount),
    ramGb: item.memory?.defaultCount ?? null,
    storageGb: item.disk?.defaultCount ?? null,
    region,
    zone: null,
    // `country` is an ISO code ("US"); the data centre ("US-KS-2", "CANADA-1") says it when it is missing.
    country: countryForRegion(item.country ?? "") ?? countryForRegion(item.dataCenter ?? ""),
    onDemandPrice,
    spotPrice: null,
    currency: item.prices.currency?.toUpperCase() || "USD",
    availability: STOCK[item.stockStatus?.trim().toLowerCase() ?? ""] ?? "UNKNOWN",
    interconnect: interconnectFromName(`${item.socket ?? ""} ${item.cloudId}`),
    networkGbps: null,
    deployment: null,
  };
}

export function createPrimeIntellectAdapter(config: AdapterConfig, paging: PrimeIntellectPaging = {}): ProviderAdapter {
  const { pageSize = 100, maxPages = 50 } = paging;
  return {
    slug: "primeintellect",
    async fetchOffers(opts = {}): Promise<FetchReport> {
      const base = endpoint(config.baseUrl, "/availability/gpus");
      if (!config.apiKey) throw new Error("primeintellect: no API key configured (the availability API needs a Bearer key)");
      const skips = skipCollector();
      const offers: CatalogOffer[] = [];
      const seen = new Set<string>();
      let requests = 0;
      let received = 0;
      for (let page = 1; ; page++) {
        if (page > maxPages) throw new Error(`primeintellect: more than ${maxPages} pages of ${pageSize} items; refusing to import a partial catalog`);
        const url = `${base}?page=${page}&page_size=${pageSize}`;
        const { data, attempts } = await requestJson(url, { method: "GET", signal: opts.signal, headers: bearer(config.apiKey) }, config);
        requests += attempts;
        const answer = pageSchema.safeParse(data);
        if (!answer.success) throw new Error(`primeintellect: unexpected answer from ${url} (${issue(answer.error)})`);
        const { items, totalCount } = answer.data;
        received += items.length;
        for (const [index, raw] of items.entries()) {
          const parsed = itemSchema.safeParse(raw);
          if (!parsed.success) { skips.skip(`page ${page} item ${index}: ${issue(parsed.error)}`); continue; }
          const item = parsed.data;
          if (item.isSpot === true) continue;
          const onDemandPrice = defaultConfigurationPrice(item);
          if (onDemandPrice === null) {
            skips.skip(`${item.provider}/${item.cloudId}: prices.onDemand ${JSON.stringify(item.prices.onDemand ?? null)} is not a positive number`);
            continue;
          }
          const mapped = toOffer(item, onDemandPrice);
          if (seen.has(mapped.externalId)) { skips.skip(`${mapped.externalId}: listed twice`); continue; }
          seen.add(mapped.externalId);
          offers.push(mapped);
        }
        // totalCount says when to stop; without it, a short page is the last.
        if (items.length === 0 || (totalCount != null ? received >= totalCount : items.length < pageSize)) break;
      }
      return { offers, skipped: skips.count, skipReasons: skips.reasons, requests };
    },
  };
}
