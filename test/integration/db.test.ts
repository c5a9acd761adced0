import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openTestDatabase } from "../support/db.ts";
import { openDatabase, type Database } from "../../src/infra/db.ts";

describe("database", () => {
  let db: Database;
  beforeAll(async () => { db = await openTestDatabase(); });
  afterAll(async () => { await db?.close(); });

  it("applies every migration and round-trips exact money", async () => {
    expect(db.applied.length).toBeGreaterThanOrEqual(1);
    const p = await db.prisma.provider.create({ data: { slug: "acme", name: "Acme", kind: "NEOCLOUD" } });
    const o = await db.prisma.gpuOffer.create({
      data: {
        providerId: p.id, externalId: "x", instanceType: "t", gpuName: "H100", gpuCount: 8,
        vramPerGpuGb: "80", vramTotalGb: "640", region: "us-east-1", onDemandPrice: "23.9200",
        pricePerGpuHour: "2.9900",
      },
    });
    const back = await db.prisma.gpuOffer.findUniqueOrThrow({ where: { id: o.id } });
    expect(back.onDemandPrice.toString()).toBe("23.92");
    expect(back.pricePerGpuHour.toFixed(4)).toBe("2.9900");
  });
});

describe("database connection loss", () => {
  it.runIf(!!process.env.DATABASE_URL)("survives the server terminating an idle pooled connection", async () => {
    const db = await openTestDatabase();
    try {
      await db.prisma.$queryRaw`SELECT 1`;
      const [{ name }] = (await db.prisma.$queryRaw<{ name: string }[]>`SELECT current_database()::text AS name`) as [{ name: string }];
      const admin = await openTestDatabase();
      // kill every connection of the first database from another one, as a restart would
      await admin.prisma.$executeRawUnsafe(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${name}'`);
      await admin.close();
      await new Promise((r) => setTimeout(r, 100));
      const rows = await db.prisma.$queryRaw<{ ok: number }[]>`SELECT 1 AS ok`;
      expect(rows).toEqual([{ ok: 1 }]);
    } finally {
      await db.close();
    }
  });
});

describe("embedded database upkeep", () => {
  it("an embedded database on disk is vacuumed and checkpointed on a timer (PGlite has no autovacuum, no checkpointer)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "gpubroker-upkeep-"));
    const lite = await openDatabase({ dataDir: dir, upkeepMs: 200 });
    try {
      const lastVacuum = async () => (await lite.prisma.$queryRawUnsafe<{ at: Date | null }[]>(
        `SELECT last_vacuum AS at FROM pg_stat_user_tables WHERE relname = 'GpuOffer'`))[0]!.at;
      expect(await lastVacuum()).toBeNull();
      const before = await lite.prisma.$queryRawUnsafe<{ lsn: string }[]>(`SELECT checkpoint_lsn::text AS lsn FROM pg_control_checkpoint()`);
      await lite.prisma.$executeRawUnsafe(`CREATE TABLE churn AS SELECT g AS id FROM generate_series(1, 20000) g`);
      await lite.prisma.$executeRawUnsafe(`UPDATE churn SET id = id + 1`);
      await new Promise((r) => setTimeout(r, 1_500));
      expect(await lastVacuum()).toBeInstanceOf(Date);
      const after = await lite.prisma.$queryRawUnsafe<{ lsn: string }[]>(`SELECT checkpoint_lsn::text AS lsn FROM pg_control_checkpoint()`);
      expect(after[0]!.lsn).not.toBe(before[0]!.lsn); // a checkpoint ran since the writes began
    } finally {
      await lite.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
