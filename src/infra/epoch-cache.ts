// Results kept per key until the catalog changes: each entry remembers the catalog epoch (src/infra/offers.ts,
// catalogEpoch) read BEFORE it was computed, and serves callers whose epoch is not newer. Bounded (least
// recently used dropped first); concurrent misses of one key share one computation; failures are not kept.
export interface EpochCache<T> {
  get(key: string, epoch: number, compute: () => Promise<T>): Promise<T>;
  readonly size: number;
}

export function createEpochCache<T>(maxEntries: number): EpochCache<T> {
  const entries = new Map<string, { epoch: number; value: Promise<T> }>();
  return {
    get(key, epoch, compute) {
      const hit = entries.get(key);
      entries.delete(key); // re-inserted below: Map order is the LRU order
      if (hit && hit.epoch >= epoch) {
        entries.set(key, hit);
        return hit.value;
      }
      const value = compute();
      entries.set(key, { epoch, value });
      if (entries.size > maxEntries) entries.delete(entries.keys().next().value!);
      value.catch(() => { if (entries.get(key)?.value === value) entries.delete(key); });
      return value;
    },
    get size() { return entries.size; },
  };
}
