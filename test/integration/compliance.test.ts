// Compliance and residency (issue 17 part 3): providers' compliance tags come from
// data/provider-compliance.json; `complianceTags: { all }` and `countries` filter offers, facets,
// rankOffers, alerts and ticks, and every count here is checked against SQL over the stored rows.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Prisma } from "../../src/generated/prisma/client.ts";
import { openTestDatabase } from "../support/db.ts";
import { testClient, testServices, userActor } from "../support/app.ts";
import type { Database } from "../../src/infra/db.ts";
import type { CatalogOffer } from "../../src/domain/catalog/types.ts";
import { applyCatalog } from "../../src/ingestion/catalog-sync.ts";
import { syncGpuModels } from "../../src/ingestion/gpu-models.ts";
import { complianceOf, loadComplianceData, syncProviderCompliance } from "../../src/infra/compliance.ts";
import { TickIndex } from "../../src/services/events.ts";
import { COMPLIANCE_TAGS } from "../../src/domain/catalog/compliance.ts";
import type { PriceTick } from "../../src/infra/pubsub-types.ts";

const PASSWORD = "a long and lovely passphrase";
const offer = (id: string, gpu: string, count: number, price: string, region: string, country: string | null): CatalogOffer => ({
  externalId: id, instanceType: `${id}-type`, gpuName: gpu, gpuCount: count, region, country, onDemandPrice: price,
});

/** Real registry providers: aws holds every tag, lambda SOC2 only, runpod and vast none (data/provider-compliance.json). */
const CATALOGS: Record<string, CatalogOffer[]> = {
  aws: [
    offer("p5", "H100 SXM", 8, "98.32", "us-east-1", "US"),
    offer("p4d", "A100 SXM4 40GB", 8, "32.77", "eu-central-1", "DE"),
    offer("g6e", "L40S", 1, "1.86", "eu-west-1", "IE"),
  ],
  lambda: [
    offer("l-h100", "H100 SXM", 8, "23.92", "us-east-1", "US"),
    offer("l-a100", "A100 SXM4 40GB", 1, "1.29", "us-west-1", "US"),
  ],
  runpod: [
    offer("r-h100", "H100 SXM", 1, "2.69", "EU-RO-1", "RO"),
    offer("r-4090", "RTX 4090", 1, "0.69", "US-TX-3", "US"),
    offer("r-l40s", "L40S", 1, "0.86", "EU-SE-1", "SE"),
  ],
  vast: [
    offer("v-4090", "RTX 4090", 2, "0.70", "Quebec, CA", "CA"),
    offer("v-unknown", "RTX 4090", 1, "0.31", "somewhere", null),
  ],
};

