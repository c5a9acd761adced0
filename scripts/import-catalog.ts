// Imports a SkyPilot-format vms.csv as the complete catalog of one provider.
// Usage: npm run import:catalog -- <vms.csv> --provider <slug> [--batch-size <n>]
import { existsSync, readFileSync, statSync } from "node:fs";
import { parseArgs } from "node:util";
import { openDatabase } from "../src/infra/db.ts";
import { DataDirLockedError } from "../src/infra/data-dir-lock.ts";
import { parseSkypilotVms, SkypilotFormatError } from "../src/domain/catalog/skypilot.ts";
import { syncGpuModels } from "../src/ingestion/gpu-models.ts";
import { applyCatalog, CatalogSyncError } from "../src/ingestion/catalog-sync.ts";
import { recordImport } from "../src/ingestion/change-events.ts";
import { PROVIDERS } from "../src/ingestion/registry.ts";

const USAGE = `usage: npm run import:catalog -- <vms.csv> --provider <slug> [--batch-size <n>]
  known providers: ${PROVIDERS.map((p) => p.slug).join(", ")}
  DATABASE_URL selects PostgreSQL; otherwise embedded PGlite in PGLITE_DATA_DIR (default .data/pglite)`;

function usage(problem: string): never {
  console.error(`import:catalog: ${problem}\n${USAGE}`);
  process.exit(2);
}

const OPTIONS = { provider: { type: "string", short: "p" }, "batch-size": { type: "string" }, help: { type: "boolean", short: "h" } } as const;
let args: ReturnType<typeof parseArgs<{ allowPositionals: true; options: typeof OPTIONS }>>;
try {
  args = parseArgs({ allowPositionals: true, options: OPTIONS });
} catch (err) {
  usage((err as Error).message);
}
if (args.values.help) {
  console.log(USAGE);
  process.exit(0);
}
const [file, ...extra] = args.positionals;
const slug = args.values.provider;
if (!file) usage("missing the catalog file");
if (extra.length > 0) usage(`unexpected arguments: ${extra.join(" ")}`);
if (!slug) usage("missing --provider <slug>");
if (!existsSync(file) || !statSync(file).isFile()) usage(`no such file: ${file}`);
const batchSize = args.values["batch-size"] === undefined ? undefined : Number(args.values["batch-size"]);
if (batchSize !== undefined && !(Number.isInteger(batchSize) && batchSize > 0)) usage("--batch-size must be a positive integer");

const parseStart = performance.now();
let parsed;
try {
  parsed = parseSkypilotVms(readFileSync(file, "utf8"));
} catch (err) {
  if (err instanceof SkypilotFormatError) usage(`${file}: ${err.message}`);
  throw err;
}
const parseMs = performance.now() - parseStart;

const db = await openDatabase({
  databaseUrl: process.env.DATABASE_URL,
  dataDir: process.env.PGLITE_DATA_DIR ?? ".data/pglite",
  migrate: !process.env.DATABASE_URL,
}).catch((err: unknown) => {
  // A running server holds the embedded folder: say so in one line (import through it, or stop it first).
  if (err instanceof DataDirLockedError) {
    console.error(err.message);
    process.exit(1);
  }
  throw err;
});
try {
  const t0 = performance.now();
  await syncGpuModels(db.prisma);
  // Like a provider poll: alerts fire and price ticks are written in the import's transaction; running
  // API nodes deliver them within a second (their event feeds read PostgreSQL for commits made elsewhere).
  let notifications = 0;
  const s = await applyCatalog(db.prisma, slug, parsed.offers, {
    batchSize, onChanges: async (tx, changes) => { notifications = (await recordImport(tx, changes, new Date())).length; },
  });
  // Parse + sync time; opening (and migrating) the database is not the import's cost.
  const seconds = ((parseMs + performance.now() - t0) / 1000).toFixed(1);
  const skipped = parsed.skipped.noGpu + parsed.skipped.invalid;
  console.log(
    `${slug}: ${parsed.rows} rows → inserted ${s.inserted}, updated ${s.updated}, unchanged ${s.unchanged}, ` +
    `deactivated ${s.deactivated}${s.reactivated ? `, reactivated ${s.reactivated}` : ""}, ` +
    `skipped ${skipped} (no GPU ${parsed.skipped.noGpu}, invalid ${parsed.skipped.invalid}), price points ${s.pricePoints}` +
    `${notifications ? `, alerts fired ${notifications}` : ""} in ${seconds}s`,
  );
  for (const e of parsed.errors.slice(0, 5)) console.error(`  line ${e.line}: ${e.reason}`);
  if (parsed.errors.length > 5) console.error(`  … ${parsed.skipped.invalid - 5} more invalid rows`);
} catch (err) {
  if (err instanceof CatalogSyncError && err.code === "UNKNOWN_PROVIDER") {
    await db.close();
    usage(err.message);
  }
  throw err;
} finally {
  await db.close();
}
