// A SkyPilot catalog `vms.csv` served over HTTP (e.g. https://raw.githubusercontent.com/skypilot-org/
// skypilot-catalog/master/catalogs/v8/aws/vms.csv, or any file in that format a user points it at):
// `GET {baseUrl}` as text, parsed by header with parseSkypilotVms. `slug` names the provider the rows
// belong to. Rows without a GPU (CPU-only instance types) are not offers and not counted as skipped;
// rows that are malformed are. A key, when configured, goes as a Bearer token (private mirrors).
import { parseSkypilotVms, SkypilotFormatError, type SkypilotParseOptions } from "../../domain/catalog/skypilot.ts";
import type { AdapterConfig, FetchReport, ProviderAdapter } from "../adapter.ts";
import { requestText } from "../http.ts";
import { bearer } from "./common.ts";

export interface SkypilotCatalogConfig extends AdapterConfig {
  /** The provider these rows are offers of (aws, gcp, azure, or a user's own). */
  slug: string;
  /** How GpuInfo's SizeInMiB is read; default "auto" (see parseSkypilotVms). */
  gpuMemory?: SkypilotParseOptions["gpuMemory"];
}

const SKIP_REASONS = 10;

export function createSkypilotCatalogAdapter(config: SkypilotCatalogConfig): ProviderAdapter {
  const { slug, baseUrl: url } = config;
  return {
    slug,
    async fetchOffers(opts = {}): Promise<FetchReport> {
      const { data, attempts } = await requestText(url, { method: "GET", signal: opts.signal, headers: bearer(config.apiKey) }, config);
      let parsed;
      try {
        parsed = parseSkypilotVms(data, { gpuMemory: config.gpuMemory, maxErrors: SKIP_REASONS });
      } catch (err) {
        if (err instanceof SkypilotFormatError) throw new Error(`${slug}: ${url} is not a SkyPilot vms.csv (${err.message})`, { cause: err });
        throw err;
      }
      return {
        offers: parsed.offers,
        skipped: parsed.skipped.invalid,
        skipReasons: parsed.errors.map((e) => `line ${e.line}: ${e.reason}`),
        requests: attempts,
      };
    },
  };
}
