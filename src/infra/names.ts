// GPU model names and provider slugs → ids, cached per database client: the one resolver every
// filter, lookup and alert uses. Both tables are small and rows are never renamed, so a name that is
// missing from the cache triggers one reload.
import type { PrismaClient } from "../generated/prisma/client.ts";
import { normalizeGpuName } from "../domain/gpu/normalize.ts";

type Reader = Pick<PrismaClient, "gpuModel" | "provider">;
interface NameCache { models: Map<string, number>; providers: Map<string, number> }
const caches = new WeakMap<Reader, NameCache>();

async function reload(prisma: Reader): Promise<NameCache> {
  const [models, providers] = await Promise.all([
    prisma.gpuModel.findMany({ select: { id: true, name: true } }),
    prisma.provider.findMany({ select: { id: true, slug: true } }),
  ]);
  const cache = { models: new Map(models.map((m) => [m.name, m.id])), providers: new Map(providers.map((p) => [p.slug, p.id])) };
  caches.set(prisma, cache);
  return cache;
}

/** Ids for the names (canonical GPU model names or provider slugs), plus the names that do not exist. */
export async function resolveNames(prisma: Reader, kind: "models" | "providers", names: readonly string[]) {
  let cache = caches.get(prisma);
  if (!cache || names.some((n) => !cache![kind].has(n))) cache = await reload(prisma);
  const ids: number[] = [];
  const unknown: string[] = [];
  for (const name of names) {
    const id = cache[kind].get(name);
    if (id === undefined) unknown.push(name); else ids.push(id);
  }
  return { ids, unknown };
}

/** What a user may type for a GPU model ("a100 80gb", "H100") → its canonical name, or the trimmed text when unknown. */
export function canonicalGpuName(spelling: string): string {
  let name = canonical.get(spelling);
  if (name === undefined) {
    const match = normalizeGpuName(spelling);
    name = match.known ? match.name : spelling.trim();
    // Memoised: filters repeat the same few spellings. Bounded, since spellings come from callers.
    if (canonical.size >= CANONICAL_CACHE_SIZE) canonical.delete(canonical.keys().next().value!);
    canonical.set(spelling, name);
  }
  return name;
}
const CANONICAL_CACHE_SIZE = 2000;
const canonical = new Map<string, string>();

export interface ResolvedGpuModel { id: number; name: string }

/** GPU model spellings → stored models (each spelling once), plus the spellings that match none. */
export async function resolveGpuModels(prisma: Reader, spellings: readonly string[]): Promise<{ models: Map<string, ResolvedGpuModel>; unknown: string[] }> {
  const names = new Map(spellings.map((raw) => [raw, canonicalGpuName(raw)]));
  const { unknown } = await resolveNames(prisma, "models", [...new Set(names.values())]);
  const cache = caches.get(prisma)!;
  const models = new Map<string, ResolvedGpuModel>();
  const missing: string[] = [];
  for (const [raw, name] of names) {
    if (unknown.includes(name)) missing.push(raw);
    else models.set(raw, { id: cache.models.get(name)!, name });
  }
  return { models, unknown: missing };
}

/** One spelling → the stored model, or null. */
export async function resolveGpuModel(prisma: Reader, spelling: string): Promise<ResolvedGpuModel | null> {
  return (await resolveGpuModels(prisma, [spelling])).models.get(spelling) ?? null;
}
