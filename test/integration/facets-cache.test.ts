import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openTestDatabase } from "../support/db.ts";
import type { Database } from "../../src/infra/db.ts";
import { applyCatalog } from "../../src/ingestion/catalog-sync.ts";
import { syncGpuModels } from "../../src/ingestion/gpu-models.ts";
import { createOfferService } from "../../src/services/offers.ts";
import { createRankingService } from "../../src/services/ranking.ts";
import { anonymous } from "../../src/services/actor.ts";
import type { CatalogOffer } from "../../src/domain/catalog/types.ts";

const offer = (id: string, price: string, extra: Partial<CatalogOffer> = {}): CatalogOffer => ({
  externalId: id, instanceType: `${id}-type`, gpuName: "H100 SXM", gpuCount: 1, region: "us-east-1", onDemandPrice: price, ...extra,
});

describe("offerFacets and the ranking data are computed once per catalog change", () => {
  let db: Database;
  beforeAll(async () => { db = await openTestDatabase(); await syncGpuModels(db.prisma); });
  afterAll(async () => { await db?.close(); });

  it("answers repeated calls from the cache (one small statement), and never from before the last applied catalog", async () => {
    await applyCatalog(db.prisma, "lambda", [offer("a", "6.00"), offer("b", "8.00")]);
    const offers = createOfferService({ prisma: db.prisma });
    const facets = () => offers.facets({ filter: { gpuModels: ["H100"] } }, anonymous());
    const first = await facets();
    expect(first.providers).toEqual([expect.objectContaining({ value: "lambda", count: 2 })]);
    expect(String(first.providers[0]!.minPricePerGpuHour)).toBe("6");

    db.stats.statements = 0;
    expect(await facets()).toEqual(first);
    expect(db.stats.statements).toBe(1); // the catalog epoch, not the facets

    // A repriced and a new offer (another provider): the next call sees both, on any node (the epoch is in the database).
    await applyCatalog(db.prisma, "lambda", [offer("a", "4.00"), offer("b", "8.00")]);
    await applyCatalog(db.prisma, "runpod", [offer("r", "3.00")]);
    const after = await createOfferService({ prisma: db.prisma }).facets({ filter: { gpuModels: ["H100"] } }, anonymous());
    const again = await facets();
    expect(again).toEqual(after);
    expect(again.providers.map((p) => [p.value, p.count, String(p.minPricePerGpuHour)])).toEqual([["lambda", 2, "4"], ["runpod", 1, "3"]]);

    // A withdrawn offer is gone from the facets after its import.
    await applyCatalog(db.prisma, "runpod", []);
    expect((await facets()).providers.map((p) => p.value)).toEqual(["lambda"]);
    // Other filters are kept apart.
    expect((await offers.facets({ filter: { gpuModels: ["H100"], price: { max: "5" } } }, anonymous())).providers).toEqual([expect.objectContaining({ value: "lambda", count: 1 })]);
  });

  it("ranks from the cached grouping until the next applied catalog, then from the new prices", async () => {
    await applyCatalog(db.prisma, "vast", [offer("v1", "2.00"), offer("v2", "2.50"), offer("v3", "2.50")]);
    const ranking = createRankingService({ prisma: db.prisma });
    const rank = async () => (await ranking.rankOffers({ filter: { providers: ["vast"] }, criteria: [{ criterion: "PRICE_PER_GPU_HOUR", weight: 1 }], first: 3 }, anonymous()))
      .ranked.map((r) => [r.offer.externalId, r.rank]);
    expect(await rank()).toEqual([["v1", 1], ["v2", 2], ["v3", 2]]);
    db.stats.statements = 0;
    expect(await rank()).toEqual([["v1", 1], ["v2", 2], ["v3", 2]]);
    const cached = db.stats.statements;
    db.stats.statements = 0;
    await createRankingService({ prisma: db.prisma }).rankOffers({ filter: { providers: ["vast"] }, criteria: [{ criterion: "PRICE_PER_GPU_HOUR", weight: 1 }], first: 3 }, anonymous());
    expect(cached).toBeLessThan(db.stats.statements); // the grouping statement (and its transaction) skipped

    await applyCatalog(db.prisma, "vast", [offer("v1", "3.00"), offer("v2", "2.50"), offer("v3", "1.00")]);
    expect(await rank()).toEqual([["v3", 1], ["v2", 2], ["v1", 3]]);
  });
});
