// Vast.ai: `POST {baseUrl}/bundles/` with a JSON filter body, answering `{ offers: [...] }`; one offer
// per Vast offer id. Shapes: https://docs.vast.ai/api-reference/search/search-offers (vast-ai/docs
// api-reference/openapi/yaml/search_offers.yaml): `gpu_ram` and `cpu_ram` in MB (MiB, as nvidia-smi
// reports them), `disk_space` in GB, `dph_total` the whole offer's $/hour, `min_bid` its interruptible
// floor, `inet_down` in Mbit/s, `geolocation` "Place, CC" or "City, Region, CC".
// Pagination: the API has `limit` and `order` but no offset, so pages are keyed on the offer id —
// ordered by id ascending, each page asks `id > last id seen` — until a page comes back shorter than
// `limit` (and not flagged `truncated`). Past `maxPages` the run fails rather than import a partial
// catalog, which would withdraw every offer not reached.
import { z } from "zod";
import { countryForRegion } from "../../domain/catalog/region.ts";
import type { CatalogOffer } from "../../domain/catalog/types.ts";
import { skipCollector, type AdapterConfig, type FetchReport, type ProviderAdapter } from "../adapter.ts";
import { requestJson } from "../http.ts";
import { bearer, endpoint, interconnectFromName, issue, optionalNumber } from "./common.ts";
import { positiveDecimal } from "../../domain/money.ts";

export interface VastPaging {
  /** Offers per request. Default 500. */
  pageSize?: number;
  /** Requests per run before giving up. Default 50 (25,000 offers at the default page size). */
  maxPages?: number;
}

const pageSchema = z.object({ offers: z.array(z.unknown()), truncated: z.boolean().nullish().catch(null) });
const offerSchema = z.object({
  id: z.number().int().nonnegative(),
  gpu_name: z.string().min(1),
  num_gpus: z.number().int().positive(),
  gpu_ram: optionalNumber,
  cpu_cores_effective: optionalNumber,
  cpu_ram: optionalNumber,
  disk_space: optionalNumber,
  dph_total: z.unknown(),
  min_bid: z.unknown(),
  geolocation: z.string().nullish().catch(null),
  rentable: z.boolean().nullish().catch(null),
  inet_down: optionalNumber,
});

/** Searches the on-demand market for verified, rentable machines (the CLI's default query). */
export function vastSearchBody(limit: number, afterId: number | null) {
  return {
    rentable: { eq: true },
    verified: { eq: true },
    external: { eq: false },
    type: "on-demand",
    order: [["id", "asc"]],
    limit,
    ...(afterId === null ? {} : { id: { gt: afterId } }),
  };
}

// The country code comes last; answers seen in SkyPilot's Vast catalog add a continent ("Quebec, CA, NA").
const CONTINENTS = new Set(["AF", "AN", "AS", "EU", "NA", "OC", "SA"]);
function countryOfGeolocation(geolocation: string): string | null {
  const parts = geolocation.split(",").map((part) => part.trim().toUpperCase());
  const [before, last = ""] = parts.slice(-2);
  const continentLast = parts.length >= 3 && CONTINENTS.has(last) && /^[A-Z]{2}$/.test(before ?? "");
  return countryForRegion(continentLast ? before! : last);
}

const gib = (mib: number | null | undefined) => (mib == null ? null : Math.round((mib / 1024) * 10) / 10);

function toOffer(offer: z.infer<typeof offerSchema>, onDemandPrice: string): CatalogOffer {
  const geolocation = offer.geolocation?.trim() || null;
  return {
    externalId: String(offer.id),
    instanceType: `${offer.num_gpus}x ${offer.gpu_name}`,
    gpuName: offer.gpu_name,
    gpuCount: offer.num_gpus,
    vramPerGpuGb: gib(offer.gpu_ram),
    vcpus: offer.cpu_cores_effective == null ? null : Math.round(offer.cpu_cores_effective),
    ramGb: gib(offer.cpu_ram),
    storageGb: offer.disk_space,
    region: geolocation ?? "unknown",
    zone: null,
    country: geolocation ? countryOfGeolocation(geolocation) : null,
    onDemandPrice,
    spotPrice: positiveDecimal(offer.min_bid),
    currency: "USD",
    availability: offer.rentable === true ? "AVAILABLE" : offer.rentable === false ? "UNAVAILABLE" : "UNKNOWN",
    interconnect: interconnectFromName(offer.gpu_name),
    networkGbps: offer.inet_down == null ? null : Math.round(offer.inet_down / 10) / 100,
    deployment: "CONTAINER",
  };
}

export function createVastAdapter(config: AdapterConfig, paging: VastPaging = {}): ProviderAdapter {
  const { pageSize = 500, maxPages = 50 } = paging;
  return {
    slug: "vast",
    async fetchOffers(opts = {}): Promise<FetchReport> {
      const url = endpoint(config.baseUrl, "/bundles/");
      const skips = skipCollector();
      const offers: CatalogOffer[] = [];
      const seen = new Set<number>();
      let requests = 0;
      let afterId: number | null = null;
      for (let page = 1; ; page++) {
        if (page > maxPages) throw new Error(`vast: more than ${maxPages} pages of ${pageSize} offers; refusing to import a partial catalog`);
        const { data, attempts } = await requestJson(url, {
          method: "POST",
          signal: opts.signal,
          headers: { "content-type": "application/json", ...bearer(config.apiKey) },
          body: JSON.stringify(vastSearchBody(pageSize, afterId)),
        }, config);
        requests += attempts;
        const answer = pageSchema.safeParse(data);
        if (!answer.success) throw new Error(`vast: unexpected answer from ${url} (${issue(answer.error)})`);
        const { offers: records, truncated } = answer.data;
        const ids = records.map((r) => (r as { id?: unknown } | null)?.id).filter((id): id is number => Number.isInteger(id));
        const lastId = ids.length > 0 ? Math.max(...ids) : null;
        for (const raw of records) {
          const parsed = offerSchema.safeParse(raw);
          if (!parsed.success) { skips.skip(`offer ${JSON.stringify((raw as { id?: unknown } | null)?.id ?? null)}: ${issue(parsed.error)}`); continue; }
          if (seen.has(parsed.data.id)) continue;
          seen.add(parsed.data.id);
          const onDemandPrice = positiveDecimal(parsed.data.dph_total);
          if (onDemandPrice === null) {
            skips.skip(`offer ${parsed.data.id}: dph_total ${JSON.stringify(parsed.data.dph_total)} is not a positive number`);
            continue;
          }
          offers.push(toOffer(parsed.data, onDemandPrice));
        }
        if (records.length === 0 || (records.length < pageSize && truncated !== true)) break;
        if (lastId === null || (afterId !== null && lastId <= afterId)) {
          throw new Error(`vast: page ${page} did not move past offer id ${afterId}; the API ignored the id filter`);
        }
        afterId = lastId;
      }
      return { offers, skipped: skips.count, skipReasons: skips.reasons, requests };
    },
  };
}
