// The assistant as the API reaches it: built once per app from the services and the configured
// backend. It answers a message in one call (ask) and reports its status; streaming (send, events,
// cancel) lands here next, on the same turn persistence (services/chat.ts startTurn / finishTurn).
import type { Logger } from "pino";
import type { ChatMessage, ChatSession } from "../generated/prisma/client.ts";
import type { OfferFilterInput } from "../domain/offers/filter.ts";
import { unavailable } from "../errors.ts";
import type { Actor, Services } from "../services/index.ts";
import type { TurnOutcome } from "../services/chat.ts";
import { answerBuiltin, type BuiltinEvent } from "./builtin.ts";
import { ASSISTANT_TOOLS } from "./tools.ts";

export interface AskInput {
  /** Continue this session of the caller's; a new one when omitted. */
  sessionId?: string | number | null;
  message: string;
  /** What the client is looking at: a filter and a workload the answer should use. */
  context?: { filter?: OfferFilterInput | null; workload?: unknown } | null;
}

export type AssistantBackend = "builtin" | "openai" | "soma";

/** The backend settings from config (src/config.ts validates that each backend has what it needs). */
export interface AssistantSettings {
  backend: AssistantBackend;
  /** OpenAI-compatible: base URL ending in /v1, key and model. */
  openaiBaseUrl?: string | undefined;
  openaiApiKey?: string | undefined;
  model?: string | undefined;
  /** SomaAgent: base URL and timeout. */
  somaBase?: string | undefined;
  somaTimeoutSeconds?: number | undefined;
}

/** OK: the upstream answered its health check; NOT_NEEDED: the built-in backend has none. */
export type UpstreamState = "OK" | "UNAVAILABLE" | "NOT_CONFIGURED" | "NOT_NEEDED";

export interface AssistantStatus {
  backend: AssistantBackend;
  model: string | null;
  upstream: UpstreamState;
  /** Why the upstream is not OK, in words; null when it is. */
  upstreamDetail: string | null;
  latencyMs: number | null;
  checkedAt: Date;
  tools: { name: string; description: string }[];
}

/** A status is reused this long, so status requests never hammer the upstream. */
export const STATUS_CACHE_MS = 15_000;
/** How long a health check may take before the upstream counts as unavailable. */
export const STATUS_TIMEOUT_MS = 5_000;

export interface AssistantDeps {
  services: Services;
  settings: AssistantSettings;
  log: Logger;
  /** Health-check timeout; default STATUS_TIMEOUT_MS (tests shorten it). */
  statusTimeoutMs?: number;
}

