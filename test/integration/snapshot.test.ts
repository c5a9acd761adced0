import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createScratchDatabase, openTestDatabase } from "../support/db.ts";
import { openDatabase, withSessionLock, type Database } from "../../src/infra/db.ts";
import { GPU_SPECS } from "../../src/domain/gpu/specs.ts";
import { providerInfo } from "../../src/ingestion/registry.ts";
import { loadSnapshot, SEED_LOCK_KEY, seedFromSnapshot, SnapshotError } from "../../src/ingestion/snapshot.ts";

const snapshot = loadSnapshot();
const offers = snapshot.providers.flatMap((p) => p.offers);
const knownModels = new Set(offers.map((o) => o.gpuModel).filter((m): m is string => !!m));

describe("catalog snapshot file", () => {
  it("validates and is big and varied enough to explore", () => {
    expect(snapshot.providers.length).toBeGreaterThanOrEqual(6);
    expect(offers.length).toBeGreaterThanOrEqual(300);
    expect(knownModels.size).toBeGreaterThanOrEqual(25);
    const specNames = new Set(GPU_SPECS.map((s) => s.name));
    for (const m of knownModels) expect(specNames.has(m), m).toBe(true);
    expect(snapshot.providers.some((p) => providerInfo(p.slug)?.kind === "HYPERSCALER")).toBe(true);
  });

  it("states the source of every provider's offers", () => {
    for (const p of snapshot.providers) {
      expect(providerInfo(p.slug), p.slug).toBeDefined();
      expect(p.source).toMatchObject({ repository: "skypilot-org/skypilot-catalog", path: `catalogs/v8/${p.slug}/vms.csv` });
      expect(p.source.commit).toMatch(/^[0-9a-f]{40}$/);
      expect(p.source.note.length).toBeGreaterThan(10);
    }
  });

  it("keeps published prices exactly", () => {
    const find = (slug: string, id: string) => snapshot.providers.find((p) => p.slug === slug)?.offers.find((o) => o.externalId === id);
    expect(find("lambda", "gpu_8x_h100_sxm5|us-east-1|")?.onDemandPrice).toBe("31.92");
    expect(find("primeintellect", "oblivus__4xA100_80GB__124__480|CA|MON1")?.onDemandPrice).toBe("5.8855");
    expect(find("runpod", "3x_A100-80GB_SECURE|IN|AP-IN-1")).toMatchObject({ onDemandPrice: "4.17", spotPrice: "4.17" });
    expect(find("aws", "p5.48xlarge|us-east-1|use1-az1")).toMatchObject({ onDemandPrice: "55.04", spotPrice: "55.04", gpuCount: 8 });
  });

  it("rejects a malformed snapshot with a clear message", () => {
    const dir = mkdtempSync(join(tmpdir(), "snapshot-"));
    try {
      const broken = structuredClone(snapshot);
      broken.providers[0]!.offers[0]!.onDemandPrice = "1.23456";
      writeFileSync(join(dir, "bad.json"), JSON.stringify(broken));
      expect(() => loadSnapshot(join(dir, "bad.json"))).toThrow(SnapshotError);
      expect(() => loadSnapshot(join(dir, "bad.json"))).toThrow(/providers\[0\]\.offers\[0\]\.onDemandPrice/);
      writeFileSync(join(dir, "truncated.json"), "{\"format\": 1,");
      expect(() => loadSnapshot(join(dir, "truncated.json"))).toThrow(/cannot read catalog snapshot/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("seedFromSnapshot", () => {
  let db: Database;
  beforeAll(async () => { db = await openTestDatabase(); });
  afterAll(async () => { await db?.close(); });

  it("seeds an empty database with every snapshot offer", async () => {
    const result = await seedFromSnapshot(db.prisma, { snapshot });
    expect(result.seeded).toBe(true);
    if (!result.seeded) return;
    expect(result.offers).toBe(offers.length);
    expect(result.providers.map((p) => p.slug)).toEqual(snapshot.providers.map((p) => p.slug));
    expect(await db.prisma.provider.count()).toBe(snapshot.providers.length);
    expect(await db.prisma.gpuOffer.count({ where: { active: true } })).toBe(offers.length);
    expect(await db.prisma.pricePoint.count()).toBe(offers.length);
    const linked = await db.prisma.gpuOffer.findMany({ where: { gpuModelId: { not: null } }, distinct: ["gpuModelId"], select: { gpuModelId: true } });
    expect(linked.length).toBe(knownModels.size);
    const aws = await db.prisma.provider.findUniqueOrThrow({ where: { slug: "aws" }, include: { _count: { select: { offers: true } } } });
    expect(aws).toMatchObject({ kind: "HYPERSCALER", _count: { offers: snapshot.providers.find((p) => p.slug === "aws")!.offers.length } });
  });

  it("does nothing once every snapshot provider has offers", async () => {
    const points = await db.prisma.pricePoint.count();
    const result = await seedFromSnapshot(db.prisma, { snapshot });
    expect(result).toEqual({ seeded: false, reason: "every snapshot provider already has offers", existingOffers: offers.length });
    expect(await db.prisma.pricePoint.count()).toBe(points);
  });

  it("finishes a seed that stopped part-way, leaving seeded providers alone", async () => {
    const other = await openTestDatabase();
    try {
      const [first, ...rest] = snapshot.providers;
      await seedFromSnapshot(other.prisma, { snapshot: { ...snapshot, providers: [first!] } });
      const result = await seedFromSnapshot(other.prisma, { snapshot });
      expect(result.seeded && result.providers.map((p) => p.slug)).toEqual(rest.map((p) => p.slug));
      expect(await other.prisma.gpuOffer.count()).toBe(offers.length);
      expect(await other.prisma.pricePoint.count()).toBe(offers.length);
    } finally {
      await other.close();
    }
  });
});

describe.skipIf(!process.env.DATABASE_URL)("seeding from several nodes at once (PostgreSQL)", () => {
  const drops: (() => Promise<void>)[] = [];
  afterAll(async () => { for (const drop of drops) await drop(); });
  /** A fresh migrated database and three clients on it, as three API nodes starting together. */
  async function threeNodes() {
    const { url, drop } = await createScratchDatabase("seed");
    drops.push(drop);
    const first = await openDatabase({ databaseUrl: url, migrate: true, poolSize: 4 });
    const others = await Promise.all([1, 2].map(() => openDatabase({ databaseUrl: url, poolSize: 4 })));
    return { url, nodes: [first, ...others] };
  }

  it("unguarded, nodes seeding together collide on the providers they both insert", async () => {
    // A race: on a loaded machine one node can finish before the others look, so the control
    // tries a few fresh databases and needs one collision among them.
    const rejectedPerAttempt: number[] = [];
    for (let attempt = 0; attempt < 5 && !rejectedPerAttempt.some((n) => n > 0); attempt++) {
      const { nodes } = await threeNodes();
      try {
        const results = await Promise.allSettled(nodes.map((db) => seedFromSnapshot(db.prisma)));
        rejectedPerAttempt.push(results.filter((r) => r.status === "rejected").length);
      } finally {
        await Promise.all(nodes.map((db) => db.close()));
      }
    }
    expect(Math.max(...rejectedPerAttempt)).toBeGreaterThan(0);
  });

  it("under SEED_LOCK_KEY they take turns: one seeds every offer, the others find nothing to do", async () => {
    const { url, nodes } = await threeNodes();
    try {
      const results = await Promise.all(nodes.map((db) => withSessionLock(url, SEED_LOCK_KEY, () => seedFromSnapshot(db.prisma))));
      expect(results.filter((r) => r.seeded)).toHaveLength(1);
      expect(await nodes[0]!.prisma.gpuOffer.count()).toBe(loadSnapshot().providers.reduce((n, p) => n + p.offers.length, 0));
    } finally {
      await Promise.all(nodes.map((db) => db.close()));
    }
  });
});
