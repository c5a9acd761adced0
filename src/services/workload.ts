// Workload estimation: what LLM inference, training or image generation costs on the matching offers,
// cheapest first, and why the others cannot run it. Public read: any caller, anonymous included. The
// arithmetic is src/domain/math/workload.ts; the candidate offers come from src/infra/workload.ts.
import type { GpuOffer, PrismaClient } from "../generated/prisma/client.ts";
import { badInput } from "../errors.ts";
import { roundMoney, type Decimal } from "../domain/money.ts";
import type { Precision, TrainingPrecision } from "../domain/math/llm.ts";
import {
  estimateWorkload, PERIOD_HOURS, type ImageModelName, type WorkloadExclusion, type WorkloadInput, type WorkloadOffer,
  type WorkloadOption, type WorkloadPeriod, type WorkloadTotals,
} from "../domain/math/workload.ts";
import type { OfferFilterInput } from "../domain/offers/filter.ts";
import { resolveOfferFilter } from "./offers.ts";
import { loadWorkloadCandidates } from "../infra/workload.ts";
import type { Actor } from "./actor.ts";
import { chooseModel, domainInput, dropNulls, gpuFigures, hasDatasheet, listSize, type CustomModelInput } from "./math-input.ts";

export { PERIOD_HOURS, type WorkloadPeriod } from "../domain/math/workload.ts";
export const WORKLOAD_OPTIONS_DEFAULT = 10;

export interface InferenceWorkloadRequest {
  model?: string | null;
  customModel?: CustomModelInput | null;
  precision?: Precision | null;
  kvPrecision?: Precision | null;
  batch?: number | null;
  requestsPerPeriod?: number | null;
  tokensPerRequest?: number | null;
  tokensPerPeriod?: number | null;
  promptTokens?: number | null;
  contextTokens?: number | null;
  period?: WorkloadPeriod | null;
}
export interface TrainingWorkloadRequest {
  parameters: number;
  tokens: number;
  precision?: TrainingPrecision | null;
  targetHours?: number | null;
  utilisation?: number | null;
}
export interface ImageWorkloadRequest {
  model?: ImageModelName | null;
  imagesPerPeriod: number;
  period?: WorkloadPeriod | null;
  steps?: number | null;
  guidance?: boolean | null;
  utilisation?: number | null;
}

export interface EstimateWorkloadRequest {
  /** Exactly one of inference, training or image. */
  input: { inference?: InferenceWorkloadRequest | null; training?: TrainingWorkloadRequest | null; image?: ImageWorkloadRequest | null };
  /** Which offers to consider, as `offers` takes it (names resolved here). */
  filter?: OfferFilterInput | null;
  /** How many options to return (0–100, default 10). */
  first?: number | null;
}

export type WorkloadOptionResult = Omit<WorkloadOption<number>, "offerId" | "cost" | "costPerMillionTokens" | "costPerImage"> & {
  offer: GpuOffer;
  cost: Decimal;
  costPerMillionTokens: Decimal | null;
  costPerImage: Decimal | null;
};

export interface WorkloadEstimateResult {
  kind: WorkloadInput["kind"];
  /** Cheapest first (ties: lower hourly price, then lower offer id). */
  options: WorkloadOptionResult[];
  /** Offers matching the filter. */
  considered: number;
  feasible: number;
  excluded: number;
  /** By configuration and reason, largest group first. */
  exclusions: WorkloadExclusion[];
  totals: WorkloadTotals;
  assumptions: string[];
}

function periodHours(period: WorkloadPeriod | null | undefined): number {
  const key = period ?? "MONTH";
  if (!Object.hasOwn(PERIOD_HOURS, key)) throw badInput(`period must be one of ${Object.keys(PERIOD_HOURS).join(", ")} (got ${JSON.stringify(period)}).`, { argument: "input" });
  return PERIOD_HOURS[key];
}

/** The request as the domain takes it; the domain validates the numbers. */
function toWorkload(input: EstimateWorkloadRequest["input"]): WorkloadInput {
  const given = (["inference", "training", "image"] as const).filter((k) => input[k] != null);
  if (given.length !== 1) throw badInput(`Give exactly one of inference, training or image (got ${given.length ? given.join(", ") : "none"}).`, { argument: "input" });
  if (input.inference) {
    const { model, customModel, period, precision, ...rest } = input.inference;
    return { kind: "inference", ...dropNulls(rest), precision: precision ?? "FP16", model: chooseModel({ model, customModel }, true), periodHours: periodHours(period) };
  }
  if (input.training) {
    const { precision, ...rest } = input.training;
    return { kind: "training", ...dropNulls(rest), precision: precision ?? "BF16" };
  }
  const { period, model, ...rest } = input.image!;
  return { kind: "image", ...dropNulls(rest), model: model ?? "sdxl", periodHours: periodHours(period) };
}

const key = (gpuModel: string, gpuCount: number) => `${gpuModel}\u0000${gpuCount}`;

export function createWorkloadService({ prisma }: { prisma: PrismaClient }) {
  return {
    /** The cheapest `first` matching offers for the workload, with hours and cost, and why the others cannot run it. */
    async estimateWorkload(request: EstimateWorkloadRequest, _actor: Actor): Promise<WorkloadEstimateResult> {
      const workload = toWorkload(request.input);
      const first = listSize(request.first, WORKLOAD_OPTIONS_DEFAULT);
      domainInput("input", () => estimateWorkload(workload, []));  // validates before any SQL
      const candidates = await loadWorkloadCandidates(prisma, await resolveOfferFilter(prisma, request.filter), first);
      const offers: WorkloadOffer<number>[] = candidates.map((c) => {
        const sheet = c.name === null ? null : { vramGb: c.vramGb!, memoryBandwidthGbps: c.memoryBandwidthGbps!, fp16Tflops: c.fp16Tflops!, fp8Tflops: c.fp8Tflops };
        return {
          id: c.id, gpuModel: c.name ?? c.gpuName, gpuCount: c.gpuCount, pricePerHour: c.onDemandPrice.toNumber(),
          gpu: sheet && hasDatasheet(sheet) ? gpuFigures(sheet) : null,
        };
      });
      const estimate = estimateWorkload(workload, offers, { limit: first });
      // The estimate saw each configuration's cheapest offers; its exclusions cover the whole configuration.
      const totals = new Map(candidates.map((c, i) => [key(offers[i]!.gpuModel, c.gpuCount), c.total]));
      const exclusions = estimate.excluded
        .map((e) => ({ ...e, offers: totals.get(key(e.gpuModel, e.gpuCount)) ?? e.offers }))
        .sort((a, b) => b.offers - a.offers);
      const considered = [...new Map(candidates.map((c) => [key(String(c.gpuModelId ?? c.gpuName), c.gpuCount), c.total])).values()].reduce((s, n) => s + n, 0);
      const excluded = exclusions.reduce((s, e) => s + e.offers, 0);
      const rows = new Map((await prisma.gpuOffer.findMany({ where: { id: { in: estimate.options.map((o) => o.offerId) } } })).map((o) => [o.id, o]));
      return {
        kind: estimate.kind, considered, feasible: considered - excluded, excluded, exclusions, totals: estimate.totals, assumptions: estimate.assumptions,
        options: estimate.options.map(({ offerId, ...o }) => ({
          ...o, offer: rows.get(offerId)!, cost: roundMoney(o.cost),
          costPerMillionTokens: o.costPerMillionTokens === null ? null : roundMoney(o.costPerMillionTokens),
          costPerImage: o.costPerImage === null ? null : roundMoney(o.costPerImage),
        })),
      };
    },
  };
}
