// Money, the one module: exact decimal strings in and out (no float on the way), Decimal for
// arithmetic, 4 decimals at rest (the database's numeric(12,4)). Prices from providers, API inputs,
// API outputs, notifications and ticks all go through here.
import { Decimal } from "@prisma/client/runtime/client";
import { badInput } from "../errors.ts";

export { Decimal };
export type MoneyValue = Decimal | string | number;

/** Decimals kept at rest and in the API. */
export const MONEY_SCALE = 4;
/** What a money input may be: non-negative, at most 8 integer digits and 4 decimals. */
export const MONEY_INPUT = /^\d{1,8}(\.\d{1,4})?$/;

/** Parses a money input: non-negative, at most 8 integer digits and 4 decimals; returned as a canonical string. */
export function parseMoney(value: unknown): string {
  const text = typeof value === "number" && Number.isFinite(value) ? String(value) : typeof value === "string" ? value.trim() : null;
  if (text === null) throw badInput("Money must be a decimal string such as \"2.49\" or a number.");
  if (text.startsWith("-")) throw badInput(`Money cannot be negative (got ${text}).`);
  if (!MONEY_INPUT.test(text)) {
    const decimals = text.split(".")[1]?.length ?? 0;
    throw badInput(decimals > MONEY_SCALE
      ? `Money has at most 4 decimal places (got ${text}).`
      : `"${text}" is not a valid amount of money: use a decimal like "2.49" (max 99999999.9999).`);
  }
  return new Decimal(text).toString();
}

/** Money as the API prints it: at least two decimals ("3.50"), exactly as stored beyond that ("1.3925"). */
export function formatMoney(value: MoneyValue): string {
  if (!(value instanceof Decimal)) return printed(new Decimal(value));
  // A Decimal never changes, and rows share them by value (src/infra/json-rows.ts): printed once per instance.
  let text = printedDecimals.get(value);
  if (text === undefined) printedDecimals.set(value, (text = printed(value)));
  return text;
}
const printedDecimals = new WeakMap<Decimal, string>();
const printed = (d: Decimal) => (d.decimalPlaces() < 2 ? d.toFixed(2) : d.toString());

/** An amount rounded half-up to the 4 decimals money keeps (a computed float, or a published price). */
export const roundMoney = (amount: MoneyValue): Decimal => new Decimal(amount).toDecimalPlaces(MONEY_SCALE, Decimal.ROUND_HALF_UP);

/** (new − old) ÷ old × 100, rounded half-up to 2 decimals; null without both prices or from zero. */
export function changePercent(oldPrice: MoneyValue | null, newPrice: MoneyValue | null): number | null {
  if (oldPrice == null || newPrice == null) return null;
  const old = new Decimal(oldPrice);
  if (old.isZero()) return null;
  return new Decimal(newPrice).minus(old).dividedBy(old).times(100).toDecimalPlaces(2, Decimal.ROUND_HALF_UP).toNumber();
}

// ---------------------------------------------------------------- exact decimal strings (providers' prices)

/** A plain decimal as integer units at a scale: "2.69" → 269n at 2. Null unless digits with an optional fraction. */
function toUnits(text: string): { units: bigint; scale: number } | null {
  const m = /^(\d+)(?:\.(\d*))?$/.exec(text);
  return m ? { units: BigInt(m[1]! + (m[2] ?? "")), scale: (m[2] ?? "").length } : null;
}

/** Units at a scale back to a decimal string with exactly `scale` decimals. */
function fromUnits(units: bigint, scale: number): string {
  const digits = units.toString().padStart(scale + 1, "0");
  return scale === 0 ? digits : `${digits.slice(0, -scale)}.${digits.slice(-scale)}`;
}

/**
 * Normalises a published price to at most 4 decimals without passing through a float:
 * "1.39" stays "1.39"; "5.8854999999999995" → "5.8855" (half-up). Null when not a plain decimal.
 */
export function normalizeDecimal(raw: string, scale = MONEY_SCALE): string | null {
  const text = raw.trim();
  const parsed = toUnits(text);
  if (!parsed) return null;
  if (parsed.scale <= scale) return text;
  const dropped = parsed.scale - scale;
  const divisor = 10n ** BigInt(dropped);
  let units = parsed.units / divisor;
  if ((parsed.units % divisor) * 2n >= divisor) units += 1n; // half-up on the first dropped digit and beyond
  return fromUnits(units, scale).replace(/\.?0+$/, "");
}

// A JSON number's shortest decimal spelling, which is the provider's own digits ("2.69", not 2.68999…).
export const spelling = (value: number) => (/e/i.test(String(value)) ? value.toFixed(12) : String(value));

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

/**
 * Σ quantity × unit price over JSON numbers, exact (BigInt, no float), keeping every digit:
 * [[8, 1.75]] → "14.00", [[1, 2.2], [4, 0.0015]] → "2.2060". Null when a term is not a finite number ≥ 0.
 */
export function exactSum(terms: ReadonlyArray<readonly [quantity: unknown, unitPrice: unknown]>): string | null {
  const products: { units: bigint; scale: number }[] = [];
  for (const [quantity, price] of terms) {
    if (typeof quantity !== "number" || typeof price !== "number" || !(quantity >= 0) || !(price >= 0)) return null;
    const q = toUnits(spelling(quantity));
    const p = toUnits(spelling(price));
    if (!q || !p) return null;
    products.push({ units: q.units * p.units, scale: q.scale + p.scale });
  }
  const scale = Math.max(0, ...products.map((p) => p.scale));
  return fromUnits(products.reduce((sum, p) => sum + p.units * 10n ** BigInt(scale - p.scale), 0n), scale);
}

/** exactSum as a price: trailing zeros dropped, rounded half-up to 4 places ("2.22220" → "2.2222"). */
export function exactPrice(terms: ReadonlyArray<readonly [quantity: unknown, unitPrice: unknown]>): string | null {
  const total = exactSum(terms);
  return total === null ? null : normalizeDecimal(total.includes(".") ? total.replace(/\.?0+$/, "") : total);
}
