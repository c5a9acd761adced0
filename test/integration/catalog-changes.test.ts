import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openTestDatabase } from "../support/db.ts";
import type { Database } from "../../src/infra/db.ts";
import { applyCatalog, type OfferChange } from "../../src/ingestion/catalog-sync.ts";
import { syncGpuModels } from "../../src/ingestion/gpu-models.ts";
import type { CatalogOffer } from "../../src/domain/catalog/types.ts";

const offer = (id: string, price: string, extra: Partial<CatalogOffer> = {}): CatalogOffer => ({
  externalId: id, instanceType: `${id}-type`, gpuName: "H100 SXM", gpuCount: 2, region: "us-east-1", onDemandPrice: price, ...extra,
});

describe("applyCatalog reports what changed, inside its transaction", () => {
  let db: Database;
  beforeAll(async () => { db = await openTestDatabase(); await syncGpuModels(db.prisma); });
  afterAll(async () => { await db?.close(); });

  async function apply(offers: CatalogOffer[], fail = false) {
    const seen: OfferChange[] = [];
    const run = applyCatalog(db.prisma, "lambda", offers, {
      onChanges: async (tx, changes) => {
        seen.push(...changes);
        await tx.pricePoint.count(); // the hook runs on the import's transaction
        if (fail) throw new Error("hook failed");
      },
    });
    if (fail) await expect(run).rejects.toThrow("hook failed"); else await run;
    return seen;
  }

  it("lists new, repriced, withdrawn and returning offers with old and new values; nothing when nothing changed", async () => {
    const first = await apply([offer("a", "6.00"), offer("b", "8.00", { availability: "AVAILABLE" })]);
    expect(first.map((c) => [c.kind, c.newOnDemandPrice, c.oldOnDemandPrice])).toEqual([["new", "6.0000", null], ["new", "8.0000", null]]);
    expect(first[0]).toMatchObject({ gpuCount: 2, region: "us-east-1", pricePerGpuHour: "3.0000", gpuModelId: expect.any(Number), providerId: expect.any(Number) });

    expect(await apply([offer("a", "6.00"), offer("b", "8.00", { availability: "AVAILABLE" })])).toEqual([]);

    const repriced = await apply([offer("a", "5.00"), offer("b", "8.00", { availability: "LIMITED" })]);
    expect(repriced.map((c) => [c.kind, c.oldOnDemandPrice, c.newOnDemandPrice, c.oldAvailability, c.newAvailability])).toEqual([
      ["changed", "6.0000", "5.0000", "UNKNOWN", "UNKNOWN"],
      ["changed", "8.0000", "8.0000", "AVAILABLE", "LIMITED"],
    ]);

    const withdrawn = await apply([offer("a", "5.00")]);
    expect(withdrawn).toEqual([expect.objectContaining({ kind: "deactivated", oldOnDemandPrice: "8.0000", newOnDemandPrice: null, oldAvailability: "LIMITED", newAvailability: null })]);
    const back = await apply([offer("a", "5.00"), offer("b", "8.00", { availability: "LIMITED" })]);
    expect(back.map((c) => c.kind)).toEqual(["reactivated"]);
  });

  it("a failing hook rolls the whole import back", async () => {
    const before = await db.prisma.gpuOffer.findMany({ orderBy: { id: "asc" } });
    await apply([offer("a", "1.00"), offer("c", "2.00")], true);
    expect(await db.prisma.gpuOffer.findMany({ orderBy: { id: "asc" } })).toEqual(before);
  });
});
