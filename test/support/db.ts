// A fresh, migrated database per test file: a uniquely named PostgreSQL database when
// DATABASE_URL is set (dropped afterwards), otherwise an in-memory PGlite.
import { randomBytes } from "node:crypto";
import pg from "pg";
import { openDatabase, type Database } from "../../src/infra/db.ts";

export async function openTestDatabase(): Promise<Database> {
  if (!process.env.DATABASE_URL) return openDatabase({});
  const scratch = await createScratchDatabase("test");
  const db = await openDatabase({ databaseUrl: scratch.url, migrate: true, poolSize: 4 });
  return { ...db, close: async () => { await db.close(); await scratch.drop(); } };
}

/**
 * An empty, uniquely named database on the server of DATABASE_URL (which must be set), not migrated:
 * its URL, and `drop` (also for connections still open on it).
 */
export async function createScratchDatabase(label: string): Promise<{ url: string; drop: () => Promise<void> }> {
  const base = process.env.DATABASE_URL;
  if (!base) throw new Error("createScratchDatabase needs DATABASE_URL");
  const name = `gpubroker_${label}_${Date.now().toString(36)}_${randomBytes(4).toString("hex")}`;
  const admin = async (sql: string) => {
    const client = new pg.Client({ connectionString: base });
    await client.connect();
    try { await client.query(sql); } finally { await client.end(); }
  };
  await admin(`CREATE DATABASE "${name}"`);
  const url = new URL(base);
  url.pathname = `/${name}`;
  return { url: url.toString(), drop: () => admin(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`) };
}
