// TensorDock, Prime Intellect and remote SkyPilot catalogs against local servers that answer like the
// documented APIs (TensorDock v2 GET /api/v2/hostnodes, Prime Intellect GET /api/v1/availability/gpus,
// a vms.csv served as text).
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseSkypilotVms } from "../../src/domain/catalog/skypilot.ts";
import type { Database } from "../../src/infra/db.ts";
import type { AdapterConfig } from "../../src/ingestion/adapter.ts";
import { countryFromName } from "../../src/ingestion/adapters/common.ts";
import { exactPrice, exactSum } from "../../src/domain/money.ts";
import { createPrimeIntellectAdapter } from "../../src/ingestion/adapters/primeintellect.ts";
import { createSkypilotCatalogAdapter } from "../../src/ingestion/adapters/skypilot-catalog.ts";
import { createTensorDockAdapter } from "../../src/ingestion/adapters/tensordock.ts";
import { applyCatalog } from "../../src/ingestion/catalog-sync.ts";
import { syncGpuModels } from "../../src/ingestion/gpu-models.ts";
import { openTestDatabase } from "../support/db.ts";
import { describeHttpContract, serve, send, type Api, type HttpContractCase } from "../support/provider-server.ts";

const KEY = "test-key-7c21";

// ---------------------------------------------------------------- local provider servers

// TensorDock v2 (https://dashboard.tensordock.com/api/docs/instance-creation, "List Available Hostnodes").
const tdLocation = (city: string, stateprovince: string, country: string, network: number) => ({
  uuid: `loc-${city.toLowerCase()}`, city, stateprovince, country, has_network_storage: false, network_speed_gbps: network,
  network_speed_upload_gbps: network, organization: "org-uuid", organizationName: "Host Org", tier: 3,
});
const tdNode = (id: string, gpus: unknown[], free: object, pricing: unknown, location: object) => ({
  id, location_id: `loc-${id}`, engine: "Narwhal", uptime_percentage: 99.79,
  available_resources: { gpus, ...free, available_ports: [20000, 20001], has_public_ip_available: true }, pricing, location,
});
const TENSORDOCK_NODES = [
  tdNode("hn-austin", [{ v0Name: "h100-sxm5-80gb", availableCount: 8, price_per_hr: 2.2 }],
    { vcpu_count: 208, ram_gb: 990, storage_gb: 14780 }, { per_vcpu_hr: 0.0015, per_gb_ram_hr: 0.0007, per_gb_storage_hr: 0.00005 },
    tdLocation("Austin", "Texas", "United States", 10)),
  tdNode("hn-winnipeg", [
    { v0Name: "geforcertx4090-pcie-24gb", availableCount: 3, price_per_hr: 0.35 },
    { v0Name: "rtxa6000-pcie-48gb", availableCount: 0, price_per_hr: 0.4 },
    { v0Name: "l40s-pcie-48gb", availableCount: 1, price_per_hr: "0.90" },
  ], { vcpu_count: 10, ram_gb: 64, storage_gb: 500 }, { per_vcpu_hr: 0.003, per_gb_ram_hr: 0.002, per_gb_storage_hr: 0.00005 },
  tdLocation("Winnipeg", "Manitoba", "Canada", 1)),
  tdNode("hn-helsinki", [{ v0Name: "a100-pcie-80gb", availableCount: 2, price_per_hr: 1.2 }],
    { vcpu_count: 64, ram_gb: 20, storage_gb: 2000 }, { per_vcpu_hr: 0.002, per_gb_ram_hr: 0.001, per_gb_storage_hr: 0.0001 },
    tdLocation("Helsinki", "Uusimaa", "Finland", 5)),
  tdNode("hn-nopricing", [{ v0Name: "a40-pcie-48gb", availableCount: 1, price_per_hr: 0.4 }], { vcpu_count: 8 }, null,
    tdLocation("Oslo", "Oslo", "Norway", 1)),
  tdNode("hn-austin", [{ v0Name: "h100-sxm5-80gb", availableCount: 8, price_per_hr: 2.2 }],
    { vcpu_count: 208 }, { per_vcpu_hr: 0.0015, per_gb_ram_hr: 0.0007, per_gb_storage_hr: 0.00005 }, tdLocation("Austin", "Texas", "United States", 10)),
];

