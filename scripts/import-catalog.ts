// Imports a SkyPilot-format vms.csv as the complete catalog of one provider. Progress goes to stderr
// (a live line per phase on a terminal, plain lines otherwise), the summary to stdout (text, or JSON
// with --json). Exit status: 0 imported, 1 the import failed, 2 a wrong command line; a failure is one
// line on stderr, never a stack trace.
// Usage: npm run import:catalog -- <vms.csv> --provider <slug> [--batch-size <n>] [--max-rejected <n|n%>] [--json]
import { existsSync, readFileSync, statSync } from "node:fs";
import { parseArgs } from "node:util";
import { ConfigError, loadConfig } from "../src/config.ts";
import { openDatabase, type Database } from "../src/infra/db.ts";
import { DataDirLockedError } from "../src/infra/data-dir-lock.ts";
import { isAppError } from "../src/errors.ts";
import { parseSkypilotVms, SkypilotFormatError, type SkypilotParseResult } from "../src/domain/catalog/skypilot.ts";
import { syncGpuModels } from "../src/ingestion/gpu-models.ts";
import { applyCatalog, CatalogSyncError } from "../src/ingestion/catalog-sync.ts";
import { recordImport } from "../src/ingestion/change-events.ts";
import { PROVIDERS } from "../src/ingestion/registry.ts";

const DEFAULT_BATCH_SIZE = 1000;
// A file with more rejected rows than this is more likely broken (a renamed column, another format)
// than a catalog: importing it would withdraw most of the provider's offers, since the file is the
// complete catalog. The published catalogs reject at most 8% (Prime Intellect's spot-only rows).
const DEFAULT_MAX_REJECTED = "25%";

const USAGE = `usage: npm run import:catalog -- <vms.csv> --provider <slug> [options]
  --provider, -p <slug>    the provider whose complete catalog the file is (${PROVIDERS.map((p) => p.slug).join(", ")})
  --batch-size <n>         offers per SQL statement (default ${DEFAULT_BATCH_SIZE})
  --max-rejected <n|n%>    refuse the file when more rows than this are invalid (default ${DEFAULT_MAX_REJECTED} of the rows)
  --json                   print the summary as JSON
DATABASE_URL selects PostgreSQL (migrated with npm run db:deploy); otherwise embedded PGlite in PGLITE_DATA_DIR (default .data/pglite).
Exit status: 0 imported, 1 the import failed, 2 a wrong command line.`;

/** A failure to report in one line; `exitCode` 2 when the command line is wrong. */
class ImportFailure extends Error {
  constructor(message: string, readonly exitCode: 1 | 2 = 1) {
    super(message);
  }
}

const usageError = (problem: string) => new ImportFailure(`${problem} (--help for usage)`, 2);


const SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏";
// Without a terminal, a phase that runs longer than this says it is still at work, at this interval.
const HEARTBEAT_MS = 10_000;

/** Runs a phase of the job, shown on stderr: a live line with the elapsed time on a terminal, plain lines otherwise. */
async function phase<T>(doing: string, work: () => Promise<T> | T, done: (result: T) => string): Promise<{ result: T; ms: number }> {
  const started = performance.now();
  const seconds = (ms = performance.now() - started) => `${(ms / 1000).toFixed(1)} s`;
  const tty = process.stderr.isTTY;
  let frame = 0;
  const draw = () => process.stderr.write(`\r\x1b[K${SPINNER[frame++ % SPINNER.length]} ${doing}… ${seconds()}`);
  if (tty) draw();
  const timer = tty ? setInterval(draw, 120) : setInterval(() => process.stderr.write(`${doing}… still at work after ${seconds()}\n`), HEARTBEAT_MS);
  try {
    const result = await work();
    clearInterval(timer);
    const ms = Math.round(performance.now() - started);
    process.stderr.write(`${tty ? "\r\x1b[K✓ " : ""}${done(result)} (${seconds(ms)})\n`);
    return { result, ms };
  } catch (err) {
    clearInterval(timer);
    if (tty) process.stderr.write("\r\x1b[K"); // the failure's line replaces the live one
    throw err;
  }
}


