// The built-in planner's intents: which question a message asks, by fixed word patterns over the
// user's own words and parseWorkload's reading of them (never over data a tool returned).
import type { ParseWorkloadResult } from "../../services/assistant.ts";
import type { ToolFilter } from "./format.ts";

export type Intent = "alerts" | "compare" | "costPerToken" | "market" | "rank" | "workload" | "cheapest" | "help";

/** One message as the planner reads it. */
export interface Question {
  message: string;
  lower: string;
  parsed: ParseWorkloadResult;
  /** context.filter and the message's own filter, as search_offers takes it. */
  filter: ToolFilter;
  workload: unknown;
}

const ALERTS = /\b(my|me|i)\b.*\balerts?\b|\balerts?\b.*\b(i|my)\b|^\s*(price )?alerts\??\s*$/;
const COMPARE = /\b(vs\.?|versus|compare[ds]?|comparison|difference between)\b/;
const PER_TOKEN = /(per|\/|a)\s*(1\s*m|one million|million|mil|m|1,000,000)?\s*(output\s+|generated\s+)?tok(en)?s?\b|\$\s*\/\s*m\s*tok|\bmtok\b|\bcost per token\b/;
const MARKET = /\b(market|overview|trends?|trending|price history|getting (cheaper|dearer|more expensive)|prices? (moved|move|changed?|went)|how (are|is) .* prices?)\b/;
const RANK = /\b(rank|ranked|ranking|best value|best offers?|top \d+|topsis|score)\b/;
const WORKLOAD = /\b(serve|serving|run|running|host|deploy|train|training|fine-?tun\w*|generate|embed\w*|size|sizing|estimate|cost of running)\b/;
const CHEAPEST = /\b(cheap\w*|lowest|least expensive|price[sd]?|pricing|offers?|rent|find|available|how much)\b/;

const mentionsGpu = (q: Question) => q.parsed.gpus.length > 0;

/** The first intent whose pattern the message matches, most specific first. */
export function detectIntent(q: Question): Intent {
  const t = q.lower;
  if (ALERTS.test(t)) return "alerts";
  if (COMPARE.test(t) && q.parsed.gpus.length >= 2) return "compare";
  if (PER_TOKEN.test(t) && q.parsed.model?.preset) return "costPerToken";
  if (MARKET.test(t)) return "market";
  if (RANK.test(t)) return "rank";
  if (q.parsed.workloadInput || isWorkload(q)) return "workload";
  if (CHEAPEST.test(t) || mentionsGpu(q) || q.parsed.regions.length > 0) return "cheapest";
  return "help";
}

function isWorkload(q: Question): boolean {
  if (q.parsed.kind !== null && (WORKLOAD.test(q.lower) || q.parsed.model !== null)) return true;
  return q.workload != null && WORKLOAD.test(q.lower);
}
