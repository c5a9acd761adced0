// The Grafana dashboard and the Prometheus alert rules under deploy/ (issue 14, part 5): both load, have
// the shape Grafana and Prometheus expect, and every metric family and label their PromQL names is
// exported by a running server (scraped from /metrics; label names from the registry it serves).
// No YAML parser is a dependency, so the rules file keeps to a small block subset that parseYamlSubset
// reads strictly (it throws on anything else rather than guess).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openTestDatabase } from "../support/db.ts";
import { createApp } from "../../src/yoga.ts";
import { startServer, type RunningServer } from "../../src/server.ts";
import { createMetrics, type Metrics } from "../../src/infra/metrics.ts";
import type { Database } from "../../src/infra/db.ts";

const root = join(import.meta.dirname, "..", "..");
const DASHBOARD = "deploy/grafana/gpubroker.json";
const RULES = "deploy/prometheus/alerts.yaml";

/** Series Prometheus makes itself for every target, not served by the application. */
const PROMETHEUS_SERIES = new Set(["up"]);
/** Labels Prometheus attaches to every scraped series (the scrape config's job, the target's instance). */
const TARGET_LABELS = new Set(["job", "instance"]);

// ------------------------------------------------------------------ YAML (a strict block subset)

type Yaml = string | Yaml[] | { [key: string]: Yaml };

/**
 * Block mappings and sequences (indented by spaces), `# comment` lines, and one-line scalars: plain words
 * (no `: `, ` #`, flow or indicator characters, nothing YAML would read as a number, boolean or null),
 * 'single-quoted' and "double-quoted" (JSON escapes). Everything else throws.
 */
export function parseYamlSubset(text: string): Yaml {
  const lines = text.split("\n").map((raw, n) => ({ n: n + 1, raw })).filter(({ raw }) => raw.trim() !== "" && !/^\s*#/.test(raw)).map(({ n, raw }) => {
    if (/\t/.test(raw)) throw new Error(`line ${n}: tab`);
    if (/\s$/.test(raw)) throw new Error(`line ${n}: trailing space`);
    const indent = raw.length - raw.trimStart().length;
    return { n, indent, text: raw.slice(indent) };
  });
  let i = 0;
  const fail = (msg: string): never => { throw new Error(`line ${lines[Math.min(i, lines.length - 1)]?.n ?? 0}: ${msg}`); };

  function scalar(s: string): string {
    if (s.startsWith('"')) {
      if (!/^"(?:[^"\\]|\\.)*"$/.test(s)) fail(`bad double-quoted scalar ${s}`);
      return JSON.parse(s) as string;
    }
    if (s.startsWith("'")) {
      if (!/^'(?:[^']|'')*'$/.test(s)) fail(`bad single-quoted scalar ${s}`);
      return s.slice(1, -1).replaceAll("''", "'");
    }
    if (!/^[A-Za-z0-9_./-](?:[\w ./()-]*[\w./)-])?$/.test(s) || /: | #/.test(s)) fail(`plain scalar outside the subset: ${s}`);
    if (/^(?:[-+]?(?:\d[\d_]*(?:\.\d*)?|\.\d+)(?:e[-+]?\d+)?|0x[\da-f]+|0o[0-7]+|\.inf|\.nan|true|false|yes|no|on|off|y|n|null|~)$/i.test(s)) fail(`plain scalar YAML would not read as a string: ${s} (quote it)`);
    return s;
  }

  function block(indent: number): Yaml {
    const line = lines[i] ?? fail("block expected");
    if (line.indent !== indent) fail(`indentation ${line.indent}, expected ${indent}`);
    return line.text === "-" || line.text.startsWith("- ") ? sequence(indent) : mapping(indent);
  }

  function value(rest: string | undefined, indent: number): Yaml {
    if (rest !== undefined) return scalar(rest);
    const next = lines[i];
    if (!next || next.indent <= indent) fail("empty value");
    return block(next!.indent);
  }

  function mapping(indent: number): Yaml {
    const out: Record<string, Yaml> = {};
    while (i < lines.length && lines[i]!.indent === indent && !lines[i]!.text.startsWith("- ")) {
      const m = /^([A-Za-z_][\w-]*):(?: (.+))?$/.exec(lines[i]!.text) ?? fail(`mapping entry expected: ${lines[i]!.text}`);
      if (Object.hasOwn(out, m[1]!)) fail(`duplicate key ${m[1]}`);
      i++;
      out[m[1]!] = value(m[2], indent);
    }
    return out;
  }

  function sequence(indent: number): Yaml {
    const out: Yaml[] = [];
    while (i < lines.length && lines[i]!.indent === indent && lines[i]!.text.startsWith("- ")) {
      const rest = lines[i]!.text.slice(2);
      if (/^[A-Za-z_][\w-]*:(?: |$)/.test(rest)) {
        lines[i] = { ...lines[i]!, indent: indent + 2, text: rest }; // "- key: v" opens a mapping two columns in
        out.push(mapping(indent + 2));
      } else {
        i++;
        out.push(scalar(rest));
      }
    }
    return out;
  }

  const doc = block(0);
  if (i < lines.length) fail(`unexpected indentation or content: ${lines[i]!.text}`);
  return doc;
}

