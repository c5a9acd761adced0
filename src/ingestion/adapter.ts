// One interface for every provider: fetch the provider's whole current catalog as CatalogOffers.
import type { CatalogOffer } from "../domain/catalog/types.ts";

export interface FetchReport {
  offers: CatalogOffer[];
  /** Records in the provider's answer that could not be turned into an offer (kept out, never fatal). */
  skipped: number;
  /** Why, for the first few skipped records (for logs and provider health). */
  skipReasons: string[];
  /** HTTP requests made, retries included. */
  requests: number;
}

export interface ProviderAdapter {
  /** Provider slug, as in src/ingestion/registry.ts. */
  readonly slug: string;
  fetchOffers(opts?: { signal?: AbortSignal }): Promise<FetchReport>;
}

/** Where an adapter reads from and with which credentials. */
export interface AdapterConfig {
  baseUrl: string;
  /** API key or token, when the provider needs one (from env or Vault). */
  apiKey?: string | null;
  /** Per request. Default 15 s. */
  timeoutMs?: number;
  /** Retries after the first attempt on 429, 5xx and network errors. Default 3. */
  retries?: number;
  /** First backoff step; doubles per retry, with full jitter. Default 500 ms. */
  backoffMs?: number;
  fetch?: typeof fetch;
}

/** Collects skip reasons without letting one bad provider answer flood the logs. */
export function skipCollector(limit = 10) {
  const reasons: string[] = [];
  let count = 0;
  return {
    skip(reason: string) {
      count++;
      if (reasons.length < limit) reasons.push(reason);
    },
    get count() { return count; },
    reasons,
  };
}
