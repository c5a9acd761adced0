// The assistant as the API reaches it: built once per app from the services and the configured
// backend. Chat orchestration (send, stream, cancel) lands here next; for now it reports its status.
import type { Logger } from "pino";
import type { Actor, Services } from "../services/index.ts";
import { ASSISTANT_TOOLS } from "./tools.ts";

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

export function createAssistant({ settings, log, statusTimeoutMs = STATUS_TIMEOUT_MS }: AssistantDeps) {
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

  return {
    /** Which backend answers, whether its upstream is reachable (checked at most every 15 s), and the tools it may call. Public. */
    async status(_actor: Actor): Promise<AssistantStatus> {
      if (!cached || Date.now() - cached.at > STATUS_CACHE_MS) cached = { at: Date.now(), status: probe() };
      return { ...(await cached.status), tools: ASSISTANT_TOOLS.map((t) => ({ name: t.name, description: t.description })) };
    },
  };
}

export type Assistant = ReturnType<typeof createAssistant>;
