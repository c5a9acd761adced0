// A throwaway PostgreSQL database per benchmark run: uniquely named, migrated, and always dropped —
// at the end, on error, and on Ctrl-C / SIGTERM.
import { randomBytes } from "node:crypto";
import pg from "pg";
import { openDatabase, PG_SESSION_OPTIONS, type Database } from "../../src/infra/db.ts";

export const ADMIN_URL = process.env.BENCH_DATABASE_URL ?? "postgresql://root@127.0.0.1:5432/postgres";

export interface BenchDatabase {
  name: string;
  url: string;
  /** GPUBroker's own client (Prisma over a pg pool), as the server uses it. */
  db: Database;
  /** A plain pg pool on the same database, for bulk loads, EXPLAIN and the baseline server. */
  pool: pg.Pool;
}

async function admin(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: ADMIN_URL });
  await client.connect();
  try { await client.query(sql); } finally { await client.end(); }
}

/** Creates, migrates and hands over a fresh database; drops it whatever happens in `fn`. */
export async function withBenchDatabase<T>(prefix: string, fn: (bench: BenchDatabase) => Promise<T>): Promise<T> {
  const name = `${prefix}_${Date.now().toString(36)}_${randomBytes(3).toString("hex")}`;
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  await admin(`CREATE DATABASE "${name}"`);

  let opened: BenchDatabase | undefined;
  let dropping: Promise<void> | undefined;
  const drop = () => (dropping ??= (async () => {
    const closing = Promise.allSettled([opened?.db.close(), opened?.pool.end()]);
    await Promise.race([closing, new Promise((r) => setTimeout(r, 2_000).unref())]);
    await admin(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  })());
  // Ctrl-C, SIGTERM or a crash outside `fn`: drop, then exit. Once: npm, tsx and the terminal may all
  // deliver the same Ctrl-C, and output errors may follow.
  let bailing = false;
  const bail = (why: string, code: number) => {
    if (bailing) return;
    bailing = true;
    process.stderr.write(`\n${why}: dropping ${name} …\n`);
    drop().finally(() => process.exit(code));
  };
  const onSignal = (signal: NodeJS.Signals) => bail(signal, signal === "SIGINT" ? 130 : 143);
  const onCrash = (err: unknown) => bail(String((err as Error)?.stack ?? err), 1);
  process.on("SIGINT", onSignal).on("SIGTERM", onSignal).on("uncaughtException", onCrash);
  try {
    const db = await openDatabase({ databaseUrl: url.toString(), migrate: true, poolSize: Number(process.env.BENCH_POOL_SIZE ?? 10) });
    // Same session settings as the API's pool, so the baseline measures the SQL, not a configuration.
    const pool = new pg.Pool({ connectionString: url.toString(), max: 10, options: PG_SESSION_OPTIONS });
    pool.on("error", () => {}); // idle clients die when the database is force-dropped
    opened = { name, url: url.toString(), db, pool };
    return await fn(opened);
  } finally {
    process.off("SIGINT", onSignal).off("SIGTERM", onSignal).off("uncaughtException", onCrash);
    await drop();
  }
}
