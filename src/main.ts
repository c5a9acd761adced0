// Process entry: config → database (+ first-start seed) → server → ingestion; graceful stop on SIGTERM/SIGINT.
// Expected conditions at start (bad configuration, database unreachable, port in use, data folder in
// use) print one line naming the problem and exit 1; anything else is logged with its stack.
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import pg from "pg";
import { parse as parseConnectionString } from "pg-connection-string";
import { ConfigError, loadConfig, type Config } from "./config.ts";
import { openDatabase, withSessionLock, type Database } from "./infra/db.ts";
import { DataDirLockedError } from "./infra/data-dir-lock.ts";
import { projectPath } from "./infra/project-root.ts";
import { createEventLog, type EventLog } from "./infra/event-log.ts";
import { createVault } from "./infra/vault.ts";
import { configuredAdapters } from "./ingestion/configured.ts";
import { createIngestion, type Ingestion } from "./ingestion/scheduler.ts";
import { logger, setLogMixin } from "./infra/logger.ts";
import { startTracing, traceFields } from "./infra/tracing.ts";
import { startMetricsServer, startServer, STOP_GRACE_MS } from "./server.ts";
import { createMetrics, type Metrics } from "./infra/metrics.ts";
import { Redis } from "ioredis";
import { createApp, JWT_AUDIENCE, JWT_ISSUER } from "./yoga.ts";
import { createRateLimiter } from "./infra/rate-limit.ts";
import { createPubSub } from "./infra/pubsub.ts";
import { createLazyTokenSigner } from "./infra/auth/tokens.ts";
import { SEED_LOCK_KEY, seedFromSnapshot } from "./ingestion/snapshot.ts";
import { syncProviderCompliance } from "./infra/compliance.ts";
import { createAccountCatalog } from "./ingestion/account-catalog.ts";
import { syncGpuModels } from "./ingestion/gpu-models.ts";
import { createMemoryResponseCacheStore, createRedisResponseCacheStore } from "./infra/response-cache-store.ts";
import { secretSealerFromConfig } from "./infra/secret-sealer.ts";
import { createAccountChecker } from "./ingestion/account-checks.ts";

const PACKAGE_VERSION = (JSON.parse(readFileSync(projectPath("package.json"), "utf8")) as { version: string }).version;

/** A condition the operator fixes (not a bug): its message is the one line printed. */
class StartupError extends Error {
  override readonly name = "StartupError";
}

