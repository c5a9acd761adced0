// SkyPilot catalog importer (`catalogs/v8/<cloud>/vms.csv`): one row per instance type × region
// (× zone). Columns and their order differ per file, so every field is looked up by header name.
//
// VRAM per GPU. A GPU that normalises to a known model takes the spec table's vramGb. Otherwise
// it comes from GpuInfo's `SizeInMiB`, whose meaning differs per file:
//   - a value under 1024 is GB per GPU (RunPod and Shadeform write GB into the MiB field;
//     no GPU has less than 1 GiB);
//   - a larger value is MiB, either per GPU (Lambda, Hyperstack, AWS) or for all GPUs of the
//     instance (Vast, PrimeIntellect). Which one is decided per file from rows of the same GPU
//     with different counts (constant value → per GPU; value proportional to count → total),
//     or set with `opts.gpuMemory`; with no evidence, per GPU.
// MiB are converted to GiB (÷1024) and rounded to 0.1, matching how vendors quote "80 GB".
import { parse } from "csv-parse/sync";
import { GPU_SPECS } from "../gpu/specs.ts";
import { normalizeGpuName } from "../gpu/normalize.ts";
import { normalizeDecimal } from "../money.ts";
import { countryForRegion } from "./region.ts";
import type { CatalogOffer, Interconnect } from "./types.ts";

export const REQUIRED_HEADERS = ["InstanceType", "AcceleratorName", "AcceleratorCount", "Price", "Region"] as const;

export interface SkypilotParseOptions {
  /** How GpuInfo's SizeInMiB (when ≥ 1024) is read: per GPU, for all GPUs, or detected per file. */
  gpuMemory?: "auto" | "per-gpu" | "total";
  /** At most this many row errors are kept in `errors` (counts are always exact). Default 100. */
  maxErrors?: number;
}

export interface SkypilotRowError {
  /** 1-based line of the file where the record ends. */
  line: number;
  reason: string;
}

export interface SkypilotParseResult {
  offers: CatalogOffer[];
  /** Data rows read (the header excluded). */
  rows: number;
  skipped: { noGpu: number; invalid: number };
  errors: SkypilotRowError[];
  /** How SizeInMiB was read for this file. */
  gpuMemory: "per-gpu" | "total";
}

export class SkypilotFormatError extends Error {
  readonly code = "CATALOG_FORMAT";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "SkypilotFormatError";
  }
}

const SPEC_VRAM = new Map(GPU_SPECS.map((s) => [s.name, s.vramGb]));

function isZero(decimal: string): boolean {
  return /^0*(\.0*)?$/.test(decimal);
}

interface GpuInfo {
  name: string | null;
  sizeInMiB: number | null;
}

