import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Prisma, type PrismaClient } from "../../src/generated/prisma/client.ts";
import { getGpuSpec } from "../../src/domain/gpu/specs.ts";
import { costPerMillionTokens, estimateInference } from "../../src/domain/math/llm.ts";
import { gpuKpis, marketInsights, marketOverview, providerKpis } from "../../src/infra/kpi.ts";
import { rollPriceWindows } from "../../src/infra/price-windows.ts";
import type { Database } from "../../src/infra/db.ts";
import { openTestDatabase } from "../support/db.ts";
import { testClient } from "../support/app.ts";
import { globalId } from "../support/market.ts";

// A small market with a known history. Times are offsets before NOW; per-GPU prices in brackets.
//
//  offer provider model        GPUs  availability  price points (on-demand, whole instance)          now
//  O1    alpha    H100-SXM     1     AVAILABLE     −40d 2.00, −10d 2.10, −2h 2.40                      2.40  spot 1.44
//  O2    alpha    H100-SXM     8     LIMITED       −40d 16.00 [2.00], −3d 17.60 [2.20]                 17.60 [2.20]  spot 8.80 [1.10]
//  O3    beta     H100-SXM     2     UNAVAILABLE   −20d 6.00 [3.00]  (no point since: price carries)   6.00 [3.00]
//  O4    beta     H100-SXM     1     inactive      −40d 1.00, −5d 5.00 (+300 %, must be ignored)       5.00
//  O5    beta     H100-SXM     1     UNKNOWN       −12h 2.60 (new: too young for any window)           2.60
//  O6    alpha    A100-SXM     4     AVAILABLE     −40d 8.00 [2.00], −5d 6.00 [1.50]                   6.00 [1.50]
//  O7    beta     A100-SXM     1     AVAILABLE     −40d 1.20 LIMITED, −6d 1.20 AVAILABLE (availability only) 1.20
//  O8    beta     RTX-4090     1     UNKNOWN       no points at all                                    0.50
//  O9    alpha    H100-PCIE    1     UNAVAILABLE   −40d 2.10                                           2.10
// Providers: alpha (reliability 0.95), beta (no score), gamma (no offers).
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const NOW = new Date(Math.floor(Date.now() / 1000) * 1000);
const at = (ms: number) => new Date(NOW.getTime() - ms);

type Point = [ago: number, price: string, availability?: "AVAILABLE" | "LIMITED" | "UNAVAILABLE" | "UNKNOWN"];
interface SeedOffer {
  key: string; provider: string; model: string; gpus: number; price: string; spot?: string;
  availability: "AVAILABLE" | "LIMITED" | "UNAVAILABLE" | "UNKNOWN"; active?: boolean; points: Point[];
}
const OFFERS: SeedOffer[] = [
  { key: "O1", provider: "alpha", model: "H100-SXM-80GB", gpus: 1, price: "2.40", spot: "1.44", availability: "AVAILABLE", points: [[40 * DAY, "2.00"], [10 * DAY, "2.10"], [2 * HOUR, "2.40"]] },
  { key: "O2", provider: "alpha", model: "H100-SXM-80GB", gpus: 8, price: "17.60", spot: "8.80", availability: "LIMITED", points: [[40 * DAY, "16.00"], [3 * DAY, "17.60"]] },
  { key: "O3", provider: "beta", model: "H100-SXM-80GB", gpus: 2, price: "6.00", availability: "UNAVAILABLE", points: [[20 * DAY, "6.00"]] },
  { key: "O4", provider: "beta", model: "H100-SXM-80GB", gpus: 1, price: "5.00", availability: "AVAILABLE", active: false, points: [[40 * DAY, "1.00"], [5 * DAY, "5.00"]] },
  { key: "O5", provider: "beta", model: "H100-SXM-80GB", gpus: 1, price: "2.60", availability: "UNKNOWN", points: [[12 * HOUR, "2.60"]] },
  { key: "O6", provider: "alpha", model: "A100-SXM-80GB", gpus: 4, price: "6.00", availability: "AVAILABLE", points: [[40 * DAY, "8.00"], [5 * DAY, "6.00"]] },
  { key: "O7", provider: "beta", model: "A100-SXM-80GB", gpus: 1, price: "1.20", availability: "AVAILABLE", points: [[40 * DAY, "1.20", "LIMITED"], [6 * DAY, "1.20"]] },
  { key: "O8", provider: "beta", model: "RTX-4090", gpus: 1, price: "0.50", availability: "UNKNOWN", points: [] },
  { key: "O9", provider: "alpha", model: "H100-PCIE-80GB", gpus: 1, price: "2.10", availability: "UNAVAILABLE", points: [[40 * DAY, "2.10"]] },
];

