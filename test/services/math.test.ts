// The math services called directly, as an assistant tool or a script would: ranking (topsis, rankOffers),
// LLM cost, workload estimation and market KPIs. All are public reads, so every kind of caller gets the same
// answer; bad input is a BAD_USER_INPUT AppError carrying the domain's `reason`, never an internal error.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { formatMoney } from "../../src/domain/money.ts";
import { costPerMillionTokens, estimateInference, MODEL_PRESETS, pricePerMillionTokens } from "../../src/domain/math/llm.ts";
import { topsis } from "../../src/domain/math/topsis.ts";
import type { Database } from "../../src/infra/db.ts";
import { anonymous, systemActor, type Actor } from "../../src/services/actor.ts";
import type { Services } from "../../src/services/index.ts";
import { testServices, userActor } from "../support/app.ts";
import { openTestDatabase } from "../support/db.ts";
import { rejection } from "../support/errors.ts";
import { MODELS, seedMarket, type MarketOffer } from "../support/market.ts";

const ACTORS: [string, Actor][] = [
  ["anonymous", anonymous()],
  ["a signed-in user", userActor(1)],
  ["an API key without scopes", userActor(2, "USER", { via: "api_key", scopes: [] })],
  ["the system", systemActor("test")],
];


describe("math services", () => {
  let db: Database;
  let services: Services;
  let offers: MarketOffer[];
  let alpha: number;
  const anon = anonymous();

  beforeAll(async () => {
    db = await openTestDatabase();
    offers = await seedMarket(db.prisma, 60);
    services = testServices(db);
    alpha = (await db.prisma.provider.findUniqueOrThrow({ where: { slug: "alpha" } })).id;
  });
  afterAll(async () => { await db?.close(); });

  describe("ranking.topsis", () => {
    const input = { matrix: [[250, 16, 12], [200, 16, 8], [300, 32, 16]], weights: [1, 1, 1], criteria: ["cost", "benefit", "benefit"] as const };

    it("returns what the domain computes, for every caller", () => {
      for (const [, actor] of ACTORS) expect(services.ranking.topsis(input, actor)).toEqual(topsis(input));
    });

    it("rejects a ragged matrix and one over the size limit with BAD_USER_INPUT and the domain's reason", async () => {
      const ragged = await rejection(() => services.ranking.topsis({ ...input, matrix: [[1, 2, 3], [4]] }, anon));
      expect(ragged.extensions).toEqual({ code: "BAD_USER_INPUT", reason: "RAGGED_ROWS", argument: "matrix" });
      expect(ragged.message).toBe("Row 2 has 1 values, but row 1 has 3; every alternative needs one value per criterion.");
      const large = await rejection(() => services.ranking.topsis({ ...input, matrix: Array.from({ length: 10_001 }, () => [1, 1, 1]) }, anon));
      expect(large.extensions).toEqual({ code: "BAD_USER_INPUT", reason: "TOO_LARGE", argument: "matrix" });
    });
  });

  describe("ranking.rankOffers", () => {
    const criteria = [{ criterion: "PRICE_PER_GPU_HOUR", weight: 2 }, { criterion: "TOTAL_VRAM", weight: 1 }] as const;
    /** alpha's active offers with a known GPU, as topsis() ranks them (ties by id). */
    function expected(first: number, weights = [2, 1]) {
      const rows = offers.filter((o) => o.provider === "alpha" && o.active && o.model);
      const r = topsis({ matrix: rows.map((o) => [Number(o.pricePerGpuHour), o.vramPerGpuGb * o.gpuCount]), weights, criteria: ["cost", "benefit"] });
      return { rows, ranked: r.order.slice(0, first).map((i) => ({ id: rows[i]!.id, closeness: r.closeness[i], rank: r.rank[i] })) };
    }

    it("ranks the filtered offers as topsis() does over them, the same for every caller", async () => {
      const want = expected(6);
      const mystery = offers.filter((o) => o.provider === "alpha" && o.active && !o.model).length;
      expect(mystery).toBeGreaterThan(0);
      for (const [, actor] of ACTORS) {
        const r = await services.ranking.rankOffers({ filter: { providers: ["alpha"] }, criteria, first: 6 }, actor);
        expect(r.ranked.map((x) => ({ id: x.offer.id, closeness: x.closeness, rank: x.rank }))).toEqual(want.ranked);
        expect(r).toMatchObject({ considered: want.rows.length, excluded: mystery, exclusions: [{ reason: "UNKNOWN_GPU_MODEL", count: mystery }] });
        expect(r.weights).toEqual([{ criterion: "PRICE_PER_GPU_HOUR", weight: 2 / 3, direction: "cost" }, { criterion: "TOTAL_VRAM", weight: 1 / 3, direction: "benefit" }]);
      }
    });

    it("ranks with weights whose sum overflows as with their ratios", async () => {
      const huge = await services.ranking.rankOffers({ filter: { providers: ["alpha"] }, criteria: criteria.map((c) => ({ ...c, weight: 1e308 })), first: 6 }, anon);
      expect(huge.weights.map((w) => w.weight)).toEqual([0.5, 0.5]);
      expect(huge.ranked.map((x) => ({ id: x.offer.id, closeness: x.closeness, rank: x.rank }))).toEqual(expected(6, [1, 1]).ranked);
    });

    it("prices COST_PER_MTOK with the one $/Mtok formula", async () => {
      const r = await services.ranking.rankOffers({ filter: { providers: ["alpha"] }, criteria: [{ criterion: "COST_PER_MTOK", weight: 1 }], model: "llama-3-8b", first: 3 }, anon);
      expect(r.ranked).toHaveLength(3);
      for (const { offer, values } of r.ranked) {
        const spec = MODELS.find((m) => m.name === offers.find((o) => o.id === offer.id)!.model)!;
        const e = estimateInference({ model: "llama-3-8b", gpu: spec, gpuCount: offer.gpuCount, batch: 1, contextTokens: 4096, promptTokens: 1024, precision: "FP16" });
        expect(values).toEqual([{ criterion: "COST_PER_MTOK", value: pricePerMillionTokens(offer.onDemandPrice.toNumber(), e.decode.tokensPerSecond) }]);
      }
    });

    it.each([
      ["an unknown model", { criteria: [{ criterion: "COST_PER_MTOK", weight: 1 }], model: "llama-9" }, { reason: "UNKNOWN_MODEL", argument: "model", field: "model" }],
      ["COST_PER_MTOK without a model", { criteria: [{ criterion: "COST_PER_MTOK", weight: 1 }] }, { reason: "MODEL_REQUIRED", argument: "model" }],
      ["a repeated criterion", { criteria: [{ criterion: "TOTAL_VRAM", weight: 1 }, { criterion: "TOTAL_VRAM", weight: 1 }] }, { reason: "DUPLICATE_CRITERION", argument: "criteria" }],
      ["an infinite weight", { criteria: [{ criterion: "TOTAL_VRAM", weight: Infinity }] }, { reason: "INVALID_WEIGHT", argument: "criteria" }],
      ["first over 100", { criteria: [{ criterion: "TOTAL_VRAM", weight: 1 }], first: 101 }, { argument: "first" }],
    ] as const)("rejects %s with BAD_USER_INPUT", async (_name, input, details) => {
      const error = await rejection(() => services.ranking.rankOffers(input as Parameters<Services["ranking"]["rankOffers"]>[0], anon));
      expect(error.extensions).toEqual({ code: "BAD_USER_INPUT", ...details });
    });
  });

  describe("llmCost.costPerToken", () => {
    it("prices an offer and the same GPU at the same price alike", async () => {
      const a100 = offers.find((o) => o.model === "A100-SXM-80GB" && o.gpuCount === 1 && o.active)!;
      const byOffer = await services.llmCost.costPerToken({ offerId: a100.id, model: "llama-3-8b" }, anon);
      const byName = await services.llmCost.costPerToken({ gpuModel: "a100 80gb", pricePerHour: a100.onDemandPrice, model: "llama-3-8b" }, userActor(1));
      expect({ ...byName, pricePerHour: formatMoney(byName.pricePerHour) }).toEqual({ ...byOffer, pricePerHour: formatMoney(byOffer.pricePerHour) });
      const e = estimateInference({ model: "llama-3-8b", gpu: MODELS[1], gpuCount: 1, batch: 1, contextTokens: 4096, promptTokens: 1024, precision: "FP16" });
      expect(byOffer).toMatchObject({ model: "Llama 3 8B", gpuModel: "A100-SXM-80GB", gpuCount: 1, fits: true, outputTokensPerSecond: e.decode.tokensPerSecond });
      expect(byOffer.outputCostPerMillionTokens!.toNumber()).toBe(costPerMillionTokens({ pricePerHour: a100.onDemandPrice, tokensPerSecond: e.decode.tokensPerSecond }).costPerMillionTokens);
    });

    it("rejects a bad custom model, an unknown precision and an unknown GPU with coded errors", async () => {
      const custom = await rejection(() => services.llmCost.costPerToken({ gpuModel: "H100", pricePerHour: "2", customModel: { name: "x", parameters: 1e9, layers: 0, kvHeads: 8, headDim: 64 } }, anon));
      expect(custom.extensions).toEqual({ code: "BAD_USER_INPUT", reason: "OUT_OF_RANGE", argument: "customModel", field: "model.layers" });
      const precision = await rejection(() => services.llmCost.costPerToken({ gpuModel: "H100", pricePerHour: "2", model: "llama-3-8b", precision: "FP12" as "FP16" }, anon));
      expect(precision.extensions).toEqual({ code: "BAD_USER_INPUT", reason: "INVALID_PRECISION", argument: "precision" });
      const price = await rejection(() => services.llmCost.costPerToken({ gpuModel: "H100", pricePerHour: "-2", model: "llama-3-8b" }, anon));
      expect(price.extensions).toEqual({ code: "BAD_USER_INPUT", argument: "pricePerHour" });
      const gpu = await rejection(() => services.llmCost.costPerToken({ gpuModel: "Voodoo 5", pricePerHour: "1", model: "llama-3-8b" }, anon));
      expect([gpu.code, gpu.message]).toEqual(["NOT_FOUND", "No GPU model matches \"Voodoo 5\". The gpuModels query lists every known model."]);
    });
  });

  describe("workload.estimateWorkload", () => {
    const inference = { model: "llama-3-8b", requestsPerPeriod: 1000, tokensPerRequest: 500, promptTokens: 1000 };

    it("costs inference on the filtered offers, labelling the preset with its source", async () => {
      const r = await services.workload.estimateWorkload({ input: { inference }, filter: { providers: ["alpha"] }, first: 3 }, anon);
      const alphaActive = offers.filter((o) => o.provider === "alpha" && o.active);
      expect(r).toMatchObject({ kind: "inference", considered: alphaActive.length, feasible: alphaActive.length - r.excluded });
      expect(r.options).toHaveLength(3);
      expect(r.options.every((o) => o.offer.providerId === alpha)).toBe(true);
      expect(r.options.map((o) => o.cost.toNumber())).toEqual(r.options.map((o) => o.cost.toNumber()).sort((a, b) => a - b));
      expect(r.assumptions[0]).toContain(`Llama 3 8B (${MODEL_PRESETS["llama-3-8b"].source})`);
    });

    it("rejects a missing volume with the domain's reason and two workloads at once", async () => {
      const missing = await rejection(() => services.workload.estimateWorkload({ input: { inference: { model: "llama-3-8b", requestsPerPeriod: 10 } } }, anon));
      expect(missing.extensions).toEqual({ code: "BAD_USER_INPUT", reason: "MISSING_FIELD", argument: "input", field: "tokensPerRequest" });
      const two = await rejection(() => services.workload.estimateWorkload({ input: { training: { parameters: 1e9, tokens: 1e9 }, image: { imagesPerPeriod: 1 } } }, anon));
      expect([two.code, two.message]).toEqual(["BAD_USER_INPUT", "Give exactly one of inference, training or image (got training, image)."]);
    });
  });

  describe("kpis", () => {
    it("answers the overview, a GPU model by any spelling and a provider by slug", async () => {
      const overview = await services.kpis.marketOverview(anon);
      expect(overview.activeOffers).toBe(offers.filter((o) => o.active).length);
      const h100 = await db.prisma.gpuModel.findUniqueOrThrow({ where: { name: "H100-SXM-80GB" } });
      const gpu = await services.kpis.gpuKpis({ model: "nvidia h100 80gb sxm5" }, userActor(1));
      expect(gpu).toMatchObject({ gpuModelId: h100.id, activeOffers: offers.filter((o) => o.active && o.model === "H100-SXM-80GB").length });
      const provider = await services.kpis.providerKpis({ slug: " Alpha " }, systemActor("test"));
      expect(provider).toMatchObject({ providerId: alpha, activeOffers: offers.filter((o) => o.active && o.provider === "alpha").length });
      const insights = await services.kpis.marketInsights({ limit: 2 }, anon);
      expect(insights).toMatchObject({ window: "DAYS_7", risers: [], fallers: [] });
      expect(insights.bestValue.length).toBeLessThanOrEqual(2);
    });

    it("rejects an unknown model or slug (NOT_FOUND) and a bad limit (BAD_USER_INPUT)", async () => {
      expect((await rejection(() => services.kpis.gpuKpis({ model: "Voodoo 5 6000" }, anon))).extensions).toEqual({ code: "NOT_FOUND", argument: "model" });
      expect((await rejection(() => services.kpis.providerKpis({ slug: "nope" }, anon))).extensions).toEqual({ code: "NOT_FOUND", argument: "slug" });
      const limit = await rejection(() => services.kpis.marketInsights({ limit: 0 }, anon));
      expect([limit.extensions, limit.message]).toEqual([{ code: "BAD_USER_INPUT", argument: "limit" }, "limit must be between 1 and 50 (got 0)."]);
    });
  });
});
