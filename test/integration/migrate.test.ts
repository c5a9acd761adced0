// The one-shot migration job (scripts/migrate.ts → node dist/scripts/migrate.js in the image): applies
// what is pending, is a no-op the second time, is safe when two run at once, and fails in one line.
import { execFile } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { createScratchDatabase } from "../support/db.ts";

const root = join(import.meta.dirname, "..", "..");
const MIGRATIONS = readdirSync(join(root, "prisma", "migrations"), { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort();

async function migrate(env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  const { DATABASE_URL: _, PGLITE_DATA_DIR: __, ...parent } = process.env;
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ["--import", "tsx", "scripts/migrate.ts"], { cwd: root, env: { ...parent, ...env }, timeout: 90_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe("npm run db:migrate on embedded PGlite", () => {
  const dir = mkdtempSync(join(tmpdir(), "gpubroker-migrate-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("applies every migration, then finds the folder up to date", async () => {
    const first = await migrate({ PGLITE_DATA_DIR: dir });
    expect(first).toMatchObject({ code: 0, stderr: "" });
    expect(first.stdout).toContain(`applied ${MIGRATIONS.length} migration(s) to embedded PGlite in ${dir}`);
    for (const name of MIGRATIONS) expect(first.stdout).toContain(`  ${name}\n`);
    const second = await migrate({ PGLITE_DATA_DIR: dir });
    expect(second.code).toBe(0);
    expect(second.stdout).toMatch(/^migrate: embedded PGlite in .* is up to date \(\d+ ms\)\n$/);
  }, 120_000);

  it("fails in one line, exit code 1, when the database cannot be reached or the configuration is bad", async () => {
    const unreachable = await migrate({ DATABASE_URL: "postgresql://nobody@127.0.0.1:1/none" });
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr.trim().split("\n")).toHaveLength(1);
    expect(unreachable.stderr).toMatch(/^migrate: failed: .*ECONNREFUSED/);
    const bad = await migrate({ DATABASE_URL: "mysql://x@127.0.0.1/db" });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("DATABASE_URL: must be a URL starting with postgres:// or postgresql://");
    expect(bad.stderr).not.toMatch(/\n\s+at /); // no stack
  }, 120_000);
});

describe.skipIf(!process.env.DATABASE_URL)("npm run db:migrate on PostgreSQL", () => {
  let scratch: Awaited<ReturnType<typeof createScratchDatabase>> | undefined;
  const url = () => scratch!.url;
  afterAll(async () => { await scratch?.drop(); });

  it("two jobs started at once apply each migration exactly once between them; a third finds nothing to do", async () => {
    scratch = await createScratchDatabase("migrate");
    const [a, b] = await Promise.all([migrate({ DATABASE_URL: url() }), migrate({ DATABASE_URL: url() })]);
    expect([a.code, b.code, a.stderr, b.stderr]).toEqual([0, 0, "", ""]);
    const appliedBy = (out: string) => MIGRATIONS.filter((m) => out.includes(`  ${m}\n`));
    expect([...appliedBy(a.stdout), ...appliedBy(b.stdout)].sort()).toEqual(MIGRATIONS);
    const client = new pg.Client({ connectionString: url() });
    await client.connect();
    const { rows } = await client.query<{ migration_name: string; n: number }>(
      `SELECT migration_name, count(*)::int AS n FROM "_prisma_migrations" GROUP BY 1 ORDER BY 1`);
    await client.end();
    expect(rows).toEqual(MIGRATIONS.map((m) => ({ migration_name: m, n: 1 })));
    expect((await migrate({ DATABASE_URL: url() })).stdout).toMatch(/^migrate: PostgreSQL is up to date/);
  }, 180_000);
});
