// Maps every provider's spelling of a GPU ("NVIDIA A100-SXM4-80GB", "a100_80g", "gpu_8x_h100_sxm5",
// "RTX 6000Ada") to a canonical GpuSpec name, or to an explicit unknown.
//
// A name is upper-cased and split on anything that is not a letter or digit; vendor and brand words
// ("NVIDIA", "GeForce", "Tesla", "AMD Instinct", ...), GPU counts ("8x"), memory types ("HBM3"),
// memory sizes ("80GB", "80 G") and form factors ("SXM4", "PCIe", "NVL") are taken out, and the rest,
// joined, is the family key ("RTX", "6000", "ADA" → "RTX6000ADA"). A key that is not listed is unknown:
// nothing is matched by prefix, so "RTX 4070 Ti" never becomes "RTX-4070".
//
// Within a family the form factor (from the name, else the instance type) filters the variants, then
// the memory size (from the name, else hints.vramGb, else the instance type) picks the nearest one.
// What is left ambiguous resolves to the first variant listed: the one clouds most commonly rent.
import { getGpuSpec } from "./specs.ts";

export type GpuMatch = { known: true; name: string } | { known: false; raw: string };

type FormFactor = "SXM" | "PCIe" | "NVL";

// Family keys (space-separated aliases) → canonical variants, default first. Defaults: plain "H100"
// → SXM; plain "A100" → SXM 40GB (AWS p4d, GCP a2, Lambda); "A100 80GB" → SXM unless PCIe is said;
// "A100 PCIe" → 80GB; "V100" → SXM2 16GB (AWS p3, GCP, Lambda); "H200" → SXM; "GH200" → 96GB
// (Lambda); "A800" → PCIe (Cudo); "RTX 6000" → the Turing Quadro (Lambda, SkyPilot's 24 GB); 4060 Ti → 16GB.
const FAMILIES: ReadonlyArray<readonly [keys: string, models: readonly string[]]> = [
  ["B300", ["B300"]],
  ["B200", ["B200"]],
  ["H200", ["H200-SXM-141GB", "H200-NVL-141GB"]],
  ["GH200", ["GH200-96GB", "GH200-144GB"]],
  ["H100", ["H100-SXM-80GB", "H100-PCIE-80GB", "H100-NVL-94GB"]],
  ["A100", ["A100-SXM-40GB", "A100-SXM-80GB", "A100-PCIE-80GB", "A100-PCIE-40GB"]],
  ["A800", ["A800-PCIE-80GB", "A800-SXM-80GB"]],
  ["A40", ["A40"]],
  ["A30", ["A30"]],
  ["A16", ["A16"]],
  ["A10", ["A10"]],
  ["A10G", ["A10G"]],
  ["L40S", ["L40S"]],
  ["L40", ["L40"]],
  ["L4", ["L4"]],
  ["T4 T4G", ["T4"]], // AWS g5g's "T4g" is the same Tesla T4 paired with Graviton
  ["V100", ["V100-SXM-16GB", "V100-SXM-32GB", "V100-PCIE-16GB", "V100-PCIE-32GB"]],
  ["P100", ["P100"]],
  ["P4", ["P4"]],
  ["K80", ["K80"]],
  ["M60", ["M60"]],
  ["M4000", ["QUADRO-M4000"]],
  ["P4000", ["QUADRO-P4000"]],
  ["RTX6000", ["QUADRO-RTX-6000", "RTX-6000-ADA", "RTX-PRO-6000"]],
  ["RTX8000", ["QUADRO-RTX-8000"]],
  ["A2000 RTXA2000", ["RTX-A2000"]],
  ["A4000 RTXA4000", ["RTX-A4000"]],
  ["A4500 RTXA4500", ["RTX-A4500"]],
  ["A5000 RTXA5000", ["RTX-A5000"]],
  ["A6000 RTXA6000", ["RTX-A6000"]],
  ["RTX4000ADA", ["RTX-4000-ADA"]],
  ["RTX6000ADA", ["RTX-6000-ADA"]],
  ["RTXPRO6000 RTXPRO6000S RTXPRO6000SERVER RTXPRO6000WS RTXPRO6000WORKSTATION", ["RTX-PRO-6000"]],
  ["GTX1660S GTX1660SUPER", ["GTX-1660-SUPER"]],
  ["RTX3060", ["RTX-3060"]],
  ["RTX3060TI", ["RTX-3060-TI"]],
  ["RTX3070", ["RTX-3070"]],
  ["RTX3080", ["RTX-3080"]],
  ["RTX3090", ["RTX-3090"]],
  ["RTX4060", ["RTX-4060"]],
  ["RTX4060TI", ["RTX-4060-TI-16GB", "RTX-4060-TI-8GB"]],
  ["RTX4070", ["RTX-4070"]],
  ["RTX4070TISUPER RTX4070STI", ["RTX-4070-TI-SUPER"]],
  ["RTX4090", ["RTX-4090"]],
  ["RTX5060", ["RTX-5060"]],
  ["RTX5090", ["RTX-5090"]],
  ["MI25", ["MI25"]],
  ["MI250X", ["MI250X"]],
  ["MI300X", ["MI300X"]],
];

