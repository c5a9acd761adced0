import { afterEach, describe, expect, it } from "vitest";
import { graphql } from "../generated/index.ts";
import { openTestDatabase } from "../support/db.ts";
import { testClient } from "../support/app.ts";
import { seedMarket } from "../support/market.ts";
import type { Database } from "../../src/infra/db.ts";

const Nested = graphql(`
  query Nested {
    offers(first: 100) {
      totalCount
      edges { node { id pricePerGpuHour provider { slug name regions offerCount } gpuModel { name vramGb offerCount } } }
    }
    providers {
      slug
      regions
      offers(first: 50) { totalCount edges { node { id gpuModel { name } provider { slug } } } }
    }
  }
`);

/** SQL statements Prisma sends for one execution of the nested query over `offers` offers. */
async function statementsFor(offers: number): Promise<{ statements: number; edges: number }> {
  const db: Database = await openTestDatabase();
  opened.push(db);
  await seedMarket(db.prisma, offers);
  const { request } = testClient(db);
  db.stats.statements = 0;
  const res = await request(Nested);
  expect(res.errors).toBeUndefined();
  return { statements: db.stats.statements, edges: res.data!.offers.edges.length };
}

const opened: Database[] = [];
afterEach(async () => { await Promise.all(opened.splice(0).map((db) => db.close())); });

describe("no N+1", () => {
  it("the nested offers → provider → gpuModel, providers → offers query costs the same SQL for 10 and 1,000 offers", async () => {
    const small = await statementsFor(10);
    const large = await statementsFor(1000);
    expect(small.edges).toBeLessThan(large.edges); // the large run really resolves more nested objects
    expect(large.statements).toBe(small.statements);
    console.log(`nested query: ${large.statements} SQL statements for 10 and for 1,000 offers`);
  });
});
