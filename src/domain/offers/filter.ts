// The one offer filter: each criterion defined once, as data (which offer fact it reads and what
// kind of test it is). `matchesOffer` applies it in memory (price ticks); src/infra/offers.ts
// compiles the same definitions to SQL (`offerWhere`). Pure: imports domain/ only.
import type { Availability, Deployment, Interconnect } from "../catalog/types.ts";
import type { ComplianceTag } from "../catalog/compliance.ts";
import { Decimal } from "../money.ts";

export interface Range<T> { min?: T | null; max?: T | null }

/** A (GPU model, GPU count) configuration with the factor that turns its instance's $/h into $ per 1M generated tokens. */
export interface CostPair { gpuModelId: number; gpuCount: number; /** $/Mtok per $/h, as a decimal string. */ factor: string }

/** A validated filter: GPU models and providers already resolved to ids. */
export interface OfferFilter {
  gpuModelIds?: number[] | null;
  gpuVendors?: string[] | null;
  providerIds?: number[] | null;
  regions?: string[] | null;
  countries?: string[] | null;
  gpuCount?: Range<number> | null;
  vramPerGpuGb?: Range<number> | null;
  vramTotalGb?: Range<number> | null;
  vcpus?: Range<number> | null;
  ramGb?: Range<number> | null;
  price?: Range<string> | null;
  pricePerGpu?: Range<string> | null;
  spotPrice?: Range<string> | null;
  spotPricePerGpu?: Range<string> | null;
  spotOnly?: boolean | null;
  availability?: Availability[] | null;
  interconnect?: Interconnect[] | null;
  deployment?: Deployment[] | null;
  includeInactive?: boolean | null;
  /**
   * Only these (GPU model, GPU count) pairs, each with the factor that turns the instance's hourly
   * price into $ per 1M generated tokens (COST_PER_MTOK: the pairs the chosen LLM fits on).
   */
  costPairs?: CostPair[] | null;
}

/** Providers holding every one of `all` (compliance tags); resolved to provider ids. */
export interface ComplianceTagsInput { all?: ComplianceTag[] | null }

/**
 * The filter as a caller writes it: GPU models by any spelling, providers by slug and compliance tags, not
 * yet resolved (compliance tags become provider ids, intersected with `providers` when both are given).
 */
export type OfferFilterInput = Omit<OfferFilter, "gpuModelIds" | "providerIds"> & {
  gpuModels?: string[] | null;
  providers?: string[] | null;
  complianceTags?: ComplianceTagsInput | null;
};

type Numeric = Decimal | string | number;

/** What the filter reads of one offer: its GpuOffer columns, plus its GPU model's vendor. */
export interface OfferFacts {
  active: boolean;
  gpuModelId: number | null;
  gpuVendor: string | null;
  providerId: number;
  region: string;
  country: string | null;
  gpuCount: number;
  vcpus: number | null;
  vramPerGpuGb: Numeric;
  vramTotalGb: Numeric;
  ramGb: Numeric | null;
  onDemandPrice: Numeric | null;
  pricePerGpuHour: Numeric;
  spotPrice: Numeric | null;
  spotPricePerGpuHour: Numeric | null;
  availability: string;
  interconnect: string | null;
  deployment: string | null;
}
export type OfferField = keyof OfferFacts;

/**
 * One criterion of the filter:
 * - list: the fact is one of the given values (an empty list sets no condition, except where
 *   `emptyMatchesNothing`: resolved ids, where no id left means no offer, e.g. no provider holds the tags);
 * - range / money: min ≤ fact ≤ max, compared exactly as decimals (numbers / money strings);
 * - flag: when the option is on (`when`), the fact must be true or not null (`requires`);
 * - pairs: (fields[0], fields[1]) is one of the given pairs; an empty list matches nothing.
 * A fact that is null (or unknown) fails every condition set on it, as NULL does in SQL.
 */
export type Criterion =
  | { kind: "list"; field: OfferField; values: "int" | "text" | "char" | "enum"; upperCase?: boolean; emptyMatchesNothing?: boolean }
  | { kind: "range"; field: OfferField; values: "int" | "number" }
  | { kind: "money"; field: OfferField }
  | { kind: "flag"; field: OfferField; requires: "true" | "notNull"; when: "set" | "unset" }
  | { kind: "pairs"; fields: readonly [OfferField, OfferField] };