const tensordockApi: Api = (req, res) => {
  if (req.method !== "GET" || req.path !== "/api/v2/hostnodes") return send(res, 404, { error: "Not found" });
  if (req.headers.authorization !== `Bearer ${KEY}`) return send(res, 401, { error: "Unauthorized" });
  send(res, 200, { data: { hostnodes: TENSORDOCK_NODES } });
};

// Prime Intellect (https://docs.primeintellect.ai/api-reference/check-gpu-availability): paginated items.
const fixed = { minCount: null, defaultCount: null, maxCount: null, pricePerUnit: null, step: null, defaultIncludedInPrice: null, additionalInfo: null };
const piItem = (o: Record<string, unknown>) => ({
  socket: "PCIe", dataCenter: null, country: null, gpuMemory: 80, disk: { ...fixed, defaultCount: 100 }, vcpu: fixed, memory: fixed,
  internetSpeed: null, interconnect: null, interconnectType: null, provisioningTime: null, stockStatus: "Available", security: "secure_cloud",
  images: ["ubuntu_22_cuda_12", "cuda_12_1_pytorch_2_2"], isSpot: null, prepaidTime: null, ...o,
});
const PRIME_ITEMS = [
  piItem({ cloudId: "NVIDIA H100 PCIe", gpuType: "H100_80GB", provider: "runpod", dataCenter: "US-KS-2", country: "US", gpuCount: 1,
    disk: { minCount: 80, defaultCount: 80, maxCount: 1000, pricePerUnit: 0.00014, step: 1, defaultIncludedInPrice: false },
    vcpu: { defaultCount: 16 }, memory: { defaultCount: 251 }, stockStatus: "Low",
    prices: { onDemand: 2.69, communityPrice: null, isVariable: null, currency: "USD" } }),
  piItem({ cloudId: "n3-H100x1", gpuType: "H100_80GB", provider: "hyperstack", dataCenter: "CANADA-1", country: "CA", gpuCount: 1,
    vcpu: { ...fixed, defaultCount: 28 }, memory: { ...fixed, defaultCount: 180 },
    prices: { onDemand: 1.9, communityPrice: null, isVariable: null, currency: "USD" } }),
  piItem({ cloudId: "gpu_8x_a100_80gb_sxm4", gpuType: "A100_80GB", socket: "SXM4", provider: "lambdalabs", dataCenter: "us-midwest-1",
    country: "US", gpuCount: 8, vcpu: { ...fixed, defaultCount: 240 }, memory: { ...fixed, defaultCount: 1800 }, stockStatus: "High",
    prices: { onDemand: 14.32, communityPrice: null, isVariable: false, currency: "USD" } }),
  piItem({ cloudId: "NVIDIA GeForce RTX 4090", gpuType: "RTX4090_24GB", provider: "runpod", dataCenter: "EU-RO-1", gpuCount: 2, gpuMemory: 24,
    security: "community_cloud", stockStatus: "Medium", vcpu: { defaultCount: 12 }, memory: { defaultCount: 62 },
    disk: { defaultCount: 40, pricePerUnit: 0.0001, defaultIncludedInPrice: false },
    prices: { onDemand: null, communityPrice: 0.68, isVariable: true, currency: "USD" } }),
  piItem({ cloudId: "H100-spot", gpuType: "H100_80GB", socket: "SXM5", provider: "datacrunch", dataCenter: "FIN-01", country: "FI", gpuCount: 1,
    isSpot: true, prices: { onDemand: 1.1, communityPrice: null, isVariable: null, currency: "USD" } }),
  piItem({ cloudId: "A6000x1", gpuType: "RTX_A6000_48GB", provider: "massedcompute", country: "US", gpuCount: 1, gpuMemory: 48,
    prices: { onDemand: null, communityPrice: null, isVariable: null, currency: "USD" } }),
  piItem({ cloudId: "mystery", provider: "oblivus", gpuCount: 1, prices: { onDemand: 1 } }),
  piItem({ cloudId: "L40S-x1", gpuType: "L40S_48GB", provider: "crusoecloud", dataCenter: "eu-iceland1-a", country: "IS", gpuCount: 1, gpuMemory: 48,
    stockStatus: "Unavailable", prices: { onDemand: 1.45, communityPrice: null, isVariable: false, currency: "USD" } }),
];