// ------------------------------------------------------------------ PromQL (names only)

interface Selector { name: string; matchers: Record<string, string> }
interface Analysis {
  selectors: Selector[];
  /** Labels named by by, without, on, ignoring, group_left and group_right. */
  grouping: string[];
  /** Labels of `by (…)` alone, and whether the expression aggregates at all (sum, max, topk …). */
  by: string[];
  aggregates: boolean;
}

const GROUPING = new Set(["by", "without", "on", "ignoring", "group_left", "group_right"]);
const KEYWORDS = new Set(["and", "or", "unless", "bool", "offset", "inf", "nan"]);
const AGGREGATIONS = new Set(["sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk", "topk", "quantile", "limitk", "limit_ratio"]);

/** The metric selectors (name and label matchers) and the grouping labels (by, without, on, …) of an expression. */
export function analysePromQL(expr: string): Analysis {
  const token = /\s+|"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|\[[^\]]*\]|[A-Za-z_:][\w:]*|[0-9][\w.]*|=~|!~|!=|==|>=|<=|[{}(),=<>+\-*/^%]/y;
  const tokens: string[] = [];
  while (token.lastIndex < expr.length) {
    const at = token.lastIndex;
    const m = token.exec(expr);
    if (!m) throw new Error(`cannot read PromQL at ${at}: ${expr.slice(at, at + 20)} (in ${expr})`);
    if (m[0].trim()) tokens.push(m[0]);
  }
  const selectors: Selector[] = [];
  const grouping: string[] = [];
  const by: string[] = [];
  let aggregates = false;
  const isName = (t: string | undefined) => !!t && /^[A-Za-z_:]/.test(t);
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t === "{") throw new Error(`selector without a metric name in ${expr}`);
    if (!isName(t)) continue;
    if (GROUPING.has(t)) {
      if (tokens[i + 1] !== "(") continue; // group_left without labels
      for (i += 2; tokens[i] !== ")"; i++) {
        if (tokens[i] === ",") continue;
        if (!isName(tokens[i])) throw new Error(`bad label list in ${expr}`);
        grouping.push(tokens[i]!);
        if (t === "by") by.push(tokens[i]!);
      }
      continue;
    }
    if (AGGREGATIONS.has(t) && ["(", "by", "without"].includes(tokens[i + 1]!)) aggregates = true;
    if (KEYWORDS.has(t) || tokens[i + 1] === "(" || tokens[i + 1] === "by" || tokens[i + 1] === "without") continue; // operator, function or aggregation
    const selector: Selector = { name: t, matchers: {} };
    if (tokens[i + 1] === "{") {
      for (i += 2; tokens[i] !== "}"; i++) {
        if (tokens[i] === ",") continue;
        const [label, op, str] = [tokens[i], tokens[i + 1], tokens[i + 2]];
        if (!isName(label) || !["=", "!=", "=~", "!~"].includes(op!) || !str?.startsWith('"')) throw new Error(`bad matcher in ${expr}`);
        selector.matchers[label!] = JSON.parse(str) as string;
        i += 2;
      }
    }
    selectors.push(selector);
  }
  return { selectors, grouping, by, aggregates };
}

// ------------------------------------------------------------------ the files

