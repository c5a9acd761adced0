// Per-request batch loaders for computed fields that Prisma relations cannot express.
import DataLoader from "dataloader";
import { Prisma, type PrismaClient } from "../generated/prisma/client.ts";

export function createLoaders(prisma: PrismaClient) {
  return {
    providerRegions: new DataLoader<number, string[]>(async (ids) => {
      const rows = await prisma.$queryRaw<{ providerId: number; regions: string[] }[]>`
        SELECT "providerId", array_agg(DISTINCT region ORDER BY region) AS regions
        FROM "GpuOffer" WHERE active AND "providerId" IN (${Prisma.join(ids)}) GROUP BY "providerId"`;
      const byId = new Map(rows.map((r) => [r.providerId, r.regions]));
      return ids.map((id) => byId.get(id) ?? []);
    }),
  };
}
export type Loaders = ReturnType<typeof createLoaders>;