function primeApi(items: unknown[], { totalCount = true } = {}): Api {
  return (req, res) => {
    const url = new URL(req.path, "http://local");
    if (req.method !== "GET" || url.pathname !== "/api/v1/availability/gpus") return send(res, 404, { detail: "Not Found" });
    if (req.headers.authorization !== `Bearer ${KEY}`) return send(res, 401, { detail: "Invalid API key" });
    const page = Number(url.searchParams.get("page") ?? 1);
    const size = Number(url.searchParams.get("page_size") ?? 100);
    if (!(size >= 1 && size <= 100)) return send(res, 422, { detail: [{ loc: ["query", "page_size"], msg: "Input should be less than or equal to 100" }] });
    const slice = items.slice((page - 1) * size, page * size);
    send(res, 200, totalCount ? { items: slice, totalCount: items.length } : { items: slice });
  };
}

// A SkyPilot vms.csv (columns in Vast's order, one CPU-only row, one bad price, one duplicate row).
const VMS_CSV = [
  "InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,GpuInfo,Price,SpotPrice,Region",
  `8x-H100-SXM,H100,8,128,2015.6,"{'Name': 'H100', 'Manufacturer': 'NVIDIA', 'Count': 8, 'MemoryInfo': {'SizeInMiB': 81559}}",17.8,12.004,"Montreal, Quebec, CA"`,
  `1x-RTX4090,RTX4090,1,16,62.8,"{'Name': 'RTX4090', 'Count': 1, 'MemoryInfo': {'SizeInMiB': 24564}}",0.8123456,,"Texas, US, NA"`,
  "cpu-only,,,8,32,,0.2,,us-east-1",
  `1x-A100,A100-80GB,1,12,125,"{'Name': 'A100-80GB', 'Count': 1}",free,,"Sweden, SE, EU"`,
  `8x-H100-SXM,H100,8,128,2015.6,"{'Name': 'H100', 'Count': 8}",17.9,,"Montreal, Quebec, CA"`,
].join("\r\n") + "\r\n";

function csvApi(text: string, path = "/catalogs/v8/vast/vms.csv"): Api {
  return (req, res) => {
    if (req.method !== "GET" || req.path !== path) { res.writeHead(404, { "content-type": "text/plain" }); return res.end("404: Not Found"); }
    if (req.headers.authorization !== undefined && req.headers.authorization !== `Bearer ${KEY}`) {
      res.writeHead(401, { "content-type": "text/plain" });
      return res.end("Bad credentials");
    }
    res.writeHead(200, { "content-type": "text/plain; charset=utf-8" });
    res.end(text);
  };
}

const config = (baseUrl: string, extra: Partial<AdapterConfig> = {}): AdapterConfig =>
  ({ baseUrl, apiKey: KEY, retries: 2, backoffMs: 1, timeoutMs: 2000, ...extra });

// ---------------------------------------------------------------- shared helpers

describe("adapter helpers", () => {
  it("adds quantity × unit price exactly, keeping every digit", () => {
    expect(exactSum([[8, 1.75]])).toBe("14.00");
    expect(exactSum([[1, 2.2], [4, 0.0015], [16, 0.0007], [100, 0.00005]])).toBe("2.22220");
    expect(exactSum([[3, 0.1]])).toBe("0.3");
    expect(exactSum([[1, 1e-7]])).toBe("0.000000100000");
    expect(exactSum([])).toBe("0");
    expect(exactPrice([[1, 2.2], [4, 0.0015], [16, 0.0007], [100, 0.00005]])).toBe("2.2222");
    expect(exactPrice([[8, 2.2]])).toBe("17.6");
    expect(exactPrice([[3, 0.33333]])).toBe("1");
    for (const bad of [[-1, 1], [1, -0.5], [1, Number.NaN], [1, Number.POSITIVE_INFINITY], ["2", 1], [1, null]] as const) {
      expect(exactSum([bad])).toBeNull();
    }
  });

  it("reads English country names and codes", () => {
    expect(["United States", "Canada", "Finland", "United Kingdom", "USA", "Czech Republic", "South Korea", "US", "de", "Côte d’Ivoire"].map(countryFromName))
      .toEqual(["US", "CA", "FI", "GB", "US", "CZ", "KR", "US", "DE", "CI"]);
    expect(["", null, "Atlantis", "EU", "Europe"].map(countryFromName)).toEqual([null, null, null, null, null]);
  });
});

