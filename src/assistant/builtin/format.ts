// Shared pieces of the built-in planner: the offer filter a tool takes (from context and message), how
// data is quoted (never interpreted) and how offers become recommendations.
import { formatMoney, type MoneyValue } from "../../domain/money.ts";
import type { OfferFilterInput } from "../../domain/offers/filter.ts";
import type { ParsedGpu } from "../../domain/assistant/workload-parser.ts";
import type { ParseWorkloadResult } from "../../services/assistant.ts";
import type { BuiltinEvent, Recommendation } from "../builtin.ts";
import type { ToolOutcome } from "../tools.ts";
import type { Question } from "./intents.ts";

/** The offer filter keys the tools accept (a strict schema: other keys would be a tool error). */
const TOOL_FILTER_KEYS = [
  "gpuModels", "gpuVendors", "providers", "regions", "countries", "complianceTags", "gpuCount", "vramPerGpuGb", "vramTotalGb", "price", "pricePerGpu", "spotOnly", "availability",
] as const;
export type ToolFilter = Partial<Record<(typeof TOOL_FILTER_KEYS)[number], unknown>>;

/** Drops nulls (the API's "not set") so the tool's strict schema sees only what is set. */
function withoutNulls(value: unknown): unknown {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return value;
  const out = Object.entries(value).filter(([, v]) => v != null);
  return out.length ? Object.fromEntries(out) : undefined;
}

function pick(filter: OfferFilterInput | Record<string, unknown> | undefined): ToolFilter {
  const out: ToolFilter = {};
  for (const key of TOOL_FILTER_KEYS) {
    const v = withoutNulls((filter as Record<string, unknown> | undefined)?.[key]);
    if (v != null) out[key] = v;
  }
  return out;
}

/** The GPU names to filter one named GPU by: the catalog's models it covers, else the words as written (the tool then says it is unknown). */
export function gpuNames(parsed: ParseWorkloadResult, gpu: ParsedGpu): string[] {
  const known = new Set(parsed.offerFilter.gpuModels ?? []);
  const listed = gpu.gpuModels.filter((m) => known.has(m));
  return listed.length ? listed : [gpu.text];
}

/** context.filter, then the message's own filter over it (the message is the newer word). */
export function toolFilter(context: OfferFilterInput | undefined, parsed: ParseWorkloadResult): ToolFilter {
  const own = pick(parsed.offerFilter);
  if (parsed.gpus.length) own.gpuModels = parsed.gpus.flatMap((g) => gpuNames(parsed, g));
  return { ...pick(context), ...own };
}

/** A filter for the tool call, or nothing when empty (the tools take an absent filter as "all offers"). */
export const filterArg = (filter: ToolFilter) => (Object.keys(filter).length ? { filter } : {});

/** Text from data, quoted: control characters removed, length capped, so it reads as a name and nothing else. */
export function quote(text: unknown): string {
  const clean = String(text).replace(/[\u0000-\u001F\u007F-\u009F“”]/gu, " ").trim();
  return `“${clean.length > 80 ? `${clean.slice(0, 79)}…` : clean}”`;
}

export const dollars = (value: MoneyValue) => `$${formatMoney(value)}`;

/** An offer as the tools summarise it (src/assistant/tools.ts offerSummary). */
export interface ToolOffer {
  offerId: number; gpuName: string; gpuCount: number; region: string; availability: string;
  pricePerHour: string; pricePerGpuHour: string;
}

/** “name” ×N in region at $X/h ($Y per GPU-hour), offer #id. */
export const describeOffer = (o: ToolOffer) =>
  `${quote(o.gpuName)} ×${o.gpuCount} in ${quote(o.region)} at $${o.pricePerHour}/h ($${o.pricePerGpuHour} per GPU-hour), offer #${o.offerId}`;

export function recommendation(o: ToolOffer, extra: { costPerMillionTokens?: string | null; closeness?: number } = {}): Recommendation {
  const r: Recommendation = { offerId: o.offerId, gpuName: o.gpuName, gpuCount: o.gpuCount, region: o.region, pricePerHour: o.pricePerHour, pricePerGpuHour: o.pricePerGpuHour };
  if (extra.costPerMillionTokens != null) r.costPerMillionTokens = extra.costPerMillionTokens;
  if (extra.closeness != null) r.closeness = extra.closeness;
  return r;
}

/** A closeness as the answer prints it (the API's Float, to 3 decimals). */
export const closeness = (c: number) => c.toFixed(3);

/** A noun's regular plural: "offer" → "offers", "match" → "matches" (s, x, z, ch and sh take -es). */
export const plural = (noun: string) => (/(s|x|z|ch|sh)$/i.test(noun) ? `${noun}es` : `${noun}s`);

/** "1 offer" / "3 offers", "5 matches". */
export const count = (n: number, noun: string) => `${n} ${n === 1 ? noun : plural(noun)}`;

/** An intent's answer: its sentences and the offers it recommends. */
export interface Reply { sentences: string[]; recommendations?: Recommendation[] }
export type Answer = AsyncGenerator<BuiltinEvent, Reply>;

export const ok = <T>(o: ToolOutcome) => (o.ok ? (o.result as T) : null);
export const errorOf = (o: ToolOutcome) => (o.ok ? { code: "OK", message: "" } : o.error);

/** A tool error as a sentence of the answer (never thrown). */
export function failed(tool: string, error: { code: string; message: string }): string {
  const said = `${error.code}: ${error.message}`.trim();
  const coded = /[.!?]$/.test(said) ? said : `${said}.`;
  if (error.code === "UNAUTHENTICATED") return `Please sign in first: ${tool} only answers for a signed-in user. ${coded}`;
  if (error.code === "TOOL_BUDGET") return `I stopped before calling ${tool}. ${coded}`;
  return `The ${tool} tool could not answer. ${coded}`;
}

/** What the message asks about, in the user's own words, quoted: “H100” in “the US”. */
export function scopeOf(q: Question): string {
  const gpus = q.parsed.gpus.map((g) => quote(g.text)).join(" or ");
  const regions = q.parsed.regions.map((r) => quote(r.text)).join(" or ");
  return [gpus || "any GPU", regions && `in ${regions}`].filter(Boolean).join(" ");
}


