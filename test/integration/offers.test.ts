import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { graphql } from "../generated/index.ts";
import { openTestDatabase } from "../support/db.ts";
import { testClient } from "../support/app.ts";
import { MODELS, dbId, seedMarket, type MarketOffer } from "../support/market.ts";
import { estimateInference } from "../../src/domain/math/llm.ts";
import { Prisma } from "../../src/generated/prisma/client.ts";
import { formatMoney } from "../../src/domain/money.ts";
import type { Database } from "../../src/infra/db.ts";
import type { OfferFilter, OfferOrder } from "../generated/graphql.ts";

const OffersPage = graphql(`
  query OffersPage($filter: OfferFilter, $orderBy: OfferOrder, $first: Int, $after: String, $last: Int, $before: String) {
    offers(filter: $filter, orderBy: $orderBy, first: $first, after: $after, last: $last, before: $before) {
      totalCount
      edges { cursor node { id pricePerGpuHour onDemandPrice gpuCount } }
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    }
  }
`);

type OffersOnly = { offers: { edges: { node: Record<string, unknown> }[]; pageInfo: { endCursor: string | null } } };

describe("offers", () => {
  let db: Database;
  let market: MarketOffer[];
  let request: ReturnType<typeof testClient>["request"];

  beforeAll(async () => {
    db = await openTestDatabase();
    market = await seedMarket(db.prisma, 157);
    request = testClient(db).request;
  });
  afterAll(async () => { await db?.close(); });

  const active = () => market.filter((o) => o.active);
  const ids = (offers: MarketOffer[]) => offers.map((o) => o.id);

  async function walk(filter: OfferFilter | undefined, orderBy: OfferOrder | undefined, pageSize: number, backwards = false) {
    const seen: number[] = [];
    let cursor: string | null | undefined;
    for (let page = 0; page < 100; page++) {
      const res = await request(OffersPage, backwards
        ? { filter, orderBy, last: pageSize, before: cursor }
        : { filter, orderBy, first: pageSize, after: cursor });
      expect(res.errors).toBeUndefined();
      const conn = res.data!.offers;
      const pageIds = conn.edges.map((e) => dbId(e.node.id));
      if (backwards) seen.unshift(...pageIds); else seen.push(...pageIds);
      const more = backwards ? conn.pageInfo.hasPreviousPage : conn.pageInfo.hasNextPage;
      if (!more) return { ids: seen, totalCount: conn.totalCount };
      cursor = backwards ? conn.pageInfo.startCursor : conn.pageInfo.endCursor;
    }
    throw new Error("paging did not end");
  }

  it("defaults to 20 active offers, cheapest per GPU-hour first, ties broken by id", async () => {
    const res = await request(OffersPage, {});
    const expected = active().sort((a, b) => Number(a.pricePerGpuHour) - Number(b.pricePerGpuHour) || a.id - b.id);
    expect(res.data!.offers.totalCount).toBe(expected.length);
    expect(res.data!.offers.edges.map((e) => dbId(e.node.id))).toEqual(ids(expected.slice(0, 20)));
    expect(res.data!.offers.edges[0]!.node.pricePerGpuHour).toBe("1.25");
    expect(res.data!.offers.pageInfo).toMatchObject({ hasNextPage: true, hasPreviousPage: false });
  });

  const orders: Array<[OfferOrder, (o: MarketOffer) => number]> = [
    [{ field: "PRICE", direction: "ASC" }, (o) => Number(o.onDemandPrice)],
    [{ field: "PRICE", direction: "DESC" }, (o) => -Number(o.onDemandPrice)],
    [{ field: "PRICE_PER_GPU", direction: "DESC" }, (o) => -Number(o.pricePerGpuHour)],
    [{ field: "GPU_COUNT", direction: "ASC" }, (o) => o.gpuCount],
    [{ field: "VRAM_PER_GPU", direction: "DESC" }, (o) => -o.vramPerGpuGb],
    [{ field: "VRAM_TOTAL", direction: "ASC" }, (o) => o.vramPerGpuGb * o.gpuCount],
  ];
  it.each(orders)("walking every page by %o returns each matching offer exactly once, in order", async (orderBy, key) => {
    const desc = orderBy.direction === "DESC";
    const expected = active().sort((a, b) => key(a) - key(b) || (desc ? b.id - a.id : a.id - b.id));
    const forward = await walk(undefined, orderBy, 7);
    expect(forward.ids).toEqual(ids(expected));
    const backward = await walk(undefined, orderBy, 9, true);
    expect(backward.ids).toEqual(ids(expected));
  });

  // Model and provider filters sorted by price per GPU take the per-id index path (infra/offers.ts).
  const pinned: Array<[string, OfferFilter, (o: MarketOffer) => boolean]> = [
    ["two GPU models", { gpuModels: ["H100-SXM-80GB", "A100-SXM-80GB"], pricePerGpu: { min: "1.99", max: "2.49" } },
      (o) => (o.model === "H100-SXM-80GB" || o.model === "A100-SXM-80GB") && ["1.9900", "2.4900"].includes(o.pricePerGpuHour)],
    ["one GPU model", { gpuModels: ["RTX-4090"] }, (o) => o.model === "RTX-4090"],
    ["one provider and a region", { providers: ["beta"], regions: ["eu-central-1"] }, (o) => o.provider === "beta" && o.region === "eu-central-1"],
    ["two providers", { providers: ["alpha", "gamma"], gpuCount: { min: 2 } }, (o) => o.provider !== "beta" && o.gpuCount >= 2],
  ];
  describe.each(pinned)("with %s, pages stay stable under equal prices", (_name, filter, match) => {
    it.each(["ASC", "DESC"] as const)("%s, forwards and backwards", async (direction) => {
      const sign = direction === "ASC" ? 1 : -1;
      const expected = active().filter(match).sort((a, b) => sign * (Number(a.pricePerGpuHour) - Number(b.pricePerGpuHour) || a.id - b.id));
      expect(expected.length).toBeGreaterThan(4);
      const orderBy: OfferOrder = { field: "PRICE_PER_GPU", direction };
      const forward = await walk(filter, orderBy, 4);
      expect(forward.totalCount).toBe(expected.length);
      expect(forward.ids).toEqual(ids(expected));
      expect((await walk(filter, orderBy, 3, true)).ids).toEqual(ids(expected));
    });
  });

  const filters: Array<[string, OfferFilter, (o: MarketOffer) => boolean]> = [
    ["GPU model by provider spelling", { gpuModels: ["RTX-4090"] }, (o) => o.model === "RTX-4090"],
    ["vendor", { gpuVendors: ["AMD"] }, (o) => o.model === "MI300X"],
    ["providers", { providers: ["alpha", "GAMMA"] }, (o) => o.provider === "alpha" || o.provider === "gamma"],
    ["regions", { regions: ["eu-central-1"] }, (o) => o.region === "eu-central-1"],
    ["countries", { countries: ["in", "US"] }, (o) => o.country === "IN" || o.country === "US"],
    ["GPU count range", { gpuCount: { min: 2, max: 4 } }, (o) => o.gpuCount >= 2 && o.gpuCount <= 4],
    ["VRAM per GPU", { vramPerGpuGb: { min: 80 } }, (o) => o.vramPerGpuGb >= 80],
    ["total VRAM", { vramTotalGb: { min: 300, max: 700 } }, (o) => o.vramPerGpuGb * o.gpuCount >= 300 && o.vramPerGpuGb * o.gpuCount <= 700],
    ["vCPUs", { vcpus: { max: 16 } }, (o) => o.vcpus <= 16],
    ["RAM", { ramGb: { min: 128 } }, (o) => o.ramGb >= 128],
    ["instance price", { price: { max: "5" } }, (o) => Number(o.onDemandPrice) <= 5],
    ["price per GPU", { pricePerGpu: { min: 2.49 } }, (o) => Number(o.pricePerGpuHour) >= 2.49],
    ["spot only", { spotOnly: true }, (o) => o.spotPrice !== null],
    ["spot price", { spotPrice: { max: "3" } }, (o) => o.spotPrice !== null && Number(o.spotPrice) <= 3],
    ["availability", { availability: ["AVAILABLE", "LIMITED"] }, (o) => ["AVAILABLE", "LIMITED"].includes(o.availability)],
    ["interconnect", { interconnect: ["SXM"] }, (o) => o.interconnect === "SXM"],
  ];
  it.each(filters)("filters by %s", async (_name, filter, match) => {
    const expected = active().filter(match).sort((a, b) => Number(a.pricePerGpuHour) - Number(b.pricePerGpuHour) || a.id - b.id);
    expect(expected.length).toBeGreaterThan(0);
    const walked = await walk(filter, undefined, 100);
    expect(walked.totalCount).toBe(expected.length);
    expect(walked.ids).toEqual(ids(expected));
  });

  it("sorts by $ per 1M tokens for a chosen LLM, listing only offers it fits on, and pages stably", async () => {
    const specs = new Map(MODELS.map((m) => [m.name, m]));
    const expected = active().flatMap((o) => {
      const gpu = o.model ? specs.get(o.model as (typeof MODELS)[number]["name"]) : undefined;
      if (!gpu) return [];
      const est = estimateInference({ model: "llama-3-70b", gpu, gpuCount: o.gpuCount, precision: "FP8", batch: 1, contextTokens: 4096, promptTokens: 1024 });
      if (!est.fits) return [];
      const factor = (1e6 / (est.decode.tokensPerSecond * 3600)).toPrecision(12);
      return [{ id: o.id, cost: new Prisma.Decimal(o.onDemandPrice).mul(factor).toDecimalPlaces(4, Prisma.Decimal.ROUND_HALF_UP) }];
    }).sort((a, b) => a.cost.comparedTo(b.cost) || a.id - b.id);
    expect(expected.length).toBeGreaterThan(5);
    expect(expected.length).toBeLessThan(active().length); // the model does not fit everywhere
    const orderBy: OfferOrder = { field: "COST_PER_MTOK", direction: "ASC", model: "llama-3-70b", precision: "FP8" };
    const forward = await walk(undefined, orderBy, 6);
    expect(forward.totalCount).toBe(expected.length);
    expect(forward.ids).toEqual(expected.map((e) => e.id));
    expect((await walk(undefined, orderBy, 4, true)).ids).toEqual(expected.map((e) => e.id));
    const first = await request(`query($o: OfferOrder) { offers(orderBy: $o, first: 1) { edges { node { costPerMillionTokens } } } }`, { o: orderBy });
    expect(first.data.offers.edges[0].node.costPerMillionTokens).toBe(formatMoney(expected[0]!.cost));
    const noModel = await request(`{ offers(orderBy: { field: COST_PER_MTOK }) { totalCount } }`);
    expect(noModel.errors![0]).toMatchObject({ message: expect.stringMatching(/needs orderBy.model/), extensions: { code: "BAD_USER_INPUT" } });
    const unknown = await request(`{ offers(orderBy: { field: COST_PER_MTOK, model: "gpt-9" }) { totalCount } }`);
    expect(unknown.errors![0]!.extensions?.code).toBe("BAD_USER_INPUT");
  });

  it("includes inactive offers only when asked", async () => {
    const res = await request(OffersPage, { filter: { includeInactive: true }, first: 0 });
    expect(res.data!.offers.totalCount).toBe(market.length);
    expect(res.data!.offers.edges).toEqual([]);
  });

  it("returns one offer by global id with its provider and GPU model", async () => {
    const first = await request(OffersPage, { first: 1 });
    const id = first.data!.offers.edges[0]!.node.id;
    const res = await request(graphql(`query OneOffer($id: ID!) { offer(id: $id) { id gpuName provider { slug } gpuModel { name vramGb } } node(id: $id) { id ... on GpuOffer { gpuCount } } }`), { id });
    const stored = market.find((o) => o.id === dbId(id))!;
    expect(res.data).toEqual({
      offer: { id, gpuName: stored.model, provider: { slug: stored.provider }, gpuModel: { name: stored.model, vramGb: stored.vramPerGpuGb } },
      node: { id, gpuCount: stored.gpuCount },
    });
  });

  it("reads only the columns the selection needs, yet answers every field (each alone, any sort, via fragments) as whole rows do", async () => {
    const sub: Record<string, string> = { provider: "provider { slug }", gpuModel: "gpuModel { name }" };
    const fields = ["externalId", "instanceType", "gpuName", "gpuCount", "vramPerGpuGb", "vramTotalGb", "vcpus", "ramGb", "storageGb",
      "region", "zone", "country", "onDemandPrice", "spotPrice", "pricePerGpuHour", "spotPricePerGpuHour", "currency", "availability",
      "interconnect", "networkGbps", "deployment", "firstSeenAt", "lastSeenAt", "active", "provider", "gpuModel"];
    const orders: (OfferOrder | undefined)[] = [undefined, { field: "VRAM_PER_GPU", direction: "DESC" }, { field: "COST_PER_MTOK", direction: "ASC", model: "llama-3-70b", precision: "FP8" }, { field: "GPU_COUNT", direction: "ASC" }, { field: "LAST_SEEN", direction: "DESC" }];
    for (const orderBy of orders) {
      for (const field of fields) {
        const sel = sub[field] ?? field;
        const walked: Record<string, unknown>[] = [];
        let after: string | null = null;
        for (let page = 0; page < 2; page++) {
          const res: Awaited<ReturnType<typeof request<OffersOnly>>> = await request<OffersOnly>(`query($o: OfferOrder, $a: String) { offers(first: 7, orderBy: $o, after: $a, filter: { includeInactive: true }) {
            edges { cursor node { id ...F } } pageInfo { endCursor } } } fragment F on GpuOffer { ${sel} }`, { o: orderBy, a: after });
          expect(res.errors).toBeUndefined();
          walked.push(...res.data!.offers.edges.map((e) => e.node));
          after = res.data!.offers.pageInfo.endCursor;
        }
        const whole = await request(`query($ids: [ID!]!) { nodes(ids: $ids) { id ... on GpuOffer { ${sel} } } }`, { ids: walked.map((n) => n.id) });
        expect(whole.errors).toBeUndefined();
        expect(walked, `${field} by ${JSON.stringify(orderBy)}`).toEqual(whole.data.nodes);
        expect(walked.every((n) => n[field] !== undefined)).toBe(true);
      }
    }
  });

  it("groups matching offers into facets with exact price spreads", async () => {
    const res = await request(graphql(`query Facets($filter: OfferFilter) { offerFacets(filter: $filter) {
      gpuModels { value count minPricePerGpuHour medianPricePerGpuHour maxPricePerGpuHour }
      providers { value count } regions { value count } } }`), { filter: { gpuCount: { min: 2 } } });
    const subset = active().filter((o) => o.gpuCount >= 2);
    const h100 = subset.filter((o) => o.model === "H100-SXM-80GB").map((o) => Number(o.pricePerGpuHour)).sort((a, b) => a - b);
    const mid = (h100.length - 1) / 2;
    const median = (h100[Math.floor(mid)]! + h100[Math.ceil(mid)]!) / 2;
    const facet = res.data!.offerFacets.gpuModels.find((f) => f.value === "H100-SXM-80GB")!;
    expect(facet).toEqual({
      value: "H100-SXM-80GB", count: h100.length,
      minPricePerGpuHour: h100[0]!.toFixed(2), medianPricePerGpuHour: median.toFixed(4).replace(/0{1,2}$/, ""), maxPricePerGpuHour: h100.at(-1)!.toFixed(2),
    });
    expect(res.data!.offerFacets.gpuModels.find((f) => f.value === null)?.count).toBe(subset.filter((o) => o.model === null).length);
    expect(Object.fromEntries(res.data!.offerFacets.providers.map((f) => [f.value, f.count]))).toEqual(
      Object.fromEntries(["alpha", "beta", "gamma"].map((p) => [p, subset.filter((o) => o.provider === p).length])),
    );
    expect(res.data!.offerFacets.regions.reduce((n, f) => n + f.count, 0)).toBe(subset.length);
  });

  it("buckets price history for an offer and for a GPU model", async () => {
    const offer = market.find((o) => o.active && o.model === "RTX-4090" && o.gpuCount === 2)!;
    const t0 = Date.UTC(2026, 9, 1);
    await db.prisma.pricePoint.createMany({
      data: [["4.0000", 0], ["3.0000", 3_600_000], ["5.0000", 86_400_000]].map(([p, dt]) => ({
        offerId: offer.id, onDemandPrice: p as string, availability: "AVAILABLE" as const, recordedAt: new Date(t0 + (dt as number)),
      })),
    });
    const History = graphql(`query History($offer: ID, $gpuModel: String, $from: DateTime, $to: DateTime, $bucket: HistoryBucket!) {
      priceHistory(offer: $offer, gpuModel: $gpuModel, from: $from, to: $to, bucket: $bucket) { start min avg max points } }`);
    const range = { from: new Date(t0).toISOString(), to: new Date(t0 + 7 * 86_400_000).toISOString() };
    const byOffer = await request(History, { offer: Buffer.from(`GpuOffer:${offer.id}`).toString("base64"), bucket: "DAY", ...range });
    expect(byOffer.data!.priceHistory).toEqual([
      { start: "2026-10-01T00:00:00.000Z", min: "3.00", avg: "3.50", max: "4.00", points: 2 },
      { start: "2026-10-02T00:00:00.000Z", min: "5.00", avg: "5.00", max: "5.00", points: 1 },
    ]);
    const byModel = await request(History, { gpuModel: "RTX-4090", bucket: "WEEK", ...range });
    // per GPU-hour: the 2-GPU offer's 4, 3 and 5 become 2, 1.5 and 2.5
    expect(byModel.data!.priceHistory).toEqual([{ start: "2026-09-28T00:00:00.000Z", min: "1.50", avg: "2.00", max: "2.50", points: 3 }]);
  });
});
