// What a bench leaves behind: bench/results/<bench>.json (goals and curves, read by `bench -- all`),
// <bench>.md (the tables as printed) and one SVG chart per curve. A bench calls `writeResults` once,
// at the end of a run; the files are overwritten by the next run of the same bench.
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { renderLineChart } from "./chart.ts";
import { printTable } from "./load.ts";

export const RESULTS_DIR = fileURLToPath(new URL("../results/", import.meta.url));

/** One goal of the issue, measured: `value` against `goal` (e.g. value 0.84, goal ">= 0.8"). */
export interface GoalResult {
  /** What is measured, e.g. "offers page 1 req/s ÷ baseline". */
  metric: string;
  value: number;
  unit: string;
  /** The goal as text, e.g. "≥ 0.8", "< 50 ms". */
  goal: string;
  /** Whether the goal is met; null when the bench cannot tell (diagnostic rows). */
  met: boolean | null;
  note?: string;
}

/** A curve: y against x for one or more series (e.g. p50 ms against offers, per query). */
export interface Curve {
  /** File-name part: bench/results/<bench>-<id>.svg. */
  id: string;
  title: string;
  xLabel: string;
  yLabel: string;
  /** Log scale on x (sizes 10k / 100k / 1M). */
  logX?: boolean;
  series: { label: string; points: [x: number, y: number][] }[];
}

export interface BenchResults {
  bench: string;
  goals: GoalResult[];
  curves?: Curve[];
  /** Markdown of the run's tables, as printed. */
  markdown?: string;
}

export interface WrittenResults extends BenchResults {
  at: string;
  node: string;
  cores: number;
  /** 1-minute load average at the start and end of the run. */
  load: [number, number];
}

const startLoad = loadavg()[0]!;

/** Writes bench/results/<bench>.json, .md and one SVG per curve; returns the paths written. */
export function writeResults(r: BenchResults, dir = RESULTS_DIR): string[] {
  mkdirSync(dir, { recursive: true });
  const written: WrittenResults = { ...r, at: new Date().toISOString(), node: process.version, cores: cpus().length, load: [round(startLoad), round(loadavg()[0]!)] };
  const paths = [join(dir, `${r.bench}.json`)];
  writeFileSync(paths[0]!, `${JSON.stringify(written, null, 2)}\n`);
  if (r.markdown) {
    paths.push(join(dir, `${r.bench}.md`));
    writeFileSync(paths[1]!, `# ${r.bench} (${written.at}, Node ${written.node}, ${written.cores} cores, load ${written.load.join(" → ")})\n\n${r.markdown}\n`);
  }
  for (const curve of r.curves ?? []) {
    const path = join(dir, `${r.bench}-${curve.id}.svg`);
    writeFileSync(path, renderLineChart(curve));
    paths.push(path);
  }
  return paths;
}

const round = (x: number) => Math.round(x * 100) / 100;

/** Formats a goal row for the summary table. */
export function goalCells(bench: string, g: GoalResult): string[] {
  const value = Math.abs(g.value) >= 100 ? g.value.toFixed(0) : Math.abs(g.value) >= 10 ? g.value.toFixed(1) : g.value.toFixed(2);
  return [bench, g.metric, `${value}${g.unit ? ` ${g.unit}` : ""}`, g.goal, g.met === null ? "–" : g.met ? "met" : "**not met**", g.note ?? ""];
}

/** The table exactly as `printTable` prints it, as a string: to print it and keep it for the results' Markdown. */
export function tableText(header: string[], rows: (string | number)[][]): string {
  const lines: string[] = [];
  const log = console.log;
  console.log = (...parts: unknown[]) => void lines.push(parts.map(String).join(" "));
  try {
    printTable(header, rows);
  } finally {
    console.log = log;
  }
  return lines.join("\n");
}
