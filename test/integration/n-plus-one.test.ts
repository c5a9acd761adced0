import { afterEach, describe, expect, it } from "vitest";
import { graphql } from "../generated/index.ts";
import { openTestDatabase } from "../support/db.ts";
import { testClient } from "../support/app.ts";
import { seedMarket } from "../support/market.ts";
import type { Database } from "../../src/infra/db.ts";

// Two documents: within one, every nested object of a level loads in one batch; across two sibling
// root fields, whether the loaders' batches merge depends on timing, so each is counted on its own.
const OffersNested = graphql(`
  query OffersNested {
    offers(first: 100) {
      totalCount
      edges { node { id pricePerGpuHour provider { slug name regions offerCount } gpuModel { name vramGb offerCount } } }
    }
  }
`);
const ProvidersNested = graphql(`
  query ProvidersNested {
    providers {
      slug
      regions
      offers(first: 50) { totalCount edges { node { id gpuModel { name } provider { slug } } } }
    }
  }
`);

/** SQL statements Prisma sends for each nested query over `offers` offers. */
async function statementsFor(offers: number): Promise<{ offers: number; providers: number; edges: number }> {
  const db: Database = await openTestDatabase();
  opened.push(db);
  await seedMarket(db.prisma, offers);
  const { request } = testClient(db);
  db.stats.statements = 0;
  const a = await request(OffersNested);
  expect(a.errors).toBeUndefined();
  const afterOffers = db.stats.statements;
  const b = await request(ProvidersNested);
  expect(b.errors).toBeUndefined();
  return { offers: afterOffers, providers: db.stats.statements - afterOffers, edges: a.data!.offers.edges.length };
}

const opened: Database[] = [];
afterEach(async () => { await Promise.all(opened.splice(0).map((db) => db.close())); });

describe("no N+1", () => {
  it("the nested offers → provider → gpuModel, providers → offers query costs the same SQL for 10 and 1,000 offers", async () => {
    const small = await statementsFor(10);
    const large = await statementsFor(1000);
    expect(small.edges).toBeLessThan(large.edges); // the large run really resolves more nested objects
    expect(large.offers).toBe(small.offers);
    expect(large.providers).toBe(small.providers);
    console.log(`nested queries: offers ${large.offers} + providers ${large.providers} SQL statements, for 10 and for 1,000 offers`);
  });
});

describe("one round trip per page", () => {
  it("a page of offers with its total count, providers and GPU models is one SQL statement, with the same answer as field by field", async () => {
    const db: Database = await openTestDatabase();
    opened.push(db);
    await seedMarket(db.prisma, 300);
    const { request } = testClient(db);
    const page = (after: string | null) => `{ offers(first: 20, filter: { gpuModels: ["H100"], gpuCount: { min: 1 } }${after ? `, after: "${after}"` : ""}) {
      totalCount pageInfo { hasNextPage endCursor }
      edges { node { id pricePerGpuHour lastSeenAt spotPrice provider { slug name complianceTags reliabilityScore health { status lastSuccessAt } } gpuModel { name fp16Tflops } } } } }`;
    await request(page(null)); // names into the cache
    db.stats.statements = 0;
    const first = await request(page(null));
    expect(first.errors).toBeUndefined();
    expect(db.stats.statements).toBe(1);
    const edges = first.data.offers.edges as { node: { id: string; provider: { slug: string }; gpuModel: { name: string } } }[];
    expect(edges.length).toBe(20);
    db.stats.statements = 0;
    const second = await request(page(first.data.offers.pageInfo.endCursor));
    expect(db.stats.statements).toBe(1);
    expect(second.data.offers.totalCount).toBe(first.data.offers.totalCount);
    // The same page through separate statements: the count, then the rows and their relations by Prisma.
    const ids = edges.map((e) => Number(Buffer.from(e.node.id, "base64").toString().split(":")[1]));
    const rows = await db.prisma.gpuOffer.findMany({ where: { id: { in: ids } }, include: { provider: true, gpuModel: true } });
    const byId = new Map(rows.map((r) => [r.id, r]));
    for (const [i, e] of edges.entries()) {
      const row = byId.get(ids[i]!)!;
      expect(e.node.provider.slug).toBe(row.provider.slug);
      expect(e.node.gpuModel.name).toBe(row.gpuModel!.name);
      expect((e.node as unknown as { lastSeenAt: string }).lastSeenAt).toBe(row.lastSeenAt.toISOString());
      expect((e.node as unknown as { pricePerGpuHour: string }).pricePerGpuHour).toBe(row.pricePerGpuHour.toFixed(Math.max(2, row.pricePerGpuHour.decimalPlaces())));
    }
    const h100 = await db.prisma.gpuModel.findMany({ where: { name: { startsWith: "H100" } }, select: { id: true } });
    expect(first.data.offers.totalCount).toBe(await db.prisma.gpuOffer.count({ where: { active: true, gpuCount: { gte: 1 }, gpuModelId: { in: h100.map((m) => m.id) } } }));
  });
});

