// Applies the pending migrations in prisma/migrations to DATABASE_URL (or the embedded PGlite folder)
// and exits: the one-shot job that runs before a new version's API nodes start (deploy/compose.yaml).
// Records them as `prisma migrate deploy` does, so either tool can be used on the same database.
// Usage: node dist/scripts/migrate.js   (from source: npm run db:migrate)
import { ConfigError, loadConfig } from "../src/config.ts";
import { DataDirLockedError } from "../src/infra/data-dir-lock.ts";
import { openDatabase } from "../src/infra/db.ts";

try {
  const config = loadConfig();
  const started = performance.now();
  const db = await openDatabase({ databaseUrl: config.DATABASE_URL, dataDir: config.PGLITE_DATA_DIR, migrate: true, poolSize: 1 });
  await db.close();
  const where = db.kind === "pglite" ? `embedded PGlite in ${config.PGLITE_DATA_DIR}` : "PostgreSQL";
  const took = `${Math.round(performance.now() - started)} ms`;
  console.log(db.applied.length
    ? `migrate: applied ${db.applied.length} migration(s) to ${where} in ${took}:\n${db.applied.map((m) => `  ${m}`).join("\n")}`
    : `migrate: ${where} is up to date (${took})`);
} catch (err) {
  const message = err instanceof ConfigError || err instanceof DataDirLockedError ? err.message : `migrate: failed: ${(err as Error).message}`;
  console.error(message);
  process.exitCode = 1;
}
