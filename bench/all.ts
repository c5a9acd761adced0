// `npm run bench -- all [name …]`
//   Runs benchmarks one after another, each in a child process (its own heap, its own database, and a
//   crash or exit code of its own), streams their output through, then prints one table of every goal
//   each bench wrote to bench/results/<name>.json, and writes that table to bench/results/summary.md.
//   Without names: offers, rank, kpi, facets, fanout (assistant and outbox only when named).
//   Exit code 1 when any bench failed. The children inherit the environment (BENCH_DURATION, …).
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { goalCells, RESULTS_DIR, tableText, type WrittenResults } from "./lib/results.ts";

const DEFAULT = ["offers", "rank", "kpi", "facets", "fanout"];
const BENCH_DIR = fileURLToPath(new URL(".", import.meta.url));
const RUN_TS = join(BENCH_DIR, "run.ts");
const HEADER = ["bench", "metric", "value", "goal", "met", "note"];

interface Outcome { name: string; code: number | null; signal: NodeJS.Signals | null; seconds: number; results?: WrittenResults }

export async function run(args: string[]): Promise<void> {
  const available = readdirSync(BENCH_DIR).filter((f) => f.endsWith(".ts") && !["run.ts", "all.ts"].includes(f)).map((f) => f.slice(0, -3));
  const names = args.length ? args : DEFAULT;
  const unknown = names.filter((n) => !available.includes(n));
  if (unknown.length) {
    process.stderr.write(`Unknown benchmark${unknown.length > 1 ? "s" : ""}: ${unknown.join(", ")}. Available: ${available.sort().join(", ")}\n`);
    process.exitCode = 1;
    return;
  }

  const started = new Date();
  const startLoad = loadavg()[0]!;
  const outcomes: Outcome[] = [];
  let stopping: NodeJS.Signals | undefined;
  let child: ReturnType<typeof spawn> | undefined;
  // Ctrl-C reaches the child through the terminal's process group; a signal sent to this process alone
  // is passed on. Either way the running bench drops its database, and no further bench starts.
  const onSignal = (signal: NodeJS.Signals) => {
    stopping = signal;
    child?.kill(signal);
  };
  process.on("SIGINT", onSignal).on("SIGTERM", onSignal);
  try {
    for (const name of names) {
      if (stopping) break;
      console.log(`\n════════ bench ${name} (${names.indexOf(name) + 1}/${names.length}) · ${new Date().toISOString()} · load ${loadavg()[0]!.toFixed(2)} ════════\n`);
      const t0 = Date.now();
      // The same Node binary and loader flags (tsx's --import/--require) as this process.
      child = spawn(process.execPath, [...process.execArgv, RUN_TS, name], { stdio: "inherit", env: process.env });
      const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => {
        child!.on("exit", (c, s) => resolve([c, s]));
        child!.on("error", (err) => {
          process.stderr.write(`could not start bench ${name}: ${err.message}\n`);
          resolve([null, null]);
        });
      });
      child = undefined;
      outcomes.push({ name, code, signal, seconds: (Date.now() - t0) / 1000, results: freshResults(name, t0) });
    }
  } finally {
    process.off("SIGINT", onSignal).off("SIGTERM", onSignal);
  }

  const rows: string[][] = [];
  for (const o of outcomes) {
    const failed = o.code !== 0;
    const status = o.signal ? `killed by ${o.signal}` : o.code === null ? "did not start" : `exit code ${o.code}`;
    if (failed) rows.push([o.name, `(bench failed: ${status})`, "", "", "**failed**", `after ${o.seconds.toFixed(0)} s`]);
    if (!o.results) {
      if (!failed) rows.push([o.name, "(wrote no results)", "", "", "–", `bench/results/${o.name}.json missing or older than this run`]);
      continue;
    }
    if (o.results.goals.length === 0) rows.push([o.name, "(no goals)", "", "", "–", ""]);
    for (const g of o.results.goals) rows.push(goalCells(o.name, g));
  }
  const skipped = names.slice(outcomes.length);
  for (const name of skipped) rows.push([name, `(not run: stopped by ${stopping})`, "", "", "–", ""]);

  const ended = new Date();
  const machine = `Node ${process.version}, ${cpus().length} cores (${cpus()[0]?.model.trim() ?? "unknown CPU"}), load average ${startLoad.toFixed(2)} → ${loadavg()[0]!.toFixed(2)}, ` +
    `${started.toISOString()} – ${ended.toISOString()}`;
  const runs = outcomes.map((o) => `${o.name} ${o.seconds.toFixed(0)} s${o.results ? `, load ${o.results.load.join(" → ")}` : ""}${o.code === 0 ? "" : " (failed)"}`).join("; ");

  console.log(`\n════════ summary ════════\n\n${machine}\nBenches: ${runs}\n`);
  const table = tableText(HEADER, rows);
  console.log(table);
  mkdirSync(RESULTS_DIR, { recursive: true });
  const path = join(RESULTS_DIR, "summary.md");
  writeFileSync(path, `# Benchmark summary\n\n${machine}\n\nBenches: ${runs}\n\n${table}\n`);
  console.log(`\nWrote ${path}`);
  const failed = outcomes.filter((o) => o.code !== 0).map((o) => o.name);
  if (failed.length) console.log(`Failed: ${failed.join(", ")}`);
  if (failed.length || stopping) process.exitCode = stopping === "SIGINT" ? 130 : stopping ? 143 : 1;
}

/** bench/results/<name>.json if the bench wrote it during this run (its `at` is not older than the start). */
function freshResults(name: string, startedMs: number): WrittenResults | undefined {
  const path = join(RESULTS_DIR, `${name}.json`);
  if (!existsSync(path)) return undefined;
  try {
    const r = JSON.parse(readFileSync(path, "utf8")) as WrittenResults;
    return Date.parse(r.at) >= startedMs && Array.isArray(r.goals) ? r : undefined;
  } catch {
    return undefined;
  }
}
