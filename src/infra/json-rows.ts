// Rows as one JSON value built by PostgreSQL, read back with the types Prisma would give them: a page of
// offers (and its providers and GPU models) arrives in one statement and is parsed by one JSON.parse,
// instead of being mapped value by value. Decimals travel as text (exact), DateTimes as epoch milliseconds
// (timestamp(3) is whole milliseconds, exact in a float8), BigInts as text. The columns come from the Prisma
// schema (the datamodel the Pothos generator writes), so a new column is carried without a change here.
import { Prisma } from "../generated/prisma/client.ts";
import { getDatamodel } from "../generated/pothos-types.ts";

type ModelName = "GpuOffer" | "Provider" | "GpuModel";
type Kind = "Decimal" | "DateTime" | "BigInt" | "plain";
interface Column { name: string; kind: Kind }

const KINDS: Record<string, Kind> = { Decimal: "Decimal", DateTime: "DateTime", BigInt: "BigInt" };
const columns = new Map<ModelName, Column[]>();

function columnsOf(model: ModelName): Column[] {
  let cols = columns.get(model);
  if (!cols) {
    const fields = getDatamodel().datamodel.models[model]!.fields as readonly { name: string; kind: string; type: string }[];
    cols = fields.filter((f) => f.kind === "scalar" || f.kind === "enum").map((f) => ({ name: f.name, kind: KINDS[f.type] ?? "plain" }));
    columns.set(model, cols);
  }
  return cols;
}

function valueSql(alias: string, c: Column): string {
  const ref = `${alias}."${c.name}"`;
  switch (c.kind) {
    case "Decimal": case "BigInt": return `${ref}::text`;
    case "DateTime": return `(extract(epoch from ${ref}) * 1000)::float8`;
    default: return ref;
  }
}

/** The columns rows of a `jsonRow` aggregate carry, and how they are read back: worked out once, used per request. */
export interface RowShape {
  /** `json_build_object(…)` of the shape's columns of the row `alias`. */
  sql(alias: string): Prisma.Sql;
  /** The rows with Prisma's types (Decimal, Date and bigint where the schema has them), converted in place. */
  read<T>(rows: readonly unknown[]): T[];
}

function buildShape(model: ModelName, extra: Record<string, Kind> | undefined, only: readonly string[] | undefined): RowShape {
  let cols = columnsOf(model);
  if (only) {
    const unknown = only.filter((name) => !cols.some((c) => c.name === name));
    if (unknown.length) throw new Error(`${model} has no column ${unknown.join(", ")}`);
    const wanted = new Set(only);
    cols = cols.filter((c) => wanted.has(c.name));
  }
  if (extra) cols = [...cols, ...Object.entries(extra).map(([name, kind]) => ({ name, kind }))];
  const typed = cols.filter((c) => c.kind !== "plain");
  const sqlByAlias = new Map<string, Prisma.Sql>();
  return {
    sql(alias) {
      let sql = sqlByAlias.get(alias);
      if (!sql) {
        sql = Prisma.raw(`json_build_object(${cols.map((c) => `'${c.name}', ${valueSql(alias, c)}`).join(", ")})`);
        sqlByAlias.set(alias, sql);
      }
      return sql;
    },
    read<T>(rows: readonly unknown[]): T[] {
      for (const row of rows as Record<string, unknown>[]) {
        for (const c of typed) {
          const v = row[c.name];
          if (v == null) continue;
          row[c.name] = c.kind === "Decimal" ? decimal(v as string) : c.kind === "DateTime" ? new Date(v as number) : BigInt(v as string);
        }
      }
      return rows as T[];
    },
  };
}

// Shapes by the identity of `only` and `extra` (callers keep theirs: constants, or lists cached per document), so a
// request looks its shape up without building a key; weak, so lists of forgotten documents go with them.
const NONE = {};
const shapes = new WeakMap<object, WeakMap<object, Map<ModelName, RowShape>>>();

/** The shape of every column of the model (or only the columns `only` names), plus `extra` columns of the same row. */
export function rowShape(model: ModelName, extra?: Record<string, Kind>, only?: readonly string[]): RowShape {
  let byExtra = shapes.get(only ?? NONE);
  if (!byExtra) shapes.set(only ?? NONE, (byExtra = new WeakMap()));
  let byModel = byExtra.get(extra ?? NONE);
  if (!byModel) byExtra.set(extra ?? NONE, (byModel = new Map()));
  let shape = byModel.get(model);
  if (!shape) byModel.set(model, (shape = buildShape(model, extra, only)));
  return shape;
}

/**
 * `json_build_object(…)` of every column of the model's row `alias` (or only the columns `only` names), plus `extra`
 * columns of the same row.
 */
export function jsonRow(model: ModelName, alias: string, extra?: Record<string, Kind>, only?: readonly string[]): Prisma.Sql {
  return rowShape(model, extra, only).sql(alias);
}

/**
 * The rows of a `jsonRow` aggregate (same `extra` and `only`) with Prisma's types: Decimal, Date and bigint where
 * the schema has them.
 */
export function fromJsonRows<T>(model: ModelName, rows: readonly unknown[], extra?: Record<string, Kind>, only?: readonly string[]): T[] {
  return rows.length ? rowShape(model, extra, only).read<T>(rows) : (rows as T[]);
}

// Decimals by their text: prices repeat across rows and pages. A Decimal never changes (its operations return new
// ones), so rows with the same text share one, and formatMoney prints it once (src/domain/money.ts).
const DECIMAL_CACHE_SIZE = 10_000;
const decimals = new Map<string, Prisma.Decimal>();
function decimal(text: string): Prisma.Decimal {
  let parsed = decimals.get(text);
  if (!parsed) {
    parsed = new Prisma.Decimal(text);
    if (decimals.size >= DECIMAL_CACHE_SIZE) decimals.clear();
    decimals.set(text, parsed);
  }
  return parsed;
}
