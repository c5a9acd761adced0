// Builds data/catalog-snapshot.json (the zero-setup seed) from public SkyPilot catalogs:
// the five in data/skypilot-catalog/v8 and the two excerpts in data/catalogs. A line per provider on
// stderr, the summary on stdout; a failure is one line on stderr (exit 1; 2 for a wrong command line).
// The same --taken-at gives the same file byte for byte.
// Usage: npx tsx scripts/build-snapshot.ts [--taken-at <ISO time>] [--out <file>]
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { parseSkypilotVms, SkypilotFormatError } from "../src/domain/catalog/skypilot.ts";
import type { CatalogOffer } from "../src/domain/catalog/types.ts";
import { DEFAULT_SNAPSHOT_PATH, parseSnapshot, type CatalogSnapshot } from "../src/ingestion/snapshot.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const SHARED = join(ROOT, "data", "skypilot-catalog", "v8");
const REPOSITORY = "skypilot-org/skypilot-catalog";
const SHARED_NOTE = "kept in data/skypilot-catalog (see its SOURCE.md)";

interface Source {
  slug: string;
  file: string;
  path: string;
  commit: string;
  retrieved: string;
  note: string;
  /** Reduces the offers kept in the snapshot (size); says why in `note`. */
  trim?: (offers: CatalogOffer[]) => CatalogOffer[];
}

