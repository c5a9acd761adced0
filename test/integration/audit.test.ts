import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { openTestDatabase } from "../support/db.ts";
import type { Database } from "../../src/infra/db.ts";
import { appendAudit, canonicalJson, GENESIS_HASH, hashEntry, verifyAuditLog } from "../../src/infra/audit.ts";

describe("audit log", () => {
  let db: Database;
  beforeAll(async () => { db = await openTestDatabase(); });
  afterAll(async () => { await db?.close(); });
  beforeEach(async () => { await db.prisma.$executeRawUnsafe(`TRUNCATE "AuditLogEntry"`); });

  const sql = (text: string) => db.prisma.$executeRawUnsafe(text);
  async function seed(n: number) {
    const ids: bigint[] = [];
    for (let i = 0; i < n; i++) {
      ids.push((await appendAudit(db.prisma, { action: "user.login", actorUserId: i + 1, ip: "10.0.0.1", details: { i } })).id);
    }
    return ids;
  }

  it("serialises canonically: sorted keys, no whitespace, bigint and Date as strings", () => {
    expect(canonicalJson({ b: [2, { d: 1, c: null }], a: 1n, at: new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 6)), u: undefined }))
      .toBe('{"a":"1","at":"2026-01-02T03:04:05.006Z","b":[2,{"c":null,"d":1}]}');
  });

  it("chains entries from the genesis hash and round-trips what it hashed", async () => {
    const first = await appendAudit(db.prisma, { action: "user.register", actorUserId: 7, targetType: "User", targetId: 7, ip: "203.0.113.9" });
    const second = await appendAudit(db.prisma, {
      action: "provider.refresh",
      details: {
        float: 0.1 + 0.2, big: 12345678901234567000, tiny: 5e-324, neg: -0, nan: Number.NaN, count: 3n,
        when: new Date(Date.UTC(2026, 10, 26, 10, 51, 7, 123)), nested: { z: [1, "二", { y: true }], a: null },
        text: "a\u0000b \ud800 😀", skip: undefined,
      },
    });
    const rows = await db.prisma.auditLogEntry.findMany({ orderBy: { id: "asc" } });
    expect(rows.map((r) => [r.id, r.prevHash, r.hash])).toEqual([
      [first.id, GENESIS_HASH, first.hash],
      [second.id, first.hash, second.hash],
    ]);
    expect(rows[0]).toMatchObject({ action: "user.register", actorUserId: 7, targetType: "User", targetId: "7", ip: "203.0.113.9", details: {} });
    expect(rows[1]!.details).toEqual({
      float: 0.1 + 0.2, big: 12345678901234567000, tiny: 5e-324, neg: 0, nan: null, count: "3",
      when: "2026-11-26T10:51:07.123Z", nested: { z: [1, "二", { y: true }], a: null },
      text: "ab \ufffd 😀",
    });
    expect(rows[1]!.hash).toBe(hashEntry(first.hash, rows[1]!));
    expect(await verifyAuditLog(db.prisma)).toEqual({ ok: true, entries: 2, headId: second.id.toString(), headHash: second.hash });
  });

  it("verifies across batch boundaries", async () => {
    const ids = await seed(7);
    const all = await verifyAuditLog(db.prisma, { batchSize: 3 });
    expect(all).toMatchObject({ ok: true, entries: 7, headId: ids[6]!.toString() });
    expect(await verifyAuditLog(db.prisma, { batchSize: 7 })).toEqual(all);
  });

  it("keeps one chain under 50 parallel appends", async () => {
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) =>
      appendAudit(db.prisma, { action: "session.refresh", actorUserId: i, details: { i } })));
    const rows = await db.prisma.auditLogEntry.findMany({ orderBy: { id: "asc" } });
    expect(rows).toHaveLength(50);
    expect(new Set(rows.map((r) => r.prevHash)).size).toBe(50);
    expect(rows.map((r) => r.prevHash)).toEqual([GENESIS_HASH, ...rows.slice(0, -1).map((r) => r.hash)]);
    expect(new Set(results.map((r) => r.hash))).toEqual(new Set(rows.map((r) => r.hash)));
    expect(await verifyAuditLog(db.prisma)).toMatchObject({ ok: true, entries: 50 });
  });

  it("commits and rolls back with the caller's transaction", async () => {
    await seed(2);
    await expect(db.prisma.$transaction(async (tx) => {
      await appendAudit(tx, { action: "user.role_change", actorUserId: 1, targetType: "User", targetId: 2 });
      throw new Error("role change refused");
    })).rejects.toThrow("role change refused");
    expect(await db.prisma.auditLogEntry.count()).toBe(2);

    const kept = await db.prisma.$transaction((tx) => appendAudit(tx, { action: "user.role_change", actorUserId: 1 }));
    expect(await verifyAuditLog(db.prisma)).toEqual({ ok: true, entries: 3, headId: kept.id.toString(), headHash: kept.hash });
  });

  it("refuses a transaction whose snapshot could predate the audit lock", async () => {
    await expect(db.prisma.$transaction(async (tx) => {
      await tx.$executeRawUnsafe("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ");
      await appendAudit(tx, { action: "user.update" });
    })).rejects.toThrow("appendAudit needs a READ COMMITTED transaction, not repeatable read");
    expect(await db.prisma.auditLogEntry.count()).toBe(0);
  });

  it("strips secret-looking keys from details at any depth", async () => {
    const { id } = await appendAudit(db.prisma, {
      action: "api_key.create",
      details: { name: "ci", password: "hunter2", refresh_token: "r", apiKey: "k", "X-API-KEY": "k", nested: { clientSecret: "s", scope: "read" } },
    });
    const row = await db.prisma.auditLogEntry.findUniqueOrThrow({ where: { id } });
    expect(row.details).toEqual({ name: "ci", nested: { scope: "read" } });
  });

  it.each([
    ["details", `details = '{"i": 99}'`],
    ["action", `action = 'user.update'`],
    ["at", `at = at + interval '1 millisecond'`],
    ["actorUserId", `"actorUserId" = NULL`],
  ])("reports an edited %s as a hash mismatch on that entry", async (_, set) => {
    const ids = await seed(5);
    const before = await db.prisma.auditLogEntry.findUniqueOrThrow({ where: { id: ids[2]! } });
    await sql(`UPDATE "AuditLogEntry" SET ${set} WHERE id = ${ids[2]}`);
    const result = await verifyAuditLog(db.prisma, { batchSize: 2 });
    expect(result).toMatchObject({ ok: false, entries: 2, headId: ids[1]!.toString() });
    expect(result.firstBroken).toMatchObject({ id: ids[2]!.toString(), reason: "hash_mismatch", actual: before.hash });
    expect(result.firstBroken!.expected).not.toBe(before.hash);
  });

  it("reports a deleted middle entry at the entry that followed it", async () => {
    const ids = await seed(5);
    const [prev, deleted] = await db.prisma.auditLogEntry.findMany({ where: { id: { in: [ids[1]!, ids[2]!] } }, orderBy: { id: "asc" } });
    await sql(`DELETE FROM "AuditLogEntry" WHERE id = ${ids[2]}`);
    expect(await verifyAuditLog(db.prisma)).toMatchObject({
      ok: false, entries: 2,
      firstBroken: { id: ids[3]!.toString(), reason: "prev_hash_mismatch", expected: prev!.hash, actual: deleted!.hash },
    });
  });

  it("reports a deleted first entry against the genesis hash", async () => {
    const ids = await seed(3);
    await sql(`DELETE FROM "AuditLogEntry" WHERE id = ${ids[0]}`);
    expect(await verifyAuditLog(db.prisma)).toMatchObject({
      ok: false, entries: 0, firstBroken: { id: ids[1]!.toString(), reason: "prev_hash_mismatch", expected: GENESIS_HASH },
    });
  });

  it("reports a forged entry with a wrong hash", async () => {
    const ids = await seed(3);
    const head = await db.prisma.auditLogEntry.findUniqueOrThrow({ where: { id: ids[2]! } });
    await sql(`INSERT INTO "AuditLogEntry" (id, at, action, details, "prevHash", hash)
      VALUES (${ids[2]! + 1n}, now(), 'user.role_change', '{}', '${head.hash}', '${"f".repeat(64)}')`);
    expect(await verifyAuditLog(db.prisma)).toMatchObject({
      ok: false, entries: 3, firstBroken: { id: (ids[2]! + 1n).toString(), reason: "hash_mismatch", actual: "f".repeat(64) },
    });
  });

  it("catches an edit whose hash was recomputed at the next link", async () => {
    const ids = await seed(4);
    const [prev, target] = await db.prisma.auditLogEntry.findMany({ where: { id: { in: [ids[0]!, ids[1]!] } }, orderBy: { id: "asc" } });
    const forgedHash = hashEntry(prev!.hash, { ...target!, details: { i: 42 } });
    await sql(`UPDATE "AuditLogEntry" SET details = '{"i": 42}', hash = '${forgedHash}' WHERE id = ${ids[1]}`);
    expect(await verifyAuditLog(db.prisma)).toMatchObject({
      ok: false, entries: 2, firstBroken: { id: ids[2]!.toString(), reason: "prev_hash_mismatch", expected: forgedHash, actual: target!.hash },
    });
  });

  it("cannot see a truncated tail by itself, but an anchor recorded earlier can", async () => {
    const ids = await seed(4);
    const anchor = await verifyAuditLog(db.prisma);
    await sql(`DELETE FROM "AuditLogEntry" WHERE id = ${ids[3]}`);
    expect(await verifyAuditLog(db.prisma)).toMatchObject({ ok: true, entries: 3, headId: ids[2]!.toString() });
    expect(await verifyAuditLog(db.prisma, { anchor: { id: anchor.headId!, hash: anchor.headHash } })).toMatchObject({
      ok: false, entries: 3, firstBroken: { id: ids[3]!.toString(), reason: "anchor_mismatch", expected: anchor.headHash, actual: "missing" },
    });
    const earlier = await db.prisma.auditLogEntry.findUniqueOrThrow({ where: { id: ids[1]! } });
    expect(await verifyAuditLog(db.prisma, { anchor: { id: earlier.id, hash: earlier.hash } })).toMatchObject({ ok: true, entries: 3 });
  });
});
