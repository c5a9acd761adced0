// What a user's own provider account sees: the provider's catalog fetched through the same adapter
// ingestion uses, but with the user's key (one attempt: a refusal or a rate limit is reported as the
// provider gave it), normalised as applyCatalog stores offers. Failures are a coded result, never a throw:
//   INTEGRATION_UNAUTHORIZED  the provider refused the key (401 / 403, or a GraphQL "unauthorized")
//   PROVIDER_RATE_LIMITED     the provider answered 429
//   PROVIDER_UNAVAILABLE      5xx, timeout, connection refused, or an answer that is not the provider's shape
// The message is the provider's, with the key scrubbed out (src/ingestion/account-checks.ts).
import type { CatalogOffer } from "../domain/catalog/types.ts";
import { scrubbed } from "./account-checks.ts";
import { normalizeCatalogOffer, type NormalizedOffer } from "./catalog-sync.ts";
import { API_ADAPTERS, baseUrlFor } from "./configured.ts";
import { ProviderHttpError } from "./http.ts";

export type AccountFetchCode = "INTEGRATION_UNAUTHORIZED" | "PROVIDER_RATE_LIMITED" | "PROVIDER_UNAVAILABLE";

export type AccountFetchResult =
  | { ok: true; offers: NormalizedOffer[]; skipped: number; latencyMs: number }
  | { ok: false; code: AccountFetchCode; status: number | null; message: string; latencyMs: number };

export interface AccountCatalog {
  /** Providers whose catalog can be read with a user's key. */
  readonly providers: readonly string[];
  fetch(provider: string, apiKey: string, opts?: { signal?: AbortSignal }): Promise<AccountFetchResult>;
}

export interface AccountCatalogOptions {
  env: Record<string, string | undefined>;
  /** Per request. Default 15 s. */
  timeoutMs?: number;
  fetch?: typeof fetch;
}

const UNAUTHORIZED = /unauthori[sz]ed|invalid api key|invalid_api_key|forbidden/i;

export function createAccountCatalog(o: AccountCatalogOptions): AccountCatalog {
  const providers = Object.keys(API_ADAPTERS).filter((slug) => baseUrlFor(slug, o.env));
  return {
    providers,
    async fetch(provider, apiKey, opts = {}) {
      const create = API_ADAPTERS[provider];
      const baseUrl = baseUrlFor(provider, o.env);
      if (!create || !baseUrl) throw new Error(`no account catalog for provider "${provider}"`);
      const adapter = create({ baseUrl, apiKey, retries: 0, timeoutMs: o.timeoutMs ?? 15_000, ...(o.fetch ? { fetch: o.fetch } : {}) });
      const started = Date.now();
      try {
        const report = await adapter.fetchOffers({ signal: opts.signal });
        const offers: NormalizedOffer[] = [];
        let skipped = report.skipped;
        for (const offer of report.offers as CatalogOffer[]) {
          try {
            offers.push(normalizeCatalogOffer(offer));
          } catch {
            skipped++;
          }
        }
        return { ok: true, offers, skipped, latencyMs: Date.now() - started };
      } catch (err) {
        if (opts.signal?.aborted) throw err;
        const latencyMs = Date.now() - started;
        if (err instanceof ProviderHttpError) {
          const said = err.bodySnippet ? `: ${err.bodySnippet}` : "";
          const status = err.status;
          const message = scrubbed(status === null ? `${provider}: ${err.message.split(baseUrl).join("")}` : `${provider} answered ${status}${said}`, apiKey);
          const code: AccountFetchCode = status === 401 || status === 403 ? "INTEGRATION_UNAUTHORIZED" : status === 429 ? "PROVIDER_RATE_LIMITED" : "PROVIDER_UNAVAILABLE";
          return { ok: false, code, status, message, latencyMs };
        }
        // An answer the adapter could not read (RunPod's GraphQL errors arrive in a 200).
        const message = scrubbed(`${provider}: ${(err as Error).message.split(baseUrl).join("")}`, apiKey);
        return { ok: false, code: UNAUTHORIZED.test(message) ? "INTEGRATION_UNAUTHORIZED" : "PROVIDER_UNAVAILABLE", status: null, message, latencyMs };
      }
    },
  };
}
