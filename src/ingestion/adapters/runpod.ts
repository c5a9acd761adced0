// RunPod: one GraphQL request for every GPU type, with `lowestPrice` asked (as aliases) for each GPU
// count in RUNPOD_GPU_COUNTS in Secure and in Community Cloud; each priced (type, cloud, count) is an offer.
// Shapes: https://docs.runpod.io/sdks/graphql/manage-pods ("List GPU types", "Check GPU type availability"):
// `lowestPrice(input: {gpuCount, secureCloud})` → `{ uninterruptablePrice, minimumBidPrice, stockStatus }`,
// prices per GPU and hour. Assumptions: `secureCloud: false` selects Community Cloud (as runpodctl's
// --community), a null `uninterruptablePrice` means "not offered at that size now" (no offer, not a
// skip), and the global lowest price has no datacenter, so region is "global". The docs pass the key
// as `?api_key=`; the key goes in `Authorization: Bearer` instead (accepted by the same endpoint,
// used by RunPod's SDKs) so it never appears in a URL or an error message.
import { z } from "zod";
import type { Availability, CatalogOffer } from "../../domain/catalog/types.ts";
import { skipCollector, type AdapterConfig, type FetchReport, type ProviderAdapter } from "../adapter.ts";
import { requestJson } from "../http.ts";
import { bearer, interconnectFromName, issue, optionalNumber } from "./common.ts";
import { exactSum, normalizeDecimal } from "../../domain/money.ts";

/** GPU counts asked of `lowestPrice`: RunPod prices pods by count, these are the sizes people rent. */
export const RUNPOD_GPU_COUNTS = [1, 2, 4, 8] as const;
const CLOUDS = [
  { cloud: "SECURE", secureCloud: true, flag: "secureCloud" },
  { cloud: "COMMUNITY", secureCloud: false, flag: "communityCloud" },
] as const;
const alias = (cloud: string, count: number) => `${cloud.toLowerCase()}${count}`;

export const RUNPOD_GPU_TYPES_QUERY = `query GpuTypes { gpuTypes { id displayName memoryInGb secureCloud communityCloud ${CLOUDS.flatMap(
  ({ cloud, secureCloud }) =>
    RUNPOD_GPU_COUNTS.map(
      (count) =>
        `${alias(cloud, count)}: lowestPrice(input: {gpuCount: ${count}, secureCloud: ${secureCloud}}) { uninterruptablePrice minimumBidPrice stockStatus }`,
    ),
).join(" ")} } }`;

const answerSchema = z.object({ data: z.object({ gpuTypes: z.array(z.unknown()) }) });
const gpuTypeSchema = z.looseObject({
  id: z.string().min(1),
  displayName: z.string().nullish().catch(null),
  memoryInGb: optionalNumber,
  secureCloud: z.boolean().nullish().catch(null),
  communityCloud: z.boolean().nullish().catch(null),
});
const lowestPriceSchema = z.object({
  uninterruptablePrice: z.unknown(),
  minimumBidPrice: z.unknown(),
  stockStatus: z.string().nullish().catch(null),
});

const STOCK: Record<string, Availability> = { HIGH: "AVAILABLE", MEDIUM: "AVAILABLE", LOW: "LIMITED" };

/** Per-GPU price × GPU count, exact; null unless the price is a number > 0. */
function wholeInstancePrice(perGpu: unknown, gpuCount: number): string | null {
  if (typeof perGpu !== "number" || !(perGpu > 0)) return null;
  const total = exactSum([[gpuCount, perGpu]]);
  return total === null ? null : normalizeDecimal(total);
}

export function createRunpodAdapter(config: AdapterConfig): ProviderAdapter {
  return {
    slug: "runpod",
    async fetchOffers(opts = {}): Promise<FetchReport> {
      const url = config.baseUrl;
      const { data, attempts } = await requestJson(url, {
        method: "POST",
        signal: opts.signal,
        headers: { "content-type": "application/json", ...bearer(config.apiKey) },
        body: JSON.stringify({ query: RUNPOD_GPU_TYPES_QUERY }),
      }, config);
      const errors = (data as { errors?: { message?: unknown }[] } | null)?.errors;
      if (Array.isArray(errors) && errors.length > 0) {
        throw new Error(`runpod: GraphQL error from ${url}: ${errors.map((e) => String(e?.message)).join("; ")}`);
      }
      const answer = answerSchema.safeParse(data);
      if (!answer.success) throw new Error(`runpod: unexpected answer from ${url} (${issue(answer.error)})`);

      const skips = skipCollector();
      const offers: CatalogOffer[] = [];
      const seen = new Set<string>();
      for (const raw of answer.data.data.gpuTypes) {
        const parsed = gpuTypeSchema.safeParse(raw);
        if (!parsed.success) { skips.skip(`gpu type: ${issue(parsed.error)}`); continue; }
        const type = parsed.data;
        if (seen.has(type.id)) { skips.skip(`${type.id}: listed twice`); continue; }
        seen.add(type.id);
        const label = type.displayName ?? type.id;
        for (const { cloud, flag } of CLOUDS) {
          if (type[flag] === false) continue;
          for (const gpuCount of RUNPOD_GPU_COUNTS) {
            const key = alias(cloud, gpuCount);
            if (type[key] == null) continue;
            const lowest = lowestPriceSchema.safeParse(type[key]);
            if (!lowest.success) { skips.skip(`${type.id} ${key}: ${issue(lowest.error)}`); continue; }
            const { uninterruptablePrice, minimumBidPrice, stockStatus } = lowest.data;
            if (uninterruptablePrice == null) continue;
            const onDemandPrice = wholeInstancePrice(uninterruptablePrice, gpuCount);
            if (onDemandPrice === null) {
              skips.skip(`${type.id} ${key}: uninterruptablePrice ${JSON.stringify(uninterruptablePrice)} is not a positive number`);
              continue;
            }
            offers.push({
              externalId: `${type.id}|${cloud}|${gpuCount}`,
              instanceType: `${gpuCount}x_${label.replace(/\s+/g, "-")}_${cloud}`,
              gpuName: type.id,
              gpuCount,
              vramPerGpuGb: type.memoryInGb,
              vcpus: null, // lowestPrice's minVcpu/minMemory are filter minimums, not the pod's allotment
              ramGb: null,
              storageGb: null,
              region: "global",
              zone: null,
              country: null,
              onDemandPrice,
              spotPrice: wholeInstancePrice(minimumBidPrice, gpuCount),
              currency: "USD",
              availability: STOCK[stockStatus?.toUpperCase() ?? ""] ?? "UNKNOWN",
              interconnect: interconnectFromName(`${type.id} ${label}`),
              networkGbps: null,
              deployment: "CONTAINER",
            });
          }
        }
      }
      return { offers, skipped: skips.count, skipReasons: skips.reasons, requests: attempts };
    },
  };
}
