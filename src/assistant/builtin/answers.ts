// The built-in planner's answers, one per intent: which tools it calls with which arguments, and the
// sentences it writes from their results (every figure is a tool's, offer text only ever quoted).
import { Decimal } from "../../domain/money.ts";
import type { BuiltinEvent, Turn } from "../builtin.ts";
import type { Intent, Question } from "./intents.ts";
import {
  closeness, count, describeOffer, dollars, errorOf, failed, filterArg, gpuNames, ok, quote, recommendation, scopeOf,
  type Answer, type Reply, type ToolOffer,
} from "./format.ts";
import { marketAnswer } from "./market.ts";

type Handler = (turn: Turn, q: Question) => Answer;

export const HONEST = "I am GPUBroker's built-in rule-based assistant (no language model): I match your question to fixed patterns and quote only figures the tools return.";

type SearchResult = { totalCount: number; offers: ToolOffer[] };
type RankResult = { considered: number; excluded: number; ranked: (ToolOffer & { rank: number; closeness: number })[] };
type CostResult = { model: string; gpuModel: string; gpuCount: number; pricePerHour: string; fits: boolean; outputCostPerMillionTokens: string | null; outputTokensPerSecond: number | null };
type EstimateOption = ToolOffer & { instances: number; cost: string; costPerMillionTokens: string | null };
type EstimateResult = { kind: string; considered: number; feasible: number; assumptions: string[]; options: EstimateOption[] };
type AlertRow = { id: number; name: string; threshold: string; paused: boolean };

async function* cheapest(turn: Turn, q: Question): Answer {
  const out = yield* turn.call("search_offers", { ...filterArg(q.filter), first: 5 });
  const r = ok<SearchResult>(out);
  if (!r) return { sentences: [failed("search_offers", errorOf(out))] };
  turn.source("search_offers", `offers for ${scopeOf(q)}: ${count(r.totalCount, "match")}, cheapest per GPU-hour first`);
  const [best, ...rest] = r.offers;
  if (!best) return { sentences: [`No active offer matches ${scopeOf(q)}.`] };
  const sentences = [`The cheapest offer for ${scopeOf(q)} is ${describeOffer(best)}.`, `${count(r.totalCount, "offer")} match in all.`];
  if (rest.length) sentences.push(`Next: ${rest.slice(0, 2).map(describeOffer).join("; ")}.`);
  return { sentences, recommendations: r.offers.map((o) => recommendation(o)) };
}

/** GPUs one comparison looks up (one search each; the tool-call budget still caps it). */
const MAX_COMPARED = 8;

async function* compare(turn: Turn, q: Question): Answer {
  const sentences: string[] = [];
  const best: ToolOffer[] = [];
  for (const gpu of q.parsed.gpus.slice(0, MAX_COMPARED)) {
    const out = yield* turn.call("search_offers", { filter: { ...q.filter, gpuModels: gpuNames(q.parsed, gpu) }, first: 1 });
    const r = ok<SearchResult>(out);
    if (!r) { sentences.push(`${quote(gpu.text)}: ${failed("search_offers", errorOf(out))}`); continue; }
    turn.source("search_offers", `${quote(gpu.text)}: ${count(r.totalCount, "matching offer")}, the cheapest per GPU-hour`);
    const o = r.offers[0];
    if (!o) { sentences.push(`${quote(gpu.text)}: no active offer matches.`); continue; }
    best.push(o);
    sentences.push(`${quote(gpu.text)}: from $${o.pricePerGpuHour} per GPU-hour (${describeOffer(o)}), ${count(r.totalCount, "offer")}.`);
  }
  const cheapestOne = [...best].sort((a, b) => new Decimal(a.pricePerGpuHour).cmp(b.pricePerGpuHour))[0];
  if (best.length > 1 && cheapestOne) sentences.push(`Per GPU-hour, ${quote(cheapestOne.gpuName)} at $${cheapestOne.pricePerGpuHour} is the cheapest of these.`);
  return { sentences, recommendations: best.map((o) => recommendation(o)) };
}

