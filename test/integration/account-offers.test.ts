// What my account sees (issue 17 part 2): myAccountOffers reads each connected provider with the user's
// own key, through the ingestion adapters, against local servers speaking Lambda's and Shadeform's APIs;
// answers are cached per account for a short time and reads are rate-limited per account and provider;
// a refused, revoked or rate-limited key, or a provider that is down, is a coded entry in `accounts`,
// not a failed query; the key never appears in an answer (integrations.test.ts scans the server's log).
import { randomBytes } from "node:crypto";
import { createServer, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Database } from "../../src/infra/db.ts";
import { createSecretSealer } from "../../src/infra/secret-sealer.ts";
import { createAccountChecker } from "../../src/ingestion/account-checks.ts";
import { createAccountCatalog } from "../../src/ingestion/account-catalog.ts";
import { applyCatalog } from "../../src/ingestion/catalog-sync.ts";
import { syncGpuModels } from "../../src/ingestion/gpu-models.ts";
import { createRateLimiter } from "../../src/infra/rate-limit.ts";
import { testClient } from "../support/app.ts";
import { openTestDatabase } from "../support/db.ts";
import { send } from "../support/provider-server.ts";

const PASSWORD = "a long and lovely passphrase";
const LAMBDA_KEY = `secret_lambda_${randomBytes(12).toString("hex")}`;
const SHADE_KEY = `shade_${randomBytes(12).toString("hex")}`;

const lambdaType = (name: string, gpu: string, cents: number, gpus: number, regions: string[]) => ({
  instance_type: { name, description: `${gpus}x ${gpu}`, gpu_description: gpu, price_cents_per_hour: cents, specs: { vcpus: 8 * gpus, memory_gib: 64 * gpus, storage_gib: 512, gpus } },
  regions_with_capacity_available: regions.map((r) => ({ name: r, description: r })),
});
/** Lambda's `GET /api/v1/instance-types` (Bearer): what this account may launch (its own quota and prices). */
const LAMBDA_TYPES = {
  gpu_8x_h100_sxm5: lambdaType("gpu_8x_h100_sxm5", "H100 (80 GB SXM5)", 2392, 8, ["us-east-1"]),
  gpu_1x_h100_pcie: lambdaType("gpu_1x_h100_pcie", "H100 (80 GB PCIe)", 249, 1, ["us-west-1", "europe-central-1"]),
  gpu_1x_a10: lambdaType("gpu_1x_a10", "A10 (24 GB PCIe)", 75, 1, ["us-east-1"]),
};
const shadeType = (cloud: string, type: string, gpu: string, gpus: number, vram: number, cents: number, region: string, available: boolean) => ({
  cloud, shade_instance_type: type, cloud_instance_type: type,
  configuration: { memory_in_gb: 64, storage_in_gb: 500, vcpus: 16, num_gpus: gpus, gpu_type: gpu, interconnect: "pcie", nvlink: false, vram_per_gpu_in_gb: vram },
  hourly_price: cents, deployment_type: "vm", availability: [{ region, available, display_name: region }],
});
/** Shadeform's `GET /v1/instances/types` (X-API-KEY). */
const SHADE_TYPES = [
  shadeType("hyperstack", "H100x1", "H100", 1, 80, 190, "CANADA-1", true),
  shadeType("datacrunch", "A100_80Gx1", "A100_80G", 1, 80, 129, "helsinki-finland-1", true),
];

async function serveProvider(api: (req: { path: string; headers: Record<string, string | string[] | undefined> }, res: ServerResponse) => void) {
  const seen: string[] = [];
  const server = createServer((req, res) => { seen.push(req.url!); api({ path: req.url!, headers: req.headers }, res); });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }) };
}

