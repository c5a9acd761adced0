// The zero-setup seed: a real catalog snapshot (data/catalog-snapshot.json, built by
// scripts/build-snapshot.ts) applied to an empty database on first start.
import { readFileSync } from "node:fs";
import { z } from "zod";
import type { PrismaClient } from "../generated/prisma/client.ts";
import { projectPath } from "../infra/project-root.ts";
import { syncGpuModels } from "./gpu-models.ts";
import { applyCatalog, type CatalogSyncSummary } from "./catalog-sync.ts";

export const DEFAULT_SNAPSHOT_PATH = projectPath("data", "catalog-snapshot.json");

const decimal = z.string().regex(/^\d+(\.\d{1,4})?$/, "a decimal string with at most 4 decimals");

const offerSchema = z.object({
  externalId: z.string().min(1),
  instanceType: z.string().min(1),
  gpuName: z.string().min(1),
  gpuModel: z.string().min(1).nullable().optional(),
  gpuCount: z.number().int().positive(),
  vramPerGpuGb: z.number().nonnegative().nullable().optional(),
  vcpus: z.number().nonnegative().nullable().optional(),
  ramGb: z.number().nonnegative().nullable().optional(),
  storageGb: z.number().nonnegative().nullable().optional(),
  region: z.string().min(1),
  zone: z.string().min(1).nullable().optional(),
  country: z.string().regex(/^[A-Z]{2}$/).nullable().optional(),
  onDemandPrice: decimal,
  spotPrice: decimal.nullable().optional(),
  currency: z.string().regex(/^[A-Z]{3}$/).optional(),
  availability: z.enum(["AVAILABLE", "LIMITED", "UNAVAILABLE", "UNKNOWN"]).optional(),
  interconnect: z.enum(["PCIE", "SXM", "NVLINK"]).nullable().optional(),
  networkGbps: z.number().nonnegative().nullable().optional(),
  deployment: z.enum(["VM", "CONTAINER", "BARE_METAL"]).nullable().optional(),
});

const snapshotSchema = z.object({
  format: z.literal(1),
  takenAt: z.iso.datetime(),
  sources: z.array(z.object({ repository: z.string().min(1), license: z.string().min(1), note: z.string().optional() })),
  providers: z.array(z.object({
    slug: z.string().regex(/^[a-z0-9-]+$/),
    source: z.object({
      repository: z.string().min(1),
      path: z.string().min(1),
      commit: z.string().regex(/^[0-9a-f]{40}$/),
      retrieved: z.iso.date(),
      note: z.string().min(1),
    }),
    offers: z.array(offerSchema).min(1),
  })).min(1),
}).superRefine((snap, ctx) => {
  const slugs = new Set<string>();
  snap.providers.forEach((p, i) => {
    if (slugs.has(p.slug)) ctx.addIssue({ code: "custom", path: ["providers", i, "slug"], message: `provider ${p.slug} appears twice` });
    slugs.add(p.slug);
    const ids = new Set<string>();
    p.offers.forEach((o, j) => {
      if (ids.has(o.externalId)) ctx.addIssue({ code: "custom", path: ["providers", i, "offers", j, "externalId"], message: `duplicate externalId ${o.externalId}` });
      ids.add(o.externalId);
    });
  });
});

export type CatalogSnapshot = z.infer<typeof snapshotSchema>;

export class SnapshotError extends Error {
  readonly code = "SNAPSHOT_INVALID";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "SnapshotError";
  }
}

export function parseSnapshot(json: unknown, origin = "snapshot"): CatalogSnapshot {
  const result = snapshotSchema.safeParse(json);
  if (!result.success) throw new SnapshotError(`${origin} is not a valid catalog snapshot:\n${z.prettifyError(result.error)}`);
  return result.data;
}

export function loadSnapshot(path: string = DEFAULT_SNAPSHOT_PATH): CatalogSnapshot {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, "utf8"));
  } catch (err) {
    throw new SnapshotError(`cannot read catalog snapshot ${path}: ${(err as Error).message}`, { cause: err });
  }
  return parseSnapshot(json, path);
}

export type SeedResult =
  | { seeded: false; reason: string; existingOffers: number }
  | { seeded: true; takenAt: string; gpuModels: number; offers: number; providers: { slug: string; summary: CatalogSyncSummary }[] };

/**
 * Seeds each snapshot provider that has no offers yet (first start; also finishes a seed that was
 * interrupted part-way). Providers that already have offers are left alone.
 */
/** Held (withSessionLock) by a starting node while it syncs GPU models and seeds; next to INGESTION_LOCK_KEY. */
export const SEED_LOCK_KEY = "7453565588261532533";

export async function seedFromSnapshot(
  prisma: PrismaClient,
  opts: { path?: string; snapshot?: CatalogSnapshot; now?: Date } = {},
): Promise<SeedResult> {
  const existingOffers = await prisma.gpuOffer.count();
  const snapshot = opts.snapshot ?? loadSnapshot(opts.path);
  const seededSlugs = new Set(
    (await prisma.provider.findMany({ where: { offers: { some: {} } }, select: { slug: true } })).map((p) => p.slug),
  );
  const pending = snapshot.providers.filter((p) => !seededSlugs.has(p.slug));
  if (pending.length === 0) return { seeded: false, reason: "every snapshot provider already has offers", existingOffers };
  const models = await syncGpuModels(prisma);
  const providers: { slug: string; summary: CatalogSyncSummary }[] = [];
  for (const p of pending) {
    providers.push({ slug: p.slug, summary: await applyCatalog(prisma, p.slug, p.offers, { now: opts.now }) });
  }
  return {
    seeded: true,
    takenAt: snapshot.takenAt,
    gpuModels: models.size,
    offers: providers.reduce((n, p) => n + p.summary.inserted, 0),
    providers,
  };
}