// ---------------------------------------------------------------- what each adapter makes of it

describe("TensorDock adapter", () => {
  it("prices 1, 2, 4 and 8 GPUs per hostnode with the bundled vCPUs, RAM and disk, exactly", async () => {
    const server = await serve(tensordockApi);
    const report = await createTensorDockAdapter(config(`${server.origin}/api/v2`)).fetchOffers();

    expect(server.requests).toHaveLength(1);
    expect(server.requests[0]).toMatchObject({ method: "GET", path: "/api/v2/hostnodes", body: "" });
    expect(server.requests[0]!.headers).toMatchObject({ authorization: `Bearer ${KEY}`, accept: "application/json" });

    const common = { zone: null, spotPrice: null, currency: "USD", availability: "AVAILABLE", deployment: "VM", storageGb: 100 };
    const h100 = { ...common, gpuName: "h100-sxm5-80gb", gpuModel: "H100-SXM-80GB", vramPerGpuGb: 80, region: "Austin, Texas, United States",
      country: "US", interconnect: "SXM", networkGbps: 10 };
    const rtx = { ...common, gpuName: "geforcertx4090-pcie-24gb", gpuModel: "RTX-4090", vramPerGpuGb: 24, region: "Winnipeg, Manitoba, Canada",
      country: "CA", interconnect: "PCIE", networkGbps: 1 };
    expect(report.offers).toEqual([
      { ...h100, externalId: "hn-austin|h100-sxm5-80gb|1", instanceType: "1x h100-sxm5-80gb", gpuCount: 1, vcpus: 4, ramGb: 16, onDemandPrice: "2.2222" },
      { ...h100, externalId: "hn-austin|h100-sxm5-80gb|2", instanceType: "2x h100-sxm5-80gb", gpuCount: 2, vcpus: 8, ramGb: 32, onDemandPrice: "4.4394" },
      { ...h100, externalId: "hn-austin|h100-sxm5-80gb|4", instanceType: "4x h100-sxm5-80gb", gpuCount: 4, vcpus: 16, ramGb: 64, onDemandPrice: "8.8738" },
      { ...h100, externalId: "hn-austin|h100-sxm5-80gb|8", instanceType: "8x h100-sxm5-80gb", gpuCount: 8, vcpus: 32, ramGb: 128, onDemandPrice: "17.7426" },
      { ...rtx, externalId: "hn-winnipeg|geforcertx4090-pcie-24gb|1", instanceType: "1x geforcertx4090-pcie-24gb", gpuCount: 1, vcpus: 4, ramGb: 16,
        onDemandPrice: "0.399" },
      { ...rtx, externalId: "hn-winnipeg|geforcertx4090-pcie-24gb|2", instanceType: "2x geforcertx4090-pcie-24gb", gpuCount: 2, vcpus: 8, ramGb: 32,
        onDemandPrice: "0.793" },
      { ...common, externalId: "hn-helsinki|a100-pcie-80gb|1", instanceType: "1x a100-pcie-80gb", gpuName: "a100-pcie-80gb", gpuModel: "A100-PCIE-80GB",
        gpuCount: 1, vramPerGpuGb: 80, vcpus: 4, ramGb: 16, region: "Helsinki, Uusimaa, Finland", country: "FI", onDemandPrice: "1.234",
        interconnect: "PCIE", networkGbps: 5 },
    ]);
    expect(report).toMatchObject({ skipped: 3, requests: 1 });
    expect(report.skipReasons).toEqual([
      'hn-winnipeg l40s-pcie-48gb: price_per_hr "0.90" is not a positive number',
      "hostnodes[3]: pricing: Invalid input: expected object, received null",
      "hn-austin: listed twice",
    ]);
  });

  it("lets the bundle be configured, and needs a token before sending anything", async () => {
    const server = await serve(tensordockApi);
    const bare = await createTensorDockAdapter(config(`${server.origin}/api/v2`), { vcpusPerGpu: 0, ramGbPerGpu: 0, storageGb: 0 }).fetchOffers();
    expect(bare.offers.filter((o) => o.externalId.startsWith("hn-austin")).map((o) => o.onDemandPrice)).toEqual(["2.2", "4.4", "8.8", "17.6"]);
    expect(bare.offers.find((o) => o.externalId === "hn-helsinki|a100-pcie-80gb|2")?.onDemandPrice).toBe("2.4");

    await expect(createTensorDockAdapter(config(`${server.origin}/api/v2`, { apiKey: null })).fetchOffers()).rejects.toThrow("tensordock: no API token configured");
    expect(server.requests).toHaveLength(1);
  });
});

