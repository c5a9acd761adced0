// The assistant as the API reaches it: built once per app from the services, the pub/sub and the
// configured backend. send starts an answer in the background and returns at once; events streams it
// (from any node, replaying from the start); ask waits for the whole answer; cancel stops one; status
// reports the backend and its upstream. The answering itself (storage, budgets, control) is runs.ts.
import type { Logger } from "pino";
import type { ChatMessage, ChatSession } from "../generated/prisma/client.ts";
import type { OfferFilterInput } from "../domain/offers/filter.ts";
import type { ChatStreamEvent, PubSub } from "../infra/pubsub-types.ts";
import type { Metrics } from "../infra/metrics.ts";
import type { Actor, Services } from "../services/index.ts";
import { AnswerFailure, type AnswerBackend } from "./backend.ts";
import { builtinBackend } from "./builtin.ts";
import { createOpenAIBackend } from "./openai.ts";
import { createSomaBackend } from "./soma.ts";
import { createRunner, DEFAULT_RUN_LIMITS, type RunLimits } from "./runs.ts";
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
  /** SomaAgent: base URL, timeout (seconds, default 30) and the tenant sent with each request. */
  somaBase?: string | undefined;
  somaTimeoutSeconds?: number | undefined;
  somaTenant?: string | undefined;
  /** Earlier question–answer pairs shown to a model (AI_MAX_HISTORY_TURNS); default 10. */
  historyTurns?: number | undefined;
  /** Budgets per answer (wall time, output tokens, tool calls) and stream timings; defaults in runs.ts. */
  limits?: Partial<RunLimits> | undefined;
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
  /** Carries answer events and control messages between API nodes (the same pub/sub as ticks). */
  pubsub: PubSub;
  settings: AssistantSettings;
  log: Logger;
  /** Health-check timeout; default STATUS_TIMEOUT_MS (tests shorten it). */
  statusTimeoutMs?: number;
  /** Latency, tokens, tool calls and outcomes of the answers this node writes. */
  metrics?: Metrics | undefined;
}

/**
 * The backend the settings name, and the model it reports (SomaAgent does not say which it runs). Config
 * guarantees each backend its upstream; settings built without one (tests, embedding) still give a status
 * (NOT_CONFIGURED) and answers that fail as ASSISTANT_UNAVAILABLE, naming what is missing.
 */
function chooseBackend(settings: AssistantSettings): { backend: AnswerBackend; model: string | null } {
  switch (settings.backend) {
    case "builtin":
      return { backend: builtinBackend, model: "rule-based planner" };
    case "openai":
      if (!settings.openaiBaseUrl || !settings.model) return unconfigured("openai", "OPENAI_BASE_URL and ASSISTANT_MODEL", settings.model ?? null);
      return { backend: createOpenAIBackend({ baseUrl: settings.openaiBaseUrl, apiKey: settings.openaiApiKey, model: settings.model }), model: settings.model };
    case "soma":
      if (!settings.somaBase) return unconfigured("soma", "SOMA_AGENT_BASE", null);
      return { backend: createSomaBackend({ base: settings.somaBase, timeoutSeconds: settings.somaTimeoutSeconds ?? 30, tenant: settings.somaTenant }), model: null };
  }
}

function unconfigured(name: AssistantBackend, needs: string, model: string | null): { backend: AnswerBackend; model: string | null } {
  // eslint-disable-next-line require-yield
  const backend: AnswerBackend = async function* () { throw new AnswerFailure("ASSISTANT_UNAVAILABLE", `The ${name} backend is not configured: it needs ${needs}.`); };
  return { backend, model };
}

export function createAssistant({ services, pubsub, settings, log, statusTimeoutMs = STATUS_TIMEOUT_MS, metrics }: AssistantDeps) {
  const { backend, model } = chooseBackend(settings);
  const runner = createRunner({ services, pubsub, log, limits: { ...DEFAULT_RUN_LIMITS, ...settings.limits }, metrics, backendName: settings.backend });
  const historyTurns = settings.historyTurns ?? 10;
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

  /** Stores the user's message and the pending answer, then starts answering in the background. */
  async function send(input: AskInput, actor: Actor) {
    const context = input.context ? JSON.parse(JSON.stringify(input.context)) : null;
    const { session, userMessage, answer } = await services.chat.startTurn({ sessionId: input.sessionId, message: input.message, context, backend: settings.backend, model }, actor);
    const history = historyTurns > 0 ? await services.chat.history({ answerId: answer.id, turns: historyTurns }, actor) : [];
    const request = {
      message: userMessage.content, history, sessionId: session.id,
      context: input.context ? { filter: input.context.filter ?? undefined, workload: input.context.workload ?? undefined } : undefined,
    };
    const { finished } = runner.start(answer.id, backend, request, actor);
    return { session, userMessage, answer, finished };
  }

  return {
    /**
     * Starts an answer and returns at once with the session, the stored user message and the pending (STREAMING)
     * answer; follow it with `events`. A signed-in user, or an API key with chat:write.
     */
    async send(input: AskInput, actor: Actor): Promise<{ session: ChatSession; userMessage: ChatMessage; answer: ChatMessage }> {
      const { finished: _background, ...started } = await send(input, actor);
      return started;
    },

    /**
     * Answers one message in one call (for clients that do not stream): the user's message and the answer
     * are stored in the caller's session; a failure is stored as a FAILED answer with its code, never half-written.
     */
    async ask(input: AskInput, actor: Actor): Promise<{ session: ChatSession; answer: ChatMessage }> {
      const { session, finished } = await send(input, actor);
      return { session, answer: await finished };
    },

    /** The events of one of the caller's answers, replayed from the start (or after `afterSeq`), then live until the final one. */
    events(input: { id: string | number; afterSeq?: number | null }, actor: Actor): Promise<AsyncIterableIterator<ChatStreamEvent>> {
      return runner.follow(input, actor);
    },

    /** Stops one of the caller's answers in progress (on whichever node writes it) and aborts its upstream request. */
    cancel(input: { id: string | number }, actor: Actor): Promise<ChatMessage> {
      return runner.cancel(input, actor);
    },

    /** Stops every answer this node writes (stored as failed, ASSISTANT_UNAVAILABLE); for shutdown. */
    close: () => runner.close(),

    /** Which backend answers, whether its upstream is reachable (checked at most every 15 s), and the tools it may call. Public. */
    async status(_actor: Actor): Promise<AssistantStatus> {
      if (!cached || Date.now() - cached.at > STATUS_CACHE_MS) cached = { at: Date.now(), status: probe() };
      return { ...(await cached.status), tools: ASSISTANT_TOOLS.map((t) => ({ name: t.name, description: t.description })) };
    },
  };
}

export type Assistant = ReturnType<typeof createAssistant>;