describe("compliance and residency filters", () => {
  let db: Database;
  let request: ReturnType<typeof testClient>["request"];
  let services: ReturnType<typeof testServices>;

  beforeAll(async () => {
    db = await openTestDatabase();
    await syncGpuModels(db.prisma);
    for (const [slug, offers] of Object.entries(CATALOGS)) await applyCatalog(db.prisma, slug, offers);
    request = testClient(db).request;
    services = testServices(db);
  });
  afterAll(async () => { await db?.close(); });

  /** Active offers whose provider holds every tag (and is among `providers`, and in `countries`), by SQL over the rows. */
  async function sqlCount(tags: string[], providers?: string[], countries?: string[]): Promise<number> {
    const [row] = await db.prisma.$queryRaw<[{ n: number }]>`
      SELECT count(*)::int AS n FROM "GpuOffer" o JOIN "Provider" p ON p.id = o."providerId"
      WHERE o.active AND p."complianceTags" @> ${tags}::text[]
        AND (${providers ?? null}::text[] IS NULL OR p.slug = ANY(${providers ?? null}::text[]))
        AND (${countries ?? null}::text[] IS NULL OR o.country = ANY(${countries ?? null}::text[]))`;
    return row.n;
  }

  it("gives new providers their tags from the data file, each with its source and check date", async () => {
    const res = await request(`{ providers { slug complianceTags compliance { tag source checked } } }`);
    expect(res.errors).toBeUndefined();
    const bySlug = new Map(res.data.providers.map((p: { slug: string }) => [p.slug, p]));
    expect(bySlug.get("lambda")).toMatchObject({ complianceTags: ["SOC2"], compliance: [{ tag: "SOC2", source: expect.stringMatching(/^https:\/\//), checked: expect.stringMatching(/^\d{4}-\d{2}-\d{2}$/) }] });
    expect(bySlug.get("aws")).toMatchObject({ complianceTags: [...COMPLIANCE_TAGS] });
    expect((bySlug.get("aws") as { compliance: unknown[] }).compliance).toHaveLength(COMPLIANCE_TAGS.length);
    expect(bySlug.get("runpod")).toMatchObject({ complianceTags: [], compliance: [] });
  });

  it("filters offers by every tag, alone and within providers, with totals equal to SQL counts", async () => {
    const cases: { tags: string[]; providers?: string[]; countries?: string[] }[] = [
      { tags: ["SOC2"] }, { tags: ["SOC2", "HIPAA"] }, { tags: ["HIPAA", "SOC2", "HIPAA"] }, { tags: ["GDPR"], countries: ["de", "IE"] },
      { tags: ["SOC2"], providers: ["lambda", "runpod"] }, { tags: ["FEDRAMP"], providers: ["lambda", "runpod"] }, { tags: [] },
      { tags: ["SOC2"], countries: ["US"] },
    ];
    for (const c of cases) {
      const res = await request(`query($f: OfferFilter) { offers(filter: $f, first: 100) { totalCount edges { node { provider { slug complianceTags } country } } } }`,
        { f: { complianceTags: { all: c.tags }, providers: c.providers, countries: c.countries } });
      expect(res.errors, JSON.stringify(c)).toBeUndefined();
      const expected = await sqlCount([...new Set(c.tags)], c.providers, c.countries?.map((x) => x.toUpperCase()));
      expect(res.data.offers.totalCount, JSON.stringify(c)).toBe(expected);
      expect(res.data.offers.edges).toHaveLength(expected);
      for (const { node } of res.data.offers.edges) {
        for (const tag of c.tags) expect(node.provider.complianceTags).toContain(tag);
        if (c.providers) expect(c.providers).toContain(node.provider.slug);
      }
    }
    // the hyperscaler's tags hold, the marketplaces' do not
    expect(await sqlCount(["SOC2"])).toBe(CATALOGS.aws!.length + CATALOGS.lambda!.length);
    expect(await sqlCount(["FEDRAMP"], ["lambda", "runpod"])).toBe(0);
  });

  it("rejects a tag it does not know, naming the variable, with BAD_USER_INPUT", async () => {
    const res = await request(`query($f: OfferFilter) { offers(filter: $f) { totalCount } }`, { f: { complianceTags: { all: ["SOC3"] } } });
    expect(res.data ?? null).toBeNull();
    expect(res.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
    expect(res.errors?.[0]?.message).toMatch(/\$f/);
  });

  it("counts offers per compliance tag and per country in the facets, as SQL does", async () => {
    const facets = await request(`query($f: OfferFilter) { offerFacets(filter: $f) {
      complianceTags { value count minPricePerGpuHour maxPricePerGpuHour } countries { value count } providers { value count } } }`, { f: {} });
    expect(facets.errors).toBeUndefined();
    const tagRows = await db.prisma.$queryRaw<{ tag: string; n: number; lo: Prisma.Decimal; hi: Prisma.Decimal }[]>`
      SELECT t.tag, count(*)::int AS n, min(o."pricePerGpuHour") AS lo, max(o."pricePerGpuHour") AS hi
      FROM "GpuOffer" o JOIN "Provider" p ON p.id = o."providerId" CROSS JOIN unnest(p."complianceTags") t(tag)
      WHERE o.active GROUP BY t.tag ORDER BY n DESC, t.tag`;
    const numeric = (f: { value: string; count: number; minPricePerGpuHour: string; maxPricePerGpuHour: string }) =>
      ({ value: f.value, count: f.count, lo: Number(f.minPricePerGpuHour), hi: Number(f.maxPricePerGpuHour) });
    expect(facets.data.offerFacets.complianceTags.map(numeric)).toEqual(tagRows.map((r) => ({ value: r.tag, count: r.n, lo: r.lo.toNumber(), hi: r.hi.toNumber() })));
    expect(tagRows.find((r) => r.tag === "SOC2")?.n).toBe(5);
    const countryRows = await db.prisma.$queryRaw<{ c: string | null; n: number }[]>`
      SELECT country::text AS c, count(*)::int AS n FROM "GpuOffer" WHERE active GROUP BY country`;
    const countries = facets.data.offerFacets.countries as { value: string | null; count: number }[];
    expect(new Map(countries.map((f) => [f.value, f.count]))).toEqual(new Map(countryRows.map((r) => [r.c, r.n])));
    expect(countries.some((f) => f.value === null)).toBe(true); // the offer without a country is grouped, not dropped

    // filtered: only the tagged providers' offers, and each tag's count within them
    const soc2 = await request(`query($f: OfferFilter) { offerFacets(filter: $f) { complianceTags { value count } providers { value count } } }`,
      { f: { complianceTags: { all: ["SOC2"] } } });
    expect(soc2.data.offerFacets.providers.map((p: { value: string }) => p.value).sort()).toEqual(["aws", "lambda"]);
    expect(soc2.data.offerFacets.complianceTags).toContainEqual({ value: "SOC2", count: await sqlCount(["SOC2"]) });
    expect(soc2.data.offerFacets.complianceTags).toContainEqual({ value: "HIPAA", count: await sqlCount(["SOC2", "HIPAA"]) });
  });

  it("ranks only offers of providers holding the tags, and nothing when no provider holds them all", async () => {
    const RANK = `query($f: OfferFilter) { rankOffers(filter: $f, criteria: [{ criterion: PRICE_PER_GPU_HOUR, weight: 1 }], first: 50) {
      considered ranked { offer { provider { slug } } } } }`;
    const all = await request(RANK, { f: { complianceTags: { all: ["HIPAA"] } } });
    expect(all.errors).toBeUndefined();
    expect(all.data.rankOffers.considered).toBe(await sqlCount(["HIPAA"]));
    expect(new Set(all.data.rankOffers.ranked.map((r: { offer: { provider: { slug: string } } }) => r.offer.provider.slug))).toEqual(new Set(["aws"]));
    const none = await request(RANK, { f: { complianceTags: { all: ["HIPAA"] }, providers: ["runpod", "vast"] } });
    expect(none.errors).toBeUndefined();
    expect(none.data.rankOffers).toEqual({ considered: 0, ranked: [] });
  });

  it("keeps an alert's tags and watches only offers of providers holding them", async () => {
    const reg = await request(`mutation { register(email: "compliance@example.com", password: "${PASSWORD}", name: "C") { accessToken } }`);
    const auth = { authorization: `Bearer ${reg.data.register.accessToken}` };
    const CREATE = `mutation($f: OfferFilter) { createPriceAlert(name: "SOC2 H100", filter: $f, threshold: "50") { filter below lastOffer { externalId } } }`;
    const res = await request(CREATE, { f: { gpuModels: ["H100"], complianceTags: { all: ["SOC2", "SOC2"] } } }, auth);
    expect(res.errors).toBeUndefined();
    expect(JSON.parse(res.data.createPriceAlert.filter)).toEqual({ gpuModels: ["H100-SXM-80GB"], complianceTags: { all: ["SOC2"] } });
    // runpod's H100 is the cheapest per GPU-hour (2.69) but holds no SOC2: lambda's (23.92 / 8 = 2.99) is the match
    expect(res.data.createPriceAlert).toMatchObject({ below: true, lastOffer: { externalId: "l-h100" } });
    const none = await request(CREATE, { f: { complianceTags: { all: ["HIPAA"] }, providers: ["runpod"] } }, auth);
    expect(none.data.createPriceAlert).toMatchObject({ below: false, lastOffer: null });
  });

  it("lets a price-tick subscription ask for the tags: the index keeps ticks of holders only", async () => {
    const ids = new Map((await db.prisma.provider.findMany()).map((p) => [p.slug, p.id]));
    const tick = (provider: string): PriceTick => ({
      offerId: 1, provider, providerId: ids.get(provider)!, gpuModel: "H100-SXM-80GB", gpuModelId: 1, region: "us-east-1", gpuCount: 1, kind: "changed",
      oldOnDemandPrice: "3.0000", newOnDemandPrice: "2.0000", oldSpotPrice: null, newSpotPrice: null, oldAvailability: "AVAILABLE", newAvailability: "AVAILABLE",
      pricePerGpuHour: "2.0000", changePercent: -33.33, at: "2026-12-07T10:00:00.000Z",
    } as PriceTick);
    const index = new TickIndex();
    const actor = userActor(1);
    const soc2 = index.add({ offers: await services.offers.resolveFilter({ complianceTags: { all: ["SOC2"] }, includeInactive: true }, actor), minChangePercent: null });
    const nobody = index.add({ offers: await services.offers.resolveFilter({ complianceTags: { all: ["FEDRAMP"] }, providers: ["lambda"], includeInactive: true }, actor), minChangePercent: null });
    expect(["aws", "lambda", "runpod", "vast"].map((p) => soc2.keep(tick(p)))).toEqual([true, true, false, false]);
    expect(["aws", "lambda", "runpod", "vast"].map((p) => nobody.keep(tick(p)))).toEqual([false, false, false, false]);
    // the GraphQL subscriptions take the same input (shared where-fields)
    const sdl = readFileSync(new URL("../../schema.graphql", import.meta.url), "utf8");
    for (const input of ["PriceTickFilter", "OfferAvailabilityFilter", "OfferFilter"]) {
      expect(sdl.match(new RegExp(`input ${input} \\{[^}]*complianceTags: ComplianceTagsFilter`))?.length, input).toBe(1);
    }
  });

  it("brings existing rows in line with the data file at start, once, and refuses a malformed file", async () => {
    await db.prisma.provider.update({ where: { slug: "lambda" }, data: { complianceTags: ["PCI-DSS"] } });
    const before = (await db.prisma.provider.findUniqueOrThrow({ where: { slug: "lambda" } })).catalogVersion;
    expect(await syncProviderCompliance(db.prisma)).toEqual(["lambda"]);
    const after = await db.prisma.provider.findUniqueOrThrow({ where: { slug: "lambda" } });
    expect(after.complianceTags).toEqual(complianceOf("lambda").map((a) => a.tag));
    expect(after.catalogVersion).toBe(before + 1); // cached facets and rankings are read again
    expect(await syncProviderCompliance(db.prisma)).toEqual([]);

    const dir = mkdtempSync(join(tmpdir(), "compliance-"));
    const bad = (providers: unknown) => {
      const path = join(dir, `${Math.random()}.json`);
      writeFileSync(path, JSON.stringify({ providers }));
      return () => loadComplianceData(path);
    };
    expect(bad({ x: [{ tag: "SOC3", source: "https://x.example/", checked: "2026-12-07" }] })).toThrow(/tag/);
    expect(bad({ x: [{ tag: "SOC2", source: "http://x.example/", checked: "2026-12-07" }] })).toThrow(/source/);
    expect(bad({ x: [{ tag: "SOC2", source: "https://x.example/", checked: "yesterday" }] })).toThrow(/checked/);
    expect(bad({ x: [{ tag: "SOC2", source: "https://x.example/", checked: "2026-12-07" }, { tag: "SOC2", source: "https://y.example/", checked: "2026-12-07" }] })).toThrow(/twice/);
    expect(bad({ x: [{ tag: "SOC2", source: "https://x.example/", checked: "2026-12-07", extra: 1 }] })).toThrow();
    // the shipped file is valid, and every source is the provider's own https page
    for (const [, list] of loadComplianceData()) for (const a of list) expect(a.source).toMatch(/^https:\/\//);
  });
});