describe("Prime Intellect adapter", () => {
  it("pages through /availability/gpus and prices each default configuration exactly", async () => {
    const server = await serve(primeApi(PRIME_ITEMS));
    const report = await createPrimeIntellectAdapter(config(`${server.origin}/api/v1`), { pageSize: 3 }).fetchOffers();

    expect(server.requests.map((r) => [r.method, r.path, r.headers.authorization])).toEqual([1, 2, 3].map((page) =>
      ["GET", `/api/v1/availability/gpus?page=${page}&page_size=3`, `Bearer ${KEY}`]));

    const common = { zone: null, spotPrice: null, currency: "USD", networkGbps: null, deployment: null };
    expect(report.offers).toEqual([
      { ...common, externalId: "runpod|NVIDIA H100 PCIe|1|US-KS-2|secure_cloud", instanceType: "runpod__NVIDIA H100 PCIe", gpuName: "H100_80GB",
        gpuModel: "H100-PCIE-80GB", gpuCount: 1, vramPerGpuGb: 80, vcpus: 16, ramGb: 251, storageGb: 80, region: "US-KS-2", country: "US",
        onDemandPrice: "2.7012", availability: "LIMITED", interconnect: "PCIE" },
      { ...common, externalId: "hyperstack|n3-H100x1|1|CANADA-1|secure_cloud", instanceType: "hyperstack__n3-H100x1", gpuName: "H100_80GB",
        gpuModel: "H100-PCIE-80GB", gpuCount: 1, vramPerGpuGb: 80, vcpus: 28, ramGb: 180, storageGb: 100, region: "CANADA-1", country: "CA",
        onDemandPrice: "1.9", availability: "AVAILABLE", interconnect: "PCIE" },
      { ...common, externalId: "lambdalabs|gpu_8x_a100_80gb_sxm4|8|us-midwest-1|secure_cloud", instanceType: "lambdalabs__gpu_8x_a100_80gb_sxm4",
        gpuName: "A100_80GB", gpuModel: "A100-SXM-80GB", gpuCount: 8, vramPerGpuGb: 80, vcpus: 240, ramGb: 1800, storageGb: 100,
        region: "us-midwest-1", country: "US", onDemandPrice: "14.32", availability: "AVAILABLE", interconnect: "SXM" },
      { ...common, externalId: "runpod|NVIDIA GeForce RTX 4090|2|EU-RO-1|community_cloud", instanceType: "runpod__NVIDIA GeForce RTX 4090",
        gpuName: "RTX4090_24GB", gpuModel: "RTX-4090", gpuCount: 2, vramPerGpuGb: 24, vcpus: 12, ramGb: 62, storageGb: 40, region: "EU-RO-1",
        country: "RO", onDemandPrice: "0.684", availability: "AVAILABLE", interconnect: "PCIE" },
      { ...common, externalId: "crusoecloud|L40S-x1|1|eu-iceland1-a|secure_cloud", instanceType: "crusoecloud__L40S-x1", gpuName: "L40S_48GB",
        gpuModel: "L40S", gpuCount: 1, vramPerGpuGb: 48, vcpus: null, ramGb: null, storageGb: 100, region: "eu-iceland1-a", country: "IS",
        onDemandPrice: "1.45", availability: "UNAVAILABLE", interconnect: "PCIE" },
    ]);
    expect(report).toMatchObject({ skipped: 2, requests: 3 });
    expect(report.skipReasons).toEqual([
      "massedcompute/A6000x1: prices.onDemand null is not a positive number",
      "page 3 item 0: gpuType: Invalid input: expected string, received undefined",
    ]);
  });

  it("stops on a short page without totalCount, and refuses a partial catalog past the page cap", async () => {
    const untotalled = await serve(primeApi(PRIME_ITEMS, { totalCount: false }));
    const report = await createPrimeIntellectAdapter(config(`${untotalled.origin}/api/v1`), { pageSize: 5 }).fetchOffers();
    expect(untotalled.requests.map((r) => r.path)).toEqual(["/api/v1/availability/gpus?page=1&page_size=5", "/api/v1/availability/gpus?page=2&page_size=5"]);
    expect(report).toMatchObject({ requests: 2, skipped: 2 });
    expect(report.offers).toHaveLength(5);

    const server = await serve(primeApi(PRIME_ITEMS));
    await expect(createPrimeIntellectAdapter(config(`${server.origin}/api/v1`), { pageSize: 2, maxPages: 3 }).fetchOffers())
      .rejects.toThrow("primeintellect: more than 3 pages of 2 items; refusing to import a partial catalog");
  });

  it("needs an API key and sends nothing without one", async () => {
    const server = await serve(primeApi(PRIME_ITEMS));
    await expect(createPrimeIntellectAdapter(config(`${server.origin}/api/v1`, { apiKey: null })).fetchOffers())
      .rejects.toThrow("primeintellect: no API key configured");
    expect(server.requests).toHaveLength(0);
  });
});

