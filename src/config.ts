// Environment → one typed config object, validated once at start; every problem is reported.
import { z } from "zod";

const url = (protocols: string[]) =>
  z.string().trim().refine((v) => {
    try { return protocols.includes(new URL(v).protocol); } catch { return false; }
  }, `must be a URL starting with ${protocols.map((p) => `${p}//`).join(" or ")}`);

const flag = z.enum(["true", "false", "1", "0", ""]).transform((v) => v === "true" || v === "1");

/** "a, b ,c" → ["a", "b", "c"], each checked by `item`. */
const list = (item: (v: string) => boolean, message: string) =>
  z.string().transform((v) => v.split(",").map((s) => s.trim()).filter(Boolean)).refine((items) => items.every(item), message);

const isOrigin = (v: string) => {
  try { return ["http:", "https:"].includes(new URL(v).protocol) && new URL(v).origin === v.toLowerCase().replace(/\/$/, ""); } catch { return false; }
};

/** A master key of INTEGRATION_KEYS: wraps the data keys of users' provider keys (src/infra/secret-sealer.ts). */
export interface IntegrationKey {
  /** Written into every value sealed under it, so rotation knows which key opens what. */
  readonly id: string;
  /** 32 bytes (AES-256). Printed as "[redacted]" by JSON.stringify and util.inspect. */
  readonly key: Buffer;
}

const INTEGRATION_KEY_ID = /^[A-Za-z0-9_-]{1,32}$/;

/** "k2:<base64>,k1:<base64>" → keys in that order (the first one seals); every problem reported, no key material echoed. */
const integrationKeys = z.string().transform((text, ctx) => {
  const keys: IntegrationKey[] = [];
  const problem = (message: string) => ctx.addIssue({ code: "custom", message });
  const entries = text.split(",").map((s) => s.trim()).filter(Boolean);
  if (entries.length === 0) problem("must list at least one <id>:<base64 key>");
  entries.forEach((entry, i) => {
    const colon = entry.indexOf(":");
    const id = colon < 0 ? "" : entry.slice(0, colon).trim();
    const material = entry.slice(colon + 1).trim().replace(/=+$/, "").replace(/-/g, "+").replace(/_/g, "/");
    if (!INTEGRATION_KEY_ID.test(id)) return problem(`entry ${i + 1} must be <id>:<base64 key>, the id 1 to 32 letters, digits, "_" or "-"`);
    const bytes = Buffer.from(material, "base64");
    if (!/^[A-Za-z0-9+/]+$/.test(material) || bytes.toString("base64").replace(/=+$/, "") !== material) {
      return problem(`key "${id}" is not valid base64 (make one with: openssl rand -base64 32)`);
    }
    if (bytes.length !== 32) return problem(`key "${id}" must be 32 bytes, got ${bytes.length} (make one with: openssl rand -base64 32)`);
    const twin = keys.find((k) => k.id === id || k.key.equals(bytes));
    if (twin) return problem(twin.id === id ? `key id "${id}" appears twice` : `keys "${twin.id}" and "${id}" are the same key`);
    keys.push(Object.defineProperties({ id, key: bytes }, {
      toJSON: { value: () => ({ id, key: "[redacted]" }) },
      [Symbol.for("nodejs.util.inspect.custom")]: { value: () => `IntegrationKey { id: '${id}', key: [redacted] }` },
    }));
  });
  return keys;
});

/** Also the ingestion scheduler's default when it is built without a configuration (tests). */
export const PRICE_HISTORY_RAW_DAYS_DEFAULT = 30;

const Env = z.object({
  NODE_ENV: z.enum(["development", "production", "test"]).default("development"),
  PORT: z.coerce.number().int().min(0).max(65535).default(4000),
  HOST: z.string().min(1).default("0.0.0.0"),
  DATABASE_URL: url(["postgres:", "postgresql:"]).optional(),
  DATABASE_POOL_SIZE: z.coerce.number().int().min(1).max(200).default(10),
  PGLITE_DATA_DIR: z.string().min(1).default(".data/pglite"),
  REDIS_URL: url(["redis:", "rediss:"]).optional(),
  SEED_SNAPSHOT: flag.default(true),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  /** json: one JSON object per line; pretty: readable lines (pino-pretty). Unset: pretty when stdout is a terminal, JSON otherwise. */
  LOG_FORMAT: z.enum(["json", "pretty"]).optional(),
  JWT_PRIVATE_KEY: z.string().includes("PRIVATE KEY", { message: "must be a PEM private key" }).optional(),
  JWT_PUBLIC_KEY: z.string().includes("PUBLIC KEY", { message: "must be a PEM public key" }).optional(),
  /** Development only: where a generated JWT key pair is kept when JWT_*_KEY are not set. */
  JWT_KEY_DIR: z.string().min(1).default(".data/keys"),
  /** Proxies in front of the API that append X-Forwarded-For (0 = use the socket address). */
  TRUST_PROXY: z.coerce.number().int().min(0).max(10).default(0),
  /** Largest request body and WebSocket message in bytes (413 / close 1009 above it). */
  MAX_BODY_BYTES: z.coerce.number().int().min(1_024).max(100 * 1_048_576).default(1_048_576),
  /** Browser origins allowed to call cross-origin with credentials; unset: localhost origins in development, none otherwise. */
  CORS_ORIGINS: list(isOrigin, "must be comma-separated origins like https://app.example.com (scheme, host, optional port; no path)").optional(),
  /** Host header values (name or name:port) the server answers for; unset: any. */
  ALLOWED_HOSTS: list((h) => /^[a-z0-9.-]+(:\d{1,5})?$|^\[[0-9a-f:.]+\](:\d{1,5})?$/i.test(h), "must be comma-separated host names, optionally with :port").optional(),
  /** Introspection (__schema, __type) and the GraphiQL page; unset: on in development only. */
  GRAPHQL_INTROSPECTION: flag.optional(),
  GRAPHIQL: flag.optional(),
  /** A JSON file mapping sha256 hash → GraphQL document; when set, only those operations run. */
  PERSISTED_OPERATIONS_FILE: z.string().min(1).optional(),
  /** Serve GET /metrics on this port only (e.g. an internal network), instead of on PORT. */
  METRICS_PORT: z.coerce.number().int().min(1).max(65535).optional(),
  /** Bearer token every scrape of /metrics must send (401 without it); unset: none needed. */
  METRICS_TOKEN: z.string().trim().min(16, { message: "must be at least 16 characters" }).regex(/^[\x21-\x7E]+$/, "must be printable ASCII without spaces").optional(),
  /** How often each node checks again the credentials of its open subscriptions, for revocations its pub/sub missed. */
  STREAM_AUTH_RECHECK_SECONDS: z.coerce.number().int().min(1).max(3_600).default(30),
  /** How long price ticks and notifications stay replayable for a subscriber that resumes with `after: cursor`. */
  EVENT_RETENTION_MINUTES: z.coerce.number().int().min(15).max(10_080).default(60),
  /** OpenTelemetry: traces are exported over OTLP/HTTP to `<this>/v1/traces` when set; nothing is traced otherwise. */
  OTEL_EXPORTER_OTLP_ENDPOINT: url(["http:", "https:"]).optional(),
  OTEL_SERVICE_NAME: z.string().trim().min(1).max(100).default("gpubroker"),
  /** Fraction of requests (and ingestion polls, event batches) that start a trace, 0..1; a caller's sampled `traceparent` is always followed. */
  OTEL_TRACES_SAMPLER_ARG: z.coerce.number().min(0).max(1).default(1),
  VAULT_ADDR: url(["http:", "https:"]).optional(),
  /** Vault auth: a token, or an AppRole (role and secret id). */
  VAULT_TOKEN: z.string().min(1).optional(),
  VAULT_ROLE_ID: z.string().min(1).optional(),
  VAULT_SECRET_ID: z.string().min(1).optional(),
  VAULT_KV_MOUNT: z.string().min(1).default("secret"),
  /** Vault transit mount and key that encrypt users' provider keys at rest when VAULT_ADDR is set (an aes256-gcm96 key without derivation). */
  VAULT_TRANSIT_MOUNT: z.string().trim().regex(/^(?!(.*\/)?\.\.?(\/|$))[\w.-]+(\/[\w.-]+)*$/, "must be a Vault mount path like transit or kv/transit").default("transit"),
  VAULT_TRANSIT_KEY: z.string().trim().regex(/^\w([\w.@-]*\w)?$/, "must be a Vault key name (letters, digits, _ . @ -)").default("gpubroker-integrations"),
  /** Without Vault: master keys wrapping the data keys of users' provider keys, "k2:<base64 32 bytes>,k1:<…>"; the first seals, all open. */
  INTEGRATION_KEYS: integrationKeys.optional(),
  /** Development and tests only: with neither Vault nor INTEGRATION_KEYS, seal under a random key made at start (lost on restart). */
  INTEGRATION_KEYS_EPHEMERAL: flag.default(false),
  /** Cache the results of public catalog reads, dropped by the market events that change them (in Redis with REDIS_URL, else per process). */
  RESPONSE_CACHE: flag.default(true),
  /** The longest a cached result lives: the bound for changes that come without a market event (provider health, non-price offer details). */
  RESPONSE_CACHE_TTL_SECONDS: z.coerce.number().int().min(1).max(86_400).default(60),
  /** Poll providers (the elected process only). */
  INGESTION: flag.default(true),
  /** How often the polling node logs one info line summing up its polls, changes and failures per provider (0 = never); each poll is logged at debug unless it changed offers of a real provider. */
  INGESTION_SUMMARY_SECONDS: z.coerce.number().int().min(0).max(86_400).default(60),
  /** Remote SkyPilot catalogs to poll: "aws=https://…/vms.csv,gcp=https://…". */
  SKYPILOT_CATALOGS: z.string().optional(),
  /** Simulated price movements on the stored offers (no provider needed). */
  DEMO_MARKET: flag.default(false),
  /** A minute by default: enough to watch ticks arrive, and a quarter of the price history a 15 s demo writes. */
  DEMO_MARKET_INTERVAL_SECONDS: z.coerce.number().int().min(1).max(86_400).default(60),
  /** Days of price history kept point by point; older whole hours are rolled up (min/avg/max, last point) for priceHistory and the KPIs, by the ingestion leader every hour. */
  PRICE_HISTORY_RAW_DAYS: z.coerce.number().int().min(1).max(3_650).default(PRICE_HISTORY_RAW_DAYS_DEFAULT),
  /** Who writes the assistant's answers: the built-in rule-based planner (offline), an OpenAI-compatible server, or SomaAgent. */
  ASSISTANT_BACKEND: z.enum(["builtin", "openai", "soma"]).default("builtin"),
  /** OpenAI-compatible chat completions (OpenAI, vLLM, llama.cpp server, Ollama, LM Studio): base URL ending in /v1. */
  OPENAI_BASE_URL: url(["http:", "https:"]).optional(),
  OPENAI_API_KEY: z.string().min(1).optional(),
  /** The model the OpenAI-compatible server should run, e.g. "gpt-4o-mini" or "llama3.1:8b". */
  ASSISTANT_MODEL: z.string().min(1).max(200).optional(),
  /** SomaAgent, the replaced system's agent service. */
  SOMA_AGENT_BASE: url(["http:", "https:"]).optional(),
  SOMA_AGENT_TIMEOUT: z.coerce.number().min(1).max(600).default(30),
  /** Sent as `tenant` with every SomaAgent request when set (the replaced system's tenant id). */
  SOMA_AGENT_TENANT: z.string().trim().min(1).max(200).regex(/^[^\u0000-\u001F\u007F-\u009F]*$/u, "must not contain control characters").optional(),
  /** Earlier turns of a conversation sent upstream with each question. */
  AI_MAX_HISTORY_TURNS: z.coerce.number().int().min(0).max(100).default(10),
  /** Budgets per answer: wall time (seconds), generated tokens, tool calls; and answers in progress per user. */
  ASSISTANT_TIMEOUT: z.coerce.number().int().min(1).max(600).default(120),
  ASSISTANT_MAX_OUTPUT_TOKENS: z.coerce.number().int().min(16).max(32_768).default(1024),
  ASSISTANT_MAX_TOOL_CALLS: z.coerce.number().int().min(0).max(20).default(6),
  ASSISTANT_MAX_CONCURRENT: z.coerce.number().int().min(1).max(100).default(3),
});

export type Config = z.output<typeof Env> & {
  /** Provider credentials and endpoints: every `<SLUG>_API_KEY` and `<SLUG>_API_URL` variable (not a key of this schema, like OPENAI_API_KEY), by name. */
  providerEnv: Record<string, string>;
};
export type LogLevel = Config["LOG_LEVEL"];
export type LogFormat = NonNullable<Config["LOG_FORMAT"]>;

const PROVIDER_VARIABLE = /^[A-Z0-9_]+_API_(KEY|URL)$/;

// Every API node must sign with the same key, so production needs it configured.
const EnvChecked = Env.superRefine((env, ctx) => {
  if (env.VAULT_ADDR && !env.VAULT_TOKEN && !(env.VAULT_ROLE_ID && env.VAULT_SECRET_ID)) {
    ctx.addIssue({ code: "custom", path: ["VAULT_ADDR"], message: "needs VAULT_TOKEN, or VAULT_ROLE_ID and VAULT_SECRET_ID" });
  }
  if (env.ASSISTANT_BACKEND === "openai") {
    for (const name of ["OPENAI_BASE_URL", "ASSISTANT_MODEL"] as const) {
      if (!env[name]) ctx.addIssue({ code: "custom", path: [name], message: "is required when ASSISTANT_BACKEND=openai" });
    }
  }
  if (env.ASSISTANT_BACKEND === "soma" && !env.SOMA_AGENT_BASE) ctx.addIssue({ code: "custom", path: ["SOMA_AGENT_BASE"], message: "is required when ASSISTANT_BACKEND=soma" });
  if (env.METRICS_PORT !== undefined && env.METRICS_PORT === env.PORT) ctx.addIssue({ code: "custom", path: ["METRICS_PORT"], message: "must differ from PORT" });
  if (env.NODE_ENV !== "production") return;
  for (const name of ["JWT_PRIVATE_KEY", "JWT_PUBLIC_KEY"] as const) {
    if (!env[name]) ctx.addIssue({ code: "custom", path: [name], message: "is required when NODE_ENV=production (a PEM key shared by every node)" });
  }
  if (env.INTEGRATION_KEYS_EPHEMERAL) {
    ctx.addIssue({ code: "custom", path: ["INTEGRATION_KEYS_EPHEMERAL"], message: "is for development and tests only: in production set INTEGRATION_KEYS or VAULT_ADDR" });
  }
});

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

/** Parses the environment; empty strings count as unset. Throws ConfigError listing every problem. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const defined = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ""));
  const result = EnvChecked.safeParse(defined);
  if (!result.success) {
    throw new ConfigError(result.error.issues.map((i) => {
      const name = String(i.path[0] ?? "environment");
      const value = typeof defined[name] === "string" && !/KEY|SECRET|PASSWORD|TOKEN|URL/.test(name) ? ` (got "${defined[name]}")` : "";
      return `${name}: ${i.message}${value}`;
    }));
  }
  const providerEnv = Object.fromEntries(Object.entries(defined).filter(([name]) => PROVIDER_VARIABLE.test(name) && !(name in Env.shape))) as Record<string, string>;
  return { ...result.data, providerEnv };
}

/**
 * What modules need before the configuration is parsed (the logger's level at import, the schema
 * builder's development warnings): read leniently here, so an invalid value falls back to the
 * default and loadConfig reports it. Under vitest the log is silent unless LOG_LEVEL says otherwise.
 */
export const bootSettings = (() => {
  const env = process.env;
  const level = Env.shape.LOG_LEVEL.safeParse(env.LOG_LEVEL || undefined);
  const format = Env.shape.LOG_FORMAT.safeParse(env.LOG_FORMAT || undefined);
  return {
    production: env.NODE_ENV === "production",
    logLevel: (env.LOG_LEVEL && level.success ? level.data : env.VITEST ? "silent" : "info") as LogLevel,
    /** Undefined: decided by whether stdout is a terminal. */
    logFormat: format.success ? format.data : undefined,
  };
})();
