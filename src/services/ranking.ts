// Ranking: raw TOPSIS over a decision matrix, and TOPSIS over the catalog's offers (rankOffers). Public
// reads: any caller, anonymous included. The arithmetic is src/domain/math/topsis.ts; the offer SQL is
// src/infra/ranking.ts.
import type { GpuOffer, PrismaClient } from "../generated/prisma/client.ts";
import { badInput } from "../errors.ts";
import { DEFAULT_MEMORY_EFFICIENCY, DEFAULT_SERVING, estimateInference, pricePerMillionTokens, type GpuInput, type Precision } from "../domain/math/llm.ts";
import { rankRows, topsis, topsisColumns, type TopsisCriterion, type TopsisResult } from "../domain/math/topsis.ts";
import type { ExclusionReason } from "../domain/math/workload.ts";
import type { OfferFilterInput } from "../domain/offers/filter.ts";
import { loadRankData, parseColumns, topOffers, type RankData, type RankField } from "../infra/ranking.ts";
import { createEpochCache } from "../infra/epoch-cache.ts";
import { catalogEpoch } from "../infra/offers.ts";
import type { Actor } from "./actor.ts";
import { resolveOfferFilter } from "./offers.ts";
import { checkPrecision, chooseModel, domainInput, LIST_SIZE, listSize, MODEL_PRESET_LIST } from "./math-input.ts";

export const TOPSIS_LIMITS = { rows: 10_000, columns: 100 } as const;

/** What rankOffers can weigh, its direction, and how its value is derived. */
export const RANK_CRITERIA = {
  PRICE_PER_GPU_HOUR: { direction: "cost", description: "On-demand price per GPU-hour (lower is better)." },
  TOTAL_VRAM: { direction: "benefit", description: "Memory across all GPUs of the instance, GB." },
  FP16_TFLOPS: { direction: "benefit", description: "Dense FP16/BF16 TFLOPS of one GPU (datasheet)." },
  MEMORY_BANDWIDTH: { direction: "benefit", description: "Memory bandwidth of one GPU, GB/s (datasheet)." },
  COST_PER_MTOK: { direction: "cost", description: `$ per 1M generated tokens of \`model\` on the whole instance (lower is better; batch ${DEFAULT_SERVING.batch}, context ${DEFAULT_SERVING.contextTokens}, prompt ${DEFAULT_SERVING.promptTokens}); offers the model does not fit are excluded.` },
  AVAILABILITY: { direction: "benefit", description: "AVAILABLE 1, LIMITED 0.5, UNKNOWN 0.25, UNAVAILABLE 0." },
  PROVIDER_RELIABILITY: { direction: "benefit", description: "The provider's 0–1 reliability score; 0.5 when unknown." },
} as const satisfies Record<string, { direction: TopsisCriterion; description: string }>;
export type RankCriterion = keyof typeof RANK_CRITERIA;

/** The offer columns each criterion reads (src/infra/ranking.ts). */
const CRITERION_FIELDS: Record<RankCriterion, RankField[]> = {
  PRICE_PER_GPU_HOUR: ["price"], TOTAL_VRAM: ["vram"], FP16_TFLOPS: ["model"], MEMORY_BANDWIDTH: ["model"],
  COST_PER_MTOK: ["model", "count", "instancePrice"], AVAILABILITY: ["availability"], PROVIDER_RELIABILITY: ["provider"],
};

export interface TopsisRequest {
  /** Rows are alternatives, columns criteria. */
  matrix: readonly (readonly number[])[];
  weights: readonly number[];
  criteria: readonly TopsisCriterion[];
}

export interface RankOffersRequest {
  /** Which offers to rank, as `offers` takes it (names resolved here). */
  filter?: OfferFilterInput | null;
  /** Each criterion at most once, with a weight ≥ 0 (normalised). */
  criteria: readonly { criterion: RankCriterion; weight: number }[];
  /** LLM preset for COST_PER_MTOK. */
  model?: string | null;
  /** Weight precision for COST_PER_MTOK (default FP16). */
  precision?: Precision | null;
  /** How many ranked offers to return (0–100, default 20). */
  first?: number | null;
}

export interface RankedOffer {
  offer: GpuOffer;
  closeness: number;
  rank: number;
  /** The criterion values used, in the order the criteria were given. */
  values: { criterion: RankCriterion; value: number }[];
}

export interface OfferRanking {
  /** Best first (ties: lower offer id first). */
  ranked: RankedOffer[];
  considered: number;
  excluded: number;
  exclusions: { reason: ExclusionReason; count: number }[];
  weights: { criterion: RankCriterion; weight: number; direction: TopsisCriterion }[];
  assumptions: string[];
}

