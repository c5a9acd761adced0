// The one database client. PostgreSQL through @prisma/adapter-pg when DATABASE_URL is set,
// otherwise embedded PGlite (Postgres compiled to WASM) in a local folder, migrated in-process.
import pg from "pg";
import { PGlite } from "@electric-sql/pglite";
import { PrismaPGlite } from "pglite-prisma-adapter";
import { PrismaPg } from "@prisma/adapter-pg";
import { PrismaClient, type Prisma } from "../generated/prisma/client.ts";
import { applyMigrations, type ScriptRunner } from "./migrate.ts";
import { lockDataDir } from "./data-dir-lock.ts";
import { logger } from "./logger.ts";
import type { PoolStats } from "./metrics.ts";
import { SpanKind, SpanStatusCode } from "@opentelemetry/api";
import { tracer } from "./tracer.ts";

export { Prisma };

/** The one database client (`prisma`), or a transaction on it (`tx`): what a function that only runs statements takes. */
export type DbClient = PrismaClient | Prisma.TransactionClient;

export interface Database {
  prisma: PrismaClient;
  kind: "postgres" | "pglite";
  /** Every SQL statement Prisma sends is counted here (N+1 tests, diagnostics). */
  stats: { statements: number };
  /** Migrations applied at open (embedded mode and test databases only). */
  applied: string[];
  /** The PostgreSQL pool's connections, for metrics; absent for PGlite (one in-process connection). */
  poolStats?: () => PoolStats;
  close(): Promise<void>;
}

/**
 * A read-only statement straight through the driver (pg pool or PGlite), without Prisma's query engine and
 * result mapping: for the hot read paths (a page of offers, built as one JSON value by PostgreSQL). Values come
 * back as the driver gives them (int, text, parsed json). Counted in `stats` like Prisma's; traced as `db.read`
 * (with the SQL, not the values) when tracing is on. A transaction client or an unknown client goes through
 * `$queryRaw`.
 */
export function directRead<T>(prisma: DbClient, sql: Prisma.Sql): Promise<T[]> {
  const read = directReaders.get(prisma);
  if (!read) return (prisma as PrismaClient).$queryRaw<T[]>(sql);
  return tracer().startActiveSpan("db.read", { kind: SpanKind.CLIENT, attributes: { "db.system": "postgresql", "db.statement": sql.text } }, async (span) => {
    try {
      return (await read(sql.text, sql.values)) as T[];
    } catch (err) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
      throw err;
    } finally {
      span.end();
    }
  });
}
const directReaders = new WeakMap<object, (text: string, values: unknown[]) => Promise<unknown[]>>();

function createClient(adapter: NonNullable<Prisma.PrismaClientOptions["adapter"]>, stats: { statements: number }) {
  const prisma = new PrismaClient({ adapter, log: [{ emit: "event", level: "query" }] });
  prisma.$on("query", () => { stats.statements++; });
  return prisma;
}

export function pgliteRunner(db: PGlite): ScriptRunner {
  return {
    exec: async (sql) => { await db.exec(sql); },
    query: async <T>(sql: string, params?: unknown[]) => db.query<T>(sql, params),
    transaction: async (fn) => {
      await db.transaction(async (tx) => fn({
        exec: async (sql) => { await tx.exec(sql); },
        query: async <T>(sql: string, params?: unknown[]) => tx.query<T>(sql, params),
      }));
    },
  };
}

export function pgRunner(client: pg.Client | pg.Pool): ScriptRunner {
  const runner: ScriptRunner = {
    exec: async (sql) => { await client.query(sql); },
    query: async <T>(sql: string, params?: unknown[]) => ({ rows: (await client.query(sql, params as unknown[])).rows as T[] }),
    transaction: async (fn) => {
      const c = client instanceof pg.Pool ? await client.connect() : client;
      try {
        await c.query("BEGIN");
        await fn(pgRunner(c as pg.Client));
        await c.query("COMMIT");
      } catch (err) {
        await c.query("ROLLBACK").catch(() => {});
        throw err;
      } finally {
        if (client instanceof pg.Pool) (c as pg.PoolClient).release();
      }
    },
  };
  return runner;
}

export interface OpenOptions {
  /** PostgreSQL URL; when absent, embedded PGlite is used. */
  databaseUrl?: string | undefined;
  /** PGlite data folder; undefined = in memory. */
  dataDir?: string | undefined;
  /** Apply migrations in-process (always true for PGlite). */
  migrate?: boolean;
  poolSize?: number;
  /** Embedded database on disk: how often it is vacuumed and checkpointed; default PGLITE_UPKEEP_MS. */
  upkeepMs?: number;
}

