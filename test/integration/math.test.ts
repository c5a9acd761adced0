import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openTestDatabase } from "../support/db.ts";
import { testClient } from "../support/app.ts";
import { dbId, globalId } from "../support/market.ts";
import { getGpuSpec } from "../../src/domain/gpu/specs.ts";
import { costPerMillionTokens, estimateInference } from "../../src/domain/math/llm.ts";
import { rankRows, topsis, topsisColumns } from "../../src/domain/math/topsis.ts";
import { estimateWorkload, type WorkloadOffer } from "../../src/domain/math/workload.ts";
import { Prisma } from "../../src/generated/prisma/client.ts";
import type { Database } from "../../src/infra/db.ts";
import { parseColumns } from "../../src/infra/ranking.ts";
import { formatMoney } from "../../src/domain/money.ts";

// Providers alpha and beta hold the 3-offer ranking example (+ one unknown GPU, one inactive offer);
// gamma adds offers for the workload tests only.
const OFFERS = [
  { key: "h100", provider: "alpha", model: "H100-SXM-80GB", gpuCount: 1, perGpu: "3.0000", availability: "AVAILABLE" },
  { key: "a100", provider: "beta", model: "A100-SXM-80GB", gpuCount: 1, perGpu: "1.5000", availability: "LIMITED" },
  { key: "4090x2", provider: "alpha", model: "RTX-4090", gpuCount: 2, perGpu: "0.5000", availability: "AVAILABLE" },
  { key: "mystery", provider: "beta", model: null, gpuCount: 1, perGpu: "0.2000", availability: "UNKNOWN" },
  { key: "inactive", provider: "alpha", model: "A100-SXM-80GB", gpuCount: 1, perGpu: "0.1000", availability: "AVAILABLE", active: false },
  { key: "h100x2", provider: "gamma", model: "H100-SXM-80GB", gpuCount: 2, perGpu: "2.5000", availability: "AVAILABLE" },
  { key: "4090", provider: "gamma", model: "RTX-4090", gpuCount: 1, perGpu: "0.4000", availability: "AVAILABLE" },
] as const;
type Key = (typeof OFFERS)[number]["key"];

const MODELS = ["H100-SXM-80GB", "A100-SXM-80GB", "RTX-4090"].map((name) => getGpuSpec(name)!);
const A100 = getGpuSpec("A100-SXM-80GB")!;
const RANK_FILTER = { providers: ["alpha", "beta"] };
/** A float amount as the Money scalar prints it: 4 decimals half-up, at least 2. */
const money = (amount: number) => formatMoney(new Prisma.Decimal(amount).toDecimalPlaces(4, Prisma.Decimal.ROUND_HALF_UP));

const RANK = `query Rank($filter: OfferFilter, $criteria: [RankCriterionInput!]!, $model: String, $first: Int! = 20) {
  rankOffers(filter: $filter, criteria: $criteria, model: $model, first: $first) {
    considered excluded exclusions { reason count } weights { criterion weight direction }
    ranked { offer { id } closeness rank values { criterion value } }
  }
}`;