const specRow = (name: string) => { const { sources: _s, ...spec } = getGpuSpec(name)!; return spec; };

async function seed(prisma: PrismaClient) {
  await prisma.gpuModel.createMany({ data: ["H100-SXM-80GB", "H100-PCIE-80GB", "A100-SXM-80GB", "RTX-4090"].map(specRow) });
  await prisma.provider.createMany({ data: [
    { slug: "alpha", name: "Alpha", kind: "NEOCLOUD", reliabilityScore: "0.95" },
    { slug: "beta", name: "Beta", kind: "MARKETPLACE" },
    { slug: "gamma", name: "Gamma", kind: "HYPERSCALER" },
  ] });
  const models = new Map((await prisma.gpuModel.findMany()).map((m) => [m.name, m.id]));
  const providers = new Map((await prisma.provider.findMany()).map((p) => [p.slug, p.id]));
  const ids: Record<string, number> = {};
  for (const o of OFFERS) {
    const per = (v: string) => new Prisma.Decimal(v).div(o.gpus).toFixed(4);
    const row = await prisma.gpuOffer.create({ data: {
      providerId: providers.get(o.provider)!, externalId: o.key, instanceType: `${o.gpus}x-${o.model}`, gpuModelId: models.get(o.model)!,
      gpuName: o.model, gpuCount: o.gpus, vramPerGpuGb: 80, vramTotalGb: 80 * o.gpus, region: "us-east-1",
      onDemandPrice: o.price, pricePerGpuHour: per(o.price), spotPrice: o.spot ?? null, spotPricePerGpuHour: o.spot ? per(o.spot) : null,
      availability: o.availability, active: o.active ?? true,
      pricePoints: { create: o.points.map(([ago, price, availability]) => ({ onDemandPrice: price, availability: availability ?? o.availability, recordedAt: at(ago) })) },
    } });
    ids[o.key] = row.id;
  }
  return { ids, models, providers };
}

/** Decimals as 4-decimal strings, so whole results compare with toEqual. */
function plain(value: unknown): unknown {
  if (Prisma.Decimal.isDecimal(value)) return (value as Prisma.Decimal).toFixed(4);
  if (value instanceof Date || value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) return value.map(plain);
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
}

