// Each provider's auth-checking endpoint, asked with a user's own API key (provider integrations):
// one request, through the adapters' HTTP client and base URL (`${SLUG}_API_URL` overrides it), no
// retries, so a refusal or a rate limit is reported as the provider gave it. What comes back is the
// status, the latency and, when the provider refused, what it said, with the key itself scrubbed out
// (some providers echo it).
//   runpod          POST {base} GraphQL `query { myself { id } }` (Bearer)  https://docs.runpod.io/sdks/graphql/configurations
//   vast            GET  {base}/users/current/ (Bearer)                    https://docs.vast.ai/api (show user)
//   lambda          GET  {base}/instance-types (Bearer)                    the catalog endpoint: 401 without a valid key
//   shadeform       GET  {base}/instances/types (X-API-KEY)                the catalog endpoint: 401 without a valid key
//   tensordock      GET  {base}/hostnodes (Bearer)                         the catalog endpoint: 401 without a valid key
//   primeintellect  GET  {base}/availability/gpus?page=1&page_size=1 (Bearer)
import { bearer, endpoint } from "./adapters/common.ts";
import { baseUrlFor } from "./configured.ts";
import { ProviderHttpError, requestJson } from "./http.ts";

export interface AccountCheckResult {
  /** The provider accepted the key. */
  ok: boolean;
  /** The HTTP status it answered; null when it did not answer (down, timeout). */
  status: number | null;
  latencyMs: number;
  /** Why not, in the provider's words where it gave any (the key scrubbed out); null when ok. */
  error: string | null;
  /** The account the key belongs to, where the endpoint names it (RunPod, Vast.ai: the account id). */
  account: string | null;
}

interface CheckEndpoint {
  method: "GET" | "POST";
  path: string;
  headers: (apiKey: string) => Record<string, string>;
  body?: string;
  /** The account id in a 2xx answer, if the endpoint has one. */
  account?: (data: unknown) => unknown;
  /** A refusal inside a 2xx answer (GraphQL errors). */
  refusal?: (data: unknown) => string | null;
}

const graphqlErrors = (data: unknown): string | null => {
  const errors = (data as { errors?: Array<{ message?: unknown }> } | null)?.errors;
  return Array.isArray(errors) && errors.length ? errors.map((e) => String(e?.message ?? "error")).join("; ") : null;
};

const CHECKS: Record<string, CheckEndpoint> = {
  runpod: {
    method: "POST", path: "", body: JSON.stringify({ query: "query GpuBrokerAccountCheck { myself { id } }" }),
    headers: (key) => ({ "content-type": "application/json", ...bearer(key) }),
    account: (d) => (d as { data?: { myself?: { id?: unknown } } })?.data?.myself?.id,
    refusal: graphqlErrors,
  },
  vast: { method: "GET", path: "/users/current/", headers: bearer, account: (d) => (d as { id?: unknown })?.id },
  lambda: { method: "GET", path: "/instance-types", headers: bearer },
  shadeform: { method: "GET", path: "/instances/types", headers: (key) => ({ "x-api-key": key }) },
  tensordock: { method: "GET", path: "/hostnodes", headers: bearer },
  primeintellect: { method: "GET", path: "/availability/gpus?page=1&page_size=1", headers: bearer },
};

/** Providers whose accounts can be connected. */
export const ACCOUNT_PROVIDERS: readonly string[] = Object.keys(CHECKS);

export interface AccountCheckerOptions {
  env: Record<string, string | undefined>;
  /** Per check. Default 10 s. */
  timeoutMs?: number;
  fetch?: typeof fetch;
}

export interface AccountChecker {
  readonly providers: readonly string[];
  check(provider: string, apiKey: string, opts?: { signal?: AbortSignal }): Promise<AccountCheckResult>;
}

const MAX_ERROR = 300;

/** `text` without the key (and without control characters), at most MAX_ERROR characters. */
export function scrubbed(text: string, apiKey: string): string {
  let out = text;
  if (apiKey) out = out.split(apiKey).join("[key]");
  // eslint-disable-next-line no-control-regex
  out = out.replace(/[\u0000-\u001f\u007f]+/g, " ").trim();
  return out.length > MAX_ERROR ? `${out.slice(0, MAX_ERROR - 1)}…` : out;
}

export function createAccountChecker(o: AccountCheckerOptions): AccountChecker {
  return {
    providers: ACCOUNT_PROVIDERS,
    async check(provider, apiKey, opts = {}) {
      const spec = CHECKS[provider];
      const base = baseUrlFor(provider, o.env);
      if (!spec || !base) throw new Error(`no account check for provider "${provider}"`);
      const url = endpoint(base, spec.path);
      const started = Date.now();
      try {
        const { data, status } = await requestJson(url, {
          method: spec.method, signal: opts.signal, headers: spec.headers(apiKey), ...(spec.body ? { body: spec.body } : {}),
        }, { timeoutMs: o.timeoutMs ?? 10_000, retries: 0, fetch: o.fetch });
        const latencyMs = Date.now() - started;
        const refusal = spec.refusal?.(data);
        if (refusal) return { ok: false, status, latencyMs, error: scrubbed(refusal, apiKey), account: null };
        const account = spec.account?.(data);
        return { ok: true, status, latencyMs, error: null, account: account == null ? null : scrubbed(String(account), apiKey).slice(0, 100) };
      } catch (err) {
        if (opts.signal?.aborted) throw err;
        const latencyMs = Date.now() - started;
        if (err instanceof ProviderHttpError) {
          const said = err.bodySnippet ? `: ${err.bodySnippet}` : "";
          const what = err.status === null ? err.message.replace(url, provider) : `${provider} answered ${err.status}${said}`;
          return { ok: false, status: err.status, latencyMs, error: scrubbed(what, apiKey), account: null };
        }
        return { ok: false, status: null, latencyMs, error: scrubbed(`${provider}: ${(err as Error).message}`, apiKey), account: null };
      }
    },
  };
}
