// Row ids as the database stores them (PostgreSQL int4, from 1): anything else in an id argument or
// a cursor can name no row, and must not reach SQL, where it would be an out-of-range error.
export const MAX_ROW_ID = 2_147_483_647;

/** The row id a value spells, or null when it cannot be one (not a whole number, ≤ 0, beyond int4). */
export function toRowId(value: unknown): number | null {
  const n = typeof value === "number" ? value : typeof value === "string" && /^\s*\d{1,10}\s*$/.test(value) ? Number(value) : NaN;
  return Number.isSafeInteger(n) && n >= 1 && n <= MAX_ROW_ID ? n : null;
}
