import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openTestDatabase } from "../support/db.ts";
import { testClient } from "../support/app.ts";
import { globalId, seedMarket } from "../support/market.ts";
import type { Database } from "../../src/infra/db.ts";

describe("bad input gets a clear error with a stable code, never a 500", () => {
  let db: Database;
  let request: ReturnType<typeof testClient>["request"];
  let validCursor: string;
  beforeAll(async () => {
    db = await openTestDatabase();
    await seedMarket(db.prisma, 30);
    request = testClient(db).request;
    validCursor = (await request(`{ offers(first: 1) { pageInfo { endCursor } } }`)).data.offers.pageInfo.endCursor;
  });
  afterAll(async () => { await db?.close(); });

  const cases: Array<[string, string | (() => string), string, RegExp]> = [
    ["negative first", `{ offers(first: -1) { totalCount } }`, "BAD_USER_INPUT", /first must be between 0 and 100 \(got -1\)/],
    ["oversized first", `{ offers(first: 101) { totalCount } }`, "BAD_USER_INPUT", /first must be between 0 and 100 \(got 101\)/],
    ["oversized last", `{ offers(last: 1000) { totalCount } }`, "BAD_USER_INPUT", /last must be between 0 and 100/],
    ["first with last", `{ offers(first: 5, last: 5) { totalCount } }`, "BAD_USER_INPUT", /either first .* or last .*, not both/],
    ["malformed cursor", `{ offers(after: "not-a-cursor") { totalCount } }`, "BAD_USER_INPUT", /after is not a valid offers cursor/],
    ["base64 garbage cursor", `{ offers(before: "WzEsMiwzXQ") { totalCount } }`, "BAD_USER_INPUT", /before is not a valid offers cursor/],
    ["cursor from another order", () => `{ offers(orderBy: { field: PRICE }, after: "${validCursor}") { totalCount } }`, "BAD_USER_INPUT", /cursor for orderBy PRICE_PER_GPU, but this query sorts by PRICE/],
    ["forged cursor: id beyond int4", `{ offers(after: "WyJQUklDRV9QRVJfR1BVIiwgIjEuNSIsIDIxNDc0ODM2NDhd") { totalCount } }`, "BAD_USER_INPUT", /after is not a valid offers cursor/],
    ["forged cursor: GPU count beyond int4", `{ offers(orderBy: { field: GPU_COUNT }, after: "WyJHUFVfQ09VTlQiLCAiOTk5OTk5OTk5OTkiLCAxXQ") { totalCount } }`, "BAD_USER_INPUT", /after is not a valid offers cursor/],
    ["forged cursor: a year PostgreSQL cannot store", `{ offers(orderBy: { field: LAST_SEEN }, before: "WyJMQVNUX1NFRU4iLCAiKzI3NTc2MC0wOS0xM1QwMDowMDowMC4wMDBaIiwgMV0") { totalCount } }`, "BAD_USER_INPUT", /before is not a valid offers cursor/],
    ["forged cursor: a 1e308 price", `{ offers(after: "WyJQUklDRV9QRVJfR1BVIiwgIjEwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMCIsIDFd") { totalCount } }`, "BAD_USER_INPUT", /after is not a valid offers cursor/],
    ["offer id beyond int4", `{ offer(id: "${globalId("GpuOffer", 2147483648)}") { id } }`, "NOT_FOUND", /No offer has this ID/],
    ["price history of an offer id beyond int4", `{ priceHistory(offer: "${globalId("GpuOffer", 99999999999)}") { points } }`, "NOT_FOUND", /No offer has this ID/],
    ["unknown enum value", `{ offers(orderBy: { field: CHEAPEST }) { totalCount } }`, "GRAPHQL_VALIDATION_FAILED", /Value "CHEAPEST" does not exist in "OfferOrderField" enum/],
    ["min greater than max (money)", `{ offers(filter: { price: { min: "5", max: "1" } }) { totalCount } }`, "BAD_USER_INPUT", /filter\.price: min must not be greater than max/],
    ["min greater than max (ints)", `{ offers(filter: { gpuCount: { min: 8, max: 2 } }) { totalCount } }`, "BAD_USER_INPUT", /filter\.gpuCount: min must not be greater than max/],
    ["negative range bound", `{ offers(filter: { vramPerGpuGb: { min: -1 } }) { totalCount } }`, "BAD_USER_INPUT", /filter\.vramPerGpuGb\.min/],
    ["unknown provider slug in a filter", `{ offers(filter: { providers: ["nope"] }) { totalCount } }`, "BAD_USER_INPUT", /Unknown provider slug: "nope"/],
    ["unknown GPU model in a filter", `{ offers(filter: { gpuModels: ["Voodoo 5"] }) { totalCount } }`, "BAD_USER_INPUT", /Unknown GPU model: "Voodoo 5"/],
    ["bad country code", `{ offers(filter: { countries: ["USA"] }) { totalCount } }`, "BAD_USER_INPUT", /country codes have two letters/],
    ["non-existent provider", `{ provider(slug: "nope") { name } }`, "NOT_FOUND", /No provider has the slug "nope"/],
    ["non-existent offer id", `{ offer(id: "${globalId("GpuOffer", 999999)}") { id } }`, "NOT_FOUND", /No offer has this ID/],
    ["malformed offer id", `{ offer(id: "%%%") { id } }`, "BAD_USER_INPUT", /Invalid global ID/],
    ["an id of another type", `{ offer(id: "${globalId("Provider", 1)}") { id } }`, "BAD_USER_INPUT", /is not of type: GpuOffer/],
    ["non-existent GPU model", `{ gpuModel(name: "Voodoo 5") { name } }`, "NOT_FOUND", /No GPU model matches "Voodoo 5"/],
    ["price with more than 4 decimals", `{ offers(filter: { price: { max: "1.23456" } }) { totalCount } }`, "BAD_USER_INPUT", /at most 4 decimal places \(got 1\.23456\)/],
    ["negative price", `{ offers(filter: { pricePerGpu: { min: "-2" } }) { totalCount } }`, "BAD_USER_INPUT", /cannot be negative/],
    ["price that is not a number", `{ offers(filter: { price: { max: "cheap" } }) { totalCount } }`, "BAD_USER_INPUT", /"cheap" is not a valid amount of money/],
    ["history with both offer and model", `{ priceHistory(offer: "${globalId("GpuOffer", 1)}", gpuModel: "H100") { points } }`, "BAD_USER_INPUT", /exactly one of offer or gpuModel/],
    ["history with from after to", `{ priceHistory(gpuModel: "H100-SXM-80GB", from: "2026-02-01T00:00:00Z", to: "2026-01-01T00:00:00Z") { points } }`, "BAD_USER_INPUT", /from must be before to/],
    ["history with too many buckets", `{ priceHistory(gpuModel: "H100-SXM-80GB", from: "2000-01-01T00:00:00Z", bucket: HOUR) { points } }`, "BAD_USER_INPUT", /more than 5000 HOUR buckets/],
    ["malformed date", `{ priceHistory(gpuModel: "H100-SXM-80GB", from: "yesterday") { points } }`, "BAD_USER_INPUT", /DateTime must be an ISO 8601 string/],
    ["syntax error", `{ offers(first: ) { totalCount } }`, "GRAPHQL_PARSE_FAILED", /Syntax Error/],
    ["unknown field", `{ offers { price } }`, "GRAPHQL_VALIDATION_FAILED", /Cannot query field "price" on type "OfferConnection"/],
  ];

  it.each(cases)("%s", async (_name, query, code, message) => {
    const res = await request(typeof query === "function" ? query() : query);
    expect(res.status).toBeLessThan(500);
    expect(res.errors?.length).toBe(1);
    expect(res.errors![0]!.extensions?.code).toBe(code);
    expect(res.errors![0]!.message).toMatch(message);
    expect(JSON.stringify(res.errors)).not.toMatch(/at .*\.ts:\d+|stack/i);
  });

  it("variables are checked the same way as literals", async () => {
    const res = await request(`query($f: OfferFilter) { offers(filter: $f) { totalCount } }`, { f: { price: { max: "0.00001" } } });
    expect(res.errors![0]!.extensions?.code).toBe("BAD_USER_INPUT");
    expect(res.errors![0]!.message).toMatch(/at most 4 decimal places/);
  });

  it("a page size of 0 and of 100 are fine", async () => {
    const res = await request(`{ a: offers(first: 0) { edges { cursor } } b: offers(first: 100) { edges { cursor } } }`);
    expect(res.errors).toBeUndefined();
    expect(res.data.a.edges).toEqual([]);
    expect(res.data.b.edges.length).toBeGreaterThan(0);
  });
});

describe("variables of the wrong type", () => {
  it("say which variable and why, with BAD_USER_INPUT", async () => {
    const db = await openTestDatabase();
    try {
      const { request } = testClient(db);
      const res = await request(`query($n: Int) { offers(first: $n) { totalCount } }`, { n: "ten" });
      expect(res.status).toBeLessThan(500);
      expect(res.errors![0]).toMatchObject({ message: expect.stringMatching(/Variable "\$n" got invalid value "ten"/), extensions: { code: "BAD_USER_INPUT" } });
      const nested = await request(`query($f: OfferFilter) { offers(filter: $f) { totalCount } }`, { f: { gpuCount: { min: "two" } } });
      expect(nested.errors![0]).toMatchObject({ message: expect.stringMatching(/Variable "\$f" got invalid value "two" at "f\.gpuCount\.min"/), extensions: { code: "BAD_USER_INPUT" } });
    } finally {
      await db.close();
    }
  });
});