async function main() {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(1);
    }
    throw err;
  }
  logger.level = config.LOG_LEVEL;
  // First, so the database, Redis and HTTP work below is traced (nothing at all without an endpoint).
  const tracing = startTracing({ endpoint: config.OTEL_EXPORTER_OTLP_ENDPOINT, serviceName: config.OTEL_SERVICE_NAME, serviceVersion: PACKAGE_VERSION, sampleRatio: config.OTEL_TRACES_SAMPLER_ARG });
  if (tracing) setLogMixin(traceFields);
  const persistedOperations = config.PERSISTED_OPERATIONS_FILE ? readPersistedOperations(config.PERSISTED_OPERATIONS_FILE) : undefined;

  // Fail fast, before the database work: the port free, the database reachable.
  await checkPortFree(config.HOST, config.PORT, "PORT");
  if (config.METRICS_PORT !== undefined) await checkPortFree(config.HOST, config.METRICS_PORT, "METRICS_PORT");
  if (config.DATABASE_URL) await checkDatabase(config.DATABASE_URL);
  const metrics = createMetrics({ processMetrics: true });
  const db = await openDatabase({
    databaseUrl: config.DATABASE_URL,
    dataDir: config.PGLITE_DATA_DIR,
    poolSize: config.DATABASE_POOL_SIZE,
  });
  logger.info({ database: db.kind, applied: db.applied }, db.kind === "pglite" ? `embedded PostgreSQL (PGlite) in ${config.PGLITE_DATA_DIR}` : "PostgreSQL");
  // Nodes starting together on a fresh database (compose starts its replicas at once) take turns:
  // otherwise both insert the same providers and one dies on a unique constraint.
  await withSessionLock(config.DATABASE_URL, SEED_LOCK_KEY, async () => {
    await syncGpuModels(db.prisma);
    // data/provider-compliance.json is the source of truth for providers' compliance tags.
    const compliance = await syncProviderCompliance(db.prisma);
    if (compliance.length) logger.info({ providers: compliance }, "compliance tags updated from data/provider-compliance.json");
    if (config.SEED_SNAPSHOT) {
      const seed = await seedFromSnapshot(db.prisma);
      if (seed.seeded) logger.info({ offers: seed.offers, providers: seed.providers.map((p) => p.slug), takenAt: seed.takenAt }, "seeded the catalog snapshot");
    }
  });

  // Redis shares rate-limit counters between API nodes; without it each process counts alone.
  const redis = config.REDIS_URL ? new Redis(config.REDIS_URL, { maxRetriesPerRequest: 2 }) : null;
  redis?.on("error", (err) => logger.warn({ err: err.message }, "redis"));
  if (redis) metrics.observeRedis("rate_limit", redis);
  const rateLimiter = createRateLimiter({ redis, prefix: "gpubroker", metrics });
  const tokens = createLazyTokenSigner({
    issuer: JWT_ISSUER, audience: JWT_AUDIENCE,
    privateKeyPem: config.JWT_PRIVATE_KEY, publicKeyPem: config.JWT_PUBLIC_KEY, keyDir: config.JWT_KEY_DIR,
  });
  await tokens.jwks(); // load or generate the keys now, not on the first sign-in

  const pubsub = createPubSub({ redisUrl: config.REDIS_URL, metrics });
  const events = createEventLog({ prisma: db.prisma, redisUrl: config.REDIS_URL, retentionMs: config.EVENT_RETENTION_MINUTES * 60_000, metrics });
  // Public catalog reads: one cache for every node with Redis, one per process without (closed with yoga).
  const responseCacheTtlMs = config.RESPONSE_CACHE_TTL_SECONDS * 1000;
  const responseCache = config.RESPONSE_CACHE ? {
    ttlMs: responseCacheTtlMs,
    store: config.REDIS_URL ? createRedisResponseCacheStore({ url: config.REDIS_URL, maxTtlMs: responseCacheTtlMs, metrics }) : createMemoryResponseCacheStore(),
  } : undefined;
  // Created now (the API's refreshProvider uses it), started once the server listens.
  const ingestion = config.INGESTION ? await configureIngestion(config, db, events, metrics) : undefined;

  const development = config.NODE_ENV === "development";
  const graphiql = config.GRAPHIQL ?? development;
  const yoga = createApp({ db, development, tokens, rateLimiter, trustProxy: config.TRUST_PROXY, pubsub, events, ingestion, tracing: !!tracing,
    maxBodyBytes: config.MAX_BODY_BYTES, corsOrigins: config.CORS_ORIGINS, allowedHosts: config.ALLOWED_HOSTS,
    introspection: config.GRAPHQL_INTROSPECTION ?? development, graphiql, persistedOperations,
    readinessChecks: redis ? { redis: () => redis.ping() } : undefined,
    authorityRecheckMs: config.STREAM_AUTH_RECHECK_SECONDS * 1000,
    metrics, metricsEndpoint: config.METRICS_PORT === undefined, metricsToken: config.METRICS_TOKEN,
    responseCache,
    integrations: { sealer: secretSealerFromConfig(config), accountChecker: createAccountChecker({ env: process.env }), accountCatalog: createAccountCatalog({ env: process.env }) },
    assistant: {
      backend: config.ASSISTANT_BACKEND, openaiBaseUrl: config.OPENAI_BASE_URL, openaiApiKey: config.OPENAI_API_KEY, model: config.ASSISTANT_MODEL,
      somaBase: config.SOMA_AGENT_BASE, somaTimeoutSeconds: config.SOMA_AGENT_TIMEOUT, somaTenant: config.SOMA_AGENT_TENANT, historyTurns: config.AI_MAX_HISTORY_TURNS,
      limits: { wallTimeMs: config.ASSISTANT_TIMEOUT * 1000, maxOutputTokens: config.ASSISTANT_MAX_OUTPUT_TOKENS, maxToolCalls: config.ASSISTANT_MAX_TOOL_CALLS },
    },
    // An answer still STREAMING a minute past its wall time was lost with its node: readers settle it as failed.
    chatLimits: { maxConcurrentAnswers: config.ASSISTANT_MAX_CONCURRENT, staleAfterMs: (config.ASSISTANT_TIMEOUT + 60) * 1000 },
  });
  /** Each step runs even if an earlier one failed: a stuck Redis must not keep the database open. */
  const closeAll = async (steps: [string, (() => unknown) | undefined][]) => {
    for (const [what, step] of steps) {
      if (!step) continue;
      try {
        await step();
      } catch (err) {
        logger.warn({ err }, `shutdown: closing the ${what} failed`);
      }
    }
  };
  const closeBackends = () => closeAll([
    ["yoga", () => yoga.dispose()], ["pub/sub", () => pubsub.close()], ["event log", () => events.close()],
    ["rate limiter", () => rateLimiter.close()], ["database", () => db.close()],
    // Last: the spans of the shutdown itself are flushed too.
    ["tracing", tracing ? () => tracing.shutdown() : undefined],
  ]);

  let running: Awaited<ReturnType<typeof startServer>> | undefined;
  let metricsServer: Awaited<ReturnType<typeof startMetricsServer>> | null = null;
  try {
    running = await listening(() => startServer(yoga, { port: config.PORT, host: config.HOST }), config.HOST, config.PORT, "PORT");
    metricsServer = config.METRICS_PORT === undefined ? null : await listening(
      () => startMetricsServer(metrics, { port: config.METRICS_PORT!, host: config.HOST, token: config.METRICS_TOKEN }), config.HOST, config.METRICS_PORT, "METRICS_PORT");
  } catch (err) {
    // Nothing polls yet; close what was opened (briefly) and let main's caller print the line.
    await Promise.race([closeAll([["server", running && (() => running!.stop(0))]]).then(closeBackends), new Promise((r) => setTimeout(r, 5_000).unref())]);
    throw err;
  }
  const server = running;

  let stopping = false;
  const stop = async (signal: NodeJS.Signals) => {
    // A Ctrl-C under npm or tsx reaches this process twice (from the terminal and relayed): one shutdown.
    if (stopping) return;
    stopping = true;
    const t0 = performance.now();
    logger.info({ signal }, "shutting down");
    const force = setTimeout(() => {
      logger.error("shutdown took too long: exiting");
      process.exit(1);
    }, STOP_GRACE_MS + 5_000).unref();
    await closeAll([
      // Leadership first: its PostgreSQL advisory lock is released now, so another node takes over polling at once.
      ["ingestion", ingestion && (() => ingestion.stop())],
      // Stops accepting; WebSockets close with 1001 and SSE streams are cut (clients reconnect to another node
      // and resume from their last cursor); other requests in flight get STOP_GRACE_MS to finish.
      ["server", () => server.stop()],
      ["metrics server", metricsServer ? () => metricsServer.stop() : undefined],
    ]);
    await closeBackends();
    clearTimeout(force);
    logger.info({ ms: Math.round(performance.now() - t0) }, "stopped");
    process.exit(0);
  };
  // Before "ready" is printed: a signal sent on seeing it must find its handler (or it kills the process).
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
  logger.info(`GPUBroker ready at ${server.url}${graphiql ? " (GraphiQL)" : ""}`);
  if (metricsServer) logger.info({ port: metricsServer.port }, "metrics on their own port");
  ingestion?.start();
}

