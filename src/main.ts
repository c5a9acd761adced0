// Process entry: config → database (+ first-start seed) → server; graceful stop on SIGTERM/SIGINT.
import { readFileSync } from "node:fs";
import { ConfigError, loadConfig, type Config } from "./config.ts";
import { openDatabase, type Database } from "./infra/db.ts";
import { DataDirLockedError } from "./infra/data-dir-lock.ts";
import { createEventLog, type EventLog } from "./infra/event-log.ts";
import { createVault } from "./infra/vault.ts";
import { configuredAdapters } from "./ingestion/configured.ts";
import { createIngestion, type Ingestion } from "./ingestion/scheduler.ts";
import { logger } from "./infra/logger.ts";
import { startMetricsServer, startServer } from "./server.ts";
import { createMetrics, type Metrics } from "./infra/metrics.ts";
import { Redis } from "ioredis";
import { createApp, JWT_AUDIENCE, JWT_ISSUER } from "./yoga.ts";
import { createRateLimiter } from "./infra/rate-limit.ts";
import { createPubSub } from "./infra/pubsub.ts";
import { createLazyTokenSigner } from "./infra/auth/tokens.ts";
import { seedFromSnapshot } from "./ingestion/snapshot.ts";
import { syncGpuModels } from "./ingestion/gpu-models.ts";

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
  const persistedOperations = config.PERSISTED_OPERATIONS_FILE ? readPersistedOperations(config.PERSISTED_OPERATIONS_FILE) : undefined;

  const metrics = createMetrics({ processMetrics: true });
  const db = await openDatabase({
    databaseUrl: config.DATABASE_URL,
    dataDir: config.PGLITE_DATA_DIR,
    poolSize: config.DATABASE_POOL_SIZE,
  });
  logger.info({ database: db.kind, applied: db.applied }, db.kind === "pglite" ? `embedded PostgreSQL (PGlite) in ${config.PGLITE_DATA_DIR}` : "PostgreSQL");
  await syncGpuModels(db.prisma);
  if (config.SEED_SNAPSHOT) {
    const seed = await seedFromSnapshot(db.prisma);
    if (seed.seeded) logger.info({ offers: seed.offers, providers: seed.providers.map((p) => p.slug), takenAt: seed.takenAt }, "seeded the catalog snapshot");
  }

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
  const ingestion = config.INGESTION ? await startIngestion(config, db, events, metrics) : undefined;

  const development = config.NODE_ENV === "development";
  const graphiql = config.GRAPHIQL ?? development;
  const yoga = createApp({ db, development, tokens, rateLimiter, trustProxy: config.TRUST_PROXY, pubsub, events, ingestion,
    maxBodyBytes: config.MAX_BODY_BYTES, corsOrigins: config.CORS_ORIGINS, allowedHosts: config.ALLOWED_HOSTS,
    introspection: config.GRAPHQL_INTROSPECTION ?? development, graphiql, persistedOperations,
    readinessChecks: redis ? { redis: () => redis.ping() } : undefined,
    authorityRecheckMs: config.STREAM_AUTH_RECHECK_SECONDS * 1000,
    metrics, metricsEndpoint: config.METRICS_PORT === undefined, metricsToken: config.METRICS_TOKEN,
    assistant: {
      backend: config.ASSISTANT_BACKEND, openaiBaseUrl: config.OPENAI_BASE_URL, openaiApiKey: config.OPENAI_API_KEY, model: config.ASSISTANT_MODEL,
      somaBase: config.SOMA_AGENT_BASE, somaTimeoutSeconds: config.SOMA_AGENT_TIMEOUT, somaTenant: config.SOMA_AGENT_TENANT, historyTurns: config.AI_MAX_HISTORY_TURNS,
      limits: { wallTimeMs: config.ASSISTANT_TIMEOUT * 1000, maxOutputTokens: config.ASSISTANT_MAX_OUTPUT_TOKENS, maxToolCalls: config.ASSISTANT_MAX_TOOL_CALLS },
    },
    // An answer still STREAMING a minute past its wall time was lost with its node: readers settle it as failed.
    chatLimits: { maxConcurrentAnswers: config.ASSISTANT_MAX_CONCURRENT, staleAfterMs: (config.ASSISTANT_TIMEOUT + 60) * 1000 },
  });
  const running = await startServer(yoga, { port: config.PORT, host: config.HOST });
  const metricsServer = config.METRICS_PORT === undefined ? null : await startMetricsServer(metrics, { port: config.METRICS_PORT, host: config.HOST, token: config.METRICS_TOKEN });
  logger.info(`GPUBroker ready at ${running.url}${graphiql ? " (GraphiQL)" : ""}`);
  if (metricsServer) logger.info({ port: metricsServer.port }, "metrics on their own port");

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "shutting down");
    const force = setTimeout(() => process.exit(1), 10_000).unref();
    try {
      await running.stop();
      await metricsServer?.stop();
      await yoga.dispose();
      await ingestion?.stop();
      await pubsub.close();
      await events.close();
      await rateLimiter.close();
      await db.close();
    } finally {
      clearTimeout(force);
      process.exit(0);
    }
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
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

/** Polls every provider that has credentials (and the demo market when asked); one elected process polls. */
async function startIngestion(config: Config, db: Database, events: EventLog, metrics: Metrics): Promise<Ingestion | undefined> {
  const vault = config.VAULT_ADDR
    ? createVault({ addr: config.VAULT_ADDR, token: config.VAULT_TOKEN, roleId: config.VAULT_ROLE_ID, secretId: config.VAULT_SECRET_ID, mount: config.VAULT_KV_MOUNT })
    : null;
  const { adapters, demo } = await configuredAdapters({ env: config.providerEnv, vault, prisma: db.prisma, skypilotCatalogs: config.SKYPILOT_CATALOGS, demoMarket: config.DEMO_MARKET });
  if (config.DEMO_MARKET) {
    // a demo should move now, not every 15 minutes
    await db.prisma.provider.updateMany({ where: { slug: { in: demo } }, data: { pollIntervalSeconds: config.DEMO_MARKET_INTERVAL_SECONDS } });
  }
  logger.info({ providers: adapters.map((a) => a.slug) }, adapters.length ? "ingestion configured" : "ingestion: no provider credentials configured");
  const ingestion = createIngestion({
    prisma: db.prisma, adapters, events, databaseUrl: config.DATABASE_URL ?? null, log: logger.child({ component: "ingestion" }), metrics,
  });
  ingestion.start();
  return ingestion;
}

main().catch((err) => {
  // Expected at start: one clear line, no stack.
  if (err instanceof DataDirLockedError) {
    console.error(err.message);
    process.exit(1);
  }
  logger.fatal({ err }, "failed to start");
  process.exit(1);
});
