// The assistant's tools: the use-case services, each behind a strict zod schema a model can be shown.
// A tool runs as the caller (the actor is bound by the chat, never an argument), so the assistant can
// read and do exactly what the caller can. Bad arguments and refused calls come back as tool errors the
// model sees; nothing a tool is given can throw past runTool.
import { z } from "zod";
import { isAppError } from "../errors.ts";
import { formatMoney, MONEY_INPUT } from "../domain/money.ts";
import { COMPLIANCE_TAGS } from "../domain/catalog/compliance.ts";
import type { Logger } from "pino";
import type { Actor, Services } from "../services/index.ts";
import { RANK_CRITERIA } from "../services/ranking.ts";

/** Offers a tool may list at once: a chat answer cites a handful, not a page of 100. */
export const TOOL_LIST_MAX = 10;

const names = z.array(z.string().trim().min(1).max(100)).max(20);
const money = z.union([z.string().regex(MONEY_INPUT, "a decimal such as \"2.49\""), z.number().nonnegative().max(99_999_999)]).transform(String);
const moneyRange = z.strictObject({ min: money.optional(), max: money.optional() });
const intRange = z.strictObject({ min: z.number().int().min(0).max(1_000_000).optional(), max: z.number().int().min(0).max(1_000_000).optional() });
const numberRange = z.strictObject({ min: z.number().min(0).max(1e9).optional(), max: z.number().min(0).max(1e9).optional() });
const precision = z.enum(["FP16", "BF16", "FP8", "INT8", "INT4"]);

/** The offer filter of `offers`, as a model may write it (strict: an unknown key is an error, not ignored). */
const offerFilter = z.strictObject({
  gpuModels: names.optional().describe("GPU models, any spelling, e.g. [\"H100\", \"a100 80gb\"]"),
  gpuVendors: z.array(z.enum(["NVIDIA", "AMD", "INTEL", "GOOGLE"])).max(4).optional(),
  providers: names.optional().describe("Provider slugs, e.g. [\"runpod\"]"),
  regions: names.optional(),
  countries: z.array(z.string().regex(/^[A-Za-z]{2}$/, "two-letter country codes")).max(50).optional(),
  complianceTags: z.strictObject({ all: z.array(z.enum(COMPLIANCE_TAGS)).max(COMPLIANCE_TAGS.length) })
    .optional().describe(`Only providers holding every tag, e.g. {"all": ["SOC2", "HIPAA"]}; tags: ${COMPLIANCE_TAGS.join(", ")}`),
  gpuCount: intRange.optional(),
  vramPerGpuGb: numberRange.optional(),
  vramTotalGb: numberRange.optional(),
  price: moneyRange.optional().describe("On-demand $ per hour of the whole instance"),
  pricePerGpu: moneyRange.optional().describe("On-demand $ per GPU-hour"),
  spotOnly: z.boolean().optional(),
  availability: z.array(z.enum(["AVAILABLE", "LIMITED", "UNAVAILABLE", "UNKNOWN"])).max(4).optional(),
});

/** One tool: what a model is told, the arguments it may pass, and the service call it makes as the caller. */
export interface AssistantTool<A = unknown> {
  name: string;
  description: string;
  args: z.ZodType<A>;
  run(args: A, actor: Actor, services: Services): Promise<unknown>;
}

const tool = <S extends z.ZodType>(t: { name: string; description: string; args: S; run(args: z.output<S>, actor: Actor, services: Services): Promise<unknown> }) =>
  t as unknown as AssistantTool;

/** Offers as a chat cites them: what a person compares, with the id the API knows them by. */
const offerSummary = (o: { id: number; externalId: string; providerId: number; gpuName: string; gpuCount: number; region: string; onDemandPrice: unknown; pricePerGpuHour: unknown; availability: string }) => ({
  offerId: o.id, gpuName: o.gpuName, gpuCount: o.gpuCount, region: o.region, availability: o.availability,
  pricePerHour: formatMoney(o.onDemandPrice as string), pricePerGpuHour: formatMoney(o.pricePerGpuHour as string),
});

