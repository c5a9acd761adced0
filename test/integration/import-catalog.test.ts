// The CLI jobs (issue 15, part 7), run as child processes. `npm run import:catalog` on a database of
// its own (a fresh PostgreSQL database when DATABASE_URL is set, else a temporary PGlite folder):
// progress on stderr, a summary on stdout (text or --json) whose figures are what the database holds
// afterwards, rejected rows counted by reason, every failure one line on stderr with a non-zero status.
// scripts/build-snapshot.ts: the same shape, and it rebuilds the committed snapshot byte for byte.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase, type Database } from "../../src/infra/db.ts";
import { createScratchDatabase } from "../support/db.ts";

const root = join(import.meta.dirname, "..", "..");
const work = mkdtempSync(join(tmpdir(), "import-catalog-"));
const base = process.env.DATABASE_URL;

/** The script's database: its environment, and how the test opens it (PGlite: only while the script is not running). */
let target: { env: Record<string, string | undefined>; open: () => Promise<Database>; drop: () => Promise<void> };

beforeAll(async () => {
  if (base) {
    const { url: databaseUrl, drop } = await createScratchDatabase("test_import");
    await (await openDatabase({ databaseUrl, migrate: true, poolSize: 1 })).close(); // as `npm run db:deploy` would
    target = { env: { DATABASE_URL: databaseUrl }, open: () => openDatabase({ databaseUrl, poolSize: 2 }), drop };
  } else {
    const dataDir = join(work, "pglite");
    target = { env: { DATABASE_URL: undefined, PGLITE_DATA_DIR: dataDir }, open: () => openDatabase({ dataDir }), drop: async () => {} };
  }
});
afterAll(async () => {
  await target?.drop();
  rmSync(work, { recursive: true, force: true });
});

function runScript(script: string, args: string[], env: Record<string, string | undefined>) {
  const child = spawn(process.execPath, ["--import", "tsx", script, ...args], {
    cwd: root, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d) => { stdout += d; });
  child.stderr!.on("data", (d) => { stderr += d; });
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => child.on("exit", (code) => resolve({ code, stdout, stderr })));
}
const importCatalog = (args: string[], env: Record<string, string | undefined> = target.env) => runScript("scripts/import-catalog.ts", args, env);

const HEADER = "InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,Price,Region,GpuInfo,SpotPrice";
const REGIONS = ["us-east-1", "us-west-1", "europe-central-1", "asia-south-1"];
const TYPES = [["gpu_1x_h100_sxm5", "H100", 1, "2.49"], ["gpu_8x_h100_sxm5", "H100", 8, "23.92"], ["gpu_1x_a10", "A10", 1, "0.75"]] as const;
/** 12 offers: 3 instance types × 4 regions. */
const GOOD = TYPES.flatMap(([type, gpu, count, price]) => REGIONS.map((region) => `${type},${gpu},${count},26.0,225.0,${price},${region},,`));
const csv = (name: string, rows: string[]) => {
  const file = join(work, name);
  writeFileSync(file, [HEADER, ...rows].join("\n") + "\n");
  return file;
};

