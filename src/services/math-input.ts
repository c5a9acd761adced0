// Input handling the math services share (ranking, LLM cost, workload): domain input errors as
// BAD_USER_INPUT with the domain's code as `reason`, the LLM model argument (a preset or a custom
// architecture), GPU datasheet figures, and list sizes.
import type { GpuModel } from "../generated/prisma/client.ts";
import { badInput } from "../errors.ts";
import {
  LlmInputError, MODEL_PRESETS, PRECISION_BYTES, resolveModel, type CustomModel, type GpuInput, type ModelSpec, type Precision,
} from "../domain/math/llm.ts";
import { TopsisInputError } from "../domain/math/topsis.ts";
import { WorkloadInputError } from "../domain/math/workload.ts";

/** The preset names, for messages and descriptions. */
export const MODEL_PRESET_LIST = Object.keys(MODEL_PRESETS).join(", ");
export const LIST_SIZE = { default: 20, max: 100 } as const;

/** Runs domain code; its input errors become BAD_USER_INPUT naming `argument`, with the domain's code as `reason`. */
export function domainInput<T>(argument: string, run: () => T): T {
  try {
    return run();
  } catch (error) {
    if (error instanceof TopsisInputError) throw badInput(error.message, { reason: error.code, argument });
    if (error instanceof LlmInputError || error instanceof WorkloadInputError) {
      throw badInput(error.message, { reason: error.code, argument, field: error.field });
    }
    throw error;
  }
}

/** A custom model as an API gives it: absent fields may be null. */
export type CustomModelInput = { [K in keyof CustomModel]: CustomModel[K] | null };

export interface ModelChoice {
  /** A preset name (MODEL_PRESETS). */
  model?: string | null;
  /** The model's architecture, instead of a preset. */
  customModel?: CustomModelInput | null;
}

/** The model a caller chose (validated), or null when none was given and none is `required`. */
export function chooseModel(choice: ModelChoice, required: true): ModelSpec;
export function chooseModel(choice: ModelChoice, required: boolean): ModelSpec | null;
export function chooseModel({ model, customModel }: ModelChoice, required: boolean): ModelSpec | null {
  if (model != null && customModel != null) throw badInput("Give either model (a preset name) or customModel, not both.", { argument: "model" });
  const chosen = model ?? (customModel ? (dropNulls(customModel) as CustomModel) : null);
  if (chosen === null) {
    if (required) throw badInput(`Give a model: a preset (${MODEL_PRESET_LIST}) or customModel.`, { argument: "model" });
    return null;
  }
  return domainInput(model != null ? "model" : "customModel", () => resolveModel(chosen));
}

export const dropNulls = <T extends object>(value: T) =>
  Object.fromEntries(Object.entries(value).filter(([, v]) => v != null)) as { [K in keyof T]: Exclude<T[K], null> };

type Datasheet = Pick<GpuModel, "vramGb" | "memoryBandwidthGbps" | "fp16Tflops" | "fp8Tflops">;

/** A GPU model row's figures as the estimators take them. */
export const gpuFigures = (m: Datasheet): GpuInput => ({
  vramGb: m.vramGb, memoryBandwidthGbps: m.memoryBandwidthGbps, fp16Tflops: m.fp16Tflops.toNumber(), fp8Tflops: m.fp8Tflops?.toNumber() ?? null,
});

/** Rows without datasheet figures (placeholders for GPUs we could not identify) cannot be estimated. */
export const hasDatasheet = (m: Omit<Datasheet, "fp8Tflops">) => m.vramGb > 0 && m.memoryBandwidthGbps > 0 && m.fp16Tflops.gt(0);

/** `first` of a list query: a whole number from 0 to LIST_SIZE.max (default `fallback`). */
export function listSize(first: number | null | undefined, fallback: number): number {
  const n = first ?? fallback;
  if (!Number.isInteger(n) || n < 0 || n > LIST_SIZE.max) throw badInput(`first must be a whole number from 0 to ${LIST_SIZE.max} (got ${n}).`, { argument: "first" });
  return n;
}

/** A precision (FP16, BF16, FP8, INT8, INT4), or BAD_USER_INPUT naming `argument`. */
export function checkPrecision(value: unknown, argument: string): Precision {
  if (typeof value !== "string" || !Object.hasOwn(PRECISION_BYTES, value)) {
    throw badInput(`${argument} must be one of ${Object.keys(PRECISION_BYTES).join(", ")} (got ${JSON.stringify(value)}).`, { reason: "INVALID_PRECISION", argument });
  }
  return value as Precision;
}
