// The contract between the assistant's runtime (src/assistant/index.ts: persistence, streaming, budgets,
// cancel) and the backends that write answers: the built-in planner (builtin.ts), an OpenAI-compatible
// chat-completions server (openai.ts) and SomaAgent (soma.ts). A backend is an async generator of
// AnswerEvents; it runs tools as the caller through runTool, stops when the signal aborts, and throws
// an AnswerFailure (never anything else on purpose) when its upstream fails.
import type { Logger } from "pino";
import type { OfferFilterInput } from "../domain/offers/filter.ts";
import type { Actor, Services } from "../services/index.ts";

export interface Recommendation {
  offerId: number; provider?: string; gpuName: string; gpuCount: number; region: string;
  pricePerHour: string; pricePerGpuHour: string; costPerMillionTokens?: string; closeness?: number;
}
export interface Source { kind: "tool"; tool: string; detail: string }
export interface ToolCallRecord { id: string; name: string; arguments: unknown; ok: boolean; summary: string }

/** What a backend streams, in order: any tool calls and results and text deltas, then recommendations, sources, usage, done. */
export type AnswerEvent =
  | { type: "tool_call"; id: string; name: string; arguments: unknown }
  | { type: "tool_result"; id: string; name: string; ok: boolean; summary: string }
  | { type: "text"; delta: string }
  | { type: "recommendations"; offers: Recommendation[] }
  | { type: "sources"; sources: Source[] }
  | { type: "usage"; promptTokens: number | null; completionTokens: number | null }
  | { type: "done"; content: string; toolCalls: ToolCallRecord[] };

/** One earlier turn of the conversation, as a model is shown it. */
export interface HistoryTurn { role: "user" | "assistant"; content: string }

export interface AnswerRequest {
  /** The user's message (already validated: trimmed, 1–4,000 characters, no control characters). */
  message: string;
  /** What the client is looking at. */
  context?: { filter?: OfferFilterInput; workload?: unknown } | undefined;
  /** Earlier complete turns of the session, oldest first, at most AI_MAX_HISTORY_TURNS user+assistant pairs. */
  history: HistoryTurn[];
  /** The chat session (SomaAgent keys its own memory by it). */
  sessionId: number;
}

/** Limits per answer; the runtime enforces wall time by aborting the signal. */
export interface AnswerBudget {
  /** Tool calls one answer may make; past it a call is refused as a TOOL_BUDGET tool error. */
  maxToolCalls: number;
  /** Generated tokens one answer may use (sent upstream as the output limit). */
  maxOutputTokens: number;
}

export interface AnswerDeps {
  actor: Actor;
  services: Services;
  log: Logger;
  /** Aborts on cancel, on the wall-time budget, or when nobody waits any more: stop and abort the upstream request. */
  signal: AbortSignal;
  budget: AnswerBudget;
}

export type AnswerBackend = (request: AnswerRequest, deps: AnswerDeps) => AsyncGenerator<AnswerEvent, void>;

/** ASSISTANT_UNAVAILABLE: the upstream cannot be reached or refuses (5xx, 401); ASSISTANT_TIMEOUT: no answer in time; UPSTREAM_ERROR: it answered garbage. */
export type AnswerFailureCode = "ASSISTANT_UNAVAILABLE" | "ASSISTANT_TIMEOUT" | "UPSTREAM_ERROR";

/** How a backend fails: a code the client can act on and a message without secrets or stack traces. */
export class AnswerFailure extends Error {
  override readonly name = "AnswerFailure";
  constructor(readonly code: AnswerFailureCode, message: string) { super(message); }
}
