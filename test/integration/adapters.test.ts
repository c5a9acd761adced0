// The four provider adapters against local servers that answer like the providers' documented APIs
// (RunPod GraphQL, Vast.ai /bundles/, Lambda /instance-types, Shadeform /instances/types).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openTestDatabase } from "../support/db.ts";
import { describeHttpContract, serve, send, type Api, type HttpContractCase } from "../support/provider-server.ts";
import type { Database } from "../../src/infra/db.ts";
import type { AdapterConfig } from "../../src/ingestion/adapter.ts";
import { createLambdaAdapter } from "../../src/ingestion/adapters/lambda.ts";
import { createRunpodAdapter } from "../../src/ingestion/adapters/runpod.ts";
import { createShadeformAdapter } from "../../src/ingestion/adapters/shadeform.ts";
import { createVastAdapter } from "../../src/ingestion/adapters/vast.ts";
import { applyCatalog } from "../../src/ingestion/catalog-sync.ts";
import { syncGpuModels } from "../../src/ingestion/gpu-models.ts";

const KEY = "test-key-3f9a";

// RunPod (https://docs.runpod.io/sdks/graphql/manage-pods): lowestPrice per alias, prices per GPU.
const RUNPOD_TYPES: Record<string, unknown>[] = [
  {
    id: "NVIDIA H100 80GB HBM3", displayName: "H100 SXM", memoryInGb: 80, secureCloud: true, communityCloud: true,
    prices: {
      "true:1": { uninterruptablePrice: 2.69, minimumBidPrice: 1.99, stockStatus: "High" },
      "true:8": { uninterruptablePrice: 2.49, minimumBidPrice: 1.75, stockStatus: "Low" },
      "false:1": { uninterruptablePrice: 2.39, minimumBidPrice: null, stockStatus: "Medium" },
    },
  },
  {
    id: "NVIDIA GeForce RTX 4090", displayName: "RTX 4090", memoryInGb: 24, secureCloud: true, communityCloud: true,
    prices: {
      "true:1": { uninterruptablePrice: null, minimumBidPrice: null, stockStatus: null },
      "false:2": { uninterruptablePrice: 0.34, minimumBidPrice: 0.2, stockStatus: null },
    },
  },
  {
    id: "NVIDIA A100 80GB PCIe", displayName: "A100 PCIe", memoryInGb: 80, secureCloud: true, communityCloud: false,
    prices: {
      "true:1": { uninterruptablePrice: 1.64, minimumBidPrice: 0.82, stockStatus: "High" },
      "true:2": { uninterruptablePrice: "1.64/hr", minimumBidPrice: 0.82, stockStatus: "High" },
      "false:1": { uninterruptablePrice: 1.19, minimumBidPrice: 0.6, stockStatus: "High" },
    },
  },
  { displayName: "Mystery", memoryInGb: 48 },
  { id: "unknown", displayName: "unknown", memoryInGb: 0, secureCloud: false, communityCloud: false },
];

const runpodApi: Api = (req, res) => {
  if (req.method !== "POST" || req.path !== "/graphql") return send(res, 404, { error: "not found" });
  if (req.headers.authorization !== `Bearer ${KEY}`) return send(res, 401, { error: "Unauthorized" });
  const { query } = JSON.parse(req.body) as { query: string };
  const aliases = [...query.matchAll(/(\w+): lowestPrice\(input: \{gpuCount: (\d+), secureCloud: (true|false)\}\)/g)];
  const gpuTypes = RUNPOD_TYPES.map(({ prices, ...type }) => ({
    ...type,
    ...Object.fromEntries(aliases.map(([, alias, count, secure]) => [alias, (prices as Record<string, unknown> | undefined)?.[`${secure}:${count}`] ?? null])),
  }));
  send(res, 200, { data: { gpuTypes } });
};

