// One-line human summaries of tool results, as the tool_result event and the stored tool call show them.
import { count, dollars, type ToolOffer } from "./format.ts";

type R = Record<string, unknown>;
const firstOffer = (list: unknown) => (Array.isArray(list) ? (list[0] as ToolOffer | undefined) : undefined);
const cheapest = (o: ToolOffer | undefined) => (o ? `; cheapest $${o.pricePerGpuHour} per GPU-hour` : "");

const SUMMARIES: Record<string, (r: R) => string> = {
  search_offers: (r) => `${count(r.totalCount as number, "matching offer")}${cheapest(firstOffer(r.offers))}`,
  rank_offers: (r) => `ranked ${count(r.considered as number, "offer")}, ${r.excluded} excluded`,
  estimate_workload: (r) => {
    const o = firstOffer(r.options) as (ToolOffer & { cost: string }) | undefined;
    return `${r.feasible} of ${count(r.considered as number, "offer")} can run it${o ? `; cheapest $${o.cost}` : ""}`;
  },
  cost_per_token: (r) => (r.fits ? `$${r.outputCostPerMillionTokens} per million generated tokens on ${r.gpuCount}× ${r.gpuModel}` : `${r.model} does not fit on ${r.gpuCount}× ${r.gpuModel}`),
  market_overview: (r) => `${count(r.activeOffers as number, "active offer")} from ${count(r.providers as number, "provider")}`,
  gpu_kpis: (r) => {
    const p = r.pricePerGpuHour as { median: string } | null;
    return `${count(r.activeOffers as number, "active offer")}${p ? `; median ${dollars(p.median)} per GPU-hour` : ""}`;
  },
  my_price_alerts: (r) => count((r as unknown as unknown[]).length, "price alert"),
};

export function summarise(name: string, result: unknown): string {
  const f = SUMMARIES[name];
  return f ? f(result as R) : "done";
}