describe("market KPIs", () => {
  let db: Database;
  let ids: Record<string, number>;
  let models: Map<string, number>;
  let providers: Map<string, number>;
  let request: ReturnType<typeof testClient>["request"];

  beforeAll(async () => {
    db = await openTestDatabase();
    ({ ids, models, providers } = await seed(db.prisma));
    request = testClient(db).request;
  });
  afterAll(async () => { await db?.close(); });

  it("marketOverview counts active offers and finds the cheapest of each headline family", async () => {
    const o = await marketOverview(db.prisma);
    expect(plain({ ...o, cheapest: undefined })).toMatchObject({
      activeOffers: 8, providers: 2, gpuModels: 4, // O4 is inactive; gamma has no offers
      medianPricePerGpuHour: [
        { gpuModelId: models.get("A100-SXM-80GB"), offers: 2, medianPricePerGpuHour: "1.3500" }, // (1.50 + 1.20) / 2
        { gpuModelId: models.get("H100-PCIE-80GB"), offers: 1, medianPricePerGpuHour: "2.1000" },
        { gpuModelId: models.get("H100-SXM-80GB"), offers: 4, medianPricePerGpuHour: "2.5000" }, // 2.20 2.40 | 2.60 3.00
        { gpuModelId: models.get("RTX-4090"), offers: 1, medianPricePerGpuHour: "0.5000" },
      ],
    });
    // any H100 variant: the PCIe O9 (2.10) beats the SXM O2 (2.20)
    expect(o.cheapest.H100.offer?.offer.id).toBe(ids.O9);
    expect(o.cheapest.A100.offer?.offer.id).toBe(ids.O7);
    expect(o.cheapest.RTX4090.offer?.pricePerGpuHour.toFixed(4)).toBe("0.5000");
    expect([o.cheapest.H100.reason, o.cheapest.A100.reason, o.cheapest.RTX4090.reason]).toEqual([null, null, null]);
  });

  it("gpuKpis: percentiles, spot discount, availability and like-for-like trends with carried-forward prices", async () => {
    const k = await gpuKpis(db.prisma, models.get("H100-SXM-80GB")!, NOW);
    expect(plain(k)).toEqual({
      gpuModelId: models.get("H100-SXM-80GB"), asOf: NOW,
      activeOffers: 4, providers: 2, // O1 O2 O3 O5 (O4 inactive)
      // sorted 2.20 2.40 2.60 3.00; median (2.40 + 2.60) / 2; p90 at rank 0.9 × 3 = 2.7: 2.60 + 0.7 × 0.40
      pricePerGpuHour: { min: "2.2000", median: "2.5000", p90: "2.8800" }, pricePerGpuHourReason: null,
      // O1 1 − 1.44/2.40 = 0.4, O2 1 − 1.10/2.20 = 0.5 → median 0.45
      spotOffers: 2, spotDiscount: 0.45, spotDiscountReason: null,
      // AVAILABLE O1 + LIMITED O2 of 3 known (O3 UNAVAILABLE; O5 UNKNOWN left out) = 2/3
      availabilityShare: 0.666667, availabilityShareReason: null,
      priceChange: {
        // since −24h: O1 2.10 (its −10d point carries) → 2.40, O2 2.20 → 2.20, O3 3.00 → 3.00; O5 too young.
        // median 2.20 → 2.40: 2.40/2.20 − 1
        HOURS_24: { reason: null, trend: { since: at(DAY), offersCompared: 3, medianThen: "2.2000", medianNow: "2.4000", change: 0.090909 } },
        // since −7d: O1 2.10, O2 2.00 (−40d), O3 3.00 (−20d, carried) → median 2.10; now 2.40: 2.40/2.10 − 1
        DAYS_7: { reason: null, trend: { since: at(7 * DAY), offersCompared: 3, medianThen: "2.1000", medianNow: "2.4000", change: 0.142857 } },
        // since −30d: O3's first point (−20d) is too late; O1 2.00, O2 2.00 → 2.40, 2.20: 2.30/2.00 − 1
        DAYS_30: { reason: null, trend: { since: at(30 * DAY), offersCompared: 2, medianThen: "2.0000", medianNow: "2.3000", change: 0.15 } },
      },
    });
  });

  it("gpuKpis without history, spot prices or known availability says why instead of guessing", async () => {
    const k = await gpuKpis(db.prisma, models.get("RTX-4090")!, NOW);
    expect(plain(k)).toMatchObject({
      activeOffers: 1, pricePerGpuHour: { min: "0.5000", median: "0.5000", p90: "0.5000" },
      spotOffers: 0, spotDiscount: null, spotDiscountReason: "None of the 1 active offers has a spot price.",
      availabilityShare: null, availabilityShareReason: "All 1 active offers report availability UNKNOWN.",
      priceChange: {
        HOURS_24: { trend: null, reason: `No active offer of this model has a price point at or before ${at(DAY).toISOString()}, so there is no 24-hour comparison.` },
        DAYS_7: { trend: null, reason: `No active offer of this model has a price point at or before ${at(7 * DAY).toISOString()}, so there is no 7-day comparison.` },
        DAYS_30: { trend: null, reason: `No active offer of this model has a price point at or before ${at(30 * DAY).toISOString()}, so there is no 30-day comparison.` },
      },
    });
    const none = await gpuKpis(db.prisma, (await db.prisma.gpuModel.create({ data: specRow("MI300X") })).id, NOW);
    expect(plain(none)).toMatchObject({
      activeOffers: 0, providers: 0, pricePerGpuHour: null, pricePerGpuHourReason: "No active offers.",
      spotDiscount: null, spotDiscountReason: "No active offers.", availabilityShare: null, availabilityShareReason: "No active offers.",
    });
  });

  it("providerKpis: price index, availability, reliability and volatility", async () => {
    const alpha = await providerKpis(db.prisma, providers.get("alpha")!, NOW);
    expect(alpha).toEqual({
      providerId: providers.get("alpha"), asOf: NOW, activeOffers: 4,
      // market medians: H100-SXM 2.50, A100 1.35, H100-PCIE 2.10. alpha: H100-SXM median(2.40, 2.20) = 2.30 over 2 offers,
      // A100 1.50, H100-PCIE 2.10 → (0.92² × (1.50/1.35) × 1)^(1/4) = 0.98476654…
      priceIndex: 0.984767, priceIndexReason: null, priceIndexModels: 3,
      availabilityShare: 0.75, availabilityShareReason: null, // O1 O2 O6 of 4 known (O9 UNAVAILABLE)
      reliabilityScore: 0.95, reliabilityScoreReason: null,
      // changes in (−30d, now]: O1 2.10/2.00 − 1 = 0.05, 2.40/2.10 − 1 = 0.142857…, O2 0.1, O6 −0.25;
      // mean 0.0107143, sample variance 0.0949490 / 3 → √ = 0.1779035…
      volatility: 0.177904, volatilityReason: null, priceChanges: 4, volatilitySince: at(30 * DAY),
    });
    const beta = await providerKpis(db.prisma, providers.get("beta")!, NOW);
    expect(beta).toMatchObject({
      activeOffers: 4,
      // H100-SXM median(3.00, 2.60) = 2.80 / 2.50 = 1.12 over 2 offers, A100 1.20/1.35, RTX 0.50/0.50 = 1
      // → (1.12² × 0.8889 × 1)^(1/4) = 1.0275924…
      priceIndex: 1.027592, priceIndexModels: 3,
      availabilityShare: 0.5, // O7 AVAILABLE, O3 UNAVAILABLE; O5 and O8 UNKNOWN
      reliabilityScore: null, reliabilityScoreReason: "No reliability score has been recorded for this provider.",
      // only O4's 1.00 → 5.00 (withdrawn since, still history); O7's −6d point changed availability only, O3/O5 are first points
      volatility: null, priceChanges: 1,
      volatilityReason: `Volatility needs at least 2 on-demand price changes of this provider's offers between ${at(30 * DAY).toISOString()} and ${NOW.toISOString()}; found 1.`,
    });
    const gamma = await providerKpis(db.prisma, providers.get("gamma")!, NOW);
    expect(gamma).toMatchObject({
      activeOffers: 0, priceIndex: null, priceIndexModels: 0,
      priceIndexReason: "The provider has no active offer of a known GPU model to compare with the market.",
      availabilityShare: null, availabilityShareReason: "No active offers.", volatility: null, priceChanges: 0,
    });
  });

  it("marketInsights: movers, models cheaper and dearer, cheapest per model, provider ranking", async () => {
    const i = await marketInsights(db.prisma, NOW, "DAYS_7", 5);
    const move = (m: { offer: { id: number }; priceThen: Prisma.Decimal; priceNow: Prisma.Decimal; change: number }) =>
      [m.offer.id, m.priceThen.toFixed(2), m.priceNow.toFixed(2), m.change];
    // as of −7d vs now: O1 2.10 → 2.40, O2 16.00 → 17.60, O6 8.00 → 6.00; O3, O7, O9 unchanged; O4 inactive; O5, O8 no old point
    expect(i.risers.map(move)).toEqual([[ids.O1, "2.10", "2.40", 0.142857], [ids.O2, "16.00", "17.60", 0.1]]);
    expect(i.fallers.map(move)).toEqual([[ids.O6, "8.00", "6.00", -0.25]]);
    // A100: median(2.00, 1.20) = 1.60 → median(1.50, 1.20) = 1.35: −0.15625. H100-SXM as in gpuKpis 7d. H100-PCIE unchanged.
    expect(plain(i.modelsCheaper)).toEqual([{ gpuModelId: models.get("A100-SXM-80GB"), offersCompared: 2, medianThen: "1.6000", medianNow: "1.3500", change: -0.15625 }]);
    expect(plain(i.modelsDearer)).toEqual([{ gpuModelId: models.get("H100-SXM-80GB"), offersCompared: 3, medianThen: "2.1000", medianNow: "2.4000", change: 0.142857 }]);
    expect(i.cheapestPerModel.map((c) => [c.offer.id, c.pricePerGpuHour.toFixed(2)])).toEqual([
      [ids.O7, "1.20"], [ids.O9, "2.10"], [ids.O2, "2.20"], [ids.O8, "0.50"], // A100, H100-PCIE, H100-SXM, RTX-4090 (MI300X has no offers)
    ]);
    expect(i.providerPriceIndex).toEqual([
      { providerId: providers.get("alpha"), gpuModels: 3, offers: 4, priceIndex: 0.984767 },
      { providerId: providers.get("beta"), gpuModels: 3, offers: 4, priceIndex: 1.027592 },
    ]);
    // $/Mtok per GPU model on its cheapest offer, from the domain formulas; sorted cheapest first
    const expected = i.cheapestPerModel.map((c) => {
      const spec = getGpuSpec([...models].find(([, id]) => id === c.offer.gpuModelId)![0])!;
      const e = estimateInference({ model: "llama-3-8b", gpu: spec, gpuCount: c.offer.gpuCount, batch: 1, contextTokens: 2048, promptTokens: 1024, precision: "FP16" });
      return { id: c.offer.id, cost: costPerMillionTokens({ pricePerHour: c.offer.onDemandPrice.toString(), tokensPerSecond: e.decode.tokensPerSecond }).costPerMillionTokens };
    }).sort((a, b) => a.cost - b.cost);
    expect(i.bestValue.map((b) => ({ id: b.offer.id, cost: b.costPerMillionTokens }))).toEqual(expected);
    expect(i.bestValue[0]!.offer.id).toBe(ids.O8); // the 0.50 RTX 4090
  });

  it("marketInsights honours the window and the limit", async () => {
    const day = await marketInsights(db.prisma, NOW, "HOURS_24", 1);
    // since −24h only O1 moved (2.10 → 2.40 at −2h); O2's −3d change is before the window
    expect(day.risers.map((m) => [m.offer.id, m.change])).toEqual([[ids.O1, 0.142857]]);
    expect(day.fallers).toEqual([]);
    expect(day.modelsDearer.map((m) => [m.gpuModelId, m.change])).toEqual([[models.get("H100-SXM-80GB"), 0.090909]]);
    expect(day.bestValue).toHaveLength(1);
    const month = await marketInsights(db.prisma, NOW, "DAYS_30", 1);
    // since −30d: O1 2.00 → 2.40 (+0.2) beats O2 16.00 → 17.60 (+0.1); O6 8.00 → 6.00
    expect(month.risers.map((m) => [m.offer.id, m.change])).toEqual([[ids.O1, 0.2]]);
    expect(month.fallers.map((m) => [m.offer.id, m.change])).toEqual([[ids.O6, -0.25]]);
  });

  describe("over GraphQL", () => {
    const errorOf = (res: { errors?: Array<{ extensions?: Record<string, unknown> }> }) => res.errors?.[0]?.extensions?.code;

    it("answers gpuKpis for any spelling of the model", async () => {
      const res = await request(`query { gpuKpis(model: "nvidia h100 80gb sxm5") {
        gpuModel { name } activeOffers providers pricePerGpuHour { min median p90 } pricePerGpuHourReason
        spotOffers spotDiscount spotDiscountReason availabilityShare availabilityShareReason
        priceChange24h { offersCompared medianThen medianNow change } priceChange24hReason
        priceChange7d { offersCompared medianThen medianNow change } priceChange30d { offersCompared medianThen medianNow change } } }`);
      expect(res.errors).toBeUndefined();
      expect(res.data).toEqual({ gpuKpis: {
        gpuModel: { name: "H100-SXM-80GB" }, activeOffers: 4, providers: 2,
        pricePerGpuHour: { min: "2.20", median: "2.50", p90: "2.88" }, pricePerGpuHourReason: null,
        spotOffers: 2, spotDiscount: 0.45, spotDiscountReason: null, availabilityShare: 0.666667, availabilityShareReason: null,
        priceChange24h: { offersCompared: 3, medianThen: "2.20", medianNow: "2.40", change: 0.090909 }, priceChange24hReason: null,
        priceChange7d: { offersCompared: 3, medianThen: "2.10", medianNow: "2.40", change: 0.142857 },
        priceChange30d: { offersCompared: 2, medianThen: "2.00", medianNow: "2.30", change: 0.15 },
      } });
    });

    it("gives nulls with reasons over GraphQL too", async () => {
      const res = await request(`query { gpuKpis(model: "RTX 4090") { spotDiscount spotDiscountReason priceChange7d { change } priceChange7dReason } }`);
      expect(res.data!.gpuKpis).toMatchObject({ spotDiscount: null, spotDiscountReason: "None of the 1 active offers has a spot price.", priceChange7d: null });
      expect(res.data!.gpuKpis.priceChange7dReason).toMatch(/^No active offer of this model has a price point at or before .+, so there is no 7-day comparison\.$/);
    });

    it("answers providerKpis, marketOverview and marketInsights", async () => {
      const res = await request(`query {
        providerKpis(slug: " Alpha ") { provider { slug } activeOffers priceIndex priceIndexModels availabilityShare reliabilityScore volatility volatilityReason priceChanges }
        marketOverview { activeOffers providers gpuModels medianPricePerGpuHour { gpuModel { name } offers medianPricePerGpuHour }
          cheapestH100 { offer { id } pricePerGpuHour } cheapestH100Reason cheapestRtx4090 { pricePerGpuHour } }
        marketInsights(limit: 1) { window risers { offer { id } priceThen priceNow change } fallers { offer { id } change }
          modelsCheaper { gpuModel { name } change } modelsDearer { gpuModel { name } change }
          cheapestPerModel { offer { id } pricePerGpuHour } providerPriceIndex { provider { slug } priceIndex }
          bestValueLlama3_8b { gpuModel { name } costPerMillionTokens } } }`);
      expect(res.errors).toBeUndefined();
      const gid = (key: string) => globalId("GpuOffer", ids[key]!);
      expect(res.data.providerKpis).toEqual({
        provider: { slug: "alpha" }, activeOffers: 4, priceIndex: 0.984767, priceIndexModels: 3, availabilityShare: 0.75,
        reliabilityScore: 0.95, volatility: 0.177904, volatilityReason: null, priceChanges: 4,
      });
      expect(res.data.marketOverview).toEqual({
        activeOffers: 8, providers: 2, gpuModels: 4,
        medianPricePerGpuHour: [
          { gpuModel: { name: "A100-SXM-80GB" }, offers: 2, medianPricePerGpuHour: "1.35" },
          { gpuModel: { name: "H100-PCIE-80GB" }, offers: 1, medianPricePerGpuHour: "2.10" },
          { gpuModel: { name: "H100-SXM-80GB" }, offers: 4, medianPricePerGpuHour: "2.50" },
          { gpuModel: { name: "RTX-4090" }, offers: 1, medianPricePerGpuHour: "0.50" },
        ],
        cheapestH100: { offer: { id: gid("O9") }, pricePerGpuHour: "2.10" }, cheapestH100Reason: null, cheapestRtx4090: { pricePerGpuHour: "0.50" },
      });
      expect(res.data.marketInsights).toEqual({
        window: "DAYS_7",
        risers: [{ offer: { id: gid("O1") }, priceThen: "2.10", priceNow: "2.40", change: 0.142857 }],
        fallers: [{ offer: { id: gid("O6") }, change: -0.25 }],
        modelsCheaper: [{ gpuModel: { name: "A100-SXM-80GB" }, change: -0.15625 }],
        modelsDearer: [{ gpuModel: { name: "H100-SXM-80GB" }, change: 0.142857 }],
        cheapestPerModel: [
          { offer: { id: gid("O7") }, pricePerGpuHour: "1.20" }, { offer: { id: gid("O9") }, pricePerGpuHour: "2.10" },
          { offer: { id: gid("O2") }, pricePerGpuHour: "2.20" }, { offer: { id: gid("O8") }, pricePerGpuHour: "0.50" },
        ],
        providerPriceIndex: [{ provider: { slug: "alpha" }, priceIndex: 0.984767 }, { provider: { slug: "beta" }, priceIndex: 1.027592 }],
        bestValueLlama3_8b: [{ gpuModel: { name: "RTX-4090" }, costPerMillionTokens: expect.stringMatching(/^\d+\.\d{2,4}$/) }],
      });
    });

    it("reports unknown models and slugs as NOT_FOUND and a bad limit as BAD_USER_INPUT", async () => {
      const unknownModel = await request(`query { gpuKpis(model: "Voodoo 5 6000") { activeOffers } }`);
      expect([errorOf(unknownModel), unknownModel.errors?.[0]?.message]).toEqual(["NOT_FOUND", `No GPU model matches "Voodoo 5 6000". The gpuModels query lists every known model.`]);
      expect(errorOf(await request(`query { gpuKpis(model: "B200") { activeOffers } }`))).toBe("NOT_FOUND"); // known name, not in the catalog
      expect(errorOf(await request(`query { providerKpis(slug: "nope") { activeOffers } }`))).toBe("NOT_FOUND");
      for (const limit of [0, 51]) {
        const res = await request(`query($limit: Int!) { marketInsights(limit: $limit) { window } }`, { limit });
        expect([res.status, errorOf(res), res.errors?.[0]?.message]).toEqual([200, "BAD_USER_INPUT", `limit must be between 1 and 50 (got ${limit}).`]);
      }
    });
  });
});