describe("SkyPilot catalog adapter", () => {
  it("fetches a vms.csv as text and parses it by header, counting only malformed rows as skipped", async () => {
    const server = await serve(csvApi(VMS_CSV));
    const adapter = createSkypilotCatalogAdapter({ ...config(`${server.origin}/catalogs/v8/vast/vms.csv`, { apiKey: null }), slug: "vast" });
    expect(adapter.slug).toBe("vast");
    const report = await adapter.fetchOffers();

    expect(server.requests).toHaveLength(1);
    expect(server.requests[0]).toMatchObject({ method: "GET", path: "/catalogs/v8/vast/vms.csv" });
    expect(server.requests[0]!.headers.accept).toBe("text/csv, text/plain;q=0.9, */*;q=0.1");
    expect(server.requests[0]!.headers.authorization).toBeUndefined();

    const common = { zone: null, currency: "USD", interconnect: null, deployment: null };
    expect(report.offers).toEqual([
      { ...common, externalId: "8x-H100-SXM|Montreal, Quebec, CA|", instanceType: "8x-H100-SXM", gpuName: "H100", gpuModel: "H100-SXM-80GB",
        gpuCount: 8, vramPerGpuGb: 80, vcpus: 128, ramGb: 2015.6, region: "Montreal, Quebec, CA", country: "CA", onDemandPrice: "17.8",
        spotPrice: "12.004", interconnect: "SXM" },
      { ...common, externalId: "1x-RTX4090|Texas, US, NA|", instanceType: "1x-RTX4090", gpuName: "RTX4090", gpuModel: "RTX-4090",
        gpuCount: 1, vramPerGpuGb: 24, vcpus: 16, ramGb: 62.8, region: "Texas, US, NA", country: "US", onDemandPrice: "0.8123", spotPrice: null },
    ]);
    expect(report).toMatchObject({ skipped: 2, requests: 1 });
    expect(report.skipReasons).toEqual(['line 5: unparsable Price "free"', "line 6: duplicate row for 8x-H100-SXM|Montreal, Quebec, CA|"]);
  });

  it("imports a real published catalog exactly as the local parser reads it, with a Bearer key when configured", async () => {
    const text = readFileSync(new URL("../../data/skypilot-catalog/v8/lambda/vms.csv", import.meta.url), "utf8");
    const server = await serve(csvApi(text, "/catalogs/v8/lambda/vms.csv"));
    const report = await createSkypilotCatalogAdapter({ ...config(`${server.origin}/catalogs/v8/lambda/vms.csv`), slug: "lambda" }).fetchOffers();
    const local = parseSkypilotVms(text);
    expect(server.requests[0]!.headers.authorization).toBe(`Bearer ${KEY}`);
    expect(report.offers).toEqual(local.offers);
    expect(report.offers.length).toBeGreaterThan(300);
    expect(report).toMatchObject({ skipped: local.skipped.invalid, requests: 1 });
  });

  it("fails clearly when the URL answers something that is not a vms.csv", async () => {
    const html = await serve((_req, res) => { res.writeHead(200, { "content-type": "text/html" }); res.end("<html><body>Moved</body></html>"); });
    await expect(createSkypilotCatalogAdapter({ ...config(`${html.origin}/vms.csv`), slug: "aws" }).fetchOffers())
      .rejects.toThrow(`aws: ${html.origin}/vms.csv is not a SkyPilot vms.csv (missing required columns InstanceType, AcceleratorName, AcceleratorCount, Price, Region`);
    const empty = await serve((_req, res) => { res.writeHead(200, { "content-type": "text/csv" }); res.end(""); });
    await expect(createSkypilotCatalogAdapter({ ...config(`${empty.origin}/vms.csv`), slug: "aws" }).fetchOffers())
      .rejects.toThrow(`aws: ${empty.origin}/vms.csv is not a SkyPilot vms.csv (empty file: no header row)`);
    expect(html.requests).toHaveLength(1);
  });
});