// Vast.ai (https://docs.vast.ai/api-reference/search/search-offers): offers filtered, ordered and limited by the body.
const vastOffer = (o: Record<string, unknown>): Record<string, unknown> => ({
  ask_contract_id: o.id, bundle_id: 987654321, compute_cap: 890, cpu_arch: "amd64", cpu_name: "AMD EPYC 7543 32-Core Processor",
  cuda_max_good: 12.4, direct_port_count: 100, dph_base: 0.1, driver_version: "550.54.14", external: false, gpu_arch: "nvidia",
  gpu_frac: 1, has_avx: 1, host_id: 55555, inet_up: 600.2, is_bid: false, min_bid: 0, reliability: 0.99, reliability2: 0.9971,
  rentable: true, rented: false, verification: "verified", ...o,
});
const VAST_OFFERS = [
  vastOffer({ id: 1001, machine_id: 5001, gpu_name: "RTX 4090", num_gpus: 2, gpu_ram: 24564, gpu_total_ram: 49128, cpu_cores_effective: 16,
    cpu_ram: 64302, disk_space: 256.5, dph_total: 0.8123456, min_bid: 0.45, geolocation: "Texas, US", inet_down: 823.4 }),
  vastOffer({ id: 1002, machine_id: 5002, gpu_name: "H100 SXM", num_gpus: 8, gpu_ram: 81559, cpu_cores_effective: 128,
    cpu_ram: 2064000, disk_space: 2000, dph_total: 17.8, min_bid: 12.004, geolocation: "Montreal, Quebec, CA", inet_down: 9876.5 }),
  vastOffer({ id: 1003, machine_id: 5003, gpu_name: "RTX 3090", num_gpus: 1, gpu_ram: 24576, dph_total: null, geolocation: "Poland, PL" }),
  vastOffer({ id: 1004, machine_id: 5004, gpu_name: "RTX 3090", num_gpus: 0, gpu_ram: 24576, dph_total: 0.2, geolocation: "Poland, PL" }),
  vastOffer({ id: 1005, machine_id: 5005, gpu_name: "A100 SXM4", num_gpus: 1, gpu_ram: 81920, cpu_cores_effective: 12.8,
    cpu_ram: 128000, disk_space: 500, dph_total: 1.1, min_bid: 0, geolocation: "Sweden, SE, EU", inet_down: null }),
];

const vastApi: Api = (req, res) => {
  if (req.method !== "POST" || req.path !== "/api/v0/bundles/") return send(res, 404, { error: "not_found" });
  if (req.headers.authorization !== `Bearer ${KEY}`) return send(res, 401, { success: false, error: "invalid_user_key", msg: "Invalid user key" });
  const q = JSON.parse(req.body) as { limit: number; id?: { gt: number } };
  const offers = VAST_OFFERS.filter((o) => (o.id as number) > (q.id?.gt ?? -1)).slice(0, q.limit);
  send(res, 200, { offers });
};

// Lambda (https://docs-api.lambda.ai/api/cloud#listInstanceTypes): prices in cents, regions with capacity.
const lambdaType = (name: string, description: string, gpuDescription: string, cents: unknown, specs: object, regions: object[]) => ({
  instance_type: { name, description, gpu_description: gpuDescription, price_cents_per_hour: cents, specs },
  regions_with_capacity_available: regions,
});
const LAMBDA_TYPES = {
  gpu_8x_h100_sxm5: lambdaType("gpu_8x_h100_sxm5", "8x H100 (80 GB SXM5)", "H100 (80 GB SXM5)", 2490,
    { vcpus: 208, memory_gib: 1800, storage_gib: 22528, gpus: 8 },
    [{ name: "us-east-1", description: "Virginia, USA" }, { name: "us-south-2", description: "Texas, USA" }]),
  gpu_1x_a10: lambdaType("gpu_1x_a10", "1x A10 (24 GB PCIe)", "A10 (24 GB PCIe)", 75,
    { vcpus: 30, memory_gib: 200, storage_gib: 1400, gpus: 1 },
    [{ name: "europe-central-1", description: "Germany" }, { name: "europe-central-1", description: "Germany" }]),
  gpu_1x_gh200: lambdaType("gpu_1x_gh200", "1x GH200 (96 GB)", "GH200 (96 GB)", 149,
    { vcpus: 64, memory_gib: 432, storage_gib: 4096, gpus: 1 }, []),
  cpu_4x_generalx: lambdaType("cpu_4x_generalx", "4x CPU General", "", 20,
    { vcpus: 4, memory_gib: 16, storage_gib: 0, gpus: 0 }, [{ name: "us-east-1", description: "Virginia, USA" }]),
  gpu_2x_h100_sxm5: lambdaType("gpu_2x_h100_sxm5", "2x H100 (80 GB SXM5)", "H100 (80 GB SXM5)", null,
    { vcpus: 52, memory_gib: 450, storage_gib: 5632, gpus: 2 }, [{ name: "us-east-1", description: "Virginia, USA" }]),
};