interface RejectedReason { reason: string; rows: number; lines: number[] }

/** The parser's row errors counted by reason: its message without the row's own values ("unparsable Price"). */
function rejectedByReason(errors: SkypilotParseResult["errors"]): RejectedReason[] {
  const byReason = new Map<string, RejectedReason>();
  for (const { line, reason } of errors) {
    const kind = reason.replace(/ "[^"]*"/g, "").replace(/ for .*$/, "");
    const entry = byReason.get(kind) ?? { reason: kind, rows: 0, lines: [] };
    entry.rows++;
    if (entry.lines.length < 5) entry.lines.push(line);
    byReason.set(kind, entry);
  }
  return [...byReason.values()].sort((a, b) => b.rows - a.rows || a.reason.localeCompare(b.reason));
}

/** "25%" → 25% of `rows`, "40" → 40. */
function rejectedAllowed(policy: string, rows: number): number {
  const m = /^(\d+(?:\.\d+)?)(%?)$/.exec(policy);
  if (!m) throw usageError(`--max-rejected must be a number of rows or a percentage such as 25% (got "${policy}")`);
  return m[2] ? Math.floor((rows * Number(m[1])) / 100) : Number(m[1]);
}


interface ImportSummary {
  file: string;
  provider: string;
  rowsRead: number;
  /** Offers in the file, all upserted: created + updated + unchanged. */
  offers: number;
  created: number;
  updated: number;
  unchanged: number;
  /** Inactive offers that came back (counted in `updated` too). */
  reactivated: number;
  /** Active offers of the provider missing from the file, now inactive. */
  deactivated: number;
  /** Rows for CPU-only instances: not GPU offers, not an error. */
  skippedNoGpu: number;
  rejected: number;
  rejectedByReason: RejectedReason[];
  pricePoints: number;
  alertsFired: number;
  durationMs: number;
  /** Where the time went: reading the file, opening (and for PGlite migrating) the database, applying the catalog. */
  phasesMs: { read: number; open: number; apply: number };
}

interface ImportArgs {
  file: string;
  provider: string;
  json: boolean;
  batchSize: number;
  maxRejected: string;
  databaseUrl: string | undefined;
  dataDir: string;
}

/** The command line and the environment it reads, checked; "help" when asked for the usage. */
function parseCommandLine(): ImportArgs | "help" {
  const options = {
    provider: { type: "string", short: "p" }, "batch-size": { type: "string" }, "max-rejected": { type: "string" },
    json: { type: "boolean" }, help: { type: "boolean", short: "h" },
  } as const;
  let args;
  try {
    args = parseArgs({ allowPositionals: true, options });
  } catch (err) {
    throw usageError((err as Error).message);
  }
  const [file, ...extra] = args.positionals;
  const { provider, json = false, help = false } = args.values;
  if (help) return "help";
  if (!file) throw usageError("missing the catalog file");
  if (extra.length > 0) throw usageError(`unexpected arguments: ${extra.join(" ")}`);
  if (!provider) throw usageError("missing --provider <slug>");
  if (!existsSync(file) || !statSync(file).isFile()) throw usageError(`no such file: ${file}`);
  const batchSize = Number(args.values["batch-size"] ?? DEFAULT_BATCH_SIZE);
  if (!(Number.isInteger(batchSize) && batchSize > 0)) throw usageError("--batch-size must be a positive integer");
  const maxRejected = args.values["max-rejected"] ?? DEFAULT_MAX_REJECTED;
  rejectedAllowed(maxRejected, 0); // checks its form before any work
  let config;
  try {
    // Only what this job uses: an API node's settings (keys, Redis …) are not needed to import a file.
    config = loadConfig({ DATABASE_URL: process.env.DATABASE_URL, PGLITE_DATA_DIR: process.env.PGLITE_DATA_DIR });
  } catch (err) {
    if (err instanceof ConfigError) throw new ImportFailure(err.problems.join("; "), 2);
    throw err;
  }
  return { file, provider, json, batchSize, maxRejected, databaseUrl: config.DATABASE_URL, dataDir: config.PGLITE_DATA_DIR };
}