/** Every criterion, in the order the SQL lists them. */
export const OFFER_CRITERIA = {
  includeInactive: { kind: "flag", field: "active", requires: "true", when: "unset" },
  gpuModelIds: { kind: "list", field: "gpuModelId", values: "int" },
  providerIds: { kind: "list", field: "providerId", values: "int", emptyMatchesNothing: true },
  gpuVendors: { kind: "list", field: "gpuVendor", values: "enum" },
  regions: { kind: "list", field: "region", values: "text" },
  countries: { kind: "list", field: "country", values: "char", upperCase: true },
  gpuCount: { kind: "range", field: "gpuCount", values: "int" },
  vcpus: { kind: "range", field: "vcpus", values: "int" },
  vramPerGpuGb: { kind: "range", field: "vramPerGpuGb", values: "number" },
  vramTotalGb: { kind: "range", field: "vramTotalGb", values: "number" },
  ramGb: { kind: "range", field: "ramGb", values: "number" },
  price: { kind: "money", field: "onDemandPrice" },
  pricePerGpu: { kind: "money", field: "pricePerGpuHour" },
  spotPrice: { kind: "money", field: "spotPrice" },
  spotPricePerGpu: { kind: "money", field: "spotPricePerGpuHour" },
  spotOnly: { kind: "flag", field: "spotPrice", requires: "notNull", when: "set" },
  availability: { kind: "list", field: "availability", values: "enum" },
  interconnect: { kind: "list", field: "interconnect", values: "enum" },
  deployment: { kind: "list", field: "deployment", values: "enum" },
  costPairs: { kind: "pairs", fields: ["gpuModelId", "gpuCount"] },
} as const satisfies { [K in keyof OfferFilter]-?: Criterion };

export type OfferCriterionKey = keyof typeof OFFER_CRITERIA;
export const OFFER_CRITERION_KEYS = Object.keys(OFFER_CRITERIA) as OfferCriterionKey[];

/** Is the flag's option on? `spotOnly: true` is; `includeInactive` is on (requiring active) unless true. */
export const flagOn = (c: Extract<Criterion, { kind: "flag" }>, option: unknown) => (c.when === "set" ? option === true : option !== true);

/** Does an empty list of this criterion match no offer (rather than set no condition)? */
export const emptyMatchesNothing = (c: Extract<Criterion, { kind: "list" }>): boolean => "emptyMatchesNothing" in c && c.emptyMatchesNothing === true;

/** The list's values as the column compares them (country codes upper-cased). */
export const listValues = (c: Extract<Criterion, { kind: "list" }>, values: readonly (string | number)[]) =>
  (c.upperCase ? values.map((v) => String(v).toUpperCase()) : values);

const CHAR_PAD = / +$/; // char(n) compares without trailing blanks

function test(c: Criterion, option: unknown, offer: Partial<OfferFacts>): boolean {
  switch (c.kind) {
    case "flag": {
      if (!flagOn(c, option)) return true;
      const fact = offer[c.field];
      return c.requires === "true" ? fact === true : fact != null;
    }
    case "list": {
      const values = option as readonly (string | number)[] | null | undefined;
      if (!values?.length) return !(values && emptyMatchesNothing(c));
      const fact = offer[c.field];
      if (fact == null) return false;
      if (c.values === "char") return listValues(c, values).some((v) => String(v).replace(CHAR_PAD, "") === String(fact).replace(CHAR_PAD, ""));
      return listValues(c, values).includes(fact as string | number);
    }
    case "range":
    case "money": {
      const range = option as Range<number | string> | null | undefined;
      if (!range || (range.min == null && range.max == null)) return true;
      const fact = offer[c.field] as Numeric | null | undefined;
      if (fact == null) return false;
      const value = new Decimal(fact);
      return (range.min == null || value.gte(String(range.min))) && (range.max == null || value.lte(String(range.max)));
    }
    case "pairs": {
      const pairs = option as readonly CostPair[] | null | undefined;
      if (!pairs) return true;
      const [a, b] = [offer[c.fields[0]], offer[c.fields[1]]];
      return pairs.some((p) => p.gpuModelId === a && p.gpuCount === b);
    }
  }
}

/**
 * Does the offer pass the filter? The same answer as `offerWhere` gives in SQL for the stored row.
 * Facts left out are unknown: a condition on them fails (a price tick carries only some facts).
 */
export function matchesOffer(filter: OfferFilter, offer: Partial<OfferFacts>): boolean {
  return OFFER_CRITERION_KEYS.every((key) => test(OFFER_CRITERIA[key], filter[key], offer));
}