// RunPod lists every instance type once per data-centre zone at the same price: keep the first zone per region.
function firstZonePerRegion(offers: CatalogOffer[]): CatalogOffer[] {
  const seen = new Set<string>();
  return offers.filter((o) => {
    const key = `${o.instanceType}|${o.region}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

const SOURCES: Source[] = [
  { slug: "lambda", file: join(SHARED, "lambda/vms.csv"), path: "catalogs/v8/lambda/vms.csv", commit: "0f4070387edc953d7004cff197940e1918a1d6aa", retrieved: "2026-11-26", note: `full file, ${SHARED_NOTE}` },
  { slug: "vast", file: join(SHARED, "vast/vms.csv"), path: "catalogs/v8/vast/vms.csv", commit: "01b8cdda287814b30ff0acb49746cca19fbd4355", retrieved: "2026-11-26", note: `full file, ${SHARED_NOTE}` },
  { slug: "shadeform", file: join(SHARED, "shadeform/vms.csv"), path: "catalogs/v8/shadeform/vms.csv", commit: "002363dac75913b446b2d3d564ae795678849dfd", retrieved: "2026-11-26", note: `full file, ${SHARED_NOTE}` },
  {
    slug: "primeintellect", file: join(SHARED, "primeintellect/vms.csv"), path: "catalogs/v8/primeintellect/vms.csv", commit: "d9a304ea01e96cd4a043159c60d9326d8de4cf0f", retrieved: "2026-11-26",
    note: `full file, ${SHARED_NOTE}; CPU-only rows and spot-only rows (no on-demand Price) are not offers here`,
  },
  {
    slug: "runpod", file: join(SHARED, "runpod/vms.csv"), path: "catalogs/v8/runpod/vms.csv", commit: "01acdfd419ce5afae1289ff14825b893ced0c196", retrieved: "2026-11-26",
    note: `first 2,057 data rows of the source file (43 instance types), ${SHARED_NOTE}; trimmed to the first listed zone per instance type and region (every zone of a region has the same price)`,
    trim: firstZonePerRegion,
  },
  {
    slug: "hyperstack", file: join(ROOT, "data/catalogs/hyperstack-vms.csv"), path: "catalogs/v8/hyperstack/vms.csv", commit: "fdc9d908ab0b2af9f468f139fb3f662c8c6b3257", retrieved: "2026-11-26",
    note: "full file, kept in data/catalogs/hyperstack-vms.csv (see data/catalogs/SOURCE.md)",
  },
  {
    slug: "aws", file: join(ROOT, "data/catalogs/aws-vms.csv"), path: "catalogs/v8/aws/vms.csv", commit: "00148f2af3672e2229b4f7bf8157d5a3f36e3c35", retrieved: "2026-11-26",
    note: "excerpt: every row of the GPU instance types p3.8xlarge, p3dn.24xlarge, p4d.24xlarge, p4de.24xlarge, p5.48xlarge, p5.4xlarge, p5e.48xlarge, p5en.48xlarge, kept in data/catalogs/aws-vms.csv (see data/catalogs/SOURCE.md); p5e rows publish no on-demand price and are not offers here",
  },
];

// Nulls carry no information in the seed (absent = unknown) and cost a third of the file.
function compact(offer: CatalogOffer): CatalogOffer {
  return Object.fromEntries(Object.entries(offer).filter(([, v]) => v !== null && v !== undefined)) as unknown as CatalogOffer;
}

/** A failure to report in one line; `exitCode` 2 when the command line is wrong. */
class BuildFailure extends Error {
  constructor(message: string, readonly exitCode: 1 | 2 = 1) {
    super(message);
  }
}

function readSource(s: Source): CatalogOffer[] {
  let text: string;
  try {
    text = readFileSync(s.file, "utf8");
  } catch (err) {
    throw new BuildFailure(`cannot read the ${s.slug} catalog: ${(err as Error).message}`);
  }
  try {
    const parsed = parseSkypilotVms(text);
    const offers = (s.trim ? s.trim(parsed.offers) : parsed.offers).map(compact);
    console.error(`${s.slug}: ${parsed.rows} rows, ${parsed.offers.length} offers, ${offers.length} kept (no GPU ${parsed.skipped.noGpu}, invalid ${parsed.skipped.invalid})`);
    return offers;
  } catch (err) {
    if (err instanceof SkypilotFormatError) throw new BuildFailure(`${s.file}: ${err.message}`);
    throw err;
  }
}

function build(): void {
  const started = performance.now();
  let values;
  try {
    ({ values } = parseArgs({ options: { "taken-at": { type: "string" }, out: { type: "string" } } }));
  } catch (err) {
    throw new BuildFailure((err as Error).message, 2);
  }
  const takenAt = values["taken-at"] ?? new Date().toISOString();
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/.test(takenAt) || Number.isNaN(Date.parse(takenAt))) {
    throw new BuildFailure(`--taken-at must be a UTC time such as 2026-11-26T10:00:00.000Z (got "${takenAt}")`, 2);
  }
  const out = values.out ?? DEFAULT_SNAPSHOT_PATH;

  const snapshot: CatalogSnapshot = {
    format: 1,
    takenAt,
    sources: [{
      repository: REPOSITORY,
      license: "not confirmed: the repository has no LICENSE file; the SkyPilot project itself is Apache-2.0",
      note: "public price catalogs (instance types, GPUs, regions, hourly USD prices) as published by SkyPilot's catalog fetchers",
    }],
    providers: SOURCES.map((s) => ({ slug: s.slug, source: { repository: REPOSITORY, path: s.path, commit: s.commit, retrieved: s.retrieved, note: s.note }, offers: readSource(s) })),
  };
  try {
    parseSnapshot(snapshot, "the built snapshot");
  } catch (err) {
    throw new BuildFailure((err as Error).message.split("\n").map((l) => l.trim()).filter(Boolean).join(" "));
  }

  // One offer per line: small, and diffs stay readable.
  const body = snapshot.providers.map((p) => {
    const offers = p.offers.map((o) => `      ${JSON.stringify(o)}`).join(",\n");
    return `    {"slug": ${JSON.stringify(p.slug)}, "source": ${JSON.stringify(p.source)}, "offers": [\n${offers}\n    ]}`;
  }).join(",\n");
  const text = `{\n  "format": 1,\n  "takenAt": ${JSON.stringify(snapshot.takenAt)},\n  "sources": ${JSON.stringify(snapshot.sources)},\n  "providers": [\n${body}\n  ]\n}\n`;
  try {
    writeFileSync(out, text);
  } catch (err) {
    throw new BuildFailure(`cannot write ${out}: ${(err as Error).message}`);
  }
  const offers = snapshot.providers.reduce((n, p) => n + p.offers.length, 0);
  const models = new Set(snapshot.providers.flatMap((p) => p.offers.map((o) => o.gpuModel).filter(Boolean)));
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  console.log(`wrote ${out}: ${snapshot.providers.length} providers, ${offers} offers, ${models.size} known GPU models, ${(text.length / 1024).toFixed(0)} KiB in ${seconds} s`);
}

try {
  build();
} catch (err) {
  const failure = err instanceof BuildFailure ? err : new BuildFailure(`failed: ${String((err as Error).message ?? err).split("\n")[0]}`);
  console.error(`build-snapshot: ${failure.message}`);
  process.exitCode = failure.exitCode;
}