const OFFER_ID = /\boffer\s*(?:#|id\s*)?(\d{1,9})\b/;
const TOOL_PRECISIONS = new Set(["FP16", "BF16", "FP8", "INT8", "INT4"]);

function precisionArg(q: Question) {
  return q.parsed.precision && TOOL_PRECISIONS.has(q.parsed.precision) ? { precision: q.parsed.precision } : {};
}

/** The instance price the message states ("at $2/h", "$2.49 per GPU-hour" × GPUs), or null. */
function statedPrice(q: Question): string | null {
  const b = q.parsed.budget;
  if (b?.maxPricePerHour) return new Decimal(b.maxPricePerHour).toString();
  if (b?.maxPricePerGpuHour) return new Decimal(b.maxPricePerGpuHour).mul(q.parsed.gpus[0]?.count ?? 1).toString();
  return null;
}

function costSentence(c: CostResult): string {
  if (!c.fits || c.outputCostPerMillionTokens === null) return `${c.model} does not fit on ${c.gpuCount}× ${c.gpuModel} at this precision; more GPUs or a lower precision would be needed.`;
  const speed = c.outputTokensPerSecond === null ? "" : ` (about ${c.outputTokensPerSecond.toFixed(0)} generated tokens per second)`;
  return `${c.model} on ${c.gpuCount}× ${c.gpuModel} at $${c.pricePerHour}/h costs about $${c.outputCostPerMillionTokens} per million generated tokens${speed}.`;
}

/** cost_per_token on arguments, as a sentence and its source. */
async function* costPerTokenOf(turn: Turn, args: Record<string, unknown>): AsyncGenerator<BuiltinEvent, { sentence: string; cost: CostResult | null }> {
  const out = yield* turn.call("cost_per_token", args);
  const c = ok<CostResult>(out);
  if (!c) return { sentence: failed("cost_per_token", errorOf(out)), cost: null };
  turn.source("cost_per_token", `${c.model} on ${c.gpuCount}× ${c.gpuModel} at $${c.pricePerHour}/h`);
  return { sentence: costSentence(c), cost: c };
}

/** The offers a model is cheapest to run on per token: rank_offers by COST_PER_MTOK, then $/Mtok on the top one. */
async function* cheapestPerToken(turn: Turn, q: Question, model: string): Answer {
  const out = yield* turn.call("rank_offers", { ...filterArg(q.filter), criteria: [{ criterion: "COST_PER_MTOK", weight: 1 }], model, ...precisionArg(q), first: 3 });
  const r = ok<RankResult>(out);
  if (!r) return { sentences: [failed("rank_offers", errorOf(out))] };
  turn.source("rank_offers", `offers for ${scopeOf(q)} ranked by $ per million tokens of ${model}`);
  const top = r.ranked[0];
  if (!top) return { sentences: [`None of the ${count(r.considered, "matching offer")} can hold ${model} (${r.excluded} left out).`] };
  const { sentence, cost } = yield* costPerTokenOf(turn, { offerId: top.offerId, model, ...precisionArg(q) });
  const sentences = [`Of ${count(r.considered, "offer")} for ${scopeOf(q)} that ${model} fits on, the cheapest per token is ${describeOffer(top)}.`, sentence];
  if (r.ranked.length > 1) sentences.push(`Runners-up: ${r.ranked.slice(1).map(describeOffer).join("; ")}.`);
  const recommendations = r.ranked.map((o, i) => recommendation(o, { closeness: o.closeness, costPerMillionTokens: i === 0 ? cost?.outputCostPerMillionTokens : null }));
  return { sentences, recommendations };
}

async function* costPerToken(turn: Turn, q: Question): Answer {
  const model = q.parsed.model!.preset!;
  const offerId = OFFER_ID.exec(q.lower)?.[1];
  if (offerId) return { sentences: [(yield* costPerTokenOf(turn, { offerId: Number(offerId), model, ...precisionArg(q) })).sentence] };
  const gpu = q.parsed.gpus[0];
  const price = statedPrice(q);
  if (gpu && price) {
    const args = { gpuModel: gpu.text, pricePerHour: price, model, ...(gpu.count ? { gpuCount: gpu.count } : {}), ...precisionArg(q) };
    return { sentences: [(yield* costPerTokenOf(turn, args)).sentence] };
  }
  if (!gpu) return yield* cheapestPerToken(turn, q, model);
  const found = yield* cheapest(turn, q);
  const best = found.recommendations?.[0];
  if (!best) return found;
  const { sentence, cost } = yield* costPerTokenOf(turn, { offerId: best.offerId, model, ...precisionArg(q) });
  return { sentences: [...found.sentences.slice(0, 1), sentence], recommendations: [{ ...best, ...(cost?.outputCostPerMillionTokens ? { costPerMillionTokens: cost.outputCostPerMillionTokens } : {}) }] };
}

const CRITERIA: [RegExp, string, string][] = [
  [/\b(price|cheap\w*|cost)\b/, "PRICE_PER_GPU_HOUR", "price per GPU-hour"],
  [/\b(memory|vram)\b/, "TOTAL_VRAM", "total memory"],
  [/\bbandwidth\b/, "MEMORY_BANDWIDTH", "memory bandwidth"],
  [/\b(tflops|compute|fast\w*|speed)\b/, "FP16_TFLOPS", "FP16 TFLOPS"],
  [/\bavailab\w*/, "AVAILABILITY", "availability"],
  [/\breliab\w*/, "PROVIDER_RELIABILITY", "provider reliability"],
];

async function* rank(turn: Turn, q: Question): Answer {
  const model = q.parsed.model?.preset ?? null;
  const named = CRITERIA.filter(([re]) => re.test(q.lower));
  if (model && (named.length === 0 || /\b(value|tokens?|mtok)\b/.test(q.lower))) return yield* cheapestPerToken(turn, q, model);
  const chosen = named.length ? named : CRITERIA.slice(0, 2);
  const out = yield* turn.call("rank_offers", { ...filterArg(q.filter), criteria: chosen.map(([, criterion]) => ({ criterion, weight: 1 })), first: 5 });
  const r = ok<RankResult>(out);
  if (!r) return { sentences: [failed("rank_offers", errorOf(out))] };
  const by = chosen.map(([, , words]) => words).join(" and ");
  turn.source("rank_offers", `TOPSIS over ${by}, equal weights`);
  if (!r.ranked.length) return { sentences: [`No active offer matches ${scopeOf(q)}, so there is nothing to rank.`] };
  const lines = r.ranked.slice(0, 3).map((o) => `${o.rank}. ${describeOffer(o)}, closeness ${closeness(o.closeness)}.`);
  return {
    sentences: [`I ranked ${count(r.considered, "offer")} for ${scopeOf(q)} by ${by}, weighted equally (TOPSIS closeness: 1 is best).`, ...lines],
    recommendations: r.ranked.map((o) => recommendation(o, { closeness: o.closeness })),
  };
}

const hasWorkloadKind = (w: unknown): w is Record<string, unknown> =>
  typeof w === "object" && w !== null && ["inference", "training", "image"].some((k) => k in w);

async function* workload(turn: Turn, q: Question): Answer {
  const input = q.parsed.workloadInput ?? (hasWorkloadKind(q.workload) ? q.workload : null);
  const read = q.parsed.understood.map((u) => u.meaning);
  if (read.length) turn.source("parse_workload", `read from your message: ${read.join("; ")}`);
  if (!input) {
    const missing = `I cannot size this workload yet: ${q.parsed.workloadInputReason ?? "the message does not say what to run."}`;
    const preset = q.parsed.model?.preset;
    if (!preset) return { sentences: [missing] };
    const alt = yield* cheapestPerToken(turn, q, preset);
    return { ...alt, sentences: [missing, "Meanwhile, per token:", ...alt.sentences] };
  }
  const out = yield* turn.call("estimate_workload", { input, ...filterArg(q.filter), first: 3 });
  const r = ok<EstimateResult>(out);
  if (!r) return { sentences: [failed("estimate_workload", errorOf(out))] };
  turn.source("estimate_workload", `${r.kind} on ${count(r.considered, "matching offer")}, cheapest first`);
  return estimateReply(q, r);
}

function estimateReply(q: Question, r: EstimateResult): Reply {
  const sentences = read(q);
  const [best, ...rest] = r.options;
  if (!best) return { sentences: [...sentences, `None of the ${count(r.considered, "matching offer")} can run it.`] };
  const perToken = best.costPerMillionTokens ? `, $${best.costPerMillionTokens} per million generated tokens` : "";
  sentences.push(`${r.feasible} of ${count(r.considered, "matching offer")} can run it; the cheapest is ${describeOffer(best)}: ${count(best.instances, "instance")}, $${best.cost} for the workload as stated${perToken}.`);
  for (const o of rest) sentences.push(`Next: ${describeOffer(o)}, $${o.cost}.`);
  const assumptions = [...q.parsed.assumptions, ...r.assumptions].slice(0, 3).map((s) => s.replace(/[.\s]+$/, ""));
  if (assumptions.length) sentences.push(`Assumptions: ${assumptions.join("; ")}.`);
  return { sentences, recommendations: r.options.map((o) => recommendation(o, { costPerMillionTokens: o.costPerMillionTokens })) };
}

const read = (q: Question) => (q.parsed.understood.length ? [`I read: ${q.parsed.understood.map((u) => u.meaning).join("; ")}.`] : []);

async function* alerts(turn: Turn): Answer {
  const out = yield* turn.call("my_price_alerts", {});
  const rows = ok<AlertRow[]>(out);
  if (!rows) return { sentences: [failed("my_price_alerts", errorOf(out))] };
  turn.source("my_price_alerts", `your price alerts (${rows.length})`);
  if (!rows.length) return { sentences: ["You have no price alerts."] };
  const list = rows.slice(0, 10).map((a) => `${quote(a.name)} at ${dollars(a.threshold)}${a.paused ? " (paused)" : ""}`);
  return { sentences: [`You have ${count(rows.length, "price alert")}: ${list.join("; ")}.`] };
}

async function* help(): Answer {
  return {
    sentences: [
      "I did not recognise a question I can answer.",
      "I can find the cheapest offers (“cheapest H100 in the US”), compare GPUs (“H100 vs A100 price”), give the cost per million tokens of a model (“llama 3 8b on an H100 at $2/h”), size a workload (“serve llama 3 70b to 200 users in Europe”), summarise the market (“how is the H100 market”), rank offers (“rank offers by price and memory”) and list your price alerts.",
    ],
  };
}

export const ANSWERS: Record<Intent, Handler> = {
  alerts, compare, costPerToken, market: marketAnswer, rank, workload, cheapest, help,
};