// ---------------------------------------------------------------- the same HTTP behaviour for every adapter

const ADAPTERS: HttpContractCase[] = [
  { slug: "tensordock", api: tensordockApi, base: "/api/v2", create: createTensorDockAdapter, offers: 7, json: true },
  { slug: "primeintellect", api: primeApi(PRIME_ITEMS), base: "/api/v1", create: createPrimeIntellectAdapter, offers: 5, json: true },
  { slug: "vast", api: csvApi(VMS_CSV), base: "/catalogs/v8/vast/vms.csv", create: (c) => createSkypilotCatalogAdapter({ ...c, slug: "vast" }), offers: 2, json: false },
];

describeHttpContract(ADAPTERS, config);

// ---------------------------------------------------------------- into the catalog

describe("new adapters' offers in the catalog", () => {
  let db: Database;
  beforeAll(async () => {
    db = await openTestDatabase();
    await syncGpuModels(db.prisma);
  });
  afterAll(async () => { await db?.close(); });

  it("stores every adapter's offers, normalised to known GPU models, prices exact", async () => {
    for (const { slug, api, base, create, offers } of ADAPTERS.filter((a) => a.json)) {
      const server = await serve(api);
      const report = await create(config(server.origin + base)).fetchOffers();
      const summary = await applyCatalog(db.prisma, slug, report.offers);
      expect(summary, slug).toMatchObject({ inserted: offers, updated: 0, deactivated: 0 });
    }
    const stored = await db.prisma.gpuOffer.findMany({
      orderBy: [{ provider: { slug: "asc" } }, { externalId: "asc" }],
      select: { externalId: true, onDemandPrice: true, country: true, gpuModel: { select: { name: true } }, provider: { select: { slug: true } } },
    });
    expect(stored.map((o) => [o.provider.slug, o.externalId, o.gpuModel?.name ?? null, o.country, o.onDemandPrice.toFixed(4)])).toEqual([
      ["primeintellect", "crusoecloud|L40S-x1|1|eu-iceland1-a|secure_cloud", "L40S", "IS", "1.4500"],
      ["primeintellect", "hyperstack|n3-H100x1|1|CANADA-1|secure_cloud", "H100-PCIE-80GB", "CA", "1.9000"],
      ["primeintellect", "lambdalabs|gpu_8x_a100_80gb_sxm4|8|us-midwest-1|secure_cloud", "A100-SXM-80GB", "US", "14.3200"],
      ["primeintellect", "runpod|NVIDIA GeForce RTX 4090|2|EU-RO-1|community_cloud", "RTX-4090", "RO", "0.6840"],
      ["primeintellect", "runpod|NVIDIA H100 PCIe|1|US-KS-2|secure_cloud", "H100-PCIE-80GB", "US", "2.7012"],
      ["tensordock", "hn-austin|h100-sxm5-80gb|1", "H100-SXM-80GB", "US", "2.2222"],
      ["tensordock", "hn-austin|h100-sxm5-80gb|2", "H100-SXM-80GB", "US", "4.4394"],
      ["tensordock", "hn-austin|h100-sxm5-80gb|4", "H100-SXM-80GB", "US", "8.8738"],
      ["tensordock", "hn-austin|h100-sxm5-80gb|8", "H100-SXM-80GB", "US", "17.7426"],
      ["tensordock", "hn-helsinki|a100-pcie-80gb|1", "A100-PCIE-80GB", "FI", "1.2340"],
      ["tensordock", "hn-winnipeg|geforcertx4090-pcie-24gb|1", "RTX-4090", "CA", "0.3990"],
      ["tensordock", "hn-winnipeg|geforcertx4090-pcie-24gb|2", "RTX-4090", "CA", "0.7930"],
    ]);
  });
});