function checkCriteria(criteria: RankOffersRequest["criteria"]) {
  if (!criteria.length) throw badInput("Give at least one criterion.", { reason: "NO_CRITERIA", argument: "criteria" });
  const seen = new Set<string>();
  for (const { criterion, weight } of criteria) {
    if (!Object.hasOwn(RANK_CRITERIA, criterion)) throw badInput(`${String(criterion)} is not a criterion; use one of ${Object.keys(RANK_CRITERIA).join(", ")}.`, { reason: "INVALID_CRITERION", argument: "criteria" });
    if (seen.has(criterion)) throw badInput(`${criterion} is given twice; give each criterion once.`, { reason: "DUPLICATE_CRITERION", argument: "criteria" });
    seen.add(criterion);
    if (!(weight >= 0)) throw badInput(`The weight of ${criterion} is ${weight}; weights must be ≥ 0.`, { reason: "INVALID_WEIGHT", argument: "criteria" });
    if (weight === Infinity) throw badInput(`The weight of ${criterion} is Infinity; weights must be finite.`, { reason: "INVALID_WEIGHT", argument: "criteria" });
  }
  if (!criteria.some((c) => c.weight > 0)) throw badInput("All weights are zero; at least one criterion needs a positive weight.", { reason: "ZERO_WEIGHTS", argument: "criteria" });
}

/** Ranking data kept per filter, criteria columns and catalog epoch: at most this many. */
export const RANK_DATA_CACHE_SIZE = 100;