const lambdaApi: Api = (req, res) => {
  if (req.method !== "GET" || req.path !== "/api/v1/instance-types") return send(res, 404, { error: { code: "global/not-found", message: "Not found" } });
  if (req.headers.authorization !== `Bearer ${KEY}`) {
    return send(res, 401, { error: { code: "global/invalid-api-key", message: "API key was invalid, expired, or deleted." } });
  }
  send(res, 200, { data: LAMBDA_TYPES });
};

// Shadeform (https://docs.shadeform.ai/api-reference/instances/instances-types): hourly_price in cents.
const shadeType = (cloud: string, shade: string, cloudType: string, configuration: object, cents: unknown, availability: object[]) => ({
  cloud, shade_instance_type: shade, cloud_instance_type: cloudType,
  configuration: { os_options: ["ubuntu22.04_cuda12.2_shade_os"], gpu_manufacturer: "nvidia", ...configuration },
  hourly_price: cents, deployment_type: "vm", availability, boot_time: { min_boot_in_sec: 180, max_boot_in_sec: 300 },
});
const SHADEFORM_TYPES = [
  shadeType("hyperstack", "A6000", "n3-RTX-A6000x1",
    { memory_in_gb: 58, storage_in_gb: 100, vcpus: 8, num_gpus: 1, gpu_type: "A6000", interconnect: "pcie", nvlink: false, vram_per_gpu_in_gb: 48 }, 50,
    [{ region: "CANADA-1", available: true, display_name: "CA, Montreal" }, { region: "NORWAY-1", available: false, display_name: "NO, Oslo" }]),
  shadeType("lambdalabs", "H100_sxm5x8", "gpu_8x_h100_sxm5",
    { memory_in_gb: 1800, storage_in_gb: 22528, vcpus: 208, num_gpus: 8, gpu_type: "H100", interconnect: "sxm5", nvlink: true, vram_per_gpu_in_gb: 80 }, 2392,
    [{ region: "us-east-1", available: true, display_name: "US, Virginia" }]),
  shadeType("massedcompute", "A6000x8", "A6000x8",
    { memory_in_gb: 384, storage_in_gb: 2048, vcpus: 62, num_gpus: 8, gpu_type: "A6000", interconnect: "pcie", nvlink: true, vram_per_gpu_in_gb: 48 }, 456,
    [{ region: "kansascity-usa-1", available: true, display_name: "US, Kansas City, MO" }]),
  shadeType("datacrunch", "A100_80Gx1", "1A100.22V",
    { memory_in_gb: 120, storage_in_gb: 500, vcpus: 22, num_gpus: 1, gpu_type: "A100_80G", interconnect: "sxm4", nvlink: true, vram_per_gpu_in_gb: 80 }, "1.29",
    [{ region: "helsinki-finland-1", available: true, display_name: "FI, Helsinki" }]),
  { cloud: "excesssupply", shade_instance_type: "L40S", hourly_price: 99, availability: [] },
  shadeType("vultr", "cpu", "vc2", { memory_in_gb: 8, storage_in_gb: 100, vcpus: 4, num_gpus: 0, gpu_type: "none", vram_per_gpu_in_gb: 0 }, 5,
    [{ region: "us-east-1", available: true, display_name: "US, New Jersey" }]),
];

const shadeformApi: Api = (req, res) => {
  if (req.method !== "GET" || req.path !== "/v1/instances/types") return send(res, 404, { error: "not found" });
  if (req.headers["x-api-key"] !== KEY) return send(res, 401, { error: "Unauthorized: invalid api key" });
  send(res, 200, { instance_types: SHADEFORM_TYPES });
};

