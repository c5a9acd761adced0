// The HTTP client every adapter uses: timeout per attempt, retries with full-jitter exponential
// backoff on 429, 5xx and network errors, and Retry-After honoured (capped); JSON or text bodies.
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

type HttpConfig = Pick<AdapterConfig, "timeoutMs" | "retries" | "backoffMs" | "fetch">;

/** Requests JSON. Throws ProviderHttpError after the last attempt, or at once for 4xx other than 408/429. */
export function requestJson<T = unknown>(url: string, init: RequestInit & { signal?: AbortSignal }, config: HttpConfig): Promise<HttpResult<T>> {
  return request(url, init, config, "application/json", (text, status, attempt) => {
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new ProviderHttpError(`${url} answered ${status} with a body that is not JSON`, status, attempt, text.slice(0, 200));
    }
  });
}

/** Requests a text body (CSV, plain text) with the same timeout, retry and error rules as requestJson. */
export function requestText(url: string, init: RequestInit & { signal?: AbortSignal }, config: HttpConfig): Promise<HttpResult<string>> {
  return request(url, init, config, "text/csv, text/plain;q=0.9, */*;q=0.1", (text) => text);
}

// The retry loop both share; `read` turns a 2xx body into data, or throws a ProviderHttpError that is not retried.
async function request<T>(
  url: string,
  init: RequestInit & { signal?: AbortSignal },
  config: HttpConfig,
  accept: string,
  read: (text: string, status: number, attempt: number) => T,
): Promise<HttpResult<T>> {
  const { timeoutMs = 15_000, retries = 3, backoffMs = 500, fetch: doFetch = fetch } = config;
  const started = Date.now();
  let lastError: ProviderHttpError | null = null;
  for (let attempt = 1; attempt <= retries + 1; attempt++) {
    let wait: number | null = null;
    try {
      const signal = init.signal ? AbortSignal.any([init.signal, AbortSignal.timeout(timeoutMs)]) : AbortSignal.timeout(timeoutMs);
      const res = await doFetch(url, { ...init, signal, headers: { accept, ...init.headers } });
      const text = await res.text();
      if (res.ok) return { data: read(text, res.status, attempt), status: res.status, attempts: attempt, latencyMs: Date.now() - started };
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
