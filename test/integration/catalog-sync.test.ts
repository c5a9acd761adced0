import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openTestDatabase } from "../support/db.ts";
import type { Database } from "../../src/infra/db.ts";
import { parseSkypilotVms } from "../../src/domain/catalog/skypilot.ts";
import type { CatalogOffer } from "../../src/domain/catalog/types.ts";
import { GPU_SPECS } from "../../src/domain/gpu/specs.ts";
import { syncGpuModels } from "../../src/ingestion/gpu-models.ts";
import { applyCatalog, CatalogSyncError } from "../../src/ingestion/catalog-sync.ts";

const SHARED = fileURLToPath(new URL("../../data/skypilot-catalog/v8/", import.meta.url));
const FILES = [
  { slug: "lambda", offers: 374 },
  { slug: "vast", offers: 67 },
  { slug: "shadeform", offers: 118 },
  { slug: "primeintellect", offers: 100 },
  { slug: "runpod", offers: 2057 },
] as const;
const catalog = Object.fromEntries(
  FILES.map((f) => [f.slug, parseSkypilotVms(readFileSync(`${SHARED}${f.slug}/vms.csv`, "utf8")).offers]),
) as Record<(typeof FILES)[number]["slug"], CatalogOffer[]>;

const at = (minute: number) => new Date(Date.UTC(2026, 10, 26, 12, minute));

