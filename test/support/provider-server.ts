// Local HTTP servers that stand in for provider APIs in adapter tests: every request is recorded,
// and a fault function can answer the n-th one instead (errors, slowness, rate limits).
import { createServer, type IncomingHttpHeaders, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import type { AdapterConfig, ProviderAdapter } from "../../src/ingestion/adapter.ts";
import { ProviderHttpError } from "../../src/ingestion/http.ts";

export interface Seen { method: string; path: string; headers: IncomingHttpHeaders; body: string }
export type Api = (req: Seen, res: ServerResponse) => void;
/** Returns a fault for the n-th request (1-based), or undefined to let the provider answer. */
export type Fault = (n: number) => ((res: ServerResponse) => void) | undefined;

const servers: { close(): Promise<void> }[] = [];
afterEach(async () => { await Promise.all(servers.splice(0).map((s) => s.close())); });

export async function serve(api: Api, fault?: Fault) {
  const requests: Seen[] = [];
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (chunk: Buffer) => { body += chunk.toString(); });
    req.on("end", () => {
      const seen = { method: req.method!, path: req.url!, headers: req.headers, body };
      requests.push(seen);
      const faulty = fault?.(requests.length);
      if (faulty) faulty(res);
      else api(seen, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const handle = {
    origin,
    requests,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
  servers.push(handle);
  return handle;
}

export function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(JSON.stringify(body));
}


/** One adapter under the shared HTTP contract: retries, Retry-After, auth failures, timeouts, bad bodies, aborts. */
export interface HttpContractCase {
  slug: string;
  api: Api;
  /** Path of the API base on the local server. */
  base: string;
  create: (config: AdapterConfig) => ProviderAdapter;
  /** Offers the adapter makes of `api`'s answer. */
  offers: number;
  /** JSON API (false: a CSV catalog). */
  json: boolean;
}

/** The behaviour every adapter owes over HTTP, whatever the provider. */
export function describeHttpContract(cases: HttpContractCase[], config: (baseUrl: string, extra?: Partial<AdapterConfig>) => AdapterConfig) {
  const ADAPTERS = cases;
  describe.each(ADAPTERS)("$slug adapter over HTTP", ({ slug, api, base, create, offers, json }) => {
    it("retries a 503 and succeeds on the second request", async () => {
      const server = await serve(api, (n) => (n === 1 ? (res) => send(res, 503, { error: "upstream unavailable" }) : undefined));
      const report = await create(config(server.origin + base)).fetchOffers();
      expect(report.requests).toBe(2);
      expect(report.offers).toHaveLength(offers);
      expect(server.requests).toHaveLength(2);
    });

    it("waits as long as a 429's Retry-After says", async () => {
      const server = await serve(api, (n) => (n === 1 ? (res) => send(res, 429, { error: "rate limited" }, { "retry-after": "1" }) : undefined));
      const started = performance.now();
      const report = await create(config(server.origin + base)).fetchOffers();
      expect(performance.now() - started).toBeGreaterThanOrEqual(950);
      expect(report.requests).toBe(2);
      expect(report.offers).toHaveLength(offers);
    });

    it("fails at once on 401, without retrying and without showing the key", async () => {
      const server = await serve(api);
      const error = await create(config(server.origin + base, { apiKey: "wrong-key" })).fetchOffers().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ProviderHttpError);
      expect(error).toMatchObject({ status: 401, attempts: 1, message: expect.stringMatching(/ answered 401$/) });
      expect(String((error as Error).message)).not.toContain("wrong-key");
      expect(server.requests).toHaveLength(1);
    });

    it("gives up after the configured retries when every answer is slower than the timeout", async () => {
      const server = await serve(api, () => (res) => { setTimeout(() => send(res, 200, {}), 1500).unref(); });
      const error = await create(config(server.origin + base, { timeoutMs: 100 })).fetchOffers().catch((e: unknown) => e);
      expect(error).toMatchObject({ status: null, attempts: 3, message: expect.stringContaining("no answer within 100 ms") });
      expect(server.requests).toHaveLength(3);
    });

    it("fails clearly on an answer of the wrong shape", async () => {
      const server = await serve(api, () => (res) => send(res, 200, { message: "hello" }));
      await expect(create(config(server.origin + base)).fetchOffers())
        .rejects.toThrow(json ? `${slug}: unexpected answer from ${server.origin}` : `${slug}: ${server.origin}${base} is not a SkyPilot vms.csv`);
    });

    it("stops at once when the caller aborts", async () => {
      const server = await serve(api, () => () => { /* never answers */ });
      const controller = new AbortController();
      const pending = create(config(server.origin + base, { timeoutMs: 5000 })).fetchOffers({ signal: controller.signal });
      // Abort once the request is in flight (a fixed delay raced the request on a loaded machine).
      const inFlight = setInterval(() => { if (server.requests.length) { clearInterval(inFlight); controller.abort(new Error("poll cancelled")); } }, 5);
      await expect(pending).rejects.toThrow("poll cancelled");
      clearInterval(inFlight);
      expect(server.requests).toHaveLength(1);
    });
  });

  describe.each(ADAPTERS.filter((a) => a.json))("$slug adapter over HTTP, JSON", ({ api, base, create }) => {
    it("fails clearly on a body that is not JSON, without retrying", async () => {
      const server = await serve(api, () => (res) => { res.writeHead(200, { "content-type": "text/html" }); res.end("<html>maintenance</html>"); });
      await expect(create(config(server.origin + base)).fetchOffers()).rejects.toThrow("answered 200 with a body that is not JSON");
      expect(server.requests).toHaveLength(1);
    });
  });
}