/**
 * Settings of every PostgreSQL session the API opens. JIT off: the KPI statements are estimated as
 * costly (one possible history probe per offer) though they run in tens of milliseconds, and compiling
 * them took 50–60 ms on each call (bench/README.md, kpi). JIT pays off for long analytical queries,
 * which this API does not run. No parallel workers: an API answers many requests at once, and a statement
 * that starts two workers for itself (the offers count at 1M offers) takes cores the other requests need:
 * under load the offers page at 1M offers gave 0.35–0.57× the baseline's req/s with them, 1.08× without
 * (bench/README.md, "Parallel workers"); the KPIs at 10M points were as fast or faster without.
 */
export const PG_SESSION_OPTIONS = "-c jit=off -c max_parallel_workers_per_gather=0";

export async function openDatabase(opts: OpenOptions): Promise<Database> {
  const stats = { statements: 0 };
  if (opts.databaseUrl) {
    const pool = new pg.Pool({ connectionString: opts.databaseUrl, max: opts.poolSize ?? 10, options: PG_SESSION_OPTIONS });
    // An idle connection dropped by the server (restart, failover) must not crash the process:
    // the pool discards it and the next query opens a new one.
    pool.on("error", (err) => logger.warn({ err: err.message }, "idle PostgreSQL connection lost"));
    const applied = opts.migrate ? await applyMigrations(pgRunner(pool)) : [];
    const prisma = createClient(new PrismaPg(pool, { disposeExternalPool: false }), stats);
    directReaders.set(prisma, async (text, values) => { stats.statements++; return (await pool.query(text, values)).rows; });
    return {
      prisma, kind: "postgres", stats, applied,
      poolStats: () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount, max: pool.options.max ?? 10 }),
      close: async () => { await prisma.$disconnect(); await pool.end(); },
    };
  }
  // One process per data folder (a second one stops here with DataDirLockedError); in memory needs no lock.
  const lock = opts.dataDir ? lockDataDir(opts.dataDir) : null;
  try {
    const lite = new PGlite(opts.dataDir);
    const applied = await applyMigrations(pgliteRunner(lite));
    const prisma = createClient(new PrismaPGlite(lite), stats);
    directReaders.set(prisma, async (text, values) => { stats.statements++; return (await lite.query(text, values)).rows; });
    const upkeep = opts.dataDir ? pgliteUpkeep(lite, opts.upkeepMs ?? PGLITE_UPKEEP_MS) : null;
    return {
      prisma, kind: "pglite", stats, applied,
      close: async () => {
        try { await upkeep?.stop(); await prisma.$disconnect(); await lite.close(); } finally { lock?.release(); }
      },
    };
  } catch (err) {
    lock?.release();
    throw err;
  }
}

/** How often an embedded database on disk is vacuumed and checkpointed. */
export const PGLITE_UPKEEP_MS = 60_000;

/**
 * PGlite is PostgreSQL in single-user mode: no autovacuum and no checkpointer. Left alone, its folder
 * grows by the write-ahead log (only a CHECKPOINT recycles it) and by dead rows (every poll rewrites its
 * offers' lastSeenAt): about 250 MB an hour under the demo market, 22 MB with this. PGlite runs each
 * statement between other callers' transactions, never inside one.
 */
function pgliteUpkeep(lite: PGlite, everyMs: number) {
  let running: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    running = running.then(async () => {
      try {
        await lite.exec("VACUUM");
        await lite.exec("CHECKPOINT");
      } catch (err) {
        logger.warn({ err: (err as Error).message }, "embedded database upkeep (VACUUM, CHECKPOINT) failed; trying again later");
      }
    });
  }, everyMs).unref();
  return { stop: async () => { clearInterval(timer); await running; } };
}

/**
 * Runs `fn` while holding a PostgreSQL session advisory lock (`key`: a 64-bit integer as a string) on a
 * connection of its own, so other processes wait their turn; ending the session releases it, even if this
 * process dies. Without a URL (embedded PGlite: one process per data folder) it just runs `fn`.
 */
export async function withSessionLock<T>(url: string | undefined, key: string, fn: () => Promise<T>): Promise<T> {
  if (!url) return fn();
  const client = new pg.Client({ connectionString: url, application_name: "gpubroker-lock", options: PG_SESSION_OPTIONS });
  client.on("error", () => {}); // lost while fn runs: fn's own queries report it, and the server has released the lock
  await client.connect();
  try {
    await client.query("SELECT pg_advisory_lock($1::bigint)", [key]);
    return await fn();
  } finally {
    await client.end().catch(() => {});
  }
}