/** Starts a listener; a port in use, a privileged port or an address this machine does not have is a StartupError. */
async function listening<T>(start: () => Promise<T>, host: string, port: number, variable: "PORT" | "METRICS_PORT"): Promise<T> {
  try {
    return await start();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const reasons: Record<string, string> = {
      EADDRINUSE: `the port is in use (${variable}=${port})`,
      EACCES: `permission denied: ports below 1024 need privileges (${variable}=${port})`,
      EADDRNOTAVAIL: `this machine has no such address (HOST=${host})`,
      ENOTFOUND: `the host name does not resolve (HOST=${host})`,
      EAI_AGAIN: `the host name does not resolve (HOST=${host})`,
    };
    if (!code || !reasons[code]) throw err;
    throw new StartupError(`cannot listen on ${host.includes(":") ? `[${host}]` : host}:${port}: ${reasons[code]}`);
  }
}

/**
 * Binds host:port once and lets it go. Taken later anyway, startServer still fails with the same
 * one line, but graphql-ws first prints the listen error it sees on its WebSocket server.
 */
async function checkPortFree(host: string, port: number, variable: "PORT" | "METRICS_PORT"): Promise<void> {
  if (port === 0) return;
  await listening(() => new Promise<void>((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen({ port, host, exclusive: true }, () => probe.close(() => resolve()));
  }), host, port, variable);
}

const DATABASE_CHECK_TIMEOUT_MS = 10_000;

/**
 * Connects once to DATABASE_URL before anything else uses it: an unreachable server, a refused login or
 * a missing database is a StartupError naming the server tried (host, port, user, database; never the password).
 */
