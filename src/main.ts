// Process entry: config → database (+ first-start seed) → server; graceful stop on SIGTERM/SIGINT.
import { ConfigError, loadConfig } from "./config.ts";
import { openDatabase } from "./infra/db.ts";
import { logger } from "./infra/logger.ts";
import { startServer } from "./server.ts";
import { Redis } from "ioredis";
import { createApp, JWT_AUDIENCE, JWT_ISSUER } from "./yoga.ts";
import { createRateLimiter } from "./infra/rate-limit.ts";
import { createLazyTokenSigner } from "./infra/auth/tokens.ts";
import { seedFromSnapshot } from "./providers/snapshot.ts";
import { syncGpuModels } from "./providers/gpu-models.ts";

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
  const rateLimiter = createRateLimiter({ redis, prefix: "gpubroker" });
  const tokens = createLazyTokenSigner({
    issuer: JWT_ISSUER, audience: JWT_AUDIENCE,
    privateKeyPem: config.JWT_PRIVATE_KEY, publicKeyPem: config.JWT_PUBLIC_KEY, keyDir: config.JWT_KEY_DIR,
  });
  await tokens.jwks(); // load or generate the keys now, not on the first sign-in

  const yoga = createApp({ db, development: config.NODE_ENV === "development", tokens, rateLimiter, trustProxy: config.TRUST_PROXY });
  const running = await startServer(yoga, { port: config.PORT, host: config.HOST });
  logger.info(`GPUBroker ready at ${running.url}${config.NODE_ENV === "development" ? " (GraphiQL)" : ""}`);

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "shutting down");
    const force = setTimeout(() => process.exit(1), 10_000).unref();
    try {
      await running.stop();
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

main().catch((err) => {
  logger.fatal({ err }, "failed to start");
  process.exit(1);
});
