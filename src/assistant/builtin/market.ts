// The built-in planner's market answers: one GPU's key figures and price trend (gpu_kpis), or the
// market as a whole (market_overview) when no GPU is named.
import type { Turn } from "../builtin.ts";
import type { Question } from "./intents.ts";
import { count, dollars, errorOf, failed, gpuNames, ok, quote, type Answer } from "./format.ts";
import type { MoneyValue } from "../../domain/money.ts";

type Trend = { trend: { offersCompared: number; medianThen: MoneyValue; medianNow: MoneyValue; change: number } | null; reason: string | null };
type Kpis = {
  activeOffers: number; providers: number; pricePerGpuHour: { min: MoneyValue; median: MoneyValue; p90: MoneyValue } | null; pricePerGpuHourReason: string | null;
  spotOffers: number; spotDiscount: number | null; availabilityShare: number | null; priceChange: Record<"HOURS_24" | "DAYS_7" | "DAYS_30", Trend>;
};
type Cheapest = { offer: { offer: { id: number; gpuName: string; gpuCount: number; region: string; onDemandPrice: MoneyValue }; pricePerGpuHour: MoneyValue } | null; reason: string | null };
type Overview = { activeOffers: number; providers: number; gpuModels: number; cheapest: Record<"H100" | "A100" | "RTX4090", Cheapest> };

/** A 0–1 ratio as a percentage with one decimal ("-4.2%"). */
const percent = (ratio: number) => `${(ratio * 100).toFixed(1)}%`;
const WINDOWS = [["HOURS_24", "24 hours"], ["DAYS_7", "7 days"], ["DAYS_30", "30 days"]] as const;

function kpiSentences(name: string, k: Kpis): string[] {
  const out = [`${name}: ${count(k.activeOffers, "active offer")} from ${count(k.providers, "provider")}.`];
  const p = k.pricePerGpuHour;
  out.push(p ? `Per GPU-hour: cheapest ${dollars(p.min)}, median ${dollars(p.median)}, 90th percentile ${dollars(p.p90)}.` : `${k.pricePerGpuHourReason ?? "No prices."}`);
  if (k.spotDiscount !== null) out.push(`${count(k.spotOffers, "offer")} also sell spot, a median ${percent(k.spotDiscount)} below on-demand.`);
  if (k.availabilityShare !== null) out.push(`${percent(k.availabilityShare)} of offers with known availability are available or limited.`);
  for (const [key, words] of WINDOWS) {
    const t = k.priceChange[key]?.trend;
    if (t) out.push(`Over ${words}, the like-for-like median went from ${dollars(t.medianThen)} to ${dollars(t.medianNow)} (${t.change >= 0 ? "+" : ""}${percent(t.change)}, ${count(t.offersCompared, "offer")}).`);
  }
  if (WINDOWS.every(([key]) => !k.priceChange[key]?.trend)) out.push("There is no price history yet to show a trend.");
  return out;
}

async function* gpuMarket(turn: Turn, q: Question): Answer {
  const sentences: string[] = [];
  for (const gpu of q.parsed.gpus.slice(0, 3)) {
    // A family ("A100") names several models; the KPIs are one model's, the first the catalog lists.
    const model = gpuNames(q.parsed, gpu)[0]!;
    const out = yield* turn.call("gpu_kpis", { model });
    const k = ok<Kpis>(out);
    if (!k) { sentences.push(`${quote(gpu.text)}: ${failed("gpu_kpis", errorOf(out))}`); continue; }
    turn.source("gpu_kpis", `${quote(model)}: price spread, spot discount, availability and price change of active offers`);
    sentences.push(...kpiSentences(model === gpu.text ? quote(model) : `${quote(gpu.text)} (${quote(model)})`, k));
  }
  return { sentences };
}

const HEADLINE = [["H100", "H100"], ["A100", "A100"], ["RTX4090", "RTX 4090"]] as const;

async function* overview(turn: Turn): Answer {
  const out = yield* turn.call("market_overview", {});
  const o = ok<Overview>(out);
  if (!o) return { sentences: [failed("market_overview", errorOf(out))] };
  turn.source("market_overview", "active offers, providers and the cheapest H100, A100 and RTX 4090");
  const sentences = [`The market now: ${count(o.activeOffers, "active offer")} from ${count(o.providers, "provider")} across ${count(o.gpuModels, "GPU model")}.`];
  for (const [key, words] of HEADLINE) {
    const c = o.cheapest[key]?.offer;
    sentences.push(c
      ? `Cheapest ${words}: ${dollars(c.pricePerGpuHour)} per GPU-hour (${quote(c.offer.gpuName)} ×${c.offer.gpuCount} in ${quote(c.offer.region)}, offer #${c.offer.id}).`
      : `No ${words} offer: ${o.cheapest[key]?.reason ?? "none is active."}`);
  }
  return { sentences };
}

/** "how is the H100 market" → gpu_kpis; "market overview" → market_overview. */
export function marketAnswer(turn: Turn, q: Question): Answer {
  return q.parsed.gpus.length ? gpuMarket(turn, q) : overview(turn);
}
