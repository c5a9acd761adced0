// Ranking: raw TOPSIS over a decision matrix and TOPSIS over the catalog (rankOffers). Types and the two
// queries; the resolvers call src/services/ranking.ts.
import { z } from "zod";
import { type ExclusionReason } from "../domain/math/workload.ts";
import type { TopsisResult } from "../domain/math/topsis.ts";
import { LIST_SIZE, MODEL_PRESET_LIST } from "../services/math-input.ts";
import { RANK_CRITERIA, TOPSIS_LIMITS, type RankCriterion } from "../services/ranking.ts";
import { builder } from "./builder.ts";
import { PrecisionEnum } from "./enums.ts";
import { GpuOfferRef, OfferFilterInput } from "./offer.ts";

// ---------------------------------------------------------------- Types

const TopsisCriterionEnum = builder.enumType("TopsisCriterion", {
  description: "Which direction of a criterion is better.",
  values: {
    BENEFIT: { value: "benefit", description: "Higher is better (memory, speed)." },
    COST: { value: "cost", description: "Lower is better (price)." },
  } as const,
});

const TopsisResultRef = builder.simpleObject("TopsisResult", {
  description: "TOPSIS (Hwang & Yoon) over a decision matrix. Lists are in row order unless stated.",
  fields: (t) => ({
    closeness: t.floatList({ description: "Relative closeness to the ideal, S⁻ / (S⁺ + S⁻), in [0, 1]; 0.5 when every weighted column is constant (one row, identical rows)." }),
    rank: t.intList({ description: "1 = best; equal closeness shares the best rank (1, 2, 2, 4)." }),
    order: t.intList({ description: "Row indices (0-based), best first; ties in row order." }),
    weightsUsed: t.floatList({ description: "The weights normalised to sum 1, per column." }),
    ideal: t.floatList({ description: "The ideal point A⁺ per column (weighted, normalised)." }),
    antiIdeal: t.floatList({ description: "The anti-ideal point A⁻ per column (weighted, normalised)." }),
    distanceToIdeal: t.floatList({ description: "S⁺ per row: Euclidean distance to the ideal." }),
    distanceToAntiIdeal: t.floatList({ description: "S⁻ per row: Euclidean distance to the anti-ideal." }),
  }),
});

const asTopsisResult = ({ distances, ...r }: TopsisResult) => ({ ...r, distanceToIdeal: distances.best, distanceToAntiIdeal: distances.worst });

const RankCriterionEnum = builder.enumType("RankCriterion", {
  description: "An offer property TOPSIS can weigh.",
  values: Object.fromEntries(Object.entries(RANK_CRITERIA).map(([k, v]) => [k, { description: `${v.description} ${v.direction === "cost" ? "Cost" : "Benefit"} criterion.` }])) as Record<RankCriterion, { description: string }>,
});

const RankCriterionInput = builder.inputType("RankCriterionInput", {
  description: "One criterion and its weight.",
  fields: (t) => ({
    criterion: t.field({ type: RankCriterionEnum, required: true, description: "What to weigh." }),
    weight: t.float({ required: true, description: "Any non-negative weight; weights are normalised to sum 1." }),
  }),
});

const RankCriterionValueRef = builder.simpleObject("RankCriterionValue", {
  description: "The value of one criterion for one offer, as TOPSIS used it (before normalisation).",
  fields: (t) => ({
    criterion: t.field({ type: RankCriterionEnum, description: "The criterion." }),
    value: t.float({ description: "Its value, in the unit the criterion states." }),
  }),
});

const RankedOfferRef = builder.simpleObject("RankedOffer", {
  description: "An offer with its TOPSIS score.",
  fields: (t) => ({
    offer: t.field({ type: GpuOfferRef, description: "The offer." }),
    closeness: t.float({ description: "Relative closeness to the ideal offer, in [0, 1]; higher is better." }),
    rank: t.int({ description: "1 = best among all considered offers; ties share the best rank." }),
    values: t.field({ type: [RankCriterionValueRef], description: "The criterion values used, in the order the criteria were given." }),
  }),
});