describe("npm run import:catalog", () => {
  it("imports a file, then a changed one: progress on stderr, summaries that match the database, rejected rows by reason", { timeout: 240_000 }, async () => {
    // 17 rows: 12 offers, 1 CPU-only row, 4 rejected (4 ≤ 25% of 17: within the default policy).
    const first = csv("first.csv", [
      "cpu_4x_generalx,,,4.0,16.0,0.2,us-east-1,,", // line 2
      ...GOOD, // lines 3–14
      "gpu_1x_a100,A100,1,30.0,200.0,,us-east-1,,", // line 15: no price (spot-only)
      "gpu_1x_a100,A100,1,30.0,200.0,1.2x,us-west-1,,", // line 16
      "gpu_2x_a100,A100,two,30.0,200.0,2.58,us-east-1,,", // line 17
      GOOD[0]!, // line 18: the first offer again
    ]);
    const one = await importCatalog([first, "--provider", "lambda"]);
    expect(one.stderr.match(/^import:catalog:/m)).toBeNull();
    expect(one.code).toBe(0);
    // Not a terminal: one plain line per phase, in order (and "still at work" every 10 s of a long one).
    const phases = one.stderr.split("\n").filter((l) => l && !l.includes("… still at work after"));
    expect(phases.map((l) => l.replace(/ \(\d+\.\d s\)$/, ""))).toEqual([
      `read ${first}: 17 rows, 12 offers, 1 without a GPU, 4 rejected`,
      expect.stringMatching(base ? /^opened PostgreSQL \S+\/gpubroker_test_import_\w+$/ : /^opened the embedded database in .*pglite$/),
      "applied 12 offers to lambda in 1 batch: 12 created, 0 updated, 0 deactivated",
    ]);
    const summary = one.stdout.split("\n");
    expect(summary[0]).toMatch(new RegExp(`^Imported ${first} as the catalog of lambda in \\d+\\.\\d s \\(reading \\d+\\.\\d s, opening the database \\d+\\.\\d s, applying \\d+\\.\\d s\\)$`));
    expect(summary.slice(1)).toEqual([
      "  rows read     17",
      "  upserted      12 offers: 12 created, 0 updated, 0 unchanged",
      "  deactivated   0 offers no longer listed",
      "  skipped       1 row without a GPU",
      "  rejected      4 rows:",
      "        2  unparsable Price (lines 15, 16)",
      "        1  AcceleratorCount is not a whole number (line 17)",
      "        1  duplicate row (line 18)",
      "  price points  12 written",
      "  alerts fired  0",
      "",
    ]);

    // The next catalog: one offer gone, one repriced, one new; as JSON.
    const second = csv("second.csv", [
      ...GOOD.slice(1).map((row) => (row.startsWith("gpu_1x_a10,A10,1,26.0,225.0,0.75,us-east-1") ? row.replace(",0.75,", ",0.69,") : row)),
      "gpu_1x_gh200,GH200,1,64.0,432.0,1.49,us-east-1,,",
    ]);
    const two = await importCatalog([second, "--provider", "lambda", "--json"]);
    expect(two.code).toBe(0);
    const report = JSON.parse(two.stdout);
    expect(report).toMatchObject({
      file: second, provider: "lambda", rowsRead: 12, offers: 12, created: 1, updated: 1, unchanged: 10, reactivated: 0, deactivated: 1,
      skippedNoGpu: 0, rejected: 0, rejectedByReason: [], pricePoints: 2, alertsFired: 0,
    });
    expect(report.durationMs).toBeGreaterThanOrEqual(report.phasesMs.read + report.phasesMs.open + report.phasesMs.apply - 3);

    // A broken file (most prices unreadable) is refused whole: it would have withdrawn the catalog.
    const broken = csv("broken.csv", [...GOOD.slice(0, 2), ...GOOD.slice(2, 10).map((row) => row.replace(/,(2\.49|23\.92|0\.75),/, ",n/a,"))]);
    const three = await importCatalog([broken, "--provider", "lambda"]);
    expect(three.code).toBe(1);
    expect(three.stdout).toBe("");
    expect(three.stderr.split("\n").filter((l) => l.startsWith("import:catalog:"))).toEqual([
      `import:catalog: ${broken}: 8 of 10 rows rejected (80%), more than --max-rejected 25% allows; nothing imported. Reasons: unparsable Price 8 (line 4, …)`,
    ]);

    // What the database holds: the second import's catalog, nothing of the refused one.
    const db = await target.open();
    try {
      const lambda = await db.prisma.provider.findUniqueOrThrow({ where: { slug: "lambda" } });
      const offers = await db.prisma.gpuOffer.findMany({ where: { providerId: lambda.id } });
      expect(offers.filter((o) => o.active)).toHaveLength(report.offers);
      expect(offers.filter((o) => !o.active).map((o) => o.externalId)).toEqual(["gpu_1x_h100_sxm5|us-east-1|"]);
      expect(offers).toHaveLength(12 + report.created);
      expect(offers.find((o) => o.externalId === "gpu_1x_a10|us-east-1|")!.onDemandPrice.toFixed(4)).toBe("0.6900");
      expect(await db.prisma.pricePoint.count({ where: { providerId: lambda.id } })).toBe(12 + report.pricePoints);
      // One price tick per change of each import: 12 new, then 1 new + 1 repriced + 1 withdrawn.
      expect(await db.prisma.outboxEvent.count({ where: { stream: "market" } })).toBe(12 + report.created + report.updated + report.deactivated);
    } finally {
      await db.close();
    }
  });

  it("--max-rejected takes a number of rows", { timeout: 120_000 }, async () => {
    const file = csv("strict.csv", [...GOOD.slice(0, 3), "gpu_1x_a100,A100,1,30.0,200.0,,us-east-1,,"]);
    const run = await importCatalog([file, "--provider", "lambda", "--max-rejected", "0"]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`import:catalog: ${file}: 1 of 4 rows rejected (25%), more than --max-rejected 0 allows; nothing imported. Reasons: unparsable Price 1 (line 5)\n`);
  });

  it.each([
    ["a missing file", 2, () => [join(work, "nope.csv"), "--provider", "lambda"], {}, /^import:catalog: no such file: .*nope\.csv \(--help for usage\)$/],
    ["an unknown option", 2, () => [csv("a.csv", GOOD), "-p", "lambda", "--fast"], {}, /^import:catalog: Unknown option '--fast'/],
    ["a file without the required columns", 1, () => [(writeFileSync(join(work, "cols.csv"), "Name,Price\nx,1\n"), join(work, "cols.csv")), "-p", "lambda"], {},
      /^import:catalog: .*cols\.csv: missing required columns InstanceType, AcceleratorName, AcceleratorCount, Region \(header: Name,Price\)$/],
    ["a file without GPU offers", 1, () => [csv("cpu.csv", ["cpu_4x_generalx,,,4.0,16.0,0.2,us-east-1,,"]), "-p", "lambda"], {},
      /^import:catalog: .*cpu\.csv: no GPU offers \(1 rows read\); nothing imported$/],
    ["a DATABASE_URL that is not PostgreSQL", 2, () => [csv("a.csv", GOOD), "-p", "lambda"], { DATABASE_URL: "mysql://localhost/gpubroker" },
      /^import:catalog: DATABASE_URL: must be a URL starting with postgres:\/\/ or postgresql:\/\/$/],
    ["an unreachable database", 1, () => [csv("a.csv", GOOD), "-p", "lambda"], { DATABASE_URL: "postgresql://gpubroker:secret@127.0.0.1:9/gpubroker" },
      /^import:catalog: cannot connect to PostgreSQL 127\.0\.0\.1:9\/gpubroker: Can't reach database server at 127\.0\.0\.1:9$/],
  ] as const)("%s: exits %i, one line on stderr, nothing on stdout", async (_what, code, args, env, message) => {
    const run = await importCatalog(args(), { ...target.env, ...env });
    expect(run.code).toBe(code);
    expect(run.stdout).toBe("");
    const failures = run.stderr.split("\n").filter((l) => l.startsWith("import:catalog:"));
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatch(message);
    expect(run.stderr).not.toMatch(/\n\s+at /); // no stack trace
    expect(run.stderr).not.toContain("secret");
  });
});

describe("scripts/build-snapshot.ts", () => {
  it("rebuilds data/catalog-snapshot.json byte for byte from the committed catalogs: a line per provider on stderr, the summary on stdout", async () => {
    const committed = readFileSync(join(root, "data", "catalog-snapshot.json"), "utf8");
    const out = join(work, "snapshot.json");
    const run = await runScript("scripts/build-snapshot.ts", ["--taken-at", JSON.parse(committed).takenAt, "--out", out], {});
    expect(run.code).toBe(0);
    expect(readFileSync(out, "utf8")).toBe(committed);
    expect(run.stderr.split("\n").filter(Boolean).map((l) => l.split(":")[0])).toEqual(["lambda", "vast", "shadeform", "primeintellect", "runpod", "hyperstack", "aws"]);
    expect(run.stdout).toMatch(new RegExp(`^wrote ${out}: 7 providers, 1437 offers, \\d+ known GPU models, \\d+ KiB in \\d+\\.\\d s\n$`));
  });

  it("a bad --taken-at: exits 2 with one line, writes nothing", async () => {
    const out = join(work, "never.json");
    const run = await runScript("scripts/build-snapshot.ts", ["--taken-at", "yesterday", "--out", out], {});
    expect(run.code).toBe(2);
    expect(run.stderr).toBe('build-snapshot: --taken-at must be a UTC time such as 2026-11-26T10:00:00.000Z (got "yesterday")\n');
    expect(() => readFileSync(out)).toThrow(/ENOENT/);
  });
});
