// rankOffers scores groups of offers that are equal on every criterion (count-weighted norms) and then
// reads the winners' offers by their values. Over a market with many duplicates, exact ties across groups
// and a page boundary inside a group, it must agree with topsis() over every offer: the same offers in
// the same order (closeness desc, then id), the same ranks, closeness equal to 1e-12.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { getGpuSpec } from "../../src/domain/gpu/specs.ts";
import { estimateInference } from "../../src/domain/math/llm.ts";
import { topsis, type TopsisCriterion } from "../../src/domain/math/topsis.ts";
import type { Database } from "../../src/infra/db.ts";
import { testClient } from "../support/app.ts";
import { openTestDatabase } from "../support/db.ts";
import { dbId } from "../support/market.ts";

const MODELS = ["H100-SXM-80GB", "A100-SXM-80GB", "RTX-4090", "L40S"];
const AVAILABILITY = { AVAILABLE: 1, LIMITED: 0.5, UNKNOWN: 0.25, UNAVAILABLE: 0 } as const;

interface Seeded { id: number; model: string; gpuCount: number; perGpu: number; availability: keyof typeof AVAILABILITY; provider: string }

const RANK = `query Rank($criteria: [RankCriterionInput!]!, $model: String, $first: Int!) {
  rankOffers(filter: { providers: ["alpha", "beta"] }, criteria: $criteria, model: $model, first: $first) {
    considered excluded exclusions { reason count }
    ranked { offer { id } closeness rank values { criterion value } }
  }
}`;

