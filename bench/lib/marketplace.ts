// A synthetic but realistic marketplace: offers sampled (seeded, deterministic) from the real
// SkyPilot catalogs in data/skypilot-catalog/v8/*/vms.csv (see its SOURCE.md), bulk-loaded with unnest().
import { seededRandom } from "../../src/ingestion/adapters/demo.ts";
import { readFileSync, readdirSync, existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parse } from "csv-parse/sync";
import { normalizeGpuName } from "../../src/domain/gpu/normalize.ts";
import { PROVIDERS } from "../../src/ingestion/registry.ts";
import type { BenchDatabase } from "./database.ts";

const PROJECT_ROOT = fileURLToPath(new URL("../..", import.meta.url));
export const CATALOG_DIR = join(PROJECT_ROOT, "data", "skypilot-catalog", "v8");

/** One GPU row of a catalog: an instance type in one region (and zone). */
export interface CatalogRow {
  provider: string;
  instanceType: string;
  gpuName: string;
  gpuCount: number;
  vramPerGpuGb: number;
  vcpus: number | null;
  ramGb: number | null;
  region: string;
  zone: string | null;
  price: number;
  spotPrice: number | null;
}

// Fallback VRAM per GPU by catalog name (SkyPilot's v7 metadata.csv: GPU,MemoryGB,Manufacturer).
function readGpuMetadata(): Map<string, { memoryGb: number; vendor: string }> {
  const file = join(CATALOG_DIR, "..", "v7", "common", "metadata.csv");
  if (!existsSync(file)) return new Map();
  const rows = parse(readFileSync(file, "utf8"), { columns: true, skip_empty_lines: true }) as Record<string, string>[];
  return new Map(rows.map((r) => [r.GPU!, { memoryGb: Number(r.MemoryGB), vendor: r.Manufacturer!.toUpperCase() }]));
}
const METADATA = readGpuMetadata();

