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

/** `json_build_object(…)` of every column of the model's row `alias`, plus `extra` columns of the same row. */
export function jsonRow(model: ModelName, alias: string, extra?: Record<string, Kind>): Prisma.Sql {
  const cols = [...columnsOf(model), ...Object.entries(extra ?? {}).map(([name, kind]) => ({ name, kind }))];
  return Prisma.raw(`json_build_object(${cols.map((c) => `'${c.name}', ${valueSql(alias, c)}`).join(", ")})`);
}

/** The rows of a `jsonRow` aggregate with Prisma's types: Decimal, Date and bigint where the schema has them. */
export function fromJsonRows<T>(model: ModelName, rows: readonly unknown[], extra?: Record<string, Kind>): T[] {
  const typed = [...columnsOf(model), ...Object.entries(extra ?? {}).map(([name, kind]) => ({ name, kind }))].filter((c) => c.kind !== "plain");
  for (const row of rows as Record<string, unknown>[]) {
    for (const c of typed) {
      const v = row[c.name];
      if (v == null) continue;
      row[c.name] = c.kind === "Decimal" ? new Prisma.Decimal(v as string) : c.kind === "DateTime" ? new Date(v as number) : BigInt(v as string);
    }
  }
  return rows as T[];
}
