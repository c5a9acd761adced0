import { describe, expect, it } from "vitest";
import { RowLoader } from "../../src/infra/loaders.ts";

type Row = { id: number; name: string };

function loader(rows: Row[]) {
  const batches: number[][] = [];
  const l = new RowLoader<Row>(async (ids) => { batches.push(ids); return rows.filter((r) => ids.includes(r.id)); });
  return { l, batches };
}

describe("RowLoader", () => {
  it("answers a primed row synchronously, without a batch", () => {
    const { l, batches } = loader([]);
    const row = { id: 1, name: "lambda" };
    l.prime(1, row);
    expect(l.get(1)).toBe(row);
    expect(batches).toEqual([]);
  });

  it("batches rows it does not hold, then holds them", async () => {
    const { l, batches } = loader([{ id: 1, name: "a" }, { id: 2, name: "b" }]);
    const [a, b] = [l.get(1), l.get(2)];
    expect(a).toBeInstanceOf(Promise);
    expect(await a).toEqual({ id: 1, name: "a" });
    expect(await b).toEqual({ id: 2, name: "b" });
    expect(batches).toEqual([[1, 2]]);
    expect(l.get(2)).toEqual({ id: 2, name: "b" }); // held now: not a promise
  });

  it("answers null for a missing row, and keeps asking the batch (DataLoader caches the null)", async () => {
    const { l, batches } = loader([]);
    expect(await l.get(9)).toBeNull();
    expect(await l.get(9)).toBeNull();
    expect(batches).toEqual([[9]]);
  });

  it("keeps the first primed row, as DataLoader does; clear forgets it", async () => {
    const { l } = loader([{ id: 1, name: "fresh" }]);
    const first = { id: 1, name: "first" };
    l.prime(1, first).prime(1, { id: 1, name: "second" });
    expect(l.get(1)).toBe(first);
    expect(await l.load(1)).toBe(first);
    l.clear(1);
    expect(await l.get(1)).toEqual({ id: 1, name: "fresh" });
    l.clearAll();
    expect(l.get(1)).toBeInstanceOf(Promise);
  });
});
