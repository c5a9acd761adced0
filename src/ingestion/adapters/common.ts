// What every provider adapter does the same way: zod record checks (exact money from JSON numbers is
// in domain/money.ts), interconnect from names, country from a country name, URLs and auth headers.
import { z } from "zod";
import { countryForRegion } from "../../domain/catalog/region.ts";
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