export const ASSISTANT_TOOLS: readonly AssistantTool[] = [
  tool({
    name: "search_offers",
    description: `Active GPU offers matching a filter, cheapest per GPU-hour first (at most ${TOOL_LIST_MAX}), with how many match in all.`,
    args: z.strictObject({ filter: offerFilter.optional(), first: z.number().int().min(1).max(TOOL_LIST_MAX).default(5) }),
    async run({ filter, first }, actor, services) {
      const page = await services.offers.search({ filter, first }, actor, { totalCount: true }); // the count in the page's statement
      return { totalCount: page.totalCount ?? await services.offers.totalCount(page.filter, actor), offers: page.edges.map((e) => offerSummary(e.node)) };
    },
  }),
  tool({
    name: "rank_offers",
    description: "Ranks matching offers by TOPSIS over weighted criteria (weights are normalised); COST_PER_MTOK needs an LLM preset as model.",
    args: z.strictObject({
      filter: offerFilter.optional(),
      criteria: z.array(z.strictObject({ criterion: z.enum(Object.keys(RANK_CRITERIA) as [keyof typeof RANK_CRITERIA, ...(keyof typeof RANK_CRITERIA)[]]), weight: z.number().min(0).max(1e6) })).min(1).max(7),
      model: z.string().max(100).optional(),
      precision: precision.optional(),
      first: z.number().int().min(1).max(TOOL_LIST_MAX).default(5),
    }),
    async run(args, actor, services) {
      const r = await services.ranking.rankOffers(args, actor);
      return {
        considered: r.considered, excluded: r.excluded, weights: r.weights,
        ranked: r.ranked.map((x) => ({ rank: x.rank, closeness: x.closeness, ...offerSummary(x.offer) })),
      };
    },
  }),
  tool({
    name: "estimate_workload",
    description: "What an LLM inference, training/fine-tuning or image-generation workload costs on the cheapest matching offers, with every assumption.",
    args: z.strictObject({
      input: z.strictObject({
        inference: z.strictObject({
          model: z.string().max(100), precision: precision.optional(), batch: z.number().int().min(1).max(4096).optional(),
          requestsPerPeriod: z.number().positive().max(1e15).optional(), tokensPerRequest: z.number().int().min(1).max(1e7).optional(),
          tokensPerPeriod: z.number().positive().max(1e18).optional(), promptTokens: z.number().int().min(0).max(1e7).optional(),
          period: z.enum(["HOUR", "DAY", "WEEK", "MONTH"]).optional(),
        }).optional(),
        training: z.strictObject({ parameters: z.number().positive().max(1e14), tokens: z.number().positive().max(1e16), precision: z.enum(["FP16", "BF16", "FP8"]).optional(), targetHours: z.number().positive().max(1e6).optional() }).optional(),
        image: z.strictObject({ model: z.enum(["sdxl", "sd-1.5"]).optional(), imagesPerPeriod: z.number().positive().max(1e12), period: z.enum(["HOUR", "DAY", "WEEK", "MONTH"]).optional() }).optional(),
      }),
      filter: offerFilter.optional(),
      first: z.number().int().min(1).max(TOOL_LIST_MAX).default(3),
    }),
    async run(args, actor, services) {
      const e = await services.workload.estimateWorkload(args, actor);
      return {
        kind: e.kind, considered: e.considered, feasible: e.feasible, totals: e.totals, assumptions: e.assumptions,
        options: e.options.map((o) => ({ ...offerSummary(o.offer), instances: o.instances, instanceHours: o.instanceHours, cost: formatMoney(o.cost), costPerMillionTokens: o.costPerMillionTokens === null ? null : formatMoney(o.costPerMillionTokens) })),
      };
    },
  }),
  tool({
    name: "cost_per_token",
    description: "$ per million generated and prompt tokens of an LLM preset on one offer (by offerId) or on a GPU model at a price per hour.",
    args: z.strictObject({
      offerId: z.number().int().min(1).optional(), gpuModel: z.string().max(100).optional(), pricePerHour: money.optional(),
      gpuCount: z.number().int().min(1).max(64).optional(), model: z.string().max(100), precision: precision.optional(),
    }),
    async run(args, actor, services) {
      const c = await services.llmCost.costPerToken(args, actor);
      return {
        model: c.model, gpuModel: c.gpuModel, gpuCount: c.gpuCount, pricePerHour: formatMoney(c.pricePerHour), fits: c.fits,
        outputCostPerMillionTokens: c.outputCostPerMillionTokens === null ? null : formatMoney(c.outputCostPerMillionTokens),
        outputTokensPerSecond: c.outputTokensPerSecond,
      };
    },
  }),
  tool({
    name: "market_overview",
    description: "The market now: active offers, providers, GPU models, median price per GPU-hour per model, cheapest H100/A100/RTX 4090.",
    args: z.strictObject({}),
    run: (_args, actor, services) => services.kpis.marketOverview(actor),
  }),
  tool({
    name: "gpu_kpis",
    description: "Key figures for one GPU model: price spread, spot discount, availability, price change over 24 h / 7 d / 30 d.",
    args: z.strictObject({ model: z.string().trim().min(1).max(100) }),
    run: (args, actor, services) => services.kpis.gpuKpis(args, actor),
  }),
  tool({
    name: "my_price_alerts",
    description: "The caller's own price alerts (needs a signed-in user or an API key with alerts access).",
    args: z.strictObject({}),
    async run(_args, actor, services) {
      return (await services.alerts.priceAlerts({}, actor)).map((a) => ({ id: a.id, name: a.name, threshold: formatMoney(a.threshold), paused: a.paused, below: a.below }));
    },
  }),
];

const BY_NAME = new Map(ASSISTANT_TOOLS.map((t) => [t.name, t]));

/** A tool's outcome as the model sees it: the result, or a coded error it can act on. */
export type ToolOutcome =
  | { ok: true; result: unknown }
  | { ok: false; error: { code: string; message: string } };

/** Runs one tool call as the caller; never throws (an unexpected failure is logged and reported as TOOL_FAILED). */
export async function runTool(name: string, rawArgs: unknown, actor: Actor, services: Services, log: Logger): Promise<ToolOutcome> {
  const tool = BY_NAME.get(name);
  if (!tool) return { ok: false, error: { code: "UNKNOWN_TOOL", message: `There is no tool "${String(name).slice(0, 100)}". Tools: ${[...BY_NAME.keys()].join(", ")}.` } };
  const parsed = tool.args.safeParse(rawArgs ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    return { ok: false, error: { code: "BAD_USER_INPUT", message: `${issue.path.join(".") || "arguments"}: ${issue.message}` } };
  }
  try {
    return { ok: true, result: await tool.run(parsed.data, actor, services) };
  } catch (err) {
    if (isAppError(err)) return { ok: false, error: { code: err.code, message: err.message } };
    log.error({ err, tool: name }, "assistant tool failed");
    return { ok: false, error: { code: "TOOL_FAILED", message: "The tool failed unexpectedly." } };
  }
}

/** The tools as a model is shown them: name, description and JSON Schema of the arguments. */
export function toolDefinitions(): { name: string; description: string; parameters: unknown }[] {
  return ASSISTANT_TOOLS.map((t) => ({ name: t.name, description: t.description, parameters: z.toJSONSchema(t.args, { io: "input" }) }));
}