/** The database named without its password. */
function describeDatabase(databaseUrl: string | undefined, dataDir: string): string {
  if (!databaseUrl) return `the embedded database in ${dataDir}`;
  const url = new URL(databaseUrl);
  return `PostgreSQL ${url.host}${url.pathname}`;
}

async function openChecked(databaseUrl: string | undefined, dataDir: string, where: string): Promise<Database> {
  let db: Database;
  try {
    db = await openDatabase({ databaseUrl, dataDir, migrate: !databaseUrl, poolSize: 2 });
  } catch (err) {
    if (err instanceof DataDirLockedError) throw new ImportFailure(err.message);
    throw new ImportFailure(`cannot open ${where}: ${firstLine(err)}`);
  }
  try {
    // Connects now, so an unreachable or unmigrated database is reported as such rather than as a failed statement.
    const [{ migrated }] = await db.prisma.$queryRaw<[{ migrated: boolean }]>`SELECT to_regclass('"GpuOffer"') IS NOT NULL AS migrated`;
    if (!migrated) throw new ImportFailure(`${where} has no GPUBroker tables: apply the migrations first (npm run db:deploy)`);
    return db;
  } catch (err) {
    await db.close().catch(() => {});
    if (err instanceof ImportFailure) throw err;
    throw new ImportFailure(`cannot connect to ${where}: ${firstLine(err)}`);
  }
}

/** An error's message in one line. Prisma's open with "Invalid `prisma.…` invocation:" and end with the reason. */
function firstLine(err: unknown): string {
  const e = err as { message?: string; code?: string };
  const lines = (e.message || e.code || String(err)).split("\n").map((l) => l.trim()).filter(Boolean);
  if (lines[0]?.startsWith("Invalid `prisma.")) {
    const last = lines.at(-1)!;
    return /Message: `(.*)`$/.exec(last)?.[1] ?? last;
  }
  return lines[0] ?? "unknown error";
}