describe("rankOffers over groups of identical offers", () => {
  let db: Database;
  let request: ReturnType<typeof testClient>["request"];
  const offers: Seeded[] = [];
  const reliability: Record<string, number> = { alpha: 0.9, beta: 0.5 };
  const fp16 = new Map<string, number>(); // as stored (Decimal(8,1)), which is what the API ranks on

  beforeAll(async () => {
    db = await openTestDatabase();
    request = testClient(db).request;
    await db.prisma.gpuModel.createMany({ data: MODELS.map((name) => { const { sources: _s, ...spec } = getGpuSpec(name)!; return spec; }) });
    await db.prisma.provider.createMany({ data: [
      { slug: "alpha", name: "Alpha", kind: "NEOCLOUD", reliabilityScore: "0.9" },
      { slug: "beta", name: "Beta", kind: "MARKETPLACE" },
      { slug: "gamma", name: "Gamma", kind: "MARKETPLACE" },
    ] });
    const models = new Map((await db.prisma.gpuModel.findMany()).map((m) => [m.name, m]));
    for (const m of models.values()) fp16.set(m.name, m.fp16Tflops.toNumber());
    const providers = new Map((await db.prisma.provider.findMany()).map((p) => [p.slug, p.id]));
    // 120 offers from few distinct values: many duplicates, and mirrored pairs with equal closeness.
    const prices = [0.5, 1.2, 2.0, 2.5];
    const availabilities = Object.keys(AVAILABILITY) as (keyof typeof AVAILABILITY)[];
    for (let i = 0; i < 120; i++) {
      const model = MODELS[(i * 7) % MODELS.length]!;
      const gpuCount = [1, 2, 8][(i * 5) % 3]!;
      const perGpu = prices[(i * 3) % prices.length]!;
      const availability = availabilities[(i * 11) % 4]!;
      const provider = i % 13 === 0 ? "gamma" : i % 2 ? "alpha" : "beta"; // gamma: filtered out
      const vram = models.get(model)!.vramGb;
      const row = await db.prisma.gpuOffer.create({ data: {
        providerId: providers.get(provider)!, externalId: `o${i}`, instanceType: `${gpuCount}x`, gpuModelId: models.get(model)!.id,
        gpuName: model, gpuCount, vramPerGpuGb: vram, vramTotalGb: vram * gpuCount, region: "us",
        onDemandPrice: (perGpu * gpuCount).toFixed(4), pricePerGpuHour: perGpu.toFixed(4), availability,
      } });
      if (provider !== "gamma") offers.push({ id: row.id, model, gpuCount, perGpu, availability, provider });
    }
  });
  afterAll(async () => { await db?.close(); });

  /** topsis() over every matching offer (in id order, as the query breaks ties), best `first` with ranks. */
  function expected(criteria: { criterion: string; weight: number }[], value: (o: Seeded, criterion: string) => number, direction: (c: string) => TopsisCriterion, first: number, rows = offers) {
    const result = topsis({ matrix: rows.map((o) => criteria.map((c) => value(o, c.criterion))), weights: criteria.map((c) => c.weight), criteria: criteria.map((c) => direction(c.criterion)) });
    return result.order.slice(0, first).map((i) => ({ id: rows[i]!.id, closeness: result.closeness[i]!, rank: result.rank[i]! }));
  }

  const value = (o: Seeded, criterion: string): number => {
    const spec = getGpuSpec(o.model)!;
    switch (criterion) {
      case "PRICE_PER_GPU_HOUR": return o.perGpu;
      case "TOTAL_VRAM": return spec.vramGb * o.gpuCount;
      case "FP16_TFLOPS": return fp16.get(o.model)!;
      case "AVAILABILITY": return AVAILABILITY[o.availability];
      case "PROVIDER_RELIABILITY": return reliability[o.provider]!;
      case "COST_PER_MTOK": {
        const e = estimateInference({ model: "llama-3-8b", gpu: spec, gpuCount: o.gpuCount, batch: 1, contextTokens: 4096, promptTokens: 1024, precision: "FP16" });
        return e.fits ? (o.perGpu * o.gpuCount * 1e6) / (e.decode.tokensPerSecond * 3600) : NaN;
      }
      default: throw new Error(criterion);
    }
  };
  const direction = (c: string): TopsisCriterion => (c === "PRICE_PER_GPU_HOUR" || c === "COST_PER_MTOK" ? "cost" : "benefit");

  function check(res: { data?: any; errors?: unknown }, want: ReturnType<typeof expected>) {
    expect(res.errors).toBeUndefined();
    const got = res.data.rankOffers.ranked.map((r: { offer: { id: string }; closeness: number; rank: number }) => ({ id: dbId(r.offer.id), closeness: r.closeness, rank: r.rank }));
    expect(got.map((g: { id: number }) => g.id)).toEqual(want.map((w) => w.id));
    expect(got.map((g: { rank: number }) => g.rank)).toEqual(want.map((w) => w.rank));
    got.forEach((g: { closeness: number }, i: number) => expect(Math.abs(g.closeness - want[i]!.closeness)).toBeLessThan(1e-12));
  }

  it("agrees with topsis() over every offer, with a page boundary inside a group of duplicates", async () => {
    const criteria = [{ criterion: "PRICE_PER_GPU_HOUR", weight: 3 }, { criterion: "TOTAL_VRAM", weight: 1 }, { criterion: "FP16_TFLOPS", weight: 1 }];
    for (const first of [1, 3, 7, 25, 100]) {
      const res = await request(RANK, { criteria, first });
      check(res, expected(criteria, value, direction, first));
      expect(res.data.rankOffers).toMatchObject({ considered: offers.length, excluded: 0 });
    }
  });

  it("ties across groups (equal closeness, different values) list by offer id and share ranks", async () => {
    // Availability and reliability alone: few distinct scores, each shared by many offers of several groups.
    const criteria = [{ criterion: "AVAILABILITY", weight: 1 }, { criterion: "PROVIDER_RELIABILITY", weight: 1 }, { criterion: "PRICE_PER_GPU_HOUR", weight: 0 }];
    const want = expected(criteria, value, direction, 40);
    expect(new Set(want.map((w) => w.rank)).size).toBeLessThan(want.length); // there are shared ranks to check
    check(await request(RANK, { criteria, first: 40 }), want);
  });

  it("excludes the groups a model does not fit, counting their offers", async () => {
    const criteria = [{ criterion: "COST_PER_MTOK", weight: 2 }, { criterion: "AVAILABILITY", weight: 1 }];
    const fitting = offers.filter((o) => !Number.isNaN(value(o, "COST_PER_MTOK")));
    const res = await request(RANK, { criteria, model: "llama-3-8b", first: 15 });
    check(res, expected(criteria, value, direction, 15, fitting));
    expect(res.data.rankOffers.considered).toBe(fitting.length);
    const unfit = offers.length - fitting.length;
    expect(res.data.rankOffers).toMatchObject({ excluded: unfit, exclusions: unfit ? [{ reason: "INSUFFICIENT_VRAM", count: unfit }] : [] });
  });
});
