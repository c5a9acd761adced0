// GPU model names and provider slugs → ids, cached per database client. Both tables are small and
// rows are never renamed, so a name that is missing from the cache triggers one reload.
import type { PrismaClient } from "../generated/prisma/client.ts";

interface NameCache { models: Map<string, number>; providers: Map<string, number> }
const caches = new WeakMap<PrismaClient, NameCache>();

async function reload(prisma: PrismaClient): Promise<NameCache> {
  const [models, providers] = await Promise.all([
    prisma.gpuModel.findMany({ select: { id: true, name: true } }),
    prisma.provider.findMany({ select: { id: true, slug: true } }),
  ]);
  const cache = { models: new Map(models.map((m) => [m.name, m.id])), providers: new Map(providers.map((p) => [p.slug, p.id])) };
  caches.set(prisma, cache);
  return cache;
}

/** Ids for the names, plus the names that do not exist. */
export async function resolveNames(prisma: PrismaClient, kind: "models" | "providers", names: readonly string[]) {
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