interface Target { refId?: string; expr?: string; datasource?: { type?: string; uid?: string } }
interface Panel {
  id: number; type: string; title: string; datasource?: { type?: string; uid?: string };
  gridPos: { x: number; y: number; w: number; h: number }; targets?: Target[]; panels?: Panel[];
}
interface Dashboard {
  title: string; uid: string; schemaVersion: number; panels: Panel[];
  templating: { list: { name: string; type: string; query?: string | { query: string }; includeAll?: boolean; multi?: boolean }[] };
}
interface Rule { alert: string; expr: string; for: string; labels: Record<string, string>; annotations: Record<string, string> }

const dashboard = JSON.parse(readFileSync(join(root, DASHBOARD), "utf8")) as Dashboard;
const rulesDoc = parseYamlSubset(readFileSync(join(root, RULES), "utf8")) as unknown as { groups: { name: string; rules: Rule[] }[] };
const allPanels = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
const queryPanels = allPanels.filter((p) => p.type !== "row");
const rules = rulesDoc.groups.flatMap((g) => g.rules);

/** label_values(selector, label) of the templating variables, as an expression and the label it lists. */
const variableQueries = dashboard.templating.list.filter((v) => v.type === "query").map((v) => {
  const query = typeof v.query === "string" ? v.query : v.query?.query ?? "";
  const m = /^label_values\((.+),\s*(\w+)\)$/.exec(query);
  if (!m) throw new Error(`variable ${v.name}: only label_values(selector, label) queries are checked, got ${query}`);
  return { where: `variable $${v.name}`, expr: m[1]!, label: m[2]! };
});

/** Every PromQL expression of both files, with where it comes from. */
const expressions = [
  ...queryPanels.flatMap((p) => (p.targets ?? []).map((t) => ({ where: `${DASHBOARD} panel ${p.id} "${p.title}" ${t.refId}`, expr: t.expr ?? "", source: "dashboard" as const }))),
  ...variableQueries.map((v) => ({ where: `${DASHBOARD} ${v.where}`, expr: v.expr, source: "dashboard" as const })),
  ...rules.map((r) => ({ where: `${RULES} ${r.alert}`, expr: r.expr, source: "rules" as const })),
];

describe("the subset YAML reader", () => {
  it("reads block mappings, sequences and quoted scalars, and refuses what it does not know", () => {
    expect(parseYamlSubset("a:\n  - b: 'x{y=\"1\"}'\n    c: \"{{ $v }}\"\n  - plain words\nd: 5m\n")).toEqual({ a: [{ b: 'x{y="1"}', c: "{{ $v }}" }, "plain words"], d: "5m" });
    for (const bad of ["a: {b: 1}\n", "a: 1\n", "a: yes\n", "a: x # note\n", "a:\n\t- b\n", "a: b\na: c\n", "a: b\n  c: d\n", "a: |\n  x\n", "a: 'x\n"]) {
      expect(() => parseYamlSubset(bad), JSON.stringify(bad)).toThrow();
    }
  });
});

