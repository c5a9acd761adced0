// The built-in assistant backend: offline, no model. A deterministic planner reads one message into an
// intent (src/assistant/builtin/intents.ts), calls the assistant's tools as the caller, and streams a
// templated answer whose every figure comes from a tool result, with its sources (builtin/answers.ts).
import type { Logger } from "pino";
import type { Actor, Services } from "../services/index.ts";
import type { OfferFilterInput } from "../domain/offers/filter.ts";
import { workloadTextProblem } from "../domain/assistant/workload-parser.ts";
import { runTool, type ToolOutcome } from "./tools.ts";
import type { AnswerBackend, AnswerBudget, AnswerEvent, Source, ToolCallRecord } from "./backend.ts";
import type { CompletedCall } from "./grounding.ts";
import { detectIntent, type Question } from "./builtin/intents.ts";
import { ANSWERS, HONEST } from "./builtin/answers.ts";
import { toolFilter, type Reply } from "./builtin/format.ts";
import { summarise } from "./builtin/summaries.ts";

/** Tool calls one answer may make; a step past it is refused as a TOOL_BUDGET tool error. */
export const MAX_BUILTIN_TOOL_CALLS = 6;

export type { Recommendation, Source, ToolCallRecord } from "./backend.ts";
/** What the planner streams: the backend contract's events (it reports no token usage: there is no model). */
export type BuiltinEvent = AnswerEvent;

export interface BuiltinInput { message: string; context?: { filter?: OfferFilterInput; workload?: unknown } | undefined }
/** The backend deps; the planner needs no output-token budget (it writes templates), and the tool-call budget defaults to MAX_BUILTIN_TOOL_CALLS. */
export interface BuiltinDeps { actor: Actor; services: Services; log: Logger; signal?: AbortSignal; budget?: Partial<AnswerBudget> }

/** A tool call that ran: its id and arguments as streamed, and its outcome. */
export interface PlannedCall extends CompletedCall { id: string; arguments: unknown }

/** One answer in progress: the tool-call budget, the abort signal and the sources collected. */
export interface Turn {
  /** Runs a tool as the caller, streaming its call and result; stops the answer when aborted. */
  call(name: string, args: unknown): AsyncGenerator<BuiltinEvent, ToolOutcome>;
  source(tool: string, detail: string): void;
}

/** Thrown between steps when the signal aborts: the answer ends without further events. */
class Aborted extends Error {}

function createTurn(deps: BuiltinDeps, calls: ToolCallRecord[], completed: PlannedCall[], sources: Source[]): Turn {
  return {
    async *call(name, args) {
      if (deps.signal?.aborted) throw new Aborted();
      const id = `call_${calls.length + 1}`;
      const max = deps.budget?.maxToolCalls ?? MAX_BUILTIN_TOOL_CALLS;
      if (calls.length >= max) {
        return { ok: false, error: { code: "TOOL_BUDGET", message: `An answer makes at most ${max} tool calls.` } };
      }
      const record: ToolCallRecord = { id, name, arguments: args, ok: false, summary: "" };
      calls.push(record);
      yield { type: "tool_call", id, name, arguments: args };
      const outcome = await runTool(name, args, deps.actor, deps.services, deps.log);
      record.ok = outcome.ok;
      record.summary = outcome.ok ? summarise(name, outcome.result) : `${outcome.error.code}: ${outcome.error.message}`;
      completed.push({ id, name, arguments: args, outcome, summary: record.summary });
      yield { type: "tool_result", id, name, ok: outcome.ok, summary: record.summary };
      if (deps.signal?.aborted) throw new Aborted();
      return outcome;
    },
    source(tool, detail) { sources.push({ kind: "tool", tool, detail }); },
  };
}

/** Reads the message (and the context) into a question; a message the parser cannot read is answered as such. */
async function readQuestion(input: BuiltinInput, deps: BuiltinDeps): Promise<Question | Reply> {
  const problem = workloadTextProblem(input.message);
  if (problem) return { sentences: [problemSentence(problem.code, problem.message)] };
  const parsed = await deps.services.assistant.parseWorkload({ text: input.message }, deps.actor);
  return { message: input.message, lower: input.message.toLowerCase(), parsed, filter: toolFilter(input.context?.filter, parsed), workload: input.context?.workload };
}

function problemSentence(code: string, message: string): string {
  if (code === "EMPTY_TEXT") return "Ask me something about GPU offers, e.g. “cheapest H100 in the US”.";
  if (code === "TEXT_TOO_LONG") return `Your message is too long for me: ${message.replace(/^text/, "it")} Please ask one short question.`;
  return `I cannot read this message: ${message.replace(/^text/, "it")}`;
}

/** Splits the answer into sentence-sized deltas. */
const chunks = (sentences: string[]) => sentences.map((s, i) => (i < sentences.length - 1 ? `${s} ` : s));

/** What the planner found for one message: its tool calls (and their outcomes), the sources, and its templated reply. */
export interface Gathered {
  calls: ToolCallRecord[];
  /** Every call that ran, in order, with its outcome (what a model is shown as facts). */
  completed: PlannedCall[];
  sources: Source[];
  reply: Reply;
}

/**
 * The planner's first half: reads the message into an intent and runs its tool calls as the caller, streaming
 * each call and result; returns what they found, or null when the signal aborted (then nothing more is to be sent).
 */
export async function* gatherBuiltin(input: BuiltinInput, deps: BuiltinDeps): AsyncGenerator<BuiltinEvent, Gathered | null> {
  const calls: ToolCallRecord[] = [];
  const completed: PlannedCall[] = [];
  const sources: Source[] = [];
  const turn = createTurn(deps, calls, completed, sources);
  try {
    if (deps.signal?.aborted) return null;
    const question = await readQuestion(input, deps);
    const reply = "sentences" in question ? question : yield* ANSWERS[detectIntent(question)](turn, question);
    if (deps.signal?.aborted) return null;
    return { calls, completed, sources, reply };
  } catch (err) {
    if (err instanceof Aborted) return null;
    throw err;
  }
}

/** Answers one message: tool calls and results as they happen, then the text, recommendations, sources and done. */
export async function* answerBuiltin(input: BuiltinInput, deps: BuiltinDeps): AsyncGenerator<BuiltinEvent, void> {
  const gathered = yield* gatherBuiltin(input, deps);
  if (!gathered) return;
  const { calls, sources, reply } = gathered;
  const sentences = [HONEST, ...reply.sentences];
  for (const delta of chunks(sentences)) yield { type: "text", delta };
  if (reply.recommendations?.length) yield { type: "recommendations", offers: reply.recommendations };
  if (sources.length) yield { type: "sources", sources };
  yield { type: "done", content: chunks(sentences).join(""), toolCalls: calls };
}

/** The planner as a backend: history is not needed (each message is read on its own). */
export const builtinBackend: AnswerBackend = (request, deps) => answerBuiltin({ message: request.message, context: request.context }, deps);