async function importCatalog(args: ImportArgs): Promise<ImportSummary> {
  const started = performance.now();
  const { result: parsed, ms: read } = await phase(`reading ${args.file}`, () => {
    try {
      // Every row error is kept (not only the first 100), so the counts by reason are exact.
      return parseSkypilotVms(readFileSync(args.file, "utf8"), { maxErrors: Infinity });
    } catch (err) {
      if (err instanceof SkypilotFormatError) throw new ImportFailure(`${args.file}: ${err.message}`);
      throw new ImportFailure(`cannot read ${args.file}: ${firstLine(err)}`);
    }
  }, (p) => `read ${args.file}: ${p.rows} rows, ${p.offers.length} offers, ${p.skipped.noGpu} without a GPU, ${p.skipped.invalid} rejected`);
  const reasons = rejectedByReason(parsed.errors);
  const allowed = rejectedAllowed(args.maxRejected, parsed.rows);
  if (parsed.skipped.invalid > allowed) {
    const share = Math.round((parsed.skipped.invalid / parsed.rows) * 100);
    throw new ImportFailure(
      `${args.file}: ${parsed.skipped.invalid} of ${parsed.rows} rows rejected (${share}%), more than --max-rejected ${args.maxRejected} allows; nothing imported. ` +
      `Reasons: ${reasons.map((r) => `${r.reason} ${r.rows} (line ${r.lines[0]}${r.rows > 1 ? ", …" : ""})`).join("; ")}`);
  }

  // Imported, an empty catalog would withdraw every offer of the provider: far more likely a wrong file.
  if (parsed.offers.length === 0) throw new ImportFailure(`${args.file}: no GPU offers (${parsed.rows} rows read); nothing imported`);
  const where = describeDatabase(args.databaseUrl, args.dataDir);
  const { result: db, ms: open } = await phase(`opening ${where}`, () => openChecked(args.databaseUrl, args.dataDir, where), () => `opened ${where}`);
  try {
    const offers = parsed.offers.length;
    const batches = Math.max(1, Math.ceil(offers / args.batchSize));
    let alertsFired = 0;
    const { result: s, ms: apply } = await phase(`applying ${offers} offers to ${args.provider}`, async () => {
      await syncGpuModels(db.prisma);
      // Like a provider poll: alerts fire and price ticks are written in the import's transaction; running
      // API nodes deliver them within a second (their event feeds read PostgreSQL for commits made elsewhere).
      return applyCatalog(db.prisma, args.provider, parsed.offers, {
        batchSize: args.batchSize,
        onChanges: async (tx, changes) => { alertsFired = (await recordImport(tx, changes, new Date())).length; },
      });
    }, (r) => `applied ${offers} offers to ${args.provider} in ${batches} batch${batches === 1 ? "" : "es"}: ${r.inserted} created, ${r.updated} updated, ${r.deactivated} deactivated`);
    return {
      file: args.file, provider: args.provider, rowsRead: parsed.rows, offers,
      created: s.inserted, updated: s.updated, unchanged: s.unchanged, reactivated: s.reactivated, deactivated: s.deactivated,
      skippedNoGpu: parsed.skipped.noGpu, rejected: parsed.skipped.invalid, rejectedByReason: reasons,
      pricePoints: s.pricePoints, alertsFired, durationMs: Math.round(performance.now() - started), phasesMs: { read, open, apply },
    };
  } catch (err) {
    if (err instanceof ImportFailure) throw err;
    if (err instanceof CatalogSyncError && err.code === "UNKNOWN_PROVIDER") throw usageError(err.message);
    if (err instanceof CatalogSyncError || isAppError(err)) throw new ImportFailure(`${args.provider}: ${err.message}`);
    throw new ImportFailure(`importing into ${where} failed: ${firstLine(err)}`);
  } finally {
    await db.close().catch(() => {});
  }
}

function printSummary(s: ImportSummary): void {
  const rows = (n: number) => `${n} row${n === 1 ? "" : "s"}`;
  const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  const lines = [
    `Imported ${s.file} as the catalog of ${s.provider} in ${secs(s.durationMs)} (reading ${secs(s.phasesMs.read)}, opening the database ${secs(s.phasesMs.open)}, applying ${secs(s.phasesMs.apply)})`,
    `  rows read     ${s.rowsRead}`,
    `  upserted      ${s.offers} offers: ${s.created} created, ${s.updated} updated${s.reactivated ? ` (${s.reactivated} reactivated)` : ""}, ${s.unchanged} unchanged`,
    `  deactivated   ${s.deactivated} offers no longer listed`,
    `  skipped       ${rows(s.skippedNoGpu)} without a GPU`,
    `  rejected      ${rows(s.rejected)}${s.rejected ? ":" : ""}`,
    ...s.rejectedByReason.map((r) => `    ${String(r.rows).padStart(5)}  ${r.reason} (line${r.lines.length > 1 ? "s" : ""} ${r.lines.join(", ")}${r.rows > r.lines.length ? ", …" : ""})`),
    `  price points  ${s.pricePoints} written`,
    `  alerts fired  ${s.alertsFired}`,
  ];
  console.log(lines.join("\n"));
}

try {
  const args = parseCommandLine();
  if (args === "help") {
    console.log(USAGE);
  } else {
    const summary = await importCatalog(args);
    if (args.json) console.log(JSON.stringify(summary));
    else printSummary(summary);
  }
} catch (err) {
  const failure = err instanceof ImportFailure ? err : new ImportFailure(`failed: ${firstLine(err)}`);
  console.error(`import:catalog: ${failure.message}`);
  process.exitCode = failure.exitCode;
}