describe("math queries", () => {
  let db: Database;
  let request: ReturnType<typeof testClient>["request"];
  const ids = {} as Record<Key, number>;
  const gid = (key: Key) => globalId("GpuOffer", ids[key]);

  beforeAll(async () => {
    db = await openTestDatabase();
    request = testClient(db).request;
    await db.prisma.gpuModel.createMany({ data: MODELS.map(({ sources: _s, ...m }) => m) });
    await db.prisma.provider.createMany({
      data: [
        { slug: "alpha", name: "Alpha", kind: "NEOCLOUD", reliabilityScore: "0.9" },
        { slug: "beta", name: "Beta", kind: "MARKETPLACE" },
        { slug: "gamma", name: "Gamma", kind: "MARKETPLACE" },
      ],
    });
    const models = new Map((await db.prisma.gpuModel.findMany()).map((m) => [m.name, m]));
    const providers = new Map((await db.prisma.provider.findMany()).map((p) => [p.slug, p.id]));
    for (const o of OFFERS) {
      const vram = o.model ? models.get(o.model)!.vramGb : 16;
      const row = await db.prisma.gpuOffer.create({
        data: {
          providerId: providers.get(o.provider)!, externalId: o.key, instanceType: o.key, gpuModelId: o.model ? models.get(o.model)!.id : null,
          gpuName: o.model ?? "Mystery GPU 9000", gpuCount: o.gpuCount, vramPerGpuGb: vram, vramTotalGb: vram * o.gpuCount, region: "us-east-1",
          onDemandPrice: (Number(o.perGpu) * o.gpuCount).toFixed(4), pricePerGpuHour: o.perGpu, availability: o.availability,
          active: "active" in o ? o.active : true,
        },
      });
      ids[o.key] = row.id;
    }
  });
  afterAll(async () => { await db?.close(); });

  const rank = (variables: Record<string, unknown>) => request(RANK, { filter: RANK_FILTER, ...variables });
  const order = (res: { data?: any }) => res.data.rankOffers.ranked.map((r: { offer: { id: string } }) => OFFERS.find((o) => ids[o.key] === dbId(r.offer.id))!.key);

  describe("rankOffers", () => {
    // Price per GPU-hour (cost, weight 2), total VRAM and FP16 TFLOPS (benefit, weight 1 each) → weights 0.5, 0.25, 0.25:
    //            price  VRAM  TFLOPS   weighted normalised (x / √Σx² × w)     S⁺       S⁻      C = S⁻/(S⁺+S⁻)
    //   h100     3.00    80   989      0.44233  0.16274  0.23545              0.36860  0.20664  0.35922
    //   a100     1.50    80   312      0.22116  0.16274  0.07428              0.21844  0.23318  0.51632
    //   4090x2   0.50    48   165.2    0.07372  0.09764  0.03933              0.20664  0.36860  0.64078
    // (√Σx²: price √11.5 = 3.39116, VRAM √15104 = 122.898, TFLOPS √1,102,756 = 1,050.12.) The h100 and the
    // 4090x2 mirror each other (each is the other's A⁺/A⁻ in two criteria), so their closeness sums to 1.
    const criteria = [
      { criterion: "PRICE_PER_GPU_HOUR", weight: 2 },
      { criterion: "TOTAL_VRAM", weight: 1 },
      { criterion: "FP16_TFLOPS", weight: 1 },
    ];
    const matrix = [[3, 80, 989], [1.5, 80, 312], [0.5, 48, 165.2]]; // offers in id order, as the query breaks ties

    it("orders the 3-offer example exactly as computed by hand and by the domain function", async () => {
      const res = await rank({ criteria });
      expect(res.errors).toBeUndefined();
      const ranking = res.data.rankOffers;
      expect(order(res)).toEqual(["4090x2", "a100", "h100"]);
      expect(ranking.ranked.map((r: { rank: number }) => r.rank)).toEqual([1, 2, 3]);
      const closeness = ranking.ranked.map((r: { closeness: number }) => r.closeness);
      [0.64078, 0.51632, 0.35922].forEach((c, i) => expect(closeness[i]).toBeCloseTo(c, 5));
      const domain = topsis({ matrix, weights: [2, 1, 1], criteria: ["cost", "benefit", "benefit"] });
      expect(closeness).toEqual([domain.closeness[2], domain.closeness[1], domain.closeness[0]]);
      expect(ranking.ranked[0].values).toEqual([
        { criterion: "PRICE_PER_GPU_HOUR", value: 0.5 }, { criterion: "TOTAL_VRAM", value: 48 }, { criterion: "FP16_TFLOPS", value: 165.2 },
      ]);
      expect(ranking.weights).toEqual([
        { criterion: "PRICE_PER_GPU_HOUR", weight: 0.5, direction: "COST" },
        { criterion: "TOTAL_VRAM", weight: 0.25, direction: "BENEFIT" },
        { criterion: "FP16_TFLOPS", weight: 0.25, direction: "BENEFIT" },
      ]);
      // The unknown GPU is excluded and counted; the inactive offer does not match at all.
      expect(ranking).toMatchObject({ considered: 3, excluded: 1, exclusions: [{ reason: "UNKNOWN_GPU_MODEL", count: 1 }] });
    });

    it("gives the same ranking for any scale of the weights", async () => {
      const normalised = await rank({ criteria: criteria.map((c) => ({ ...c, weight: c.weight / 4 })) });
      const scaled = await rank({ criteria: criteria.map((c) => ({ ...c, weight: c.weight * 37 })) });
      const base = await rank({ criteria });
      for (const r of [normalised, scaled]) {
        expect(r.data.rankOffers.ranked.map((x: { closeness: number }) => x.closeness))
          .toEqual(base.data.rankOffers.ranked.map((x: { closeness: number }) => x.closeness));
      }
    });

    it("ranks with weights whose sum overflows as with their ratios ([1e308, 1e308] = [1, 1])", async () => {
      const pair = (weight: number) => [{ criterion: "PRICE_PER_GPU_HOUR", weight }, { criterion: "TOTAL_VRAM", weight }];
      const huge = await rank({ criteria: pair(1e308) });
      const plain = await rank({ criteria: pair(1) });
      expect(huge.errors).toBeUndefined();
      expect(huge.data.rankOffers.weights.map((w: { weight: number }) => w.weight)).toEqual([0.5, 0.5]);
      expect(huge.data.rankOffers.ranked).toEqual(plain.data.rankOffers.ranked);
      expect(new Set(huge.data.rankOffers.ranked.map((r: { closeness: number }) => r.closeness)).size).toBe(3);
    });

    it("scores availability and provider reliability (unknown reliability = 0.5)", async () => {
      const res = await rank({ criteria: [{ criterion: "AVAILABILITY", weight: 1 }, { criterion: "PROVIDER_RELIABILITY", weight: 1 }] });
      const values = Object.fromEntries(res.data.rankOffers.ranked.map((r: { offer: { id: string }; values: { value: number }[] }) => [dbId(r.offer.id), r.values.map((v) => v.value)]));
      expect(values).toEqual({ [ids.h100]: [1, 0.9], [ids.a100]: [0.5, 0.5], [ids["4090x2"]]: [1, 0.9] });
      // h100 and 4090x2 are identical on these criteria: the same closeness, a shared rank 1, lower id first.
      expect(order(res)).toEqual(["h100", "4090x2", "a100"]);
      expect(res.data.rankOffers.ranked.map((r: { rank: number }) => r.rank)).toEqual([1, 1, 3]);
    });

    it("ranks by $ per 1M tokens for a model, excluding offers it does not fit", async () => {
      const res = await rank({ criteria: [{ criterion: "COST_PER_MTOK", weight: 1 }], model: "llama-3-8b" });
      expect(res.errors).toBeUndefined();
      const expected = (spec: typeof A100, gpuCount: number, price: number) => {
        const e = estimateInference({ model: "llama-3-8b", gpu: spec, gpuCount, batch: 1, contextTokens: 4096, promptTokens: 1024, precision: "FP16" });
        return (price * 1e6) / (e.decode.tokensPerSecond * 3600);
      };
      const costs = res.data.rankOffers.ranked.map((r: { values: { value: number }[] }) => r.values[0]!.value);
      // A100 $1.50 → $5.584/Mtok (74.6 tokens/s); 2× 4090 $1.00 → $2.40; H100 $3.00 → $6.83
      expect(order(res)).toEqual(["4090x2", "a100", "h100"]);
      expect(costs[0]).toBeCloseTo(expected(getGpuSpec("RTX-4090")!, 2, 1), 9);
      expect(costs[1]).toBeCloseTo(expected(A100, 1, 1.5), 9);
      expect(costs[1]).toBeCloseTo(5.584, 3);
      // Llama 3 70B in FP16 (~157 GB) fits none of the three: an empty ranking, not an error.
      const big = await rank({ criteria: [{ criterion: "COST_PER_MTOK", weight: 1 }, { criterion: "TOTAL_VRAM", weight: 1 }], model: "llama-3-70b" });
      expect(big.errors).toBeUndefined();
      expect(big.data.rankOffers).toMatchObject({
        considered: 0, excluded: 4, ranked: [],
        exclusions: [{ reason: "UNKNOWN_GPU_MODEL", count: 1 }, { reason: "INSUFFICIENT_VRAM", count: 3 }],
      });
    });

    it("returns an empty ranking when nothing matches, and closeness 0.5 for a lone offer", async () => {
      const none = await rank({ filter: { ...RANK_FILTER, pricePerGpu: { max: "0.05" } }, criteria });
      expect(none.data.rankOffers).toMatchObject({ considered: 0, excluded: 0, ranked: [], exclusions: [] });
      const one = await rank({ filter: { providers: ["alpha"], gpuModels: ["H100"] }, criteria });
      expect(one.data.rankOffers.ranked).toEqual([{
        offer: { id: gid("h100") }, closeness: 0.5, rank: 1,
        values: [{ criterion: "PRICE_PER_GPU_HOUR", value: 3 }, { criterion: "TOTAL_VRAM", value: 80 }, { criterion: "FP16_TFLOPS", value: 989 }],
      }]);
    });

    it("returns the best `first` only, but ranks them among all", async () => {
      const res = await rank({ criteria, first: 1 });
      expect(order(res)).toEqual(["4090x2"]);
      expect(res.data.rankOffers.considered).toBe(3);
    });

    it.each([
      ["a negative weight", { criteria: [{ criterion: "TOTAL_VRAM", weight: -1 }, { criterion: "PRICE_PER_GPU_HOUR", weight: 1 }] }, "INVALID_WEIGHT", /weight of TOTAL_VRAM is -1; weights must be ≥ 0/],
      ["all-zero weights", { criteria: [{ criterion: "TOTAL_VRAM", weight: 0 }] }, "ZERO_WEIGHTS", /All weights are zero/],
      ["no criteria", { criteria: [] }, "NO_CRITERIA", /at least one criterion/],
      ["a repeated criterion", { criteria: [{ criterion: "TOTAL_VRAM", weight: 1 }, { criterion: "TOTAL_VRAM", weight: 2 }] }, "DUPLICATE_CRITERION", /TOTAL_VRAM is given twice/],
      ["COST_PER_MTOK without a model", { criteria: [{ criterion: "COST_PER_MTOK", weight: 1 }] }, "MODEL_REQUIRED", /COST_PER_MTOK needs a model/],
      ["an unknown model", { criteria: [{ criterion: "COST_PER_MTOK", weight: 1 }], model: "llama-9" }, "UNKNOWN_MODEL", /Unknown model preset "llama-9"/],
    ])("rejects %s with BAD_USER_INPUT", async (_name, variables, reason, message) => {
      const res = await rank(variables);
      expect(res.data).toBeNull();
      expect(res.errors).toHaveLength(1);
      expect(res.errors![0]!.extensions).toMatchObject({ code: "BAD_USER_INPUT", reason });
      expect(res.errors![0]!.message).toMatch(message);
    });

    it("rejects first over 100", async () => {
      const res = await rank({ criteria, first: 101 });
      expect(res.errors![0]!.extensions!.code).toBe("BAD_USER_INPUT");
      expect(res.errors![0]!.message).toMatch(/first must be at most 100/);
    });
  });

  describe("rankOffers' column-major TOPSIS", () => {
    it("parses the aggregated text to the doubles Number() gives", () => {
      expect(parseColumns("7,2.4900,80.00,12,0.5,0.25", 3).map((c) => [...c])).toEqual([[7, 12], [2.49, 0.5], [80, 0.25]]);
      expect(parseColumns(null, 2).map((c) => c.length)).toEqual([0, 0]);
    });

    it("gives bit-identical closeness, ranks and order to topsis() on random matrices with ties and constant columns", () => {
      let seed = 7;
      const random = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
      for (let round = 0; round < 20; round++) {
        const rows = 1 + Math.floor(random() * 300);
        // Few distinct values (ties), a constant column and an all-zero column in some rounds.
        const matrix = Array.from({ length: rows }, () => [Math.floor(random() * 5) * 0.25, 1 + Math.floor(random() * 3), round % 3 ? 7 : 0, random() * 1e6]);
        const weights = [random(), random() * 3, random(), round % 4 ? random() : 0];
        const directions = weights.map((): "cost" | "benefit" => (random() < 0.5 ? "cost" : "benefit"));
        const domain = topsis({ matrix, weights, criteria: directions });
        const columns = [0, 1, 2, 3].map((j) => Float64Array.from(matrix, (r) => r[j]!));
        const { closeness } = topsisColumns({ columns, weights, benefit: directions.map((d) => d === "benefit") });
        expect([...closeness]).toEqual(domain.closeness);
        const ids = Float64Array.from(matrix, (_, i) => i);
        const top = rankRows(closeness, 25, ids);
        expect(top.map((t) => t.row)).toEqual(domain.order.slice(0, 25));
        expect(top.map((t) => t.rank)).toEqual(domain.order.slice(0, 25).map((i) => domain.rank[i]));
      }
    });
  });

  describe("topsis", () => {
    const TOPSIS = `query T($matrix: [[Float!]!]!, $weights: [Float!]!, $criteria: [TopsisCriterion!]!) {
      topsis(matrix: $matrix, weights: $weights, criteria: $criteria) {
        closeness rank order weightsUsed ideal antiIdeal distanceToIdeal distanceToAntiIdeal
      }
    }`;

    it("returns exactly what the domain function computes", async () => {
      const matrix = [[250, 16, 12, 5], [200, 16, 8, 3], [300, 32, 16, 4], [275, 32, 8, 4], [225, 16, 16, 2]];
      const res = await request(TOPSIS, { matrix, weights: [0.25, 0.25, 0.25, 0.25], criteria: ["COST", "BENEFIT", "BENEFIT", "BENEFIT"] });
      const d = topsis({ matrix, weights: [0.25, 0.25, 0.25, 0.25], criteria: ["cost", "benefit", "benefit", "benefit"] });
      expect(res.data.topsis).toEqual({
        closeness: d.closeness, rank: d.rank, order: d.order, weightsUsed: d.weightsUsed, ideal: d.ideal, antiIdeal: d.antiIdeal,
        distanceToIdeal: d.distances.best, distanceToAntiIdeal: d.distances.worst,
      });
    });

    it("maps the domain's error codes to BAD_USER_INPUT", async () => {
      const ragged = await request(TOPSIS, { matrix: [[1, 2], [3]], weights: [1, 1], criteria: ["COST", "BENEFIT"] });
      expect(ragged.errors![0]!.extensions).toMatchObject({ code: "BAD_USER_INPUT", reason: "RAGGED_ROWS" });
      expect(ragged.errors![0]!.message).toMatch(/Row 2 has 1 values, but row 1 has 2/);
      const negative = await request(TOPSIS, { matrix: [[1, -2]], weights: [1, 1], criteria: ["COST", "BENEFIT"] });
      expect(negative.errors![0]!.extensions).toMatchObject({ code: "BAD_USER_INPUT", reason: "NEGATIVE_VALUE" });
    });
  });

  describe("costPerToken", () => {
    const COST = `query C($offer: ID, $gpuModel: String, $pricePerHour: Money, $gpuCount: Int, $model: String) {
      costPerToken(offer: $offer, gpuModel: $gpuModel, pricePerHour: $pricePerHour, gpuCount: $gpuCount, model: $model) {
        model gpuModel gpuCount pricePerHour fits outputCostPerMillionTokens inputCostPerMillionTokens
        outputTokensPerSecond inputTokensPerSecond decodeBound vram { weightsGb totalGb availableGb }
        assumptions { batch contextTokens promptTokens memoryEfficiency tensorParallel }
      }
    }`;

    it("prices Llama 3 8B on the A100-80GB offer as the domain model does", async () => {
      // (16.06 GB + 2,560 mean KV tokens × 131,072 B) / (2,039 GB/s × 0.6) = 13.40 ms → 74.62 tokens/s;
      // $1.50 / (74.62 × 3600) × 1e6 = $5.5840 per 1M generated tokens. Prefill 9,713.6 tokens/s → $0.0429.
      const res = await request(COST, { offer: gid("a100"), model: "llama-3-8b" });
      expect(res.errors).toBeUndefined();
      const e = estimateInference({ model: "llama-3-8b", gpu: A100, gpuCount: 1, batch: 1, contextTokens: 4096, promptTokens: 1024, precision: "FP16" });
      const output = costPerMillionTokens({ pricePerHour: "1.5", tokensPerSecond: e.decode.tokensPerSecond }).costPerMillionTokens;
      const input = costPerMillionTokens({ pricePerHour: "1.5", tokensPerSecond: e.prefill.tokensPerSecond }).costPerMillionTokens;
      expect(output).toBe(5.584);
      expect(input).toBe(0.0429);
      expect(res.data.costPerToken).toEqual({
        model: "Llama 3 8B", gpuModel: "A100-SXM-80GB", gpuCount: 1, pricePerHour: "1.50", fits: true,
        outputCostPerMillionTokens: "5.584", inputCostPerMillionTokens: "0.0429",
        outputTokensPerSecond: e.decode.tokensPerSecond, inputTokensPerSecond: e.prefill.tokensPerSecond, decodeBound: "MEMORY",
        vram: { weightsGb: e.vram.weightsGb, totalGb: e.vram.totalGb, availableGb: 80 },
        assumptions: { batch: 1, contextTokens: 4096, promptTokens: 1024, memoryEfficiency: 0.6, tensorParallel: 1 },
      });
      const byName = await request(COST, { gpuModel: "a100 80gb", pricePerHour: "1.5", model: "llama-3-8b" });
      expect(byName.data.costPerToken).toEqual(res.data.costPerToken);
    });

    it("reports no price when the model does not fit", async () => {
      const res = await request(COST, { offer: gid("4090"), model: "llama-3-70b" });
      expect(res.data.costPerToken).toMatchObject({ fits: false, outputCostPerMillionTokens: null, inputCostPerMillionTokens: null, vram: { availableGb: 24 } });
    });

    it.each([
      ["both an offer and a GPU", () => ({ offer: gid("a100"), gpuModel: "H100", pricePerHour: "2", model: "llama-3-8b" }), "BAD_USER_INPUT", /either offer, or gpuModel/],
      ["a GPU without a price", () => ({ gpuModel: "H100", model: "llama-3-8b" }), "BAD_USER_INPUT", /gpuModel with its pricePerHour/],
      ["no model", () => ({ offer: gid("a100") }), "BAD_USER_INPUT", /Give a model/],
      ["an offer without a known GPU", () => ({ offer: gid("mystery"), model: "llama-3-8b" }), "BAD_USER_INPUT", /"Mystery GPU 9000"\) is not a model we have/],
      ["an unknown GPU model", () => ({ gpuModel: "Voodoo 5", pricePerHour: "1", model: "llama-3-8b" }), "NOT_FOUND", /No GPU model matches "Voodoo 5"/],
      ["a missing offer", () => ({ offer: globalId("GpuOffer", 999_999), model: "llama-3-8b" }), "NOT_FOUND", /No offer has this ID/],
    ])("rejects %s", async (_name, variables, code, message) => {
      const res = await request(COST, variables());
      expect(res.errors![0]!.extensions!.code).toBe(code);
      expect(res.errors![0]!.message).toMatch(message);
    });
  });

  describe("estimateWorkload", () => {
    const ESTIMATE = `query W($input: WorkloadInput!, $filter: OfferFilter, $first: Int! = 10) {
      estimateWorkload(input: $input, filter: $filter, first: $first) {
        kind considered feasible excluded
        exclusions { reason gpuModel gpuCount offers message }
        options { offer { id } instances instanceHours cost costPerMillionTokens costPerImage }
        totals { outputTokens inputTokens trainingFlops images }
        assumptions
      }
    }`;
    const inference = (model: string) => ({ inference: { model, requestsPerPeriod: 1000, tokensPerRequest: 500, promptTokens: 1000 } });
    /** The active offers as the domain sees them, with the spec table's figures. */
    const domainOffers = (): WorkloadOffer<Key>[] => OFFERS.filter((o) => !("active" in o)).map((o) => ({
      id: o.key, gpuModel: o.model ?? "Mystery GPU 9000", gpu: o.model ? getGpuSpec(o.model)! : null, gpuCount: o.gpuCount, pricePerHour: Number(o.perGpu) * o.gpuCount,
    }));
    const keyOf = (id: string) => OFFERS.find((o) => ids[o.key] === dbId(id))!.key;

    it("returns the offers that fit Llama 3 70B FP16 and says why the others do not", async () => {
      const res = await request(ESTIMATE, { input: inference("llama-3-70b") });
      expect(res.errors).toBeUndefined();
      const w = res.data.estimateWorkload;
      // Only 2× H100 (160 GB) holds the 155.9 GB; a single 24 GB RTX 4090 is far off.
      expect(w.options.map((o: { offer: { id: string } }) => keyOf(o.offer.id))).toEqual(["h100x2"]);
      expect(w).toMatchObject({ kind: "INFERENCE", considered: 6, feasible: 1, excluded: 5 });
      expect(w.exclusions.map((e: { reason: string; gpuModel: string; gpuCount: number; offers: number }) => [e.reason, e.gpuModel, e.gpuCount, e.offers])).toEqual([
        ["INSUFFICIENT_VRAM", "A100-SXM-80GB", 1, 1],
        ["INSUFFICIENT_VRAM", "H100-SXM-80GB", 1, 1],
        ["UNKNOWN_GPU_MODEL", "Mystery GPU 9000", 1, 1],
        ["INSUFFICIENT_VRAM", "RTX-4090", 1, 1],
        ["INSUFFICIENT_VRAM", "RTX-4090", 2, 1],
      ]);
      expect(w.exclusions.find((e: { gpuCount: number; gpuModel: string }) => e.gpuModel === "RTX-4090" && e.gpuCount === 1).message)
        .toBe("Llama 3 70B at FP16 needs 155.9 GB (weights 141.2, KV cache 0.5, overhead 14.2); 1× RTX-4090 has 24 GB.");
      const domain = estimateWorkload({ kind: "inference", model: "llama-3-70b", precision: "FP16", periodHours: 730, requestsPerPeriod: 1000, tokensPerRequest: 500, promptTokens: 1000 }, domainOffers());
      expect(w.options[0]).toMatchObject({ instances: 1, instanceHours: domain.options[0]!.instanceHours, cost: money(domain.options[0]!.cost) });
      expect(w.totals).toEqual({ outputTokens: 500_000, inputTokens: 1_000_000, trainingFlops: null, images: null });
    });

    it("lists the cheapest fitting offers first, as the domain orders them", async () => {
      const res = await request(ESTIMATE, { input: inference("llama-3-8b"), first: 3 });
      const domain = estimateWorkload({ kind: "inference", model: "llama-3-8b", precision: "FP16", periodHours: 730, requestsPerPeriod: 1000, tokensPerRequest: 500, promptTokens: 1000 }, domainOffers(), { limit: 3 });
      expect(res.data.estimateWorkload.options.map((o: { offer: { id: string } }) => keyOf(o.offer.id))).toEqual(domain.options.map((o) => o.offerId));
      expect(res.data.estimateWorkload).toMatchObject({ considered: 6, feasible: 5, excluded: 1 });
      const filtered = await request(ESTIMATE, { input: inference("llama-3-8b"), filter: { gpuModels: ["RTX-4090"] } });
      expect(filtered.data.estimateWorkload.options.map((o: { offer: { id: string } }) => keyOf(o.offer.id)).sort()).toEqual(["4090", "4090x2"]);
    });

    it("labels a preset model with its source and only a custom model as caller-supplied", async () => {
      const preset = await request(ESTIMATE, { input: inference("llama-3-8b"), first: 1 });
      expect(preset.errors).toBeUndefined();
      expect(preset.data.estimateWorkload.assumptions[0]).toMatch(/^Llama 3 8B \(huggingface\.co\/meta-llama\/Meta-Llama-3-8B config\.json; 8\.03B parameters\); weights FP16/);
      const custom = await request(ESTIMATE, { input: { inference: {
        customModel: { name: "tiny", parameters: 1e9, layers: 16, kvHeads: 8, headDim: 64 }, requestsPerPeriod: 10, tokensPerRequest: 100,
      } }, first: 1 });
      expect(custom.data.estimateWorkload.assumptions[0]).toMatch(/^tiny \(caller-supplied\); weights FP16/);
    });

    it("costs training and image generation", async () => {
      const training = await request(ESTIMATE, { input: { training: { parameters: 7e9, tokens: 1e9 } }, first: 1 });
      expect(training.errors).toBeUndefined();
      expect(training.data.estimateWorkload.totals.trainingFlops).toBe(4.2e19);
      const image = await request(ESTIMATE, { input: { image: { imagesPerPeriod: 10000 } }, first: 1 });
      expect(image.data.estimateWorkload).toMatchObject({ kind: "IMAGE", feasible: 5, excluded: 1, totals: { images: 10000 } });
      expect(image.data.estimateWorkload.options[0].costPerImage).toMatch(/^0\.\d+$/);
    });

    it.each([
      ["two workloads at once", { training: { parameters: 1e9, tokens: 1e9 }, image: { imagesPerPeriod: 1 } }, undefined, /exactly one of inference, training or image/],
      ["no volume", { inference: { model: "llama-3-8b" } }, "MISSING_FIELD", /either requestsPerPeriod .* or tokensPerPeriod/],
      ["an unknown model", { inference: { model: "gpt-9", tokensPerPeriod: 1 } }, "UNKNOWN_MODEL", /Unknown model preset "gpt-9"/],
      ["a utilisation above 1", { image: { imagesPerPeriod: 1, utilisation: 2 } }, "OUT_OF_RANGE", /utilisation .* must be between 0\.01 and 1/],
      ["a utilisation too small to run (its hours overflow)", { image: { imagesPerPeriod: 1, utilisation: 5e-324 } }, "OUT_OF_RANGE", /utilisation .* must be between 0\.01 and 1 \(got 5e-324\)/],
    ])("rejects %s with BAD_USER_INPUT", async (_name, input, reason, message) => {
      const res = await request(ESTIMATE, { input });
      expect(res.errors![0]!.extensions).toMatchObject({ code: "BAD_USER_INPUT", ...(reason ? { reason } : {}) });
      expect(res.errors![0]!.message).toMatch(message);
    });
  });
});