describe("applyCatalog", () => {
  let db: Database;
  beforeAll(async () => {
    db = await openTestDatabase();
    await syncGpuModels(db.prisma);
  });
  afterAll(async () => { await db?.close(); });

  const offersOf = (slug: string) =>
    db.prisma.gpuOffer.findMany({ where: { provider: { slug } }, orderBy: { externalId: "asc" }, include: { gpuModel: { select: { name: true } } } });
  const stored = (slug: string, externalId: string) =>
    db.prisma.gpuOffer.findFirstOrThrow({ where: { provider: { slug }, externalId }, include: { gpuModel: { select: { name: true } } } });

  it("syncs the GPU spec table idempotently", async () => {
    const again = await syncGpuModels(db.prisma);
    expect(again.size).toBe(GPU_SPECS.length);
    expect(await db.prisma.gpuModel.count()).toBe(GPU_SPECS.length);
    const h100 = await db.prisma.gpuModel.findUniqueOrThrow({ where: { name: "H100-SXM-80GB" } });
    expect(h100).toMatchObject({ id: again.get("H100-SXM-80GB"), vendor: "NVIDIA", vramGb: 80 });
    expect(h100.fp16Tflops.toString()).toBe("989");
  });

  it("imports every shared catalog with exact counts, RunPod's 2,057 rows in well under a few seconds", async () => {
    for (const f of FILES) {
      const started = performance.now();
      const summary = await applyCatalog(db.prisma, f.slug, catalog[f.slug], { now: at(0) });
      const ms = performance.now() - started;
      if (f.slug === "runpod") {
        console.log(`runpod import on ${db.kind}: ${ms.toFixed(0)} ms`);
        expect(ms).toBeLessThan(5000);
      }
      expect(summary).toEqual({ inserted: f.offers, updated: 0, unchanged: 0, deactivated: 0, reactivated: 0, pricePoints: f.offers });
      expect(await db.prisma.gpuOffer.count({ where: { provider: { slug: f.slug }, active: true } })).toBe(f.offers);
    }
    expect(await db.prisma.pricePoint.count()).toBe(374 + 67 + 118 + 100 + 2057);
    const lambda = await db.prisma.provider.findUniqueOrThrow({ where: { slug: "lambda" } });
    expect(lambda).toMatchObject({ name: "Lambda", kind: "NEOCLOUD", apiBaseUrl: "https://cloud.lambda.ai/api/v1" });
  });

  it("a second import of the same file changes nothing", async () => {
    const points = await db.prisma.pricePoint.count();
    const summary = await applyCatalog(db.prisma, "runpod", catalog.runpod, { now: at(1) });
    expect(summary).toEqual({ inserted: 0, updated: 0, unchanged: 2057, deactivated: 0, reactivated: 0, pricePoints: 0 });
    expect(await db.prisma.pricePoint.count()).toBe(points);
    const offer = await stored("runpod", "1x_A40_SECURE|CA|CA-MTL-1");
    expect(offer.firstSeenAt).toEqual(at(0));
    expect(offer.lastSeenAt).toEqual(at(1));
  });

  it("stores exact derived prices, VRAM totals, the GPU model and the country", async () => {
    const runpod = await stored("runpod", "3x_A100-80GB_SECURE|IN|AP-IN-1");
    expect({
      onDemandPrice: runpod.onDemandPrice.toFixed(4), spotPrice: runpod.spotPrice?.toFixed(4),
      pricePerGpuHour: runpod.pricePerGpuHour.toFixed(4), spotPricePerGpuHour: runpod.spotPricePerGpuHour?.toFixed(4),
      vramPerGpuGb: runpod.vramPerGpuGb.toFixed(2), vramTotalGb: runpod.vramTotalGb.toFixed(2),
      gpuModel: runpod.gpuModel?.name, gpuName: runpod.gpuName, gpuCount: runpod.gpuCount, country: runpod.country,
      zone: runpod.zone, interconnect: runpod.interconnect, availability: runpod.availability, currency: runpod.currency,
    }).toEqual({
      onDemandPrice: "4.1700", spotPrice: "4.1700", pricePerGpuHour: "1.3900", spotPricePerGpuHour: "1.3900",
      vramPerGpuGb: "80.00", vramTotalGb: "240.00", gpuModel: "A100-PCIE-80GB", gpuName: "A100-80GB", gpuCount: 3,
      country: "IN", zone: "AP-IN-1", interconnect: "PCIE", availability: "UNKNOWN", currency: "USD",
    });
    // 6.61 / 8 = 0.82625 → 0.8263 (half-up, exact decimal arithmetic)
    const ada = await stored("primeintellect", "datacrunch__8xRTX6000Ada_48GB__80__480|FI|FIN-01");
    expect([ada.pricePerGpuHour.toFixed(4), ada.spotPricePerGpuHour, ada.vramTotalGb.toFixed(2), ada.gpuModel?.name, ada.country])
      .toEqual(["0.8263", null, "384.00", "RTX-6000-ADA", "FI"]);
    const b200 = await stored("lambda", "gpu_8x_b200_sxm6|europe-central-1|");
    expect([b200.pricePerGpuHour.toFixed(4), b200.vramPerGpuGb.toFixed(2), b200.vramTotalGb.toFixed(2), b200.gpuModel?.name, b200.interconnect, b200.vcpus])
      .toEqual(["6.6900", "180.00", "1440.00", "B200", "SXM", 208]);
    // Not in the spec table: no model link, VRAM from the catalog's GpuInfo.
    const gaudi = await stored("shadeform", "denvr_Gaudi2x8|houston-usa-1|");
    expect([gaudi.gpuModelId, gaudi.gpuName, gaudi.vramPerGpuGb.toFixed(2), gaudi.vramTotalGb.toFixed(2), gaudi.pricePerGpuHour.toFixed(4)])
      .toEqual([null, "GAUDI2", "96.00", "768.00", "1.1000"]);
  });

  it("one changed price → exactly one update and one price point carrying the new price", async () => {
    const id = "gpu_8x_h100_sxm5|us-east-1|";
    const changed = catalog.lambda.map((o) => (o.externalId === id ? { ...o, onDemandPrice: "33.00" } : o));
    const summary = await applyCatalog(db.prisma, "lambda", changed, { now: at(2) });
    expect(summary).toEqual({ inserted: 0, updated: 1, unchanged: 373, deactivated: 0, reactivated: 0, pricePoints: 1 });
    const offer = await stored("lambda", id);
    expect([offer.onDemandPrice.toFixed(4), offer.pricePerGpuHour.toFixed(4)]).toEqual(["33.0000", "4.1250"]);
    const points = await db.prisma.pricePoint.findMany({ where: { offerId: offer.id }, orderBy: { recordedAt: "asc" } });
    expect(points.map((p) => [p.onDemandPrice.toFixed(4), p.spotPrice, p.availability, p.recordedAt])).toEqual([
      ["31.9200", null, "UNKNOWN", at(0)],
      ["33.0000", null, "UNKNOWN", at(2)],
    ]);
    // Changing something that is not a price (RAM) updates the offer without a price point.
    const ram = changed.map((o) => (o.externalId === id ? { ...o, ramGb: 2048 } : o));
    expect(await applyCatalog(db.prisma, "lambda", ram, { now: at(3) }))
      .toEqual({ inserted: 0, updated: 1, unchanged: 373, deactivated: 0, reactivated: 0, pricePoints: 0 });
  });

  it("offers missing from the input are deactivated, and reactivated when they come back", async () => {
    const gone = new Set(catalog.vast.slice(10, 15).map((o) => o.externalId));
    const fewer = catalog.vast.filter((o) => !gone.has(o.externalId));
    expect(await applyCatalog(db.prisma, "vast", fewer, { now: at(4) }))
      .toEqual({ inserted: 0, updated: 0, unchanged: 62, deactivated: 5, reactivated: 0, pricePoints: 0 });
    const afterRemoval = await offersOf("vast");
    expect(afterRemoval.filter((o) => !o.active).map((o) => o.externalId).sort()).toEqual([...gone].sort());
    // Other providers are untouched.
    expect(await db.prisma.gpuOffer.count({ where: { active: false } })).toBe(5);

    const back = await applyCatalog(db.prisma, "vast", catalog.vast, { now: at(5) });
    expect(back).toEqual({ inserted: 0, updated: 5, unchanged: 62, deactivated: 0, reactivated: 5, pricePoints: 0 });
    expect(await db.prisma.gpuOffer.count({ where: { provider: { slug: "vast" }, active: true } })).toBe(67);
  });

  it("an unknown provider slug is a typed error and writes nothing", async () => {
    const before = await db.prisma.provider.count();
    const attempt = applyCatalog(db.prisma, "acme-gpus", catalog.vast.slice(0, 3));
    await expect(attempt).rejects.toBeInstanceOf(CatalogSyncError);
    await expect(applyCatalog(db.prisma, "acme-gpus", [])).rejects.toMatchObject({ code: "UNKNOWN_PROVIDER" });
    expect(await db.prisma.provider.count()).toBe(before);
  });

  it("duplicate external ids and malformed offers are typed errors that write nothing", async () => {
    await expect(applyCatalog(db.prisma, "vast", [...catalog.vast, catalog.vast[0]!])).rejects.toMatchObject({ code: "DUPLICATE_OFFER" });
    const bad = catalog.vast.map((o, i) => (i === 3 ? { ...o, onDemandPrice: "1,99" } : o));
    await expect(applyCatalog(db.prisma, "vast", bad)).rejects.toMatchObject({ code: "INVALID_OFFER" });
    expect(await db.prisma.gpuOffer.count({ where: { provider: { slug: "vast" }, active: true } })).toBe(67);
  });

  it("a batch failing mid-import rolls back every batch before it", async () => {
    const snapshot = async () => ({
      offers: (await offersOf("shadeform")).map((o) => ({ ...o, onDemandPrice: o.onDemandPrice.toString() })),
      points: await db.prisma.pricePoint.count(),
      providers: await db.prisma.provider.count(),
    });
    const before = await snapshot();
    const [first, ...rest] = catalog.shadeform;
    const broken: CatalogOffer[] = [
      { ...first!, onDemandPrice: "99.99" }, // batch 1: a price change
      ...rest.slice(0, -3), // last 3 offers missing: would be deactivated
      { ...first!, externalId: "new-offer|x|", region: "x" }, // a new offer
      // Overflows DECIMAL(12,4): the database refuses it in the last batch.
      { ...first!, externalId: "broken|x|", region: "x", onDemandPrice: "123456789012" },
    ];
    await expect(applyCatalog(db.prisma, "shadeform", broken, { batchSize: 25, now: at(6) })).rejects.toThrow();
    expect(await snapshot()).toEqual(before);

    // A provider created inside a failed import does not survive either.
    const tensordock = [{ ...first!, onDemandPrice: "1.00" }, { ...first!, externalId: "broken", onDemandPrice: "123456789012" }];
    await expect(applyCatalog(db.prisma, "tensordock", tensordock, { batchSize: 1 })).rejects.toThrow();
    expect(await db.prisma.provider.findUnique({ where: { slug: "tensordock" } })).toBeNull();
  });
});