export function createRankingService({ prisma }: { prisma: PrismaClient }) {
  // The grouping statement reads every matching offer (~60–80 ms on 100k); its result changes only with the
  // catalog, so it is read once per catalog change (ingestion cycle), filter and set of columns, on every node.
  const rankData = createEpochCache<RankData>(RANK_DATA_CACHE_SIZE);

  return {
    /** TOPSIS over a decision matrix (at most TOPSIS_LIMITS). */
    topsis(input: TopsisRequest, _actor: Actor): TopsisResult {
      const { matrix } = input;
      if (matrix.length > TOPSIS_LIMITS.rows || (matrix[0]?.length ?? 0) > TOPSIS_LIMITS.columns) {
        throw badInput(`The matrix is too large: at most ${TOPSIS_LIMITS.rows} rows and ${TOPSIS_LIMITS.columns} columns (got ${matrix.length} × ${matrix[0]?.length ?? 0}).`, { reason: "TOO_LARGE", argument: "matrix" });
      }
      // `reason` names what is wrong; the argument is always the matrix call as a whole.
      return domainInput("matrix", () => topsis(input));
    },

    /** The matching offers ranked by TOPSIS over weighted criteria; the best `first`, ranked among all. */
    async rankOffers(input: RankOffersRequest, _actor: Actor): Promise<OfferRanking> {
      const model = chooseModel({ model: input.model }, false);
      checkCriteria(input.criteria);
      if (input.criteria.some((c) => c.criterion === "COST_PER_MTOK") && !model) {
        throw badInput(`COST_PER_MTOK needs a model: pass \`model\` (${MODEL_PRESET_LIST}).`, { reason: "MODEL_REQUIRED", argument: "model" });
      }
      const first = listSize(input.first, LIST_SIZE.default);
      const precision = checkPrecision(input.precision ?? "FP16", "precision");
      const filter = await resolveOfferFilter(prisma, input.filter); // after the other arguments: their errors come first
      const criteria = input.criteria;

      // Always grouped by GPU model: whether a group has datasheet figures depends on it.
      const fields = [...new Set<RankField>(["model", ...criteria.flatMap((c) => CRITERION_FIELDS[c.criterion])])];
      const data = await rankData.get(JSON.stringify([filter, fields]), await catalogEpoch(prisma), () => loadRankData(prisma, filter, fields));
      const parsed = parseColumns(data.rows, fields.length + 2);
      const counts = parsed[0]!, firstIds = parsed[1]!;
      const column = (f: RankField) => parsed[fields.indexOf(f) + 2]!;
      let n = counts.length;
      let considered = counts.reduce((sum, c) => sum + c, 0);
      const exclusions = new Map<ExclusionReason, number>([["UNKNOWN_GPU_MODEL", data.matched - considered]]);

      const specs = new Map<number, GpuInput>();
      const models = parseColumns(data.models, 5);
      models[0]!.forEach((id, i) => specs.set(id, { vramGb: models[1]![i]!, memoryBandwidthGbps: models[2]![i]!, fp16Tflops: models[3]![i]!, fp8Tflops: models[4]![i]! || null }));
      const reliability = new Map<number, number>();
      const providers = parseColumns(data.providers, 2);
      providers[0]!.forEach((id, i) => reliability.set(id, providers[1]![i]!));

      const lookup = (keys: Float64Array, value: (key: number) => number) => {
        const out = new Float64Array(n);
        for (let i = 0; i < n; i++) out[i] = value(keys[i]!);
        return out;
      };
      const values: Float64Array[] = criteria.map(({ criterion }) => {
        switch (criterion) {
          case "PRICE_PER_GPU_HOUR": return column("price");
          case "TOTAL_VRAM": return column("vram");
          case "AVAILABILITY": return column("availability");
          case "FP16_TFLOPS": return lookup(column("model"), (id) => specs.get(id)!.fp16Tflops);
          case "MEMORY_BANDWIDTH": return lookup(column("model"), (id) => specs.get(id)!.memoryBandwidthGbps);
          case "PROVIDER_RELIABILITY": return lookup(column("provider"), (id) => reliability.get(id) ?? 0.5);
          case "COST_PER_MTOK": {
            const gpu = column("model"), count = column("count"), price = column("instancePrice");
            // Decode speed depends only on (GPU model, GPU count): estimate each configuration once.
            const speed = new Map<number, number>();
            const out = new Float64Array(n);
            for (let i = 0; i < n; i++) {
              const key = gpu[i]! * 4096 + count[i]!;
              let tokensPerSecond = speed.get(key);
              if (tokensPerSecond === undefined) {
                const e = estimateInference({ model: model!, gpu: specs.get(gpu[i]!)!, gpuCount: count[i]!, ...DEFAULT_SERVING, precision });
                speed.set(key, (tokensPerSecond = e.fits ? e.decode.tokensPerSecond : NaN));
              }
              out[i] = pricePerMillionTokens(price[i]!, tokensPerSecond);
            }
            return out;
          }
        }
      });
      // The field columns, kept aligned with the groups, to find the winners' offers by their values.
      const keys = fields.map(column);

      // Groups the model does not fit have no $/Mtok: compact every column in place past them.
      const cost = criteria.findIndex((c) => c.criterion === "COST_PER_MTOK");
      if (cost >= 0) {
        let kept = 0;
        const compacted = new Set([...values, ...keys]); // a criterion may read a key column itself
        for (let i = 0; i < n; i++) {
          if (Number.isNaN(values[cost]![i])) continue;
          counts[kept] = counts[i]!;
          firstIds[kept] = firstIds[i]!;
          for (const v of compacted) v[kept] = v[i]!;
          kept++;
        }
        const fitting = counts.subarray(0, kept).reduce((sum, c) => sum + c, 0);
        exclusions.set("INSUFFICIENT_VRAM", considered - fitting);
        considered = fitting;
        n = kept;
      }

      const scores = topsisColumns({
        columns: values.map((v) => v.subarray(0, n)),
        weights: criteria.map((c) => c.weight),
        benefit: criteria.map((c) => RANK_CRITERIA[c.criterion].direction === "benefit"),
        counts: counts.subarray(0, n),
      });
      const { closeness, weightsUsed } = scores;
      const winners = await topOffers(prisma, filter, fields, {
        values: keys.map((v) => v.subarray(0, n)), closeness, counts: counts.subarray(0, n), first: firstIds.subarray(0, n),
      }, first);
      // Ranks as topsis() assigns them over the winners in order (ties within 1e-12 share the leader's rank).
      const top = rankRows(Float64Array.from(winners, (o) => closeness[o.group]!), winners.length, Float64Array.from(winners, (o) => o.id));
      return {
        ranked: top.map((t) => {
          const { group, ...offer } = winners[t.row]!;
          return {
            offer: offer as GpuOffer, closeness: closeness[group]!, rank: t.rank,
            values: criteria.map((c, j) => ({ criterion: c.criterion, value: values[j]![group]! })),
          };
        }),
        considered,
        excluded: data.matched - considered,
        exclusions: [...exclusions].filter(([, count]) => count > 0).map(([reason, count]) => ({ reason, count })),
        weights: criteria.map((c, j) => ({ criterion: c.criterion, weight: weightsUsed[j]!, direction: RANK_CRITERIA[c.criterion].direction })),
        assumptions: [
          "offers whose GPU model has no datasheet figures are left out",
          ...criteria.map((c) => `${c.criterion}: ${RANK_CRITERIA[c.criterion].description}`),
          ...(model && cost >= 0 ? [`COST_PER_MTOK: ${model.name} at ${precision}, tensor parallel over the instance's GPUs, decode at ${DEFAULT_MEMORY_EFFICIENCY} of peak bandwidth, on-demand instance price`] : []),
        ],
      };
    },
  };
}
