// LLM cost: $ per million generated and prompt tokens, and the speed and memory behind them, for a model
// on an offer or on a GPU at a price. Public read: any caller, anonymous included. The arithmetic is
// src/domain/math/llm.ts (first-order roofline model).
import type { GpuModel, PrismaClient } from "../generated/prisma/client.ts";
import { badInput, isAppError, notFound } from "../errors.ts";
import { parseMoney, roundMoney, type Decimal } from "../domain/money.ts";
import { costPerMillionTokens, DEFAULT_SERVING, estimateInference, type InferenceEstimate, type Precision } from "../domain/math/llm.ts";
import { toRowId } from "../domain/ids.ts";
import { resolveGpuModel } from "../infra/names.ts";
import type { Actor } from "./actor.ts";
import { checkPrecision, chooseModel, domainInput, gpuFigures, hasDatasheet, type ModelChoice } from "./math-input.ts";

export const GPU_COUNT_MAX = 64;

export interface CostPerTokenRequest extends ModelChoice {
  /** An offer's database id: its GPU model, GPU count and on-demand price are used. */
  offerId?: number | string | null;
  /** Instead of an offer: a GPU model (any spelling) with the instance's price per hour and GPU count. */
  gpuModel?: string | null;
  pricePerHour?: string | number | null;
  /** Default 1. */
  gpuCount?: number | null;
  /** Weight precision (default FP16). */
  precision?: Precision | null;
  /** KV-cache precision (default FP16). */
  kvPrecision?: Precision | null;
  /** Defaults: DEFAULT_SERVING. */
  batch?: number | null;
  contextTokens?: number | null;
  promptTokens?: number | null;
}

export interface CostPerToken {
  model: string;
  gpuModel: string;
  gpuCount: number;
  /** Price per hour of the whole instance, as a decimal string. */
  pricePerHour: string;
  fits: boolean;
  /** Null when the model does not fit. */
  outputCostPerMillionTokens: Decimal | null;
  inputCostPerMillionTokens: Decimal | null;
  outputTokensPerSecond: number;
  perSequenceTokensPerSecond: number;
  inputTokensPerSecond: number;
  decodeBound: InferenceEstimate["decode"]["bound"];
  vram: InferenceEstimate["vram"];
  assumptions: InferenceEstimate["assumptions"];
}

function money(value: string | number, argument: string): string {
  try {
    return parseMoney(value);
  } catch (error) {
    if (isAppError(error, "BAD_USER_INPUT")) throw badInput(error.message, { argument });
    throw error;
  }
}

export function createLlmCostService({ prisma }: { prisma: PrismaClient }) {
  /** The GPU model a caller named, with datasheet figures. */
  async function gpuModelNamed(name: string): Promise<GpuModel> {
    const found = await resolveGpuModel(prisma, name);
    const model = found && (await prisma.gpuModel.findUnique({ where: { id: found.id } }));
    if (!model) throw notFound(`No GPU model matches "${name}". The gpuModels query lists every known model.`, { argument: "gpuModel" });
    if (!hasDatasheet(model)) throw badInput(`We have no datasheet figures for ${model.name}, so its speed cannot be estimated.`, { reason: "UNKNOWN_GPU_MODEL", argument: "gpuModel" });
    return model;
  }

  return {
    /** Cost and speed of serving an LLM on one instance: give an offer, or a GPU model with its price (and count). */
    async costPerToken(input: CostPerTokenRequest, _actor: Actor): Promise<CostPerToken> {
      let gpuModel: GpuModel;
      let gpuCount: number;
      let pricePerHour: string;
      if (input.offerId != null) {
        if (input.gpuModel != null || input.pricePerHour != null || input.gpuCount != null) {
          throw badInput("Give either offer, or gpuModel with pricePerHour (and gpuCount), not both: an offer brings its own GPU, count and price.", { argument: "offer" });
        }
        const id = toRowId(input.offerId);
        const offer = id === null ? null : await prisma.gpuOffer.findUnique({ where: { id }, include: { gpuModel: true } });
        if (!offer) throw notFound("No offer has this ID.", { argument: "offer" });
        if (!offer.gpuModel || !hasDatasheet(offer.gpuModel)) {
          throw badInput(`This offer's GPU ("${offer.gpuName}") is not a model we have datasheet figures for, so its speed cannot be estimated.`, { reason: "UNKNOWN_GPU_MODEL", argument: "offer" });
        }
        gpuModel = offer.gpuModel;
        gpuCount = offer.gpuCount;
        pricePerHour = offer.onDemandPrice.toString();
      } else {
        if (input.gpuModel == null || input.pricePerHour == null) throw badInput("Give an offer, or a gpuModel with its pricePerHour.", { argument: input.gpuModel == null ? "gpuModel" : "pricePerHour" });
        gpuCount = input.gpuCount ?? 1;
        if (!Number.isInteger(gpuCount) || gpuCount < 1 || gpuCount > GPU_COUNT_MAX) {
          throw badInput(`gpuCount must be a whole number from 1 to ${GPU_COUNT_MAX} (got ${gpuCount}).`, { argument: "gpuCount" });
        }
        pricePerHour = money(input.pricePerHour, "pricePerHour");
        gpuModel = await gpuModelNamed(input.gpuModel);
      }
      const model = chooseModel(input, true);
      const precision = checkPrecision(input.precision ?? "FP16", "precision");
      const kvPrecision = input.kvPrecision == null ? undefined : checkPrecision(input.kvPrecision, "kvPrecision");
      const e = domainInput("model", () => estimateInference({
        model, gpu: gpuFigures(gpuModel), gpuCount, precision, kvPrecision,
        batch: input.batch ?? DEFAULT_SERVING.batch, contextTokens: input.contextTokens ?? DEFAULT_SERVING.contextTokens, promptTokens: input.promptTokens ?? DEFAULT_SERVING.promptTokens,
      }));
      const cost = (tokensPerSecond: number) => (e.fits ? roundMoney(costPerMillionTokens({ pricePerHour, tokensPerSecond }).costPerMillionTokens) : null);
      return {
        model: e.model, gpuModel: gpuModel.name, gpuCount, pricePerHour, fits: e.fits,
        outputCostPerMillionTokens: cost(e.decode.tokensPerSecond), inputCostPerMillionTokens: cost(e.prefill.tokensPerSecond),
        outputTokensPerSecond: e.decode.tokensPerSecond, perSequenceTokensPerSecond: e.decode.perSequenceTokensPerSecond,
        inputTokensPerSecond: e.prefill.tokensPerSecond, decodeBound: e.decode.bound, vram: e.vram, assumptions: e.assumptions,
      };
    },
  };
}