const RankWeightRef = builder.simpleObject("RankWeight", {
  description: "A criterion as TOPSIS applied it.",
  fields: (t) => ({
    criterion: t.field({ type: RankCriterionEnum, description: "The criterion." }),
    weight: t.float({ description: "Its weight normalised so all weights sum to 1." }),
    direction: t.field({ type: TopsisCriterionEnum, description: "Whether higher (BENEFIT) or lower (COST) is better." }),
  }),
});

/** Shared with estimateWorkload's exclusions. */
export const ExclusionReasonEnum = builder.enumType("ExclusionReason", {
  description: "Why a matching offer was left out of a ranking or estimate.",
  values: {
    UNKNOWN_GPU_MODEL: { description: "Its GPU is not a model we have datasheet figures for." },
    INSUFFICIENT_VRAM: { description: "The model or workload does not fit in its GPU memory." },
  } satisfies Record<ExclusionReason, { description: string }>,
});

const ExclusionCountRef = builder.simpleObject("ExclusionCount", {
  description: "How many matching offers were left out for one reason.",
  fields: (t) => ({
    reason: t.field({ type: ExclusionReasonEnum, description: "The reason." }),
    count: t.int({ description: "Offers left out for it." }),
  }),
});

const OfferRankingRef = builder.simpleObject("OfferRanking", {
  description: "Matching offers ranked by TOPSIS over the chosen criteria.",
  fields: (t) => ({
    ranked: t.field({ type: [RankedOfferRef], description: "The best offers, best first (ties: lower offer id first)." }),
    considered: t.int({ description: "Offers that took part in the ranking." }),
    excluded: t.int({ description: "Matching offers left out (see exclusions)." }),
    exclusions: t.field({ type: [ExclusionCountRef], description: "Left-out offers by reason." }),
    weights: t.field({ type: [RankWeightRef], description: "The criteria with normalised weights, in the order given." }),
    assumptions: t.stringList({ description: "How criteria values were derived." }),
  }),
});

// ---------------------------------------------------------------- Queries

builder.queryFields((t) => ({
  topsis: t.field({
    type: TopsisResultRef,
    description: `Raw TOPSIS: rows are alternatives, columns criteria. Vector normalisation per column (x / √Σx²), weights normalised to sum 1, closeness = S⁻ / (S⁺ + S⁻). Values must be ≥ 0; at most ${TOPSIS_LIMITS.rows} rows and ${TOPSIS_LIMITS.columns} columns.`,
    args: {
      matrix: t.arg({ type: t.arg.listRef(["Float"]), required: true, description: "Decision matrix, one row per alternative, one value (≥ 0) per criterion." }),
      weights: t.arg.floatList({ required: true, description: "One weight per column, ≥ 0, at least one positive; any scale (normalised)." }),
      criteria: t.arg({ type: [TopsisCriterionEnum], required: true, description: "One direction per column." }),
    },
    resolve: (_root, args, ctx) => asTopsisResult(ctx.services.ranking.topsis(args, ctx.actor)),
  }),
  rankOffers: t.field({
    type: OfferRankingRef,
    description: `Ranks the matching offers by TOPSIS over weighted criteria (any non-negative weights, normalised). Offers without a known GPU model are excluded and counted. No match gives an empty ranking; a single offer gets closeness 0.5. Returns the best \`first\` (default ${LIST_SIZE.default}, max ${LIST_SIZE.max}).`,
    args: {
      filter: t.arg({ type: OfferFilterInput, description: "Which offers to rank (same filter as `offers`; active offers by default)." }),
      criteria: t.arg({ type: [RankCriterionInput], required: true, description: "Criteria with weights; each criterion at most once." }),
      model: t.arg.string({ description: `Model preset for COST_PER_MTOK: ${MODEL_PRESET_LIST}.` }),
      precision: t.arg({ type: PrecisionEnum, required: true, defaultValue: "FP16", description: "Weight precision for COST_PER_MTOK." }),
      first: t.arg.int({ required: true, defaultValue: LIST_SIZE.default, description: `How many ranked offers to return (0–${LIST_SIZE.max}).`, validate: z.number().int().min(0).max(LIST_SIZE.max, `first must be at most ${LIST_SIZE.max}`) }),
    },
    resolve: (_root, args, ctx) => ctx.services.ranking.rankOffers(args, ctx.actor),
  }),
}));
