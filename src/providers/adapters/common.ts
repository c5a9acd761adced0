// What every provider adapter does the same way: zod record checks, exact money from JSON numbers,
// interconnect from names, country from a country name, URLs and auth headers.
import { z } from "zod";
import { countryForRegion } from "../../domain/catalog/region.ts";
import { normalizeDecimal } from "../../domain/catalog/skypilot.ts";
import type { Interconnect } from "../../domain/catalog/types.ts";

/** A count or size the provider may leave out or spell oddly: anything but a number ≥ 0 reads as null. */
export const optionalNumber = z.number().nonnegative().nullish().catch(null);

/** The first problem zod found, as "path: message" (for skip reasons and error messages). */
export const issue = (error: z.ZodError) => error.issues.map((i) => `${i.path.join(".") || "body"}: ${i.message}`)[0];

/** `${baseUrl}${path}` without a doubled slash when the configured base ends in one. */
export const endpoint = (baseUrl: string, path: string) => `${baseUrl.replace(/\/+$/, "")}${path}`;

/** The Authorization header for a Bearer key, or none when no key is configured. */
export const bearer = (apiKey: string | null | undefined): Record<string, string> => (apiKey ? { authorization: `Bearer ${apiKey}` } : {});

/** SXM, NVLink ("H100 NVL", "-NVLink") or PCIe as a GPU or instance name says; SXM first ("A100-SXM4 NVLink" is SXM). */
export function interconnectFromName(text: string): Interconnect | null {
  if (/sxm/i.test(text)) return "SXM";
  if (/nvlink|(^|[^a-z])nvl([^a-z]|$)/i.test(text)) return "NVLINK";
  return /pcie/i.test(text) ? "PCIE" : null;
}

// A JSON number's shortest decimal spelling, which is the provider's own digits ("2.69", not 2.68999…).
const spelling = (value: number) => (/e/i.test(String(value)) ? value.toFixed(12) : String(value));

/** A JSON price as an exact decimal string (≤ 4 places), or null unless it is a number > 0. */
export function positiveDecimal(value: unknown): string | null {
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) return null;
  return normalizeDecimal(spelling(value));
}

/** Cents to dollars by moving the decimal point, so 2490 → "24.90" with no float in between. */
export function dollarsFromCents(cents: unknown): string | null {
  if (typeof cents !== "number" || !Number.isFinite(cents) || cents <= 0) return null;
  const [int = "0", frac = ""] = spelling(cents).split(".");
  const padded = int.padStart(3, "0");
  return normalizeDecimal(`${padded.slice(0, -2).replace(/^0+(?=\d)/, "")}.${padded.slice(-2)}${frac}`);
}

function scaled(value: number): { units: bigint; scale: number } | null {
  const m = /^(\d+)(?:\.(\d+))?$/.exec(spelling(value));
  return m ? { units: BigInt(m[1]! + (m[2] ?? "")), scale: (m[2] ?? "").length } : null;
}

/**
 * Σ quantity × unit price over JSON numbers, exact (BigInt, no float), keeping every digit:
 * [[8, 1.75]] → "14.00", [[1, 2.2], [4, 0.0015]] → "2.2060". Null when a term is not a finite number ≥ 0.
 */
export function exactSum(terms: ReadonlyArray<readonly [quantity: unknown, unitPrice: unknown]>): string | null {
  const products: { units: bigint; scale: number }[] = [];
  for (const [quantity, price] of terms) {
    if (typeof quantity !== "number" || typeof price !== "number" || !(quantity >= 0) || !(price >= 0)) return null;
    const q = scaled(quantity);
    const p = scaled(price);
    if (!q || !p) return null;
    products.push({ units: q.units * p.units, scale: q.scale + p.scale });
  }
  const scale = Math.max(0, ...products.map((p) => p.scale));
  const units = products.reduce((sum, p) => sum + p.units * 10n ** BigInt(scale - p.scale), 0n);
  const digits = units.toString().padStart(scale + 1, "0");
  return scale === 0 ? digits : `${digits.slice(0, -scale)}.${digits.slice(-scale)}`;
}

/** exactSum as a price: trailing zeros dropped, rounded half-up to 4 places ("2.22220" → "2.2222"). */
export function exactPrice(terms: ReadonlyArray<readonly [quantity: unknown, unitPrice: unknown]>): string | null {
  const total = exactSum(terms);
  return total === null ? null : normalizeDecimal(total.includes(".") ? total.replace(/\.?0+$/, "") : total);
}

// English country names ("United States", "Germany") → ISO codes, built once from the runtime's ICU data.
let countryNames: Map<string, string> | null = null;
const nameKey = (name: string) => name.normalize("NFD").replace(/[^a-z]/gi, "").toLowerCase();
const NAME_ALIASES: Record<string, string> = {
  usa: "US", unitedstatesofamerica: "US", uk: "GB", greatbritain: "GB", england: "GB", czechrepublic: "CZ",
  southkorea: "KR", korea: "KR", russia: "RU", turkey: "TR", hongkong: "HK", uae: "AE", vietnam: "VN", taiwan: "TW",
};

/** ISO 3166-1 alpha-2 code for a country named in English, or given as a code; null when unknown. */
export function countryFromName(name: string | null | undefined): string | null {
  const text = name?.trim() ?? "";
  if (text === "") return null;
  if (/^[a-z]{2}$/i.test(text)) return countryForRegion(text);
  if (!countryNames) {
    countryNames = new Map(Object.entries(NAME_ALIASES));
    const display = new Intl.DisplayNames(["en"], { type: "region", fallback: "none" });
    for (let a = 65; a <= 90; a++) {
      for (let b = 65; b <= 90; b++) {
        const code = String.fromCharCode(a, b);
        const english = countryForRegion(code) === code ? display.of(code) : undefined;
        if (english && !countryNames.has(nameKey(english))) countryNames.set(nameKey(english), code);
      }
    }
  }
  return countryNames.get(nameKey(text)) ?? null;
}