async function checkDatabase(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: DATABASE_CHECK_TIMEOUT_MS, application_name: "gpubroker-start" });
  client.on("error", () => {}); // a connection lost after the check: nothing to do
  try {
    await client.connect();
    await client.query("SELECT 1");
  } catch (err) {
    throw new StartupError(`cannot connect to PostgreSQL at ${describeDatabase(url)} (DATABASE_URL): ${databaseProblem(err)}`);
  } finally {
    await client.end().catch(() => {});
  }
}

function describeDatabase(url: string): string {
  try {
    const c = parseConnectionString(url);
    const host = c.host ?? "localhost";
    const where = host.startsWith("/") ? `socket ${host}` : `${host.includes(":") ? `[${host}]` : host}:${c.port || 5432}`;
    return `${where}, database "${c.database ?? c.user ?? ""}"${c.user ? `, user "${c.user}"` : ""}`;
  } catch {
    return "the configured server";
  }
}

function databaseProblem(err: unknown): string {
  const e = err as { code?: string; message?: string; errors?: { code?: string }[] };
  const code = e.code ?? e.errors?.[0]?.code;
  switch (code) {
    case "ECONNREFUSED": return "connection refused (is PostgreSQL running and listening there?)";
    case "ENOTFOUND": case "EAI_AGAIN": return "the host name does not resolve";
    case "ETIMEDOUT": case "EHOSTUNREACH": case "ENETUNREACH": return `the host is unreachable (${code})`;
    case "ECONNRESET": return "the server closed the connection (TLS or pg_hba.conf settings?)";
  }
  const message = (e.message ?? String(err)).split("\n")[0]!;
  if (/timeout/i.test(message)) return `no answer within ${DATABASE_CHECK_TIMEOUT_MS / 1000} s`;
  // PostgreSQL's own words: authentication failed for user "…", role "…" does not exist, database "…" does not exist …
  return message || "connection failed";
}

/** PERSISTED_OPERATIONS_FILE: a JSON object, sha256 hash → document; anything else stops the start with one line. */
function readPersistedOperations(path: string): Record<string, string> {
  let map: unknown;
  try {
    map = JSON.parse(readFileSync(path, "utf8"));
  } catch (err) {
    console.error(`PERSISTED_OPERATIONS_FILE: cannot read ${path} as JSON (${(err as Error).message})`);
    process.exit(1);
  }
  if (!map || typeof map !== "object" || Array.isArray(map) || !Object.values(map).every((d) => typeof d === "string")) {
    console.error(`PERSISTED_OPERATIONS_FILE: ${path} must be a JSON object mapping each hash to a GraphQL document`);
    process.exit(1);
  }
  return map as Record<string, string>;
}

/** Polls every provider that has credentials (and the demo market when asked); one elected process polls. Not started yet. */
async function configureIngestion(config: Config, db: Database, events: EventLog, metrics: Metrics): Promise<Ingestion | undefined> {
  const vault = config.VAULT_ADDR
    ? createVault({ addr: config.VAULT_ADDR, token: config.VAULT_TOKEN, roleId: config.VAULT_ROLE_ID, secretId: config.VAULT_SECRET_ID, mount: config.VAULT_KV_MOUNT })
    : null;
  const { adapters, demo } = await configuredAdapters({ env: config.providerEnv, vault, prisma: db.prisma, skypilotCatalogs: config.SKYPILOT_CATALOGS, demoMarket: config.DEMO_MARKET });
  if (config.DEMO_MARKET) {
    // a demo should move now, not every 15 minutes
    await db.prisma.provider.updateMany({ where: { slug: { in: demo } }, data: { pollIntervalSeconds: config.DEMO_MARKET_INTERVAL_SECONDS } });
  }
  logger.info({ providers: adapters.map((a) => a.slug), ...(demo.length ? { demo } : {}) }, adapters.length ? "ingestion configured" : "ingestion: no provider credentials configured");
  return createIngestion({
    prisma: db.prisma, adapters, events, databaseUrl: config.DATABASE_URL ?? null, log: logger.child({ component: "ingestion" }), metrics,
    summaryMs: config.INGESTION_SUMMARY_SECONDS * 1000, priceHistoryRawDays: config.PRICE_HISTORY_RAW_DAYS,
  });
}

main().catch((err) => {
  // Expected at start: one clear line, no stack.
  if (err instanceof StartupError || err instanceof DataDirLockedError) {
    console.error(err.message);
    process.exit(1);
  }
  logger.fatal({ err }, "failed to start");
  process.exit(1);
});
