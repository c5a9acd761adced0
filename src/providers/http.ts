// The HTTP client every adapter uses: timeout per attempt, retries with full-jitter exponential
// backoff on 429, 5xx and network errors, and Retry-After honoured (capped).
import type { AdapterConfig } from "./adapter.ts";

export class ProviderHttpError extends Error {
  constructor(message: string, readonly status: number | null, readonly attempts: number, readonly bodySnippet?: string) {
    super(message);
    this.name = "ProviderHttpError";
  }
}

export interface HttpResult<T> { data: T; status: number; attempts: number; latencyMs: number }

const RETRY_AFTER_CAP_MS = 60_000;
const sleep = (ms: number, signal?: AbortSignal) => new Promise<void>((resolve, reject) => {
  const timer = setTimeout(resolve, ms);
  signal?.addEventListener("abort", () => { clearTimeout(timer); reject(signal.reason); }, { once: true });
});

/** Retry-After is seconds or an HTTP date; returns ms, or null when absent or unreadable. */
export function retryAfterMs(header: string | null, now = Date.now()): number | null {
  if (!header) return null;
  const seconds = Number(header);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.min(seconds * 1000, RETRY_AFTER_CAP_MS);
  const date = Date.parse(header);
  return Number.isNaN(date) ? null : Math.min(Math.max(0, date - now), RETRY_AFTER_CAP_MS);
}

/** Requests JSON. Throws ProviderHttpError after the last attempt, or at once for 4xx other than 408/429. */
export async function requestJson<T = unknown>(
  url: string,
  init: RequestInit & { signal?: AbortSignal },
  config: Pick<AdapterConfig, "timeoutMs" | "retries" | "backoffMs" | "fetch">,
): Promise<HttpResult<T>> {
  const { timeoutMs = 15_000, retries = 3, backoffMs = 500, fetch: doFetch = fetch } = config;
  const started = Date.now();
  let lastError: ProviderHttpError | null = null;
  for (let attempt = 1; attempt <= retries + 1; attempt++) {
    let wait: number | null = null;
    try {
      const signal = init.signal ? AbortSignal.any([init.signal, AbortSignal.timeout(timeoutMs)]) : AbortSignal.timeout(timeoutMs);
      const res = await doFetch(url, { ...init, signal, headers: { accept: "application/json", ...init.headers } });
      const text = await res.text();
      if (res.ok) {
        try {
          return { data: JSON.parse(text) as T, status: res.status, attempts: attempt, latencyMs: Date.now() - started };
        } catch {
          throw new ProviderHttpError(`${url} answered ${res.status} with a body that is not JSON`, res.status, attempt, text.slice(0, 200));
        }
      }
      lastError = new ProviderHttpError(`${url} answered ${res.status}`, res.status, attempt, text.slice(0, 200));
      if (res.status !== 429 && res.status !== 408 && res.status < 500) throw lastError;
      wait = retryAfterMs(res.headers.get("retry-after"));
    } catch (err) {
      if (init.signal?.aborted) throw init.signal.reason;
      if (err instanceof ProviderHttpError && (err.status === null || err.status < 500) && err.status !== 429 && err.status !== 408) throw err;
      if (!(err instanceof ProviderHttpError)) {
        const timedOut = (err as Error).name === "TimeoutError";
        lastError = new ProviderHttpError(`${url}: ${timedOut ? `no answer within ${timeoutMs} ms` : (err as Error).message}`, null, attempt);
      }
    }
    if (attempt <= retries) await sleep(wait ?? Math.random() * backoffMs * 2 ** (attempt - 1), init.signal);
  }
  throw lastError!;
}
