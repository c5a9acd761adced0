// Applies prisma/migrations/*/migration.sql in order and records them in Prisma's own
// `_prisma_migrations` format, so `prisma migrate deploy/status` agree afterwards.
// Used for embedded PGlite (the Prisma CLI cannot drive it) and for test databases.
import { createHash, randomUUID } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { projectPath } from "./project-root.ts";

export const MIGRATIONS_DIR = projectPath("prisma", "migrations");

/** The smallest SQL surface both PGlite and node-postgres offer. */
export interface ScriptRunner {
  /** Runs a multi-statement script (simple query protocol). */
  exec(sql: string): Promise<void>;
  query<T>(sql: string, params?: unknown[]): Promise<{ rows: T[] }>;
  /** Runs `fn` in one transaction; throws = rolled back. */
  transaction(fn: (tx: Pick<ScriptRunner, "exec" | "query">) => Promise<void>): Promise<void>;
}

/** Advisory lock held while a migration is applied (any 64-bit key no other lock in this database uses). */
const MIGRATION_LOCK_KEY = 7_461_102_033;

const MIGRATIONS_TABLE = `CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
  "id" VARCHAR(36) PRIMARY KEY NOT NULL,
  "checksum" VARCHAR(64) NOT NULL,
  "finished_at" TIMESTAMPTZ,
  "migration_name" VARCHAR(255) NOT NULL,
  "logs" TEXT,
  "rolled_back_at" TIMESTAMPTZ,
  "started_at" TIMESTAMPTZ NOT NULL DEFAULT now(),
  "applied_steps_count" INTEGER NOT NULL DEFAULT 0
)`;

export async function applyMigrations(db: ScriptRunner, dir = MIGRATIONS_DIR): Promise<string[]> {
  // Under the lock too: two `CREATE TABLE IF NOT EXISTS` at once can both pass the check and one then fails.
  await db.transaction(async (tx) => {
    await tx.query(`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK_KEY})`);
    await tx.exec(MIGRATIONS_TABLE);
  });
  const done = new Set(
    (await db.query<{ migration_name: string }>(
      `SELECT migration_name FROM "_prisma_migrations" WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL`,
    )).rows.map((r) => r.migration_name),
  );
  const names = readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(dir, d.name, "migration.sql")))
    .map((d) => d.name)
    .sort();
  const applied: string[] = [];
  for (const name of names) {
    if (done.has(name)) continue;
    const sql = readFileSync(join(dir, name, "migration.sql"));
    const checksum = createHash("sha256").update(sql).digest("hex");
    let ran = false;
    await db.transaction(async (tx) => {
      // Two migrators at once (a rerun job, a second deploy): one applies, the other finds it done.
      await tx.query(`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK_KEY})`);
      const finished = await tx.query(`SELECT 1 FROM "_prisma_migrations" WHERE migration_name = $1 AND finished_at IS NOT NULL AND rolled_back_at IS NULL`, [name]);
      if (finished.rows.length) return;
      await tx.exec(sql.toString("utf8"));
      await tx.query(
        `INSERT INTO "_prisma_migrations" (id, checksum, migration_name, started_at, finished_at, applied_steps_count)
         VALUES ($1, $2, $3, now(), now(), 1)`,
        [randomUUID(), checksum, name],
      );
      ran = true;
    });
    if (ran) applied.push(name);
  }
  return applied;
}