// GpuInfo's SizeInMiB: under 1024 it is GB per GPU; otherwise MiB, for all GPUs in Vast's and PrimeIntellect's files.
function vramPerGpu(provider: string, gpuName: string, count: number, gpuInfo: string): number {
  const size = Number(/SizeInMiB["']\s*:\s*([\d.]+)/.exec(gpuInfo)?.[1] ?? NaN);
  if (size > 0 && size < 1024) return size;
  if (size >= 1024) return Math.round((size / 1024 / (["vast", "primeintellect"].includes(provider) ? count : 1)) * 10) / 10;
  return METADATA.get(gpuName)?.memoryGb ?? 24;
}

/** Every GPU row of every `<provider>/vms.csv` (columns differ per file: read by header). */
export function readCatalogs(dir = CATALOG_DIR): CatalogRow[] {
  const out: CatalogRow[] = [];
  for (const provider of readdirSync(dir).sort()) {
    const file = join(dir, provider, "vms.csv");
    if (!existsSync(file)) continue;
    const records = parse(readFileSync(file, "utf8"), { columns: true, bom: true, skip_empty_lines: true }) as Record<string, string>[];
    for (const r of records) {
      const gpuCount = Number(r.AcceleratorCount);
      const price = Number(r.Price);
      if (!r.AcceleratorName || !(gpuCount > 0) || !(price > 0) || !r.Region) continue;
      const spot = Number(r.SpotPrice);
      out.push({
        provider, instanceType: r.InstanceType!, gpuName: r.AcceleratorName, gpuCount,
        vramPerGpuGb: vramPerGpu(provider, r.AcceleratorName, gpuCount, r.GpuInfo ?? ""),
        vcpus: r.vCPUs ? Math.round(Number(r.vCPUs)) : null,
        ramGb: r.MemoryGiB ? Number(r.MemoryGiB) : null,
        region: r.Region, zone: r.AvailabilityZone || null,
        price, spotPrice: spot > 0 ? spot : null,
      });
    }
  }
  if (!out.length) throw new Error(`no GPU rows found in ${dir}/*/vms.csv`);
  return out;
}

// The demo market's seeded PRNG (mulberry32): the same seed gives the same marketplace.
export { seededRandom };

const pick = <T>(random: () => number, items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
/** Integer units of 1/10000 dollar → a Decimal(12,4) string, without floats. */
const money = (units: number) => `${Math.floor(units / 10_000)}.${String(units % 10_000).padStart(4, "0")}`;
const country = (region: string) => (/^[A-Z]{2}$/.test(region) ? region : /, ([A-Z]{2}), /.exec(region)?.[1] ?? null);
const interconnect = (s: string) => (/sxm/i.test(s) ? "SXM" : /nvl/i.test(s) ? "NVLINK" : /pcie/i.test(s) ? "PCIE" : null);
// Few distinct price factors on whole cents: many offers share a price, as on real marketplaces.
const PRICE_FACTORS = [0.9, 0.95, 1, 1, 1, 1, 1.05, 1.1];
const AVAILABILITY = ["AVAILABLE", "AVAILABLE", "AVAILABLE", "AVAILABLE", "LIMITED", "LIMITED", "UNAVAILABLE", "UNKNOWN"];

export interface LoadSummary {
  offers: number;
  activeOffers: number;
  pricePoints: number;
  providers: string[];
  /** GPU model name → offers, most common first. */
  models: [string, number][];
  gpuModelsFrom: "syncGpuModels + normalizeGpuName" | "catalog names";
  catalogRows: number;
  loadMs: number;
}

/**
 * Loads providers, GPU models, `count` offers and some price history. Offers: a provider is drawn
 * uniformly, then one of its catalog rows (model, count, vCPUs, RAM, region, zone), and its price
 * per GPU jittered by a few fixed factors on whole cents; onDemandPrice = pricePerGpuHour × gpuCount exactly.
 */
export async function loadMarketplace(bench: BenchDatabase, count: number, seed = 42): Promise<LoadSummary> {
  const started = performance.now();
  const rows = readCatalogs();
  const random = seededRandom(seed);
  const byProvider = new Map<string, CatalogRow[]>();
  for (const r of rows) {
    if (!byProvider.has(r.provider)) byProvider.set(r.provider, []);
    byProvider.get(r.provider)!.push(r);
  }
  const slugs = [...byProvider.keys()];
  const { pool } = bench;

  const info = slugs.map((s) => PROVIDERS.find((p) => p.slug === s));
  const providerRows = await pool.query<{ id: number; slug: string }>(
    `INSERT INTO "Provider" (slug, name, kind, "apiBaseUrl", "complianceTags", "updatedAt")
     SELECT s, coalesce(n, s), coalesce(k, 'MARKETPLACE')::"ProviderKind", u, '{}', now()
     FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS t(s, n, k, u) RETURNING id, slug`,
    [slugs, info.map((p) => p?.name ?? null), info.map((p) => p?.kind ?? null), info.map((p) => p?.apiBaseUrl ?? null)],
  );
  const providerId = new Map(providerRows.rows.map((r) => [r.slug, r.id]));

  const { modelId, from } = await gpuModels(bench, rows);

  const cols = {
    providerId: [] as number[], externalId: [] as string[], instanceType: [] as string[], gpuModelId: [] as (number | null)[],
    gpuName: [] as string[], gpuCount: [] as number[], vramPerGpuGb: [] as number[], vramTotalGb: [] as number[],
    vcpus: [] as (number | null)[], ramGb: [] as (number | null)[], region: [] as string[], zone: [] as (string | null)[],
    country: [] as (string | null)[], onDemandPrice: [] as string[], spotPrice: [] as (string | null)[],
    pricePerGpuHour: [] as string[], spotPricePerGpuHour: [] as (string | null)[], availability: [] as string[],
    interconnect: [] as (string | null)[], deployment: [] as string[], lastSeenMinutes: [] as number[],
    ageDays: [] as number[], active: [] as boolean[],
  };
  const modelCounts = new Map<string, number>();
  for (let i = 0; i < count; i++) {
    const row = pick(random, byProvider.get(pick(random, slugs))!);
    const perGpuCents = Math.max(1, Math.round((row.price / row.gpuCount) * 100 * pick(random, PRICE_FACTORS)));
    const spotCents = row.spotPrice ? Math.max(1, Math.round((row.spotPrice / row.gpuCount) * 100 * pick(random, PRICE_FACTORS))) : null;
    const model = modelId.get(row.gpuName);
    if (model) modelCounts.set(model.name, (modelCounts.get(model.name) ?? 0) + 1);
    cols.providerId.push(providerId.get(row.provider)!);
    cols.externalId.push(`${row.instanceType}|${row.region}|${row.zone ?? ""}|${i}`);
    cols.instanceType.push(row.instanceType);
    cols.gpuModelId.push(model?.id ?? null);
    cols.gpuName.push(row.gpuName);
    cols.gpuCount.push(row.gpuCount);
    cols.vramPerGpuGb.push(row.vramPerGpuGb);
    cols.vramTotalGb.push(Math.round(row.vramPerGpuGb * row.gpuCount * 100) / 100);
    cols.vcpus.push(row.vcpus);
    cols.ramGb.push(row.ramGb);
    cols.region.push(row.region);
    cols.zone.push(row.zone);
    cols.country.push(country(row.region));
    cols.pricePerGpuHour.push(money(perGpuCents * 100));
    cols.onDemandPrice.push(money(perGpuCents * 100 * row.gpuCount));
    cols.spotPricePerGpuHour.push(spotCents === null ? null : money(spotCents * 100));
    cols.spotPrice.push(spotCents === null ? null : money(spotCents * 100 * row.gpuCount));
    cols.availability.push(pick(random, AVAILABILITY));
    cols.interconnect.push(interconnect(`${row.gpuName} ${row.instanceType}`));
    cols.deployment.push(["runpod", "vast"].includes(row.provider) ? "CONTAINER" : random() < 0.2 ? "BARE_METAL" : "VM");
    cols.lastSeenMinutes.push(Math.floor(random() * 1440));
    cols.ageDays.push(Math.floor(random() * 90));
    cols.active.push(random() < 0.95);
  }

  const CHUNK = 20_000;
  for (let start = 0; start < count; start += CHUNK) {
    const slice = Object.values(cols).map((c) => c.slice(start, start + CHUNK));
    await pool.query(
      `INSERT INTO "GpuOffer" ("providerId", "externalId", "instanceType", "gpuModelId", "gpuName", "gpuCount",
         "vramPerGpuGb", "vramTotalGb", vcpus, "ramGb", region, zone, country, "onDemandPrice", "spotPrice",
         "pricePerGpuHour", "spotPricePerGpuHour", availability, interconnect, deployment, "lastSeenAt", "firstSeenAt", active)
       SELECT p, e, it, m, g, n, vg, vt, c, r, rg, z, co, od, sp, pg, spg, av::"Availability", ic::"Interconnect", d::"Deployment",
         now() - make_interval(mins => ls), now() - make_interval(mins => ls, days => age), act
       FROM unnest($1::int[], $2::text[], $3::text[], $4::int[], $5::text[], $6::int[], $7::numeric[], $8::numeric[], $9::int[],
         $10::numeric[], $11::text[], $12::text[], $13::text[], $14::numeric[], $15::numeric[], $16::numeric[], $17::numeric[],
         $18::text[], $19::text[], $20::text[], $21::int[], $22::int[], $23::bool[])
         AS t(p, e, it, m, g, n, vg, vt, c, r, rg, z, co, od, sp, pg, spg, av, ic, d, ls, age, act)`,
      slice,
    );
  }
  // Three historic points for every fourth offer (deterministic ±5% moves), enough for history queries.
  const points = await pool.query(
    `INSERT INTO "PricePoint" ("offerId", "onDemandPrice", "spotPrice", availability, "recordedAt")
     SELECT o.id, round(o."onDemandPrice" * (1 + ((o.id * 7 + d) % 11 - 5) / 100.0), 4), o."spotPrice", o.availability,
            o."lastSeenAt" - make_interval(days => d)
     FROM "GpuOffer" o CROSS JOIN unnest(ARRAY[1, 7, 30]) AS d WHERE o.id % 4 = 0`,
  );
  // What autovacuum does to a steady-state table: statistics and the visibility map (index-only scans).
  await pool.query("VACUUM (ANALYZE)");
  const active = await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM "GpuOffer" WHERE active`);
  return {
    offers: count, activeOffers: active.rows[0]!.n, pricePoints: points.rowCount ?? 0, providers: slugs,
    models: [...modelCounts].sort((a, b) => b[1] - a[1]), gpuModelsFrom: from, catalogRows: rows.length,
    loadMs: Math.round(performance.now() - started),
  };
}

/**
 * GpuModel rows. With the spec table (`syncGpuModels`), catalog names map through `normalizeGpuName`;
 * names it does not resolve (or every name, before the spec table exists) get a row of their own.
 */
async function gpuModels(bench: BenchDatabase, rows: CatalogRow[]) {
  let canonical = new Map<string, number>();
  let from: LoadSummary["gpuModelsFrom"] = "catalog names";
  try {
    const { syncGpuModels } = await import("../../src/ingestion/gpu-models.ts");
    canonical = await syncGpuModels(bench.db.prisma);
    from = "syncGpuModels + normalizeGpuName";
  } catch (err) {
    process.stderr.write(`syncGpuModels unavailable (${(err as Error).message.split("\n")[0]}); using catalog names as GPU models\n`);
  }
  const modelId = new Map<string, { id: number; name: string }>();
  const unresolved = new Map<string, CatalogRow>();
  for (const row of rows) {
    if (modelId.has(row.gpuName) || unresolved.has(row.gpuName)) continue;
    const match = normalizeGpuName(row.gpuName, { vramGb: row.vramPerGpuGb, instanceType: row.instanceType });
    const id = match.known ? canonical.get(match.name) : undefined;
    if (id !== undefined && match.known) modelId.set(row.gpuName, { id, name: match.name });
    else unresolved.set(row.gpuName, row);
  }
  const names = [...unresolved.keys()];
  const vendor = (n: string) => METADATA.get(n)?.vendor ?? (/^(MI|Radeon)/i.test(n) ? "AMD" : /gaudi/i.test(n) ? "INTEL" : "NVIDIA");
  const inserted = await bench.pool.query<{ id: number; name: string }>(
    `INSERT INTO "GpuModel" (name, vendor, architecture, "vramGb", "memoryBandwidthGbps", "fp16Tflops", "fp32Tflops", "formFactor")
     SELECT n, v::"GpuVendor", 'unknown (bench)', vram, 0, 0, 0, ff FROM unnest($1::text[], $2::text[], $3::int[], $4::text[]) AS t(n, v, vram, ff)
     ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING id, name`,
    [names, names.map(vendor), names.map((n) => Math.round(unresolved.get(n)!.vramPerGpuGb)),
      names.map((n) => interconnect(n) === "SXM" ? "SXM" : "PCIe")],
  );
  for (const r of inserted.rows) modelId.set(r.name, r);
  return { modelId, from };
}
