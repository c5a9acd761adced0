// What a model's answer is grounded in: the offers its tool calls returned become the answer's
// recommendations, and each successful call becomes a source, so a client can show where every figure
// came from whatever the model wrote. Shared by the backends that let a model call the tools.
import type { ToolOutcome } from "./tools.ts";
import type { Recommendation, Source } from "./backend.ts";
import { closeness, recommendation, type ToolOffer } from "./builtin/format.ts";

/** Recommendations an answer shows at most. */
export const MAX_RECOMMENDATIONS = 5;

export interface CompletedCall { name: string; outcome: ToolOutcome; summary: string }

type R = Record<string, unknown>;
const list = (v: unknown) => (Array.isArray(v) ? (v as (ToolOffer & R)[]) : []);

/** The offers one tool result names, as recommendations (ranked ones with their TOPSIS closeness, workload options with $/Mtok). */
function offersOf(name: string, result: R): Recommendation[] {
  switch (name) {
    case "search_offers": return list(result.offers).map((o) => recommendation(o));
    case "rank_offers": return list(result.ranked).map((o) => recommendation(o, { closeness: Number(closeness(o.closeness as number)) }));
    case "estimate_workload": return list(result.options).map((o) => recommendation(o, { costPerMillionTokens: (o.costPerMillionTokens as string | null) ?? null }));
    default: return [];
  }
}

/** The latest calls' offers first, each offer once, at most MAX_RECOMMENDATIONS. */
export function recommendationsFrom(calls: CompletedCall[]): Recommendation[] {
  const seen = new Set<number>();
  const out: Recommendation[] = [];
  for (const call of [...calls].reverse()) {
    if (!call.outcome.ok || typeof call.outcome.result !== "object" || call.outcome.result === null) continue;
    for (const r of offersOf(call.name, call.outcome.result as R)) {
      if (seen.has(r.offerId) || out.length >= MAX_RECOMMENDATIONS) continue;
      seen.add(r.offerId);
      out.push(r);
    }
  }
  return out;
}

/** One source per successful call: the tool and what it found. */
export const sourcesFrom = (calls: CompletedCall[]): Source[] =>
  calls.filter((c) => c.outcome.ok).map((c) => ({ kind: "tool", tool: c.name, detail: c.summary }));
