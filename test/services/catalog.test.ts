// The catalog services called directly, as an assistant tool or a script would: no GraphQL, an actor
// per call (anonymous visitors, users and API keys may all read), coded AppErrors for bad input.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openTestDatabase } from "../support/db.ts";
import { rejection } from "../support/errors.ts";
import { testServices, userActor } from "../support/app.ts";
import { seedMarket, type MarketOffer } from "../support/market.ts";
import { anonymous } from "../../src/services/actor.ts";
import { matchesTick } from "../../src/services/events.ts";
import { resolveOfferFilter } from "../../src/services/offers.ts";
import { createEventLog } from "../../src/infra/event-log.ts";
import { writeTicks } from "../support/events.ts";
import type { PriceTick } from "../../src/infra/pubsub-types.ts";
import type { Database } from "../../src/infra/db.ts";

let db: Database;
let services: ReturnType<typeof testServices>;
let market: MarketOffer[];
const visitor = anonymous();
const user = userActor(1);
const apiKey = userActor(2, "USER", { via: "api_key", scopes: ["alerts:write"] });


beforeAll(async () => {
  db = await openTestDatabase();
  market = await seedMarket(db.prisma, 60);
  services = testServices(db);
});
afterAll(async () => { await db?.close(); });

const active = () => market.filter((o) => o.active);
const byPricePerGpu = (a: MarketOffer, b: MarketOffer) => Number(a.pricePerGpuHour) - Number(b.pricePerGpuHour) || a.id - b.id;

