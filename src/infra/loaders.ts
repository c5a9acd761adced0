// Per-request batch loaders: one query per kind of object per request, however many rows ask.
import DataLoader from "dataloader";
import { Prisma, type GpuModel, type GpuOffer, type PrismaClient, type Provider } from "../generated/prisma/client.ts";

/**
 * Rows by id, batched per request, that also answers synchronously for a row it already holds (primed, or loaded
 * earlier in the request): `get` returns the row itself, not a promise, so a resolver that returns it keeps
 * graphql-jit on its synchronous path (a page of 50 offers primes its providers and GPU models: 100 promises and
 * their continuations fewer per request).
 */
export class RowLoader<T extends { id: number }> extends DataLoader<number, T | null> {
  readonly #held = new Map<number, T>();

  constructor(load: (ids: number[]) => Promise<T[]>) {
    super(async (ids) => {
      const rows = new Map((await load([...ids])).map((row) => [row.id, row]));
      return ids.map((id) => {
        const row = rows.get(id);
        if (!row) return null;
        this.#held.set(id, row);
        return row;
      });
    });
  }

  /** The row: itself when held, else a promise of it (null when there is no such row). */
  get(id: number): T | null | Promise<T | null> {
    return this.#held.get(id) ?? this.load(id);
  }

  override prime(id: number, value: T | PromiseLike<T | null> | Error | null): this {
    // As DataLoader's own prime: a row already there stays.
    if (value && !(value instanceof Error) && !("then" in value) && !this.#held.has(id)) this.#held.set(id, value);
    return super.prime(id, value);
  }

  override clear(id: number): this {
    this.#held.delete(id);
    return super.clear(id);
  }

  override clearAll(): this {
    this.#held.clear();
    return super.clearAll();
  }
}

/** A row a non-null field resolves to: a missing one is GraphQL's non-null error, as `load`'s null was. */
export const required = <T>(row: T | null | Promise<T | null>) => row as T | Promise<T>;

const byId = <T extends { id: number }>(load: (ids: number[]) => Promise<T[]>) => new RowLoader<T>(load);

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
