// Per-request batch loaders: one query per kind of object per request, however many rows ask.
import DataLoader from "dataloader";
import { Prisma, type GpuModel, type GpuOffer, type PrismaClient, type Provider } from "../generated/prisma/client.ts";

function byId<T extends { id: number }>(load: (ids: number[]) => Promise<T[]>) {
  return new DataLoader<number, T | null>(async (ids) => {
    const rows = new Map((await load([...ids])).map((row) => [row.id, row]));
    return ids.map((id) => rows.get(id) ?? null);
  });
}

export function createLoaders(prisma: PrismaClient) {
  return {
    provider: byId<Provider>((ids) => prisma.provider.findMany({ where: { id: { in: ids } } })),
    gpuModel: byId<GpuModel>((ids) => prisma.gpuModel.findMany({ where: { id: { in: ids } } })),
    offer: byId<GpuOffer>((ids) => prisma.gpuOffer.findMany({ where: { id: { in: ids } } })),
    providerRegions: new DataLoader<number, string[]>(async (ids) => {
      const rows = await prisma.$queryRaw<{ providerId: number; regions: string[] }[]>`
        SELECT "providerId", array_agg(DISTINCT region ORDER BY region) AS regions
        FROM "GpuOffer" WHERE active AND "providerId" IN (${Prisma.join(ids)}) GROUP BY "providerId"`;
      const byProvider = new Map(rows.map((r) => [r.providerId, r.regions]));
      return ids.map((id) => byProvider.get(id) ?? []);
    }),
  };
}
export type Loaders = ReturnType<typeof createLoaders>;
