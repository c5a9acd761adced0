import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openTestDatabase } from "../support/db.ts";
import type { Database } from "../../src/infra/db.ts";
import { applyCatalog } from "../../src/ingestion/catalog-sync.ts";
import { syncGpuModels } from "../../src/ingestion/gpu-models.ts";
import { createDemoAdapter, seededRandom } from "../../src/ingestion/adapters/demo.ts";
import type { CatalogOffer } from "../../src/domain/catalog/types.ts";

describe("demo market", () => {
  let db: Database;
  beforeAll(async () => {
    db = await openTestDatabase();
    await syncGpuModels(db.prisma);
    const offers: CatalogOffer[] = Array.from({ length: 40 }, (_, i) => ({
      externalId: `o${i}`, instanceType: "gpu_1x_h100_sxm5", gpuName: "H100 SXM", gpuCount: 1 + (i % 2),
      region: "us-east-1", onDemandPrice: (2.49 * (1 + (i % 2))).toFixed(2), spotPrice: i % 4 === 0 ? "1.20" : null, availability: "AVAILABLE",
    }));
    await applyCatalog(db.prisma, "lambda", offers);
  });
  afterAll(async () => { await db?.close(); });

  it("moves some prices a little each poll, keeps the rest, and flows through the normal catalog sync", async () => {
    const adapter = createDemoAdapter(db.prisma, "lambda", { random: seededRandom(7), moveProbability: 0.25 });
    const before = new Map((await db.prisma.gpuOffer.findMany()).map((o) => [o.externalId, o.onDemandPrice.toNumber()]));
    const report = await adapter.fetchOffers();
    expect(report.offers).toHaveLength(40);
    const moved = report.offers.filter((o) => Number(o.onDemandPrice) !== before.get(o.externalId));
    expect(moved.length).toBeGreaterThan(2);
    expect(moved.length).toBeLessThan(30);
    for (const o of moved) {
      const ratio = Number(o.onDemandPrice) / before.get(o.externalId)!;
      expect(ratio).toBeGreaterThan(0.9);
      expect(ratio).toBeLessThan(1.1);
      if (o.spotPrice) expect(Number(o.spotPrice)).toBeLessThanOrEqual(Number(o.onDemandPrice));
    }
    const summary = await applyCatalog(db.prisma, "lambda", report.offers);
    expect(summary.inserted).toBe(0);
    expect(summary.deactivated).toBe(0);
    expect(summary.pricePoints).toBe(summary.updated);
    expect(summary.updated).toBeGreaterThanOrEqual(moved.length);
  });

  it("is deterministic for a seed", async () => {
    const a = await createDemoAdapter(db.prisma, "lambda", { random: seededRandom(42) }).fetchOffers();
    const b = await createDemoAdapter(db.prisma, "lambda", { random: seededRandom(42) }).fetchOffers();
    expect(a).toEqual(b);
  });
});