describe("market KPIs on an empty market", () => {
  let db: Database;
  beforeAll(async () => { db = await openTestDatabase(); });
  afterAll(async () => { await db?.close(); });

  it("reports zeros, empty lists and reasons, never a number it does not have", async () => {
    const overview = await marketOverview(db.prisma);
    expect(overview).toEqual({
      activeOffers: 0, providers: 0, gpuModels: 0, medianPricePerGpuHour: [],
      cheapest: {
        H100: { offer: null, reason: "No active H100 (any variant) offer." },
        A100: { offer: null, reason: "No active A100 (any variant) offer." },
        RTX4090: { offer: null, reason: "No active RTX 4090 offer." },
      },
    });
    const insights = await marketInsights(db.prisma, NOW, "DAYS_30", 5);
    expect(insights).toEqual({
      window: "DAYS_30", since: at(30 * DAY), asOf: NOW, risers: [], fallers: [], modelsCheaper: [], modelsDearer: [],
      cheapestPerModel: [], providerPriceIndex: [], bestValue: [],
    });
  });
});

// Changes equal to the 6 decimals the API shows, but not as doubles: 1.21 / 1.10 − 1 = 0.09999999999999987 and
// 2.20 / 2.00 − 1 = 0.10000000000000009. Models are created out of name order (ids RTX < L40S < A100 < H100).
//  offer model  then → now (per GPU, 1 GPU)      model medians then → now
//  R1    RTX    1.10 → 1.21  +0.1                RTX   1.55 → 1.705 +0.1
//  R2    RTX    2.00 → 2.20  +0.1                A100  3.00 → 3.30  +0.1
//  R3    A100   3.00 → 3.30  +0.1                L40S  1.705 → 1.55 −0.090909
//  F1    L40S   1.21 → 1.10  −0.090909           H100  3.30 → 3.00  −0.090909
//  F2    L40S   2.20 → 2.00  −0.090909
//  F3    H100   3.30 → 3.00  −0.090909
describe("marketInsights movers with equal change", () => {
  let db: Database;
  const ids: Record<string, number> = {};
  const models = new Map<string, number>();
  const TIES = [
    ["R1", "RTX-4090", "1.10", "1.21"], ["R2", "RTX-4090", "2.00", "2.20"], ["R3", "A100-SXM-80GB", "3.00", "3.30"],
    ["F1", "L40S", "1.21", "1.10"], ["F2", "L40S", "2.20", "2.00"], ["F3", "H100-SXM-80GB", "3.30", "3.00"],
  ] as const;

  beforeAll(async () => {
    db = await openTestDatabase();
    for (const name of ["RTX-4090", "L40S", "A100-SXM-80GB", "H100-SXM-80GB"]) models.set(name, (await db.prisma.gpuModel.create({ data: specRow(name) })).id);
    const provider = await db.prisma.provider.create({ data: { slug: "alpha", name: "Alpha", kind: "NEOCLOUD" } });
    for (const [key, model, then, now] of TIES) {
      const row = await db.prisma.gpuOffer.create({ data: {
        providerId: provider.id, externalId: key, instanceType: key, gpuModelId: models.get(model)!, gpuName: model, gpuCount: 1,
        vramPerGpuGb: 80, vramTotalGb: 80, region: "us-east-1", onDemandPrice: now, pricePerGpuHour: now, availability: "AVAILABLE",
        pricePoints: { create: [{ onDemandPrice: then, availability: "AVAILABLE", recordedAt: at(40 * DAY) }, { onDemandPrice: now, availability: "AVAILABLE", recordedAt: at(HOUR) }] },
      } });
      ids[key] = row.id;
    }
    expect(1.21 / 1.1 - 1).not.toBe(2.2 / 2 - 1); // the doubles differ, so ordering by them would split the tie
  });
  afterAll(async () => { await db?.close(); });

  async function expectStableOrder() {
    const all = await marketInsights(db.prisma, NOW, "DAYS_7", 5);
    expect(all.risers.map((m) => [m.offer.id, m.change])).toEqual([[ids.R1, 0.1], [ids.R2, 0.1], [ids.R3, 0.1]]);
    expect(all.fallers.map((m) => [m.offer.id, m.change])).toEqual([[ids.F1, -0.090909], [ids.F2, -0.090909], [ids.F3, -0.090909]]);
    // Equal model changes list by model name, not by id.
    expect(all.modelsDearer.map((m) => [m.gpuModelId, m.change])).toEqual([[models.get("A100-SXM-80GB"), 0.1], [models.get("RTX-4090"), 0.1]]);
    expect(all.modelsCheaper.map((m) => [m.gpuModelId, m.change])).toEqual([[models.get("H100-SXM-80GB"), -0.090909], [models.get("L40S"), -0.090909]]);
    expect(Object.keys(all.modelsDearer[0]!).sort()).toEqual(["change", "gpuModelId", "medianNow", "medianThen", "offersCompared"]);
    // A limit cuts the tie by id too.
    const one = await marketInsights(db.prisma, NOW, "DAYS_7", 1);
    expect([one.risers.map((m) => m.offer.id), one.fallers.map((m) => m.offer.id)]).toEqual([[ids.R1], [ids.F1]]);
    expect([one.modelsDearer.map((m) => m.gpuModelId), one.modelsCheaper.map((m) => m.gpuModelId)]).toEqual([[models.get("A100-SXM-80GB")], [models.get("H100-SXM-80GB")]]);
  }

  it("orders them by offer id and model name when every then-price comes from the history", async () => {
    expect(await db.prisma.windowAnchor.count()).toBe(0);
    await expectStableOrder();
  });

  it("orders them the same when the then-prices come from WindowPrice (its change index is read by the unrounded change)", async () => {
    await rollPriceWindows(db.prisma, NOW);
    expect(await db.prisma.windowPrice.count({ where: { window: "DAYS_7", nextAt: { gt: at(7 * DAY) } } })).toBe(TIES.length);
    await expectStableOrder();
  });
});