describe("offers service", () => {
  it("pages every active offer once for an anonymous visitor, cheapest per GPU-hour first, with the total", async () => {
    const expected = active().sort(byPricePerGpu).map((o) => o.id);
    const seen: number[] = [];
    let after: string | undefined;
    for (;;) {
      const page = await services.offers.search({ first: 7, after }, visitor);
      seen.push(...page.edges.map((e) => e.node.id));
      expect(page.pageInfo.hasPreviousPage).toBe(after !== undefined);
      if (!page.pageInfo.hasNextPage) break;
      after = page.pageInfo.endCursor ?? undefined;
    }
    expect(seen).toEqual(expected);
    const first = await services.offers.search({}, visitor);
    expect(first.edges).toHaveLength(20);
    expect(await services.offers.totalCount(first.filter, visitor)).toBe(expected.length);
  });

  it("pages backwards with last/before to the same order", async () => {
    const expected = active().sort(byPricePerGpu).map((o) => o.id);
    const last = await services.offers.search({ last: 5 }, user);
    expect(last.edges.map((e) => e.node.id)).toEqual(expected.slice(-5));
    expect(last.pageInfo).toMatchObject({ hasPreviousPage: true, hasNextPage: false });
    const before = await services.offers.search({ last: 5, before: last.pageInfo.startCursor }, user);
    expect(before.edges.map((e) => e.node.id)).toEqual(expected.slice(-10, -5));
    expect(before.pageInfo.hasNextPage).toBe(true);
  });

  it("resolves GPU model spellings and provider slugs in the filter, for a user and an API key alike", async () => {
    const filter = { gpuModels: ["h100 sxm", "H100-SXM-80GB"], providers: [" Alpha "] };
    const expected = active().filter((o) => o.model === "H100-SXM-80GB" && o.provider === "alpha").sort(byPricePerGpu).map((o) => o.id);
    expect(expected.length).toBeGreaterThan(1);
    for (const actor of [user, apiKey]) {
      const page = await services.offers.search({ filter, first: 100 }, actor);
      expect(page.edges.map((e) => e.node.id)).toEqual(expected);
      expect(page.filter.gpuModelIds).toHaveLength(1); // two spellings of one model
    }
    // the same resolution ranking, workload and alerts use
    const resolved = await services.offers.resolveFilter(filter, apiKey);
    expect(resolved).toMatchObject({ gpuModelIds: [expect.any(Number)], providerIds: [expect.any(Number)] });
    expect(resolved).not.toHaveProperty("gpuModels");
  });

  it("rejects a forged cursor, a cursor of another order and first with last as BAD_USER_INPUT", async () => {
    const forged = Buffer.from(JSON.stringify(["PRICE_PER_GPU", "1.25; DROP TABLE", 1])).toString("base64url");
    const bad = await rejection(services.offers.search({ after: forged }, visitor));
    expect(bad).toMatchObject({ code: "BAD_USER_INPUT", extensions: { code: "BAD_USER_INPUT", argument: "after" } });
    expect(bad.message).toMatch(/^after is not a valid offers cursor/);
    const cursor = (await services.offers.search({ first: 1 }, visitor)).pageInfo.endCursor;
    const other = await rejection(services.offers.search({ orderBy: { field: "PRICE" }, before: cursor }, visitor));
    expect(other.message).toBe("before is a cursor for orderBy PRICE_PER_GPU, but this query sorts by PRICE. Start again without a cursor.");
    expect((await rejection(services.offers.search({ first: 1, last: 1 }, visitor))).code).toBe("BAD_USER_INPUT");
  });

  it("rejects unknown GPU models and providers, naming them as the caller spelled them", async () => {
    const models = await rejection(services.offers.search({ filter: { gpuModels: ["Voodoo 5", "H100", "Rage 128"] } }, visitor));
    expect(models).toMatchObject({ code: "BAD_USER_INPUT", extensions: { field: "filter.gpuModels", unknown: ["Voodoo 5", "Rage 128"] } });
    expect(models.message).toBe('Unknown GPU models: "Voodoo 5", "Rage 128". The gpuModels query lists every known model.');
    const providers = await rejection(services.offers.facets({ filter: { providers: ["nope"] } }, user));
    expect(providers).toMatchObject({ code: "BAD_USER_INPUT", extensions: { field: "filter.providers", unknown: ["nope"] } });
    // The same resolution for every other caller of the filter (ranking, alerts, ticks).
    await expect(resolveOfferFilter(db.prisma, { gpuModels: ["H900"] })).rejects.toMatchObject({ code: "BAD_USER_INPUT" });
  });

  it("needs an LLM for COST_PER_MTOK and lists only offers it fits on", async () => {
    expect((await rejection(services.offers.search({ orderBy: { field: "COST_PER_MTOK" } }, visitor))).extensions).toMatchObject({ argument: "orderBy.model" });
    const page = await services.offers.search({ orderBy: { field: "COST_PER_MTOK", model: "llama-3-70b" }, first: 100 }, visitor);
    expect(page.edges.length).toBeGreaterThan(0);
    expect(page.edges.length).toBeLessThan(active().length);
    expect(await services.offers.totalCount(page.filter, visitor)).toBe(page.edges.length);
  });

  it("groups matching offers into facets", async () => {
    const facets = await services.offers.facets({ filter: { gpuCount: { min: 2 } } }, visitor);
    const subset = active().filter((o) => o.gpuCount >= 2);
    expect(Object.fromEntries(facets.providers.map((f) => [f.value, f.count]))).toEqual(
      Object.fromEntries(["alpha", "beta", "gamma"].map((p) => [p, subset.filter((o) => o.provider === p).length])),
    );
    expect(facets.gpuModels.reduce((n, f) => n + f.count, 0)).toBe(subset.length);
    expect(Object.fromEntries(facets.countries.map((f) => [f.value, f.count]))).toEqual(
      Object.fromEntries([...new Set(subset.map((o) => o.country))].map((c) => [c, subset.filter((o) => o.country === c).length])),
    );
    expect(facets.complianceTags).toEqual([]); // the test providers hold no tags
  });

  it("shows a provider's compliance attestations from the data file, only those its row holds", async () => {
    const lambda = services.catalog.compliance({ slug: "lambda", complianceTags: ["SOC2"] }, visitor);
    expect(lambda).toEqual([{ tag: "SOC2", source: expect.stringMatching(/^https:\/\//), checked: expect.stringMatching(/^\d{4}-\d{2}-\d{2}$/) }]);
    expect(services.catalog.compliance({ slug: "lambda", complianceTags: [] }, visitor)).toEqual([]);
    expect(services.catalog.compliance({ slug: "aws", complianceTags: ["HIPAA", "GDPR"] }, visitor).map((a) => a.tag)).toEqual(["HIPAA", "GDPR"]);
    expect(services.catalog.compliance({ slug: "alpha", complianceTags: ["SOC2"] }, visitor)).toEqual([]); // not in the file: nothing to cite
  });

  it("finds one offer by id; a malformed id is BAD_USER_INPUT and an unknown one NOT_FOUND", async () => {
    const offer = market[3]!;
    expect((await services.offers.byId({ id: String(offer.id) }, visitor)).pricePerGpuHour.toFixed(4)).toBe(offer.pricePerGpuHour);
    expect(await rejection(services.offers.byId({ id: "abc" }, visitor))).toMatchObject({ code: "BAD_USER_INPUT", message: '"abc" is not an offer ID.' });
    expect(await rejection(services.offers.byId({ id: "999999" }, visitor))).toMatchObject({ code: "NOT_FOUND", message: "No offer has this ID." });
  });
});

describe("catalog service", () => {
  it("lists providers by slug and finds one by slug regardless of case", async () => {
    expect((await services.catalog.providers(visitor)).map((p) => p.slug)).toEqual(["alpha", "beta", "gamma"]);
    expect((await services.catalog.provider({ slug: " BETA " }, user)).name).toBe("Beta Market");
    expect(await rejection(services.catalog.provider({ slug: "nope" }, visitor))).toMatchObject({
      code: "NOT_FOUND", message: 'No provider has the slug "nope". The providers query lists them all.', extensions: { slug: "nope" },
    });
  });

  it("lists GPU models by vendor (enum order) then name and finds one by any provider spelling", async () => {
    expect((await services.catalog.gpuModels(visitor)).map((m) => m.name)).toEqual(["A100-SXM-80GB", "H100-SXM-80GB", "RTX-4090", "MI300X"]); // vendor in enum order: NVIDIA, AMD
    expect((await services.catalog.gpuModel({ name: "NVIDIA H100 80GB HBM3" }, visitor)).name).toBe("H100-SXM-80GB");
    expect((await services.catalog.gpuModel({ name: "rtx4090" }, apiKey)).name).toBe("RTX-4090");
    expect(await rejection(services.catalog.gpuModel({ name: "Voodoo 5" }, visitor))).toMatchObject({
      code: "NOT_FOUND", message: 'No GPU model matches "Voodoo 5". The gpuModels query lists every known model.',
    });
  });
});

describe("price history service", () => {
  it("buckets a GPU model's prices per GPU-hour, the model named by any spelling", async () => {
    const offer = market.find((o) => o.active && o.model === "A100-SXM-80GB" && o.gpuCount === 2)!;
    const t0 = Date.UTC(2026, 8, 1);
    await db.prisma.pricePoint.createMany({
      data: [["4.0000", 0], ["3.0000", 3_600_000]].map(([p, dt]) => ({ offerId: offer.id, onDemandPrice: p as string, availability: "AVAILABLE" as const, recordedAt: new Date(t0 + (dt as number)) })),
    });
    const buckets = await services.priceHistory.buckets({ gpuModel: "a100 sxm 80gb", from: new Date(t0), to: new Date(t0 + 86_400_000), bucket: "DAY" }, visitor);
    expect(buckets.map((b) => [b.start.toISOString(), b.min.toFixed(4), b.max.toFixed(4), b.points])).toEqual([["2026-09-01T00:00:00.000Z", "1.5000", "2.0000", 2]]);
    const byOffer = await services.priceHistory.buckets({ offer: String(offer.id), from: new Date(t0), to: new Date(t0 + 86_400_000), bucket: "HOUR" }, user);
    expect(byOffer.map((b) => b.avg.toFixed(4))).toEqual(["4.0000", "3.0000"]);
  });

  it("rejects both or neither of offer and gpuModel, a reversed range and an unknown model", async () => {
    expect(await rejection(services.priceHistory.buckets({ offer: "1", gpuModel: "H100", bucket: "DAY" }, visitor))).toMatchObject({ code: "BAD_USER_INPUT", message: "Give exactly one of offer or gpuModel." });
    expect((await rejection(services.priceHistory.buckets({ bucket: "DAY" }, visitor))).code).toBe("BAD_USER_INPUT");
    expect(await rejection(services.priceHistory.buckets({ gpuModel: "H100", from: new Date(2), to: new Date(1), bucket: "DAY" }, visitor))).toMatchObject({ code: "BAD_USER_INPUT", extensions: { argument: "from" } });
    expect(await rejection(services.priceHistory.buckets({ gpuModel: "Voodoo 5", bucket: "WEEK" }, visitor))).toMatchObject({ code: "NOT_FOUND", extensions: { argument: "gpuModel" } });
  });
});

describe("price tick filters (events service)", () => {
  const tick = (over: Partial<PriceTick>): PriceTick => ({
    offerId: 1, provider: "alpha", providerId: 1, gpuModel: "H100-SXM-80GB", gpuModelId: 1, region: "us-east-1", gpuCount: 2, kind: "changed",
    oldOnDemandPrice: "5.0000", newOnDemandPrice: "4.0000", oldSpotPrice: null, newSpotPrice: null, oldAvailability: "AVAILABLE", newAvailability: "AVAILABLE",
    pricePerGpuHour: "2.0000", changePercent: -20, at: "2026-11-26T10:00:00.000Z", ...over,
  });
  const withdrawn = tick({ kind: "deactivated", newOnDemandPrice: null, newAvailability: null, changePercent: null });

  it("match ticks through the offer filter: a withdrawal is UNAVAILABLE at its last known price, and still delivered", () => {
    expect(matchesTick({ offers: { availability: ["UNAVAILABLE"], includeInactive: true }, minChangePercent: null }, withdrawn)).toBe(true);
    expect(matchesTick({ offers: { availability: ["AVAILABLE"], includeInactive: true }, minChangePercent: null }, withdrawn)).toBe(false);
    expect(matchesTick({ offers: { price: { max: "5" }, includeInactive: true }, minChangePercent: null }, withdrawn)).toBe(true);
    expect(matchesTick({ offers: { price: { max: "4.9999" }, includeInactive: true }, minChangePercent: null }, withdrawn)).toBe(false);
    expect(matchesTick({ offers: { gpuModelIds: [1], providerIds: [1], includeInactive: true }, minChangePercent: 20 }, tick({}))).toBe(true);
    expect(matchesTick({ offers: { gpuModelIds: [2], includeInactive: true }, minChangePercent: null }, tick({}))).toBe(false);
    expect(matchesTick({ offers: { includeInactive: true }, minChangePercent: 20.01 }, tick({}))).toBe(false);
    expect(matchesTick({ offers: { includeInactive: true }, minChangePercent: 0 }, withdrawn)).toBe(false);
  });

  it("subscribes with names resolved once (unknown ones rejected before listening) and delivers only matching ticks", async () => {
    const log = createEventLog({ prisma: db.prisma, pollMs: 200 });
    const { events } = testServices(db, { events: log });
    try {
      expect(await rejection(events.availabilityChanges({ gpuModels: ["H900"] }, visitor))).toMatchObject({ code: "BAD_USER_INPUT", extensions: { unknown: ["H900"] } });
      const alpha = (await db.prisma.provider.findUniqueOrThrow({ where: { slug: "alpha" } })).id;
      const h100 = (await db.prisma.gpuModel.findUniqueOrThrow({ where: { name: "H100-SXM-80GB" } })).id;
      const ticks = await events.priceTicks({ gpuModels: ["h100"], providers: ["ALPHA"], maxPricePerHour: "4.50" }, visitor);
      const moves = await events.availabilityChanges({ providers: ["alpha"] }, visitor);
      const mine = { providerId: alpha, gpuModelId: h100 };
      await writeTicks(db.prisma, log, [
        tick({ offerId: 1, ...mine, newOnDemandPrice: "4.6000" }), // too dear
        tick({ offerId: 2, providerId: alpha, gpuModelId: null }), // GPU not identified
        tick({ offerId: 3, ...mine, providerId: alpha + 1000 }), // another provider
        tick({ offerId: 4, ...mine }),
        tick({ offerId: 5, ...mine, newAvailability: "LIMITED" }), // matches, and changes availability
      ]);
      expect((await ticks.next()).value).toMatchObject({ offerId: 4, cursor: expect.any(String) });
      expect((await ticks.next()).value).toMatchObject({ offerId: 5 });
      // availability changes only: a price move of the same offers is not one
      expect((await moves.next()).value).toMatchObject({ offerId: 5, oldAvailability: "AVAILABLE", newAvailability: "LIMITED" });
      await ticks.return?.();
      await moves.return?.();
    } finally {
      await log.close();
    }
  });
});
