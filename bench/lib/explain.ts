// EXPLAIN (ANALYZE, BUFFERS) of the exact SQL the app sends: statements are captured from Prisma's
// query log while the real code runs, then re-run under EXPLAIN with the same parameters.
import type pg from "pg";
import type { Database } from "../../src/infra/db.ts";
import { median } from "./load.ts";

export interface CapturedSql { sql: string; params: unknown[] }

const sinks = new WeakMap<Database, CapturedSql[][]>();
// openDatabase creates the client with query events on; its static type does not carry that.
type QueryEvents = { $on(event: "query", listener: (e: { query: string; params: string }) => void): void };

/** Runs `fn` and returns every SQL statement Prisma sent for it, with its parameters. */
export async function captureSql(db: Database, fn: () => Promise<unknown>): Promise<CapturedSql[]> {
  let active = sinks.get(db);
  if (!active) {
    const list: CapturedSql[][] = [];
    (db.prisma as unknown as QueryEvents).$on("query", (e) => { for (const sink of list) sink.push({ sql: e.query, params: JSON.parse(e.params) as unknown[] }); });
    sinks.set(db, (active = list));
  }
  const sink: CapturedSql[] = [];
  active.push(sink);
  try { await fn(); } finally { active.splice(active.indexOf(sink), 1); }
  return sink;
}

interface PlanNode {
  "Node Type": string;
  "Index Name"?: string;
  "Relation Name"?: string;
  "Sort Method"?: string;
  "Strategy"?: string;
  "Actual Rows": number;
  "Shared Hit Blocks"?: number;
  "Shared Read Blocks"?: number;
  Plans?: PlanNode[];
}

export interface ExplainResult {
  /** Median execution time over the runs, in ms. */
  ms: number;
  /** One-line plan shape, e.g. `Limit → Index Scan GpuOffer_active_pricePerGpuHour_id_idx`. */
  shape: string;
  indexes: string[];
  /** Shared buffers touched (hit + read) by the whole plan. */
  buffers: number;
  /** The full text plan of the last run. */
  text: string;
}

function label(n: PlanNode): string {
  const what = n["Index Name"] ?? (n["Relation Name"] ? `on ${n["Relation Name"]}` : "");
  const how = n["Sort Method"] ?? (n["Node Type"] === "Aggregate" ? n.Strategy : undefined);
  return [n["Node Type"], what, how && `(${how})`].filter(Boolean).join(" ");
}

function shapeOf(n: PlanNode): string {
  const kids = n.Plans ?? [];
  if (kids.length === 0) return label(n);
  if (kids.length === 1) return `${label(n)} → ${shapeOf(kids[0]!)}`;
  return `${label(n)} [${kids.map(shapeOf).join("; ")}]`;
}

function indexesOf(n: PlanNode): string[] {
  return [...(n["Index Name"] ? [n["Index Name"]] : []), ...(n.Plans ?? []).flatMap(indexesOf)];
}

/** EXPLAIN (ANALYZE, BUFFERS) `runs` times (after one warm-up) and keeps the median time. */
export async function explain(pool: pg.Pool | pg.PoolClient, q: CapturedSql, runs = 5): Promise<ExplainResult> {
  const times: number[] = [];
  let plan: { Plan: PlanNode; "Execution Time": number } | undefined;
  for (let i = 0; i <= runs; i++) {
    const { rows } = await pool.query<{ "QUERY PLAN": [typeof plan] }>(`EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${q.sql}`, q.params);
    plan = rows[0]!["QUERY PLAN"][0]!;
    if (i > 0) times.push(plan["Execution Time"]);
  }
  const text = (await pool.query<{ "QUERY PLAN": string }>(`EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) ${q.sql}`, q.params))
    .rows.map((r) => r["QUERY PLAN"]).join("\n");
  const root = plan!.Plan;
  return {
    ms: Math.round(median(times) * 100) / 100,
    shape: shapeOf(root),
    indexes: [...new Set(indexesOf(root))],
    buffers: (root["Shared Hit Blocks"] ?? 0) + (root["Shared Read Blocks"] ?? 0),
    text,
  };
}