describe(`${DASHBOARD} and ${RULES}`, () => {
  it("the dashboard is a Grafana dashboard: title, panels with a Prometheus data source and targets, unique ids, a tiled grid, a $node variable", () => {
    expect(dashboard.title).toBeTruthy();
    expect(dashboard.uid).toMatch(/^[\w-]{1,40}$/);
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36);
    const ids = allPanels.map((p) => p.id);
    expect(ids.every((id) => Number.isInteger(id) && id > 0)).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    expect(queryPanels.length).toBeGreaterThanOrEqual(20);
    for (const p of queryPanels) {
      expect(["timeseries", "stat", "gauge", "bargauge", "table", "state-timeline"], `panel ${p.id}`).toContain(p.type);
      expect(p.title, `panel ${p.id}`).toBeTruthy();
      expect(p.datasource, `panel ${p.id}`).toEqual({ type: "prometheus", uid: "${datasource}" });
      expect(p.targets?.length, `panel ${p.id}`).toBeGreaterThan(0);
      const refIds = p.targets!.map((t) => t.refId);
      expect(new Set(refIds).size, `panel ${p.id}`).toBe(refIds.length);
      for (const t of p.targets!) expect(t.expr?.trim(), `panel ${p.id} ${t.refId}`).toBeTruthy();
    }
    // every panel (rows included) inside the 24 columns, none overlapping another
    const cells = new Set<string>();
    for (const { id, gridPos: g } of allPanels) {
      expect(g.x >= 0 && g.w > 0 && g.h > 0 && g.x + g.w <= 24, `panel ${id} gridPos`).toBe(true);
      for (let x = g.x; x < g.x + g.w; x++) for (let y = g.y; y < g.y + g.h; y++) {
        expect(cells.has(`${x},${y}`), `panel ${id} overlaps at ${x},${y}`).toBe(false);
        cells.add(`${x},${y}`);
      }
    }
    const variables = new Map(dashboard.templating.list.map((v) => [v.name, v]));
    expect(variables.get("datasource")).toMatchObject({ type: "datasource", query: "prometheus" });
    expect(variables.get("node")).toMatchObject({ type: "query", includeAll: true, multi: true });
    expect(variableQueries.find((v) => v.where === "variable $node")?.label).toBe("instance");
    // every $variable a query uses is defined (or one of Grafana's own, $__…)
    for (const { where, expr } of expressions) {
      for (const m of expr.matchAll(/\$\{?(\w+)\}?/g)) expect(m[1]!.startsWith("__") || variables.has(m[1]!), `${where}: $${m[1]}`).toBe(true);
    }
  });

  it("every alert rule has alert, expr, for, labels.severity and annotations.summary", () => {
    expect(Object.keys(rulesDoc)).toEqual(["groups"]);
    const groups = rulesDoc.groups.map((g) => g.name);
    expect(new Set(groups).size).toBe(groups.length);
    const names = rules.map((r) => r.alert);
    expect(new Set(names).size).toBe(names.length);
    expect(rules.length).toBeGreaterThanOrEqual(8);
    for (const g of rulesDoc.groups) expect(Array.isArray(g.rules) && g.rules.length > 0, g.name).toBe(true);
    for (const r of rules) {
      expect(Object.keys(r).filter((k) => !["alert", "expr", "for", "keep_firing_for", "labels", "annotations"].includes(k)), r.alert).toEqual([]);
      expect(r.alert).toMatch(/^[A-Z][A-Za-z0-9]+$/);
      expect(r.expr.trim(), r.alert).toBeTruthy();
      expect(r.for, r.alert).toMatch(/^\d+[smhd]$/);
      expect(["critical", "warning", "info"], r.alert).toContain(r.labels.severity);
      expect(r.annotations.summary?.trim(), r.alert).toBeTruthy();
    }
    // the scenarios the issue asks for
    const exprs = rules.map((r) => r.expr).join("\n");
    for (const family of ["gpubroker_ingestion_seconds_since_success", "gpubroker_event_feed_behind_events", "graphql_envelop_error_result", "gpubroker_ingestion_leader", "gpubroker_redis_up"]) {
      expect(exprs).toContain(family);
    }
  });

  it("scopes every selector to the job: $job in the dashboard, gpubroker in the rules", () => {
    for (const { where, expr, source } of expressions) {
      for (const s of analysePromQL(expr).selectors) {
        if (where.endsWith("variable $job")) continue; // lists the jobs
        expect(s.matchers.job, `${where}: ${s.name}`).toBe(source === "dashboard" ? "$job" : "gpubroker");
      }
    }
  });

  describe("against a running server with metrics", () => {
    let db: Database;
    let metrics: Metrics;
    let app: ReturnType<typeof createApp>;
    let server: RunningServer;
    /** family → type, from the scrape's # TYPE lines */
    const types = new Map<string, string>();

    beforeAll(async () => {
      db = await openTestDatabase();
      metrics = createMetrics({ processMetrics: true });
      app = createApp({ db, metrics });
      server = await startServer(app, { port: 0, host: "127.0.0.1" });
      const graphql = (query: string) => fetch(`http://127.0.0.1:${server.port}/graphql`, {
        method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ query }),
      });
      expect((await graphql("query Offers { offers(first: 1) { totalCount } }")).status).toBe(200);
      await graphql("query Broken { nope }");
      const res = await fetch(`http://127.0.0.1:${server.port}/metrics`);
      expect(res.status).toBe(200);
      for (const m of (await res.text()).matchAll(/^# TYPE (\S+) (\S+)$/gm)) types.set(m[1]!, m[2]!);
    });
    afterAll(async () => {
      await server?.stop();
      await app?.dispose();
      await db?.close();
    });

    /** The exported family a series name belongs to (x_bucket, x_sum, x_count of a histogram or summary: x). */
    function family(name: string): string | undefined {
      if (types.has(name)) return name;
      const m = /^(.+)_(bucket|sum|count)$/.exec(name);
      if (m && ["histogram", "summary"].includes(types.get(m[1]!) ?? "") && (m[2] !== "bucket" || types.get(m[1]!) === "histogram")) return m[1];
      return undefined;
    }
    function labelsOf(fam: string): string[] {
      const metric = metrics.registry.getSingleMetric(fam) as unknown as { labelNames?: readonly string[] } | undefined;
      if (!Array.isArray(metric?.labelNames)) throw new Error(`no label names for ${fam} in the registry`);
      return [...metric.labelNames, ...(types.get(fam) === "histogram" ? ["le"] : [])];
    }

    it("exports every metric family the dashboard and the rules name", () => {
      expect(types.get("graphql_envelop_request")).toBe("counter");
      const missing: string[] = [];
      const used = new Set<string>();
      for (const { where, expr } of expressions) {
        for (const { name } of analysePromQL(expr).selectors) {
          if (PROMETHEUS_SERIES.has(name)) continue;
          const fam = family(name);
          if (fam) used.add(fam);
          else missing.push(`${where}: ${name}`);
        }
      }
      expect(missing).toEqual([]);
      // the signals the issue asks the dashboard for
      for (const f of [
        "graphql_yoga_http_duration", "graphql_envelop_request", "graphql_envelop_error_result", "graphql_envelop_request_duration",
        "nodejs_eventloop_lag_p99_seconds", "gpubroker_db_pool_waiting_requests", "process_resident_memory_bytes",
        "gpubroker_ingestion_poll_duration_seconds", "gpubroker_ingestion_polls_total", "gpubroker_ingestion_offers_changed_total",
        "gpubroker_ingestion_seconds_since_success", "gpubroker_ingestion_leader", "gpubroker_subscriptions_active",
        "gpubroker_websocket_connections", "gpubroker_events_read_total", "gpubroker_event_relay_behind_events", "gpubroker_event_feed_behind_events",
      ]) expect(used, f).toContain(f);
    });

    it("every label a selector matches or a query groups by exists on the metrics it names", () => {
      const wrong: string[] = [];
      for (const { where, expr } of expressions) {
        const { selectors, grouping } = analysePromQL(expr);
        const exported = selectors.filter((s) => !PROMETHEUS_SERIES.has(s.name));
        const labelsByName = new Map(exported.map((s) => [s.name, new Set([...labelsOf(family(s.name)!), ...TARGET_LABELS])]));
        for (const s of exported) {
          for (const label of Object.keys(s.matchers)) if (!labelsByName.get(s.name)!.has(label)) wrong.push(`${where}: ${s.name}{${label}}`);
        }
        // a grouping label must belong to one of the expression's metrics (the target's labels always do)
        const anywhere = new Set([...labelsByName.values()].flatMap((l) => [...l]).concat([...TARGET_LABELS]));
        for (const label of grouping) if (!anywhere.has(label)) wrong.push(`${where}: by/on (${label})`);
      }
      expect(wrong).toEqual([]);
    });

    it("an alert's annotations name only labels its result carries ({{ $labels.x }})", () => {
      const wrong: string[] = [];
      for (const r of rules) {
        const { selectors, by, aggregates } = analysePromQL(r.expr);
        // aggregated: what `by` keeps (an approximation: the outermost aggregation is assumed to group by all of them); else every label of the series
        const carried = new Set(aggregates ? by : selectors.flatMap((s) => PROMETHEUS_SERIES.has(s.name) ? [] : labelsOf(family(s.name)!)).concat([...TARGET_LABELS]));
        for (const text of Object.values(r.annotations)) {
          for (const m of text.matchAll(/\$labels\.(\w+)/g)) if (!carried.has(m[1]!)) wrong.push(`${r.alert}: $labels.${m[1]}`);
        }
      }
      expect(wrong).toEqual([]);
    });
  });
});