const config = (baseUrl: string, extra: Partial<AdapterConfig> = {}): AdapterConfig =>
  ({ baseUrl, apiKey: KEY, retries: 2, backoffMs: 1, timeoutMs: 2000, ...extra });

// ---------------------------------------------------------------- what each adapter makes of it

describe("RunPod adapter", () => {
  it("asks gpuTypes with lowestPrice for 1, 2, 4 and 8 GPUs in both clouds, and prices whole pods exactly", async () => {
    const server = await serve(runpodApi);
    const report = await createRunpodAdapter(config(`${server.origin}/graphql`)).fetchOffers();

    expect(server.requests).toHaveLength(1);
    const [req] = server.requests;
    expect(req).toMatchObject({ method: "POST", path: "/graphql" });
    expect(req!.headers).toMatchObject({ authorization: `Bearer ${KEY}`, "content-type": "application/json", accept: "application/json" });
    const { query } = JSON.parse(req!.body) as { query: string };
    expect(query).toMatch(/^query GpuTypes \{ gpuTypes \{ id displayName memoryInGb secureCloud communityCloud /);
    expect([...query.matchAll(/(\w+): lowestPrice\(input: \{gpuCount: (\d), secureCloud: (\w+)\}\) \{ uninterruptablePrice minimumBidPrice stockStatus \}/g)]
      .map(([, alias, count, secure]) => `${alias}=${count}/${secure}`))
      .toEqual(["secure1=1/true", "secure2=2/true", "secure4=4/true", "secure8=8/true",
        "community1=1/false", "community2=2/false", "community4=4/false", "community8=8/false"]);

    const common = { vcpus: null, ramGb: null, storageGb: null, region: "global", zone: null, country: null, currency: "USD", networkGbps: null, deployment: "CONTAINER" };
    expect(report.offers).toEqual([
      { ...common, externalId: "NVIDIA H100 80GB HBM3|SECURE|1", instanceType: "1x_H100-SXM_SECURE", gpuName: "NVIDIA H100 80GB HBM3", gpuCount: 1,
        vramPerGpuGb: 80, onDemandPrice: "2.69", spotPrice: "1.99", availability: "AVAILABLE", interconnect: "SXM" },
      { ...common, externalId: "NVIDIA H100 80GB HBM3|SECURE|8", instanceType: "8x_H100-SXM_SECURE", gpuName: "NVIDIA H100 80GB HBM3", gpuCount: 8,
        vramPerGpuGb: 80, onDemandPrice: "19.92", spotPrice: "14.00", availability: "LIMITED", interconnect: "SXM" },
      { ...common, externalId: "NVIDIA H100 80GB HBM3|COMMUNITY|1", instanceType: "1x_H100-SXM_COMMUNITY", gpuName: "NVIDIA H100 80GB HBM3", gpuCount: 1,
        vramPerGpuGb: 80, onDemandPrice: "2.39", spotPrice: null, availability: "AVAILABLE", interconnect: "SXM" },
      { ...common, externalId: "NVIDIA GeForce RTX 4090|COMMUNITY|2", instanceType: "2x_RTX-4090_COMMUNITY", gpuName: "NVIDIA GeForce RTX 4090", gpuCount: 2,
        vramPerGpuGb: 24, onDemandPrice: "0.68", spotPrice: "0.4", availability: "UNKNOWN", interconnect: null },
      { ...common, externalId: "NVIDIA A100 80GB PCIe|SECURE|1", instanceType: "1x_A100-PCIe_SECURE", gpuName: "NVIDIA A100 80GB PCIe", gpuCount: 1,
        vramPerGpuGb: 80, onDemandPrice: "1.64", spotPrice: "0.82", availability: "AVAILABLE", interconnect: "PCIE" },
    ]);
    expect(report).toMatchObject({ skipped: 2, requests: 1 });
    expect(report.skipReasons).toEqual([
      'NVIDIA A100 80GB PCIe secure2: uninterruptablePrice "1.64/hr" is not a positive number',
      "gpu type: id: Invalid input: expected string, received undefined",
    ]);
  });

  it("fails clearly on a GraphQL error answer", async () => {
    const server = await serve((_req, res) => send(res, 200, { errors: [{ message: "Something went wrong. Please try again later." }], data: null }));
    await expect(createRunpodAdapter(config(`${server.origin}/graphql`)).fetchOffers())
      .rejects.toThrow(`runpod: GraphQL error from ${server.origin}/graphql: Something went wrong. Please try again later.`);
  });
});

describe("Vast.ai adapter", () => {
  it("pages through /bundles/ by offer id and maps offers (MB → GB, geolocation country)", async () => {
    const server = await serve(vastApi);
    const report = await createVastAdapter(config(`${server.origin}/api/v0`), { pageSize: 2 }).fetchOffers();

    expect(server.requests.map((r) => [r.method, r.path, r.headers.authorization, r.headers["content-type"]]))
      .toEqual(Array(3).fill(["POST", "/api/v0/bundles/", `Bearer ${KEY}`, "application/json"]));
    const base = { rentable: { eq: true }, verified: { eq: true }, external: { eq: false }, type: "on-demand", order: [["id", "asc"]], limit: 2 };
    expect(server.requests.map((r) => JSON.parse(r.body))).toEqual([base, { ...base, id: { gt: 1002 } }, { ...base, id: { gt: 1004 } }]);

    const common = { zone: null, currency: "USD", availability: "AVAILABLE", deployment: "CONTAINER" };
    expect(report.offers).toEqual([
      { ...common, externalId: "1001", instanceType: "2x RTX 4090", gpuName: "RTX 4090", gpuCount: 2, vramPerGpuGb: 24, vcpus: 16, ramGb: 62.8,
        storageGb: 256.5, region: "Texas, US", country: "US", onDemandPrice: "0.8123", spotPrice: "0.45", interconnect: null, networkGbps: 0.82 },
      { ...common, externalId: "1002", instanceType: "8x H100 SXM", gpuName: "H100 SXM", gpuCount: 8, vramPerGpuGb: 79.6, vcpus: 128, ramGb: 2015.6,
        storageGb: 2000, region: "Montreal, Quebec, CA", country: "CA", onDemandPrice: "17.8", spotPrice: "12.004", interconnect: "SXM", networkGbps: 9.88 },
      { ...common, externalId: "1005", instanceType: "1x A100 SXM4", gpuName: "A100 SXM4", gpuCount: 1, vramPerGpuGb: 80, vcpus: 13, ramGb: 125,
        storageGb: 500, region: "Sweden, SE, EU", country: "SE", onDemandPrice: "1.1", spotPrice: null, interconnect: "SXM", networkGbps: null },
    ]);
    expect(report).toMatchObject({ skipped: 2, requests: 3 });
    expect(report.skipReasons).toEqual([
      "offer 1003: dph_total null is not a positive number",
      "offer 1004: num_gpus: Too small: expected number to be >0",
    ]);
  });

  it("stops after one short page, and refuses a partial catalog (page cap, id filter ignored)", async () => {
    const server = await serve(vastApi);
    const one = await createVastAdapter(config(`${server.origin}/api/v0`), { pageSize: 10 }).fetchOffers();
    expect(one).toMatchObject({ requests: 1, skipped: 2 });
    expect(one.offers).toHaveLength(3);

    await expect(createVastAdapter(config(`${server.origin}/api/v0`), { pageSize: 2, maxPages: 2 }).fetchOffers())
      .rejects.toThrow("vast: more than 2 pages of 2 offers; refusing to import a partial catalog");

    const careless = await serve((_req, res) => send(res, 200, { offers: VAST_OFFERS.slice(0, 2) }));
    await expect(createVastAdapter(config(`${careless.origin}/api/v0`), { pageSize: 2 }).fetchOffers())
      .rejects.toThrow("vast: page 2 did not move past offer id 1002; the API ignored the id filter");
  });
});

describe("Lambda adapter", () => {
  it("makes one offer per instance type and region with capacity, cents to dollars exactly", async () => {
    const server = await serve(lambdaApi);
    const report = await createLambdaAdapter(config(`${server.origin}/api/v1`)).fetchOffers();

    expect(server.requests).toHaveLength(1);
    expect(server.requests[0]).toMatchObject({ method: "GET", path: "/api/v1/instance-types", body: "" });
    expect(server.requests[0]!.headers.authorization).toBe(`Bearer ${KEY}`);

    const h100 = { instanceType: "gpu_8x_h100_sxm5", gpuName: "H100 (80 GB SXM5)", gpuCount: 8, vramPerGpuGb: 80, vcpus: 208, ramGb: 1800,
      storageGb: 22528, zone: null, country: "US", onDemandPrice: "24.90", spotPrice: null, currency: "USD", availability: "AVAILABLE",
      interconnect: "SXM", networkGbps: null, deployment: "VM" };
    expect(report.offers).toEqual([
      { ...h100, externalId: "gpu_8x_h100_sxm5|us-east-1", region: "us-east-1" },
      { ...h100, externalId: "gpu_8x_h100_sxm5|us-south-2", region: "us-south-2" },
      { externalId: "gpu_1x_a10|europe-central-1", instanceType: "gpu_1x_a10", gpuName: "A10 (24 GB PCIe)", gpuCount: 1, vramPerGpuGb: 24,
        vcpus: 30, ramGb: 200, storageGb: 1400, region: "europe-central-1", zone: null, country: "DE", onDemandPrice: "0.75", spotPrice: null,
        currency: "USD", availability: "AVAILABLE", interconnect: "PCIE", networkGbps: null, deployment: "VM" },
    ]);
    expect(report).toMatchObject({ skipped: 3, requests: 1 });
    expect(report.skipReasons).toEqual([
      "gpu_1x_a10|europe-central-1: listed twice",
      "cpu_4x_generalx: no GPU",
      "gpu_2x_h100_sxm5: price_cents_per_hour null is not a positive number",
    ]);
  });

  it("needs an API key and sends nothing without one", async () => {
    const server = await serve(lambdaApi);
    await expect(createLambdaAdapter(config(`${server.origin}/api/v1`, { apiKey: null })).fetchOffers()).rejects.toThrow("lambda: no API key configured");
    expect(server.requests).toHaveLength(0);
  });
});

describe("Shadeform adapter", () => {
  it("makes one offer per instance type and listed region, available or not", async () => {
    const server = await serve(shadeformApi);
    const report = await createShadeformAdapter(config(`${server.origin}/v1`)).fetchOffers();

    expect(server.requests).toHaveLength(1);
    expect(server.requests[0]).toMatchObject({ method: "GET", path: "/v1/instances/types" });
    expect(server.requests[0]!.headers["x-api-key"]).toBe(KEY);
    expect(server.requests[0]!.headers.authorization).toBeUndefined();

    const a6000 = { instanceType: "hyperstack_A6000", gpuName: "A6000", gpuModel: "RTX-A6000", gpuCount: 1, vramPerGpuGb: 48, vcpus: 8, ramGb: 58,
      storageGb: 100, zone: null, onDemandPrice: "0.50", spotPrice: null, currency: "USD", interconnect: "PCIE", networkGbps: null, deployment: "VM" };
    expect(report.offers).toEqual([
      { ...a6000, externalId: "hyperstack|A6000|CANADA-1", region: "CANADA-1", country: "CA", availability: "AVAILABLE" },
      { ...a6000, externalId: "hyperstack|A6000|NORWAY-1", region: "NORWAY-1", country: "NO", availability: "UNAVAILABLE" },
      { externalId: "lambdalabs|H100_sxm5x8|us-east-1", instanceType: "lambdalabs_H100_sxm5x8", gpuName: "H100", gpuModel: "H100-SXM-80GB",
        gpuCount: 8, vramPerGpuGb: 80, vcpus: 208, ramGb: 1800, storageGb: 22528, region: "us-east-1", zone: null, country: "US",
        onDemandPrice: "23.92", spotPrice: null, currency: "USD", availability: "AVAILABLE", interconnect: "SXM", networkGbps: null, deployment: "VM" },
      { externalId: "massedcompute|A6000x8|kansascity-usa-1", instanceType: "massedcompute_A6000x8", gpuName: "A6000", gpuModel: "RTX-A6000",
        gpuCount: 8, vramPerGpuGb: 48, vcpus: 62, ramGb: 384, storageGb: 2048, region: "kansascity-usa-1", zone: null, country: "US",
        onDemandPrice: "4.56", spotPrice: null, currency: "USD", availability: "AVAILABLE", interconnect: "NVLINK", networkGbps: null, deployment: "VM" },
    ]);
    expect(report).toMatchObject({ skipped: 3, requests: 1 });
    expect(report.skipReasons).toEqual([
      'datacrunch/A100_80Gx1: hourly_price "1.29" is not a positive number',
      "instance_types[4]: configuration: Invalid input: expected object, received undefined",
      "vultr/cpu: no GPU",
    ]);
  });
});

// ---------------------------------------------------------------- the same HTTP behaviour for every adapter

const ADAPTERS: HttpContractCase[] = [
  { slug: "runpod", api: runpodApi, base: "/graphql", create: createRunpodAdapter, offers: 5, json: true },
  { slug: "vast", api: vastApi, base: "/api/v0", create: createVastAdapter, offers: 3, json: true },
  { slug: "lambda", api: lambdaApi, base: "/api/v1", create: createLambdaAdapter, offers: 3, json: true },
  { slug: "shadeform", api: shadeformApi, base: "/v1", create: createShadeformAdapter, offers: 4, json: true },
];

describeHttpContract(ADAPTERS, config);

// ---------------------------------------------------------------- into the catalog

describe("adapter offers in the catalog", () => {
  let db: Database;
  beforeAll(async () => {
    db = await openTestDatabase();
    await syncGpuModels(db.prisma);
  });
  afterAll(async () => { await db?.close(); });

  it("stores every adapter's offers, normalised to known GPU models, prices exact", async () => {
    for (const { slug, api, base, create, offers } of ADAPTERS) {
      const server = await serve(api);
      const report = await create(config(server.origin + base)).fetchOffers();
      const summary = await applyCatalog(db.prisma, slug, report.offers);
      expect(summary, slug).toMatchObject({ inserted: offers, updated: 0, deactivated: 0 });
    }
    const stored = await db.prisma.gpuOffer.findMany({
      orderBy: [{ provider: { slug: "asc" } }, { externalId: "asc" }],
      select: { externalId: true, onDemandPrice: true, gpuModel: { select: { name: true } }, provider: { select: { slug: true } } },
    });
    expect(stored.map((o) => [o.provider.slug, o.externalId, o.gpuModel?.name ?? null, o.onDemandPrice.toFixed(4)])).toEqual([
      ["lambda", "gpu_1x_a10|europe-central-1", "A10", "0.7500"],
      ["lambda", "gpu_8x_h100_sxm5|us-east-1", "H100-SXM-80GB", "24.9000"],
      ["lambda", "gpu_8x_h100_sxm5|us-south-2", "H100-SXM-80GB", "24.9000"],
      ["runpod", "NVIDIA A100 80GB PCIe|SECURE|1", "A100-PCIE-80GB", "1.6400"],
      ["runpod", "NVIDIA GeForce RTX 4090|COMMUNITY|2", "RTX-4090", "0.6800"],
      ["runpod", "NVIDIA H100 80GB HBM3|COMMUNITY|1", "H100-SXM-80GB", "2.3900"],
      ["runpod", "NVIDIA H100 80GB HBM3|SECURE|1", "H100-SXM-80GB", "2.6900"],
      ["runpod", "NVIDIA H100 80GB HBM3|SECURE|8", "H100-SXM-80GB", "19.9200"],
      ["shadeform", "hyperstack|A6000|CANADA-1", "RTX-A6000", "0.5000"],
      ["shadeform", "hyperstack|A6000|NORWAY-1", "RTX-A6000", "0.5000"],
      ["shadeform", "lambdalabs|H100_sxm5x8|us-east-1", "H100-SXM-80GB", "23.9200"],
      ["shadeform", "massedcompute|A6000x8|kansascity-usa-1", "RTX-A6000", "4.5600"],
      ["vast", "1001", "RTX-4090", "0.8123"],
      ["vast", "1002", "H100-SXM-80GB", "17.8000"],
      ["vast", "1005", "A100-SXM-80GB", "1.1000"],
    ]);
  });
});