// GpuInfo is a Python dict literal in most files and JSON in PrimeIntellect's: read the two fields we use.
function readGpuInfo(text: string): GpuInfo {
  const name = /["']Name["']\s*:\s*["']([^"']*)["']/.exec(text)?.[1]?.trim() || null;
  const size = /["']SizeInMiB["']\s*:\s*([\d.]+)/.exec(text)?.[1];
  const sizeInMiB = size !== undefined && Number.isFinite(Number(size)) && Number(size) > 0 ? Number(size) : null;
  return { name, sizeInMiB };
}

function inferInterconnect(...texts: (string | null | undefined)[]): Interconnect | null {
  const s = texts.filter(Boolean).join(" ");
  if (/sxm/i.test(s)) return "SXM";
  // "H100 NVL" / "-NVLink" boards are bridged with NVLink (checked before PCIe: "A100-80G-PCIe-NVLink").
  if (/nvlink|(^|[^a-z])nvl([^a-z]|$)/i.test(s)) return "NVLINK";
  if (/pcie/i.test(s)) return "PCIE";
  return null;
}

function toNumber(raw: string | undefined): number | null {
  if (raw === undefined || raw.trim() === "") return null;
  const n = Number(raw);
  return Number.isFinite(n) ? n : null;
}

const gib = (mib: number) => Math.round((mib / 1024) * 10) / 10;

interface GpuRow {
  line: number;
  get: (h: string) => string | undefined;
  name: string;
  count: number;
  info: GpuInfo;
}

// Decides per file whether SizeInMiB (in MiB) is per GPU or for all GPUs (see the file comment).
function detectGpuMemory(rows: GpuRow[]): "per-gpu" | "total" {
  const groups = new Map<string, { count: number; size: number }[]>();
  for (const r of rows) {
    const size = r.info.sizeInMiB;
    if (size === null || size < 1024) continue;
    const key = `${r.name}|${r.info.name ?? ""}`;
    const group = groups.get(key) ?? [];
    group.push({ count: r.count, size });
    groups.set(key, group);
  }
  let perGpu = 0;
  let total = 0;
  for (const g of groups.values()) {
    if (new Set(g.map((x) => x.count)).size < 2) continue;
    if (new Set(g.map((x) => x.size)).size === 1) perGpu++;
    else if (new Set(g.map((x) => x.size / x.count)).size === 1) total++;
  }
  return total > perGpu ? "total" : "per-gpu";
}

export function parseSkypilotVms(text: string, opts: SkypilotParseOptions = {}): SkypilotParseResult {
  let records: { record: string[]; info: { lines: number } }[];
  try {
    records = parse(text, {
      bom: true,
      info: true,
      relax_column_count: true,
      skip_empty_lines: true,
    }) as unknown as { record: string[]; info: { lines: number } }[];
  } catch (err) {
    throw new SkypilotFormatError(`not a readable CSV file: ${(err as Error).message}`, { cause: err });
  }
  const header = records.shift()?.record.map((h) => h.trim());
  if (!header) throw new SkypilotFormatError("empty file: no header row");
  const missing = REQUIRED_HEADERS.filter((h) => !header.includes(h));
  if (missing.length > 0) {
    throw new SkypilotFormatError(
      `missing required column${missing.length > 1 ? "s" : ""} ${missing.join(", ")} (header: ${header.join(",")})`,
    );
  }
  const index = new Map(header.map((h, i) => [h, i]));
  const maxErrors = opts.maxErrors ?? 100;
  const result: SkypilotParseResult = { offers: [], rows: records.length, skipped: { noGpu: 0, invalid: 0 }, errors: [], gpuMemory: "per-gpu" };
  const invalid = (line: number, reason: string) => {
    result.skipped.invalid++;
    if (result.errors.length < maxErrors) result.errors.push({ line, reason });
  };

  const gpuRows: GpuRow[] = [];
  for (const { record, info } of records) {
    const get = (h: string) => {
      const i = index.get(h);
      return i === undefined ? undefined : record[i]?.trim();
    };
    if (record.length !== header.length) {
      invalid(info.lines, `expected ${header.length} fields, found ${record.length}`);
      continue;
    }
    const name = get("AcceleratorName") ?? "";
    const countRaw = get("AcceleratorCount") ?? "";
    const count = toNumber(countRaw);
    if (name === "" || countRaw === "" || count === 0) {
      result.skipped.noGpu++;
      continue;
    }
    if (count === null || count < 0 || !Number.isInteger(count)) {
      invalid(info.lines, `AcceleratorCount "${countRaw}" is not a whole number`);
      continue;
    }
    gpuRows.push({ line: info.lines, get, name, count, info: readGpuInfo(get("GpuInfo") ?? "") });
  }

  result.gpuMemory = !opts.gpuMemory || opts.gpuMemory === "auto" ? detectGpuMemory(gpuRows) : opts.gpuMemory;
  const seen = new Set<string>();
  for (const { line, get, name, count, info } of gpuRows) {
    const instanceType = get("InstanceType") ?? "";
    const region = get("Region") ?? "";
    const zone = get("AvailabilityZone") || null;
    if (instanceType === "") { invalid(line, "empty InstanceType"); continue; }
    if (region === "") { invalid(line, "empty Region"); continue; }
    const priceRaw = get("Price") ?? "";
    const onDemandPrice = normalizeDecimal(priceRaw);
    if (onDemandPrice === null) { invalid(line, `unparsable Price "${priceRaw}"`); continue; }
    if (isZero(onDemandPrice)) { invalid(line, "Price is zero"); continue; }
    const spotRaw = get("SpotPrice") ?? "";
    const spot = spotRaw === "" ? "0" : normalizeDecimal(spotRaw);
    if (spot === null) { invalid(line, `unparsable SpotPrice "${spotRaw}"`); continue; }
    const externalId = `${instanceType}|${region}|${zone ?? ""}`;
    if (seen.has(externalId)) { invalid(line, `duplicate row for ${externalId}`); continue; }
    seen.add(externalId);

    let statedVram: number | null = null;
    if (info.sizeInMiB !== null) {
      if (info.sizeInMiB < 1024) statedVram = info.sizeInMiB;
      else statedVram = gib(result.gpuMemory === "total" ? info.sizeInMiB / count : info.sizeInMiB);
    }
    const model = resolveModel(name, info.name, instanceType, statedVram);
    const vcpus = toNumber(get("vCPUs"));
    const ramGb = toNumber(get("MemoryGiB"));
    result.offers.push({
      externalId,
      instanceType,
      gpuName: name,
      gpuModel: model,
      gpuCount: count,
      vramPerGpuGb: (model !== null ? SPEC_VRAM.get(model) : undefined) ?? statedVram,
      vcpus: vcpus === null ? null : Math.round(vcpus),
      ramGb,
      region,
      zone,
      country: countryForRegion(region, zone),
      onDemandPrice,
      spotPrice: isZero(spot) ? null : spot,
      currency: "USD",
      interconnect: inferInterconnect(instanceType, name, info.name),
      deployment: null,
    });
  }
  result.errors.sort((a, b) => a.line - b.line);
  return result;
}

// The GpuInfo name is sometimes more specific than AcceleratorName (RunPod: "H100" vs "H100 PCIe").
function resolveModel(acceleratorName: string, infoName: string | null, instanceType: string, vramGb: number | null): string | null {
  const hints = { vramGb, instanceType };
  if (infoName && infoName !== acceleratorName) {
    const fromInfo = normalizeGpuName(infoName, hints);
    if (fromInfo.known) return fromInfo.name;
  }
  const match = normalizeGpuName(acceleratorName, hints);
  return match.known ? match.name : null;
}
