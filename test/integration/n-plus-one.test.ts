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