const MODELS_BY_KEY = new Map<string, readonly string[]>(
  FAMILIES.flatMap(([keys, models]) => keys.split(" ").map((key) => [key, models] as const)),
);

// Words that name the vendor, brand or packaging, never the chip ("Q" is Vast's "Q RTX 8000").
const NOISE = new Set(["NVIDIA", "GEFORCE", "TESLA", "QUADRO", "Q", "AMD", "INSTINCT", "RADEON", "GPU", "GENERATION", "EDITION", "BLACKWELL", "OAM"]);
// Suffixes a catalog column drops but the instance type keeps ("RTX4070" on "2x-RTX_4070S_Ti-...").
const VARIANT_SUFFIXES = new Set(["TI", "S", "SUPER", "STI", "TISUPER", "ADA"]);
// A memory size counts only when it lies within this fraction of a variant's (GiB vs GB, usable vs marketed).
const VRAM_TOLERANCE = 0.15;

interface ParsedName {
  key: string;
  form?: FormFactor;
  memGb?: number;
}

function parseName(text: string): ParsedName {
  const tokens = text
    .toUpperCase()
    .replace(/(NVLINK|NVL|SXM|PCIE|HBM|GDDR)/g, " $1") // split "A100SXM4" like "A100 SXM4"
    .replace(/[^A-Z0-9]+/g, " ")
    .replace(/\b(\d+) ?(?:GB|GIB|G)\b/g, "$1GB")
    .split(" ");
  const parsed: ParsedName = { key: "" };
  for (const token of tokens) {
    if (!token || NOISE.has(token) || /^\d+X$/.test(token) || /^(?:HBM|GDDR)\d*[A-Z]?$/.test(token)) continue;
    const memory = /^(\d+)GB$/.exec(token);
    const form = formFactorOf(token);
    if (memory) parsed.memGb = Number(memory[1]);
    else if (form) parsed.form = parsed.form === "PCIe" ? "PCIe" : form; // "PCIe NVLink" = bridged PCIe cards
    else parsed.key += token;
  }
  return parsed;
}

function formFactorOf(token: string): FormFactor | undefined {
  // "NVLink"/"Mega" boards are SXM (HGX); "NVL" is the PCIe H100/H200 NVL product.
  if (/^(?:SXM\d*|NVLINK|MEGA|HGX)(?:X\d+)?$/.test(token)) return "SXM";
  if (/^PCIE\d*(?:X\d+)?$/.test(token)) return "PCIe";
  if (token === "NVL") return "NVL";
  return undefined;
}

function refineBySuffix(key: string, instanceType: string): string {
  const compact = instanceType.toUpperCase().replace(/[^A-Z0-9]/g, "");
  let best = key;
  for (const candidate of MODELS_BY_KEY.keys()) {
    const isVariant = candidate.startsWith(key) && VARIANT_SUFFIXES.has(candidate.slice(key.length));
    if (isVariant && candidate.length > best.length && compact.includes(candidate)) best = candidate;
  }
  return best;
}

function pickVariant(models: readonly string[], form: FormFactor | undefined, memGb: number | undefined): string {
  const byForm = models.filter((model) => getGpuSpec(model)?.formFactor === form);
  let pool = byForm.length > 0 ? byForm : models;
  if (memGb !== undefined && Number.isFinite(memGb) && memGb > 0) {
    const distance = (model: string) => Math.abs((getGpuSpec(model)?.vramGb ?? Infinity) - memGb);
    const nearest = Math.min(...pool.map(distance));
    const close = pool.filter((model) => distance(model) === nearest && nearest <= memGb * VRAM_TOLERANCE);
    if (close.length > 0) pool = close;
  }
  return pool[0] ?? models[0]!;
}

export function normalizeGpuName(raw: string, hints?: { vramGb?: number | null; instanceType?: string | null }): GpuMatch {
  const name = parseName(raw);
  const instance = hints?.instanceType ? parseName(hints.instanceType) : undefined;
  const key = hints?.instanceType && /^[GR]TX\d{4}$/.test(name.key) ? refineBySuffix(name.key, hints.instanceType) : name.key;
  const models = MODELS_BY_KEY.get(key);
  if (!models) return { known: false, raw };
  const form = name.form ?? instance?.form;
  const memGb = name.memGb ?? hints?.vramGb ?? instance?.memGb;
  return { known: true, name: pickVariant(models, form, memGb ?? undefined) };
}

/** Every canonical model a name covers: the variant it names when a memory size or form factor is written
 * ("A100 80GB" → the one normalizeGpuName picks), else the whole family ("A100" → all four A100s); [] when unknown. */
export function gpuModelsNamed(raw: string): string[] {
  const name = parseName(raw);
  const models = MODELS_BY_KEY.get(name.key);
  if (!models) return [];
  if (name.form !== undefined || name.memGb !== undefined) return [pickVariant(models, name.form, name.memGb)];
  return [...models];
}