describe("offers as my accounts see them", () => {
  let db: Database;
  const state = { lambda: "ok" as "ok" | "revoked" | "limited" | "down", shade: "ok" as "ok" | "down" };
  let lambda: Awaited<ReturnType<typeof serveProvider>>;
  let shade: Awaited<ReturnType<typeof serveProvider>>;
  let app: ReturnType<typeof testClient>;
  let ada: { authorization: string };
  let bob: { authorization: string };

  beforeAll(async () => {
    db = await openTestDatabase();
    await syncGpuModels(db.prisma);
    lambda = await serveProvider((req, res) => {
      if (req.path !== "/api/v1/instance-types") return send(res, 404, { error: "not found" });
      if (state.lambda === "down") return send(res, 503, { error: "maintenance" });
      if (state.lambda === "limited") return send(res, 429, { error: { code: "global/too-many-requests", message: "slow down" } }, { "retry-after": "20" });
      const key = String(req.headers.authorization ?? "").replace(/^Bearer /, "");
      if (key !== LAMBDA_KEY || state.lambda === "revoked") return send(res, 401, { error: { code: "global/invalid-api-key", message: `API key ${key} was revoked` } });
      send(res, 200, { data: LAMBDA_TYPES });
    });
    shade = await serveProvider((req, res) => {
      if (req.path !== "/v1/instances/types") return send(res, 404, { error: "not found" });
      if (state.shade === "down") { req.headers; res.destroy(); return; }
      if (req.headers["x-api-key"] !== SHADE_KEY) return send(res, 401, { error: "Unauthorized: invalid api key" });
      send(res, 200, { instance_types: SHADE_TYPES });
    });
    const env = { LAMBDA_API_URL: `${lambda.origin}/api/v1`, SHADEFORM_API_URL: `${shade.origin}/v1` };
    // The public catalog lists Lambda's 8x H100 (at its public price) but not what only the account sees.
    await applyCatalog(db.prisma, "lambda", [{ externalId: "gpu_8x_h100_sxm5|us-east-1", instanceType: "gpu_8x_h100_sxm5", gpuName: "H100 (80 GB SXM5)", gpuCount: 8, region: "us-east-1", country: "US", onDemandPrice: "23.92" }]);
    await applyCatalog(db.prisma, "shadeform", []);
    app = testClient(db, {
      integrations: {
        sealer: createSecretSealer({ keys: [{ id: "k1", key: randomBytes(32) }] }),
        accountChecker: createAccountChecker({ env }),
        accountCatalog: createAccountCatalog({ env }),
      },
    });
    const token = async (email: string) => {
      const res = await app.request(`mutation ($e: String!) { register(email: $e, password: "${PASSWORD}", name: "N") { accessToken } }`, { e: email });
      return { authorization: `Bearer ${res.data.register.accessToken}` };
    };
    ada = await token("ada-accounts@example.com");
    bob = await token("bob-accounts@example.com");
    for (const [provider, apiKey] of [["lambda", LAMBDA_KEY], ["shadeform", SHADE_KEY]]) {
      const saved = await app.request(`mutation ($p: String!, $k: String!) { saveProviderIntegration(provider: $p, apiKey: $k) { id } }`, { p: provider, k: apiKey }, ada);
      expect(saved.errors).toBeUndefined();
    }
  });
  afterAll(async () => { await lambda?.close(); await shade?.close(); await db?.close(); });

  const MINE = `query ($f: OfferFilter, $first: Int) { myAccountOffers(filter: $f, first: $first) {
    totalCount
    offers { source provider { slug } externalId instanceType gpuModel { name } gpuCount region country pricePerGpuHour onDemandPrice availability catalogOffer { externalId onDemandPrice } }
    accounts { provider { slug } ok code message status cached listed retryAfterSeconds }
  } }`;

  it("merges every account's offers, normalised as the catalog is, cheapest per GPU-hour first, marked and linked to the public listing", async () => {
    const res = await app.request(MINE, {}, ada);
    expect(res.errors).toBeUndefined();
    const mine = res.data.myAccountOffers;
    expect(mine.accounts.map((a: { provider: { slug: string }; ok: boolean; cached: boolean; listed: number }) => [a.provider.slug, a.ok, a.cached, a.listed])).toEqual([["lambda", true, false, 4], ["shadeform", true, false, 2]]);
    expect(mine.totalCount).toBe(6);
    expect(mine.offers.map((o: { pricePerGpuHour: string }) => Number(o.pricePerGpuHour))).toEqual([0.75, 1.29, 1.9, 2.49, 2.49, 2.99]);
    expect(mine.offers.every((o: { source: string }) => o.source === "MY_ACCOUNT")).toBe(true);
    const h100x8 = mine.offers.find((o: { instanceType: string }) => o.instanceType === "gpu_8x_h100_sxm5");
    expect(h100x8).toMatchObject({ provider: { slug: "lambda" }, gpuModel: { name: "H100-SXM-80GB" }, gpuCount: 8, country: "US", onDemandPrice: "23.92", catalogOffer: { externalId: "gpu_8x_h100_sxm5|us-east-1" } });
    expect(mine.offers.filter((o: { catalogOffer: unknown }) => o.catalogOffer === null)).toHaveLength(5); // only the account lists them
    expect(JSON.stringify(res)).not.toContain(LAMBDA_KEY);
  });

  it("applies the one offer filter (models, countries, prices, providers, compliance tags) and pages with first", async () => {
    const h100 = await app.request(MINE, { f: { gpuModels: ["H100"], countries: ["US"] } }, ada);
    expect(h100.data.myAccountOffers.offers.map((o: { externalId: string }) => o.externalId)).toEqual(["gpu_8x_h100_sxm5|us-east-1"]);
    const cheap = await app.request(MINE, { f: { pricePerGpu: { max: "1.50" } }, first: 1 }, ada);
    expect(cheap.data.myAccountOffers).toMatchObject({ totalCount: 2, offers: [{ pricePerGpuHour: "0.75" }] });
    const onlyShade = await app.request(MINE, { f: { providers: ["shadeform"] } }, ada);
    expect(onlyShade.data.myAccountOffers.accounts.map((a: { provider: { slug: string } }) => a.provider.slug)).toEqual(["shadeform"]);
    const soc2 = await app.request(MINE, { f: { complianceTags: { all: ["SOC2"] } } }, ada);
    expect(new Set(soc2.data.myAccountOffers.offers.map((o: { provider: { slug: string } }) => o.provider.slug))).toEqual(new Set(["lambda"]));
    const bad = await app.request(MINE, { first: 101 }, ada);
    expect(bad.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
  });

  it("reuses an account's answer for a short time instead of asking the provider again", async () => {
    const before = lambda.seen.length;
    const res = await app.request(MINE, {}, ada);
    expect(res.data.myAccountOffers.accounts.every((a: { cached: boolean }) => a.cached)).toBe(true);
    expect(lambda.seen.length).toBe(before);
  });

  it("reports a revoked key, a provider's 429 and a provider that is down per account, never failing the query or leaking the key", async () => {
    const cases: [typeof state.lambda, string, number | null][] = [["revoked", "INTEGRATION_UNAUTHORIZED", 401], ["limited", "PROVIDER_RATE_LIMITED", 429], ["down", "PROVIDER_UNAVAILABLE", 503]];
    for (const [lambdaState, code, status] of cases) {
      state.lambda = lambdaState;
      state.shade = "down";
      // saving the key again seals it anew, so the account's cached answer no longer applies
      await app.request(`mutation ($k: String!) { saveProviderIntegration(provider: "lambda", apiKey: $k) { id } }`, { k: LAMBDA_KEY }, ada);
      await app.request(`mutation ($k: String!) { saveProviderIntegration(provider: "shadeform", apiKey: $k) { id } }`, { k: SHADE_KEY }, ada);
      const res = await app.request(MINE, {}, ada);
      expect(res.errors, lambdaState).toBeUndefined();
      const [l, s] = res.data.myAccountOffers.accounts;
      expect(l, lambdaState).toMatchObject({ provider: { slug: "lambda" }, ok: false, code, status, cached: false, listed: 0 });
      expect(l.message).toMatch(/^lambda/);
      expect(s).toMatchObject({ provider: { slug: "shadeform" }, ok: false, code: "PROVIDER_UNAVAILABLE", status: null });
      expect(res.data.myAccountOffers).toMatchObject({ totalCount: 0, offers: [] });
      expect(JSON.stringify(res)).not.toContain(LAMBDA_KEY);
    }
    state.lambda = "ok";
    state.shade = "ok";
  });

  it("limits reads per account and provider: past the budget the account says RATE_LIMITED with when to retry", async () => {
    const env = { LAMBDA_API_URL: `${lambda.origin}/api/v1`, SHADEFORM_API_URL: `${shade.origin}/v1` };
    const limited = testClient(db, {
      rateLimiter: createRateLimiter({ prefix: `t-${randomBytes(4).toString("hex")}`, limits: { "integration:fetch": { points: 1, durationSeconds: 60 }, "request:ip": { points: 10_000, durationSeconds: 60 }, "auth:ip": { points: 10_000, durationSeconds: 60 } } }),
      integrations: { sealer: createSecretSealer({ keys: [{ id: "k1", key: randomBytes(32) }] }), accountChecker: createAccountChecker({ env }), accountCatalog: createAccountCatalog({ env }) },
    });
    const reg = await limited.request(`mutation { register(email: "carol-accounts@example.com", password: "${PASSWORD}", name: "C") { accessToken } }`);
    const carol = { authorization: `Bearer ${reg.data.register.accessToken}` };
    await limited.request(`mutation ($k: String!) { saveProviderIntegration(provider: "lambda", apiKey: $k) { id } }`, { k: LAMBDA_KEY }, carol);
    const first = await limited.request(MINE, {}, carol);
    expect(first.data.myAccountOffers.accounts[0]).toMatchObject({ ok: true, cached: false });
    await limited.request(`mutation ($k: String!) { saveProviderIntegration(provider: "lambda", apiKey: $k) { id } }`, { k: LAMBDA_KEY }, carol); // new sealed value: not cached
    const second = await limited.request(MINE, {}, carol);
    expect(second.errors).toBeUndefined();
    expect(second.data.myAccountOffers.accounts[0]).toMatchObject({ ok: false, code: "RATE_LIMITED", retryAfterSeconds: expect.any(Number) });
  });

  it("is the caller's own: another user sees only their accounts, a visitor and an API key without the scope are refused", async () => {
    const other = await app.request(MINE, {}, bob);
    expect(other.data.myAccountOffers).toEqual({ totalCount: 0, offers: [], accounts: [] });
    const visitor = await app.request(MINE, {});
    expect(visitor.errors?.[0]?.extensions?.code).toBe("UNAUTHENTICATED");
    const key = await app.request(`mutation { createApiKey(name: "alerts only", scopes: [CATALOG_READ]) { secret } }`, {}, ada);
    expect(key.errors).toBeUndefined();
    const scoped = await app.request(MINE, {}, { authorization: `Bearer ${key.data.createApiKey.secret}` });
    expect(scoped.errors?.[0]?.extensions?.code).toBe("FORBIDDEN");
  });
});