export function createAssistant({ services, settings, log, statusTimeoutMs = STATUS_TIMEOUT_MS }: AssistantDeps) {
  let cached: { at: number; status: Promise<Omit<AssistantStatus, "tools">> } | null = null;

  async function probe(): Promise<Omit<AssistantStatus, "tools">> {
    const base = { backend: settings.backend, model: settings.backend === "openai" ? settings.model ?? null : null, checkedAt: new Date() };
    if (settings.backend === "builtin") return { ...base, model: "rule-based planner", upstream: "NOT_NEEDED", upstreamDetail: null, latencyMs: null };
    const url = settings.backend === "openai"
      ? settings.openaiBaseUrl && `${settings.openaiBaseUrl.replace(/\/+$/, "")}/models`
      : settings.somaBase && `${settings.somaBase.replace(/\/+$/, "")}/v1/health`;
    if (!url) return { ...base, upstream: "NOT_CONFIGURED", upstreamDetail: `${settings.backend === "openai" ? "OPENAI_BASE_URL" : "SOMA_AGENT_BASE"} is not set.`, latencyMs: null };
    const started = performance.now();
    const unavailable = (detail: string) => ({ ...base, upstream: "UNAVAILABLE" as const, upstreamDetail: detail, latencyMs: Math.round(performance.now() - started) });
    try {
      const headers: Record<string, string> = { accept: "application/json" };
      if (settings.backend === "openai" && settings.openaiApiKey) headers.authorization = `Bearer ${settings.openaiApiKey}`;
      const res = await fetch(url, { headers, signal: AbortSignal.timeout(statusTimeoutMs) });
      const body: unknown = await res.json().catch(() => undefined);
      if (!res.ok) return unavailable(`The ${settings.backend} upstream answered HTTP ${res.status}.`);
      // OpenAI-compatible servers list models as { data: [{ id }] }; SomaAgent's health is a JSON object.
      const valid = settings.backend === "openai" ? Array.isArray((body as { data?: unknown } | undefined)?.data) : typeof body === "object" && body !== null;
      if (!valid) return unavailable(`The ${settings.backend} upstream answered, but not with the JSON its protocol defines.`);
      return { ...base, upstream: "OK", upstreamDetail: null, latencyMs: Math.round(performance.now() - started) };
    } catch (err) {
      log.warn({ err, backend: settings.backend }, "assistant upstream health check failed");
      const timedOut = err instanceof Error && (err.name === "TimeoutError" || err.name === "AbortError");
      return unavailable(timedOut ? `No answer within ${statusTimeoutMs / 1000} s.` : "The upstream could not be reached.");
    }
  }

  /** Runs the built-in planner to its end and folds its events into the stored outcome. */
  async function answerWithBuiltin(input: AskInput, actor: Actor): Promise<TurnOutcome> {
    const outcome: TurnOutcome = { status: "COMPLETE", content: "", toolCalls: [], sources: [], recommendations: [] };
    const context = input.context ? { filter: input.context.filter ?? undefined, workload: input.context.workload } : undefined;
    for await (const event of answerBuiltin({ message: input.message, context }, { actor, services, log }) as AsyncGenerator<BuiltinEvent>) {
      if (event.type === "sources") outcome.sources = event.sources;
      else if (event.type === "recommendations") outcome.recommendations = event.offers;
      else if (event.type === "done") { outcome.content = event.content; outcome.toolCalls = event.toolCalls; }
    }
    return outcome;
  }

  return {
    /**
     * Answers one message in one call (for clients that do not stream): the user's message and the answer
     * are stored in the caller's session; a failure is stored as a FAILED answer with its code, never half-written.
     */
    async ask(input: AskInput, actor: Actor): Promise<{ session: ChatSession; answer: ChatMessage }> {
      if (settings.backend !== "builtin") {
        throw unavailable(`The ${settings.backend} backend cannot answer in this version yet; set ASSISTANT_BACKEND=builtin.`, { reason: "ASSISTANT_UNAVAILABLE" });
      }
      const context = input.context ? JSON.parse(JSON.stringify(input.context)) : null;
      const { session, answer } = await services.chat.startTurn({ sessionId: input.sessionId, message: input.message, context, backend: settings.backend, model: "rule-based planner" }, actor);
      let outcome: TurnOutcome;
      try {
        outcome = await answerWithBuiltin(input, actor);
      } catch (err) {
        const errorId = crypto.randomUUID();
        log.error({ err, errorId, answerId: answer.id }, "the built-in assistant failed");
        outcome = { status: "FAILED", content: "", error: { code: "ASSISTANT_FAILED", message: `The assistant failed. Quote this errorId when you report it: ${errorId}.` } };
      }
      return { session, answer: await services.chat.finishTurn({ answerId: answer.id, outcome }, actor) };
    },

    /** Which backend answers, whether its upstream is reachable (checked at most every 15 s), and the tools it may call. Public. */
    async status(_actor: Actor): Promise<AssistantStatus> {
      if (!cached || Date.now() - cached.at > STATUS_CACHE_MS) cached = { at: Date.now(), status: probe() };
      return { ...(await cached.status), tools: ASSISTANT_TOOLS.map((t) => ({ name: t.name, description: t.description })) };
    },
  };
}

export type Assistant = ReturnType<typeof createAssistant>;
