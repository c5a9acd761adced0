// TOPSIS (Hwang & Yoon 1981, "Multiple Attribute Decision Making", ch. 3): rank alternatives (rows) by
// their relative closeness to an ideal point over criteria (columns).
//
//   1. r_ij = x_ij / √Σ_i x_ij²                 vector normalisation per column
//   2. v_ij = w_j · r_ij, w_j = W_j / Σ W        weights normalised to sum 1
//   3. A⁺_j = best v_ij (max benefit, min cost); A⁻_j = worst
//   4. S⁺_i = ‖v_i − A⁺‖₂, S⁻_i = ‖v_i − A⁻‖₂
//   5. C_i = S⁻_i / (S⁺_i + S⁻_i) ∈ [0, 1]; higher is better
//
// Edge cases (each is exercised in test/unit/topsis.test.ts):
// - A constant column has A⁺_j = A⁻_j, so it adds nothing to either distance; an all-zero column has no
//   norm and is normalised to zeros instead of dividing by zero.
// - A zero weight drops its criterion out; at least one weight must be positive.
// - When S⁺ + S⁻ = 0 the alternative sits on both the ideal and the anti-ideal, which happens exactly when
//   every positively weighted column is constant: all alternatives identical, or a single alternative.
//   Closeness is then 0.5 for every row. Reversing every criterion (benefit ↔ cost) swaps A⁺ and A⁻ and
//   maps C to 1 − C; an input that carries no preference must be invariant under that, so C = 1 − C = 0.5.
//   A lone offer is therefore "neutral", not "perfect", and never outscores a real comparison by fiat.
// - Ranks are competition ranks ("1224"): equal closeness (within 1e-12 relative) shares the best rank, and
//   `order` lists tied alternatives in input order, so the output is fully deterministic.
// - Negative values are rejected: vector normalisation treats x as a magnitude, and a column mixing signs
//   has no meaningful √Σx² scale (shifting it changes the ranking). Re-express such a criterion first.

export type TopsisCriterion = "benefit" | "cost";

export interface TopsisInput {
  /** Rows are alternatives, columns are criteria; every value finite and ≥ 0. */
  matrix: readonly (readonly number[])[];
  /** One per column, finite and ≥ 0, at least one positive; normalised to sum 1. */
  weights: readonly number[];
  criteria: readonly TopsisCriterion[];
}

export interface TopsisResult {
  /** C_i per alternative, in input order. */
  closeness: number[];
  /** 1 = best; ties share the best rank (1, 2, 2, 4). In input order. */
  rank: number[];
  /** Alternative indices best first; ties keep input order. */
  order: number[];
  weightsUsed: number[];
  /** Weighted normalised ideal (A⁺) and anti-ideal (A⁻) per criterion. */
  ideal: number[];
  antiIdeal: number[];
  distances: { best: number[]; worst: number[] };
}

export type TopsisErrorCode =
  | "EMPTY_MATRIX"
  | "NO_CRITERIA"
  | "RAGGED_ROWS"
  | "WEIGHTS_LENGTH"
  | "CRITERIA_LENGTH"
  | "INVALID_CRITERION"
  | "INVALID_WEIGHT"
  | "ZERO_WEIGHTS"
  | "INVALID_VALUE"
  | "NEGATIVE_VALUE";

export class TopsisInputError extends Error {
  readonly code: TopsisErrorCode;
  constructor(code: TopsisErrorCode, message: string) {
    super(message);
    this.name = "TopsisInputError";
    this.code = code;
  }
}

// Closeness values closer than this (relative) are one tie: rows equal in value can reach C by different
// float paths (e.g. columns in another order) and must not be split by rounding noise.
const TIE_TOLERANCE = 1e-12;

export function topsis(input: TopsisInput): TopsisResult {
  const { matrix, criteria } = input;
  const columns = validate(input);
  const weightSum = input.weights.reduce((sum, w) => sum + w, 0);
  const weightsUsed = input.weights.map((w) => w / weightSum);

  const weighted = matrix.map((row) => row.slice());
  for (let j = 0; j < columns; j++) {
    const norm = columnNorm(matrix, j);
    for (const row of weighted) row[j] = norm === 0 ? 0 : (row[j]! / norm) * weightsUsed[j]!;
  }

  const ideal: number[] = [];
  const antiIdeal: number[] = [];
  for (let j = 0; j < columns; j++) {
    let max = -Infinity;
    let min = Infinity;
    for (const row of weighted) {
      max = Math.max(max, row[j]!);
      min = Math.min(min, row[j]!);
    }
    ideal.push(criteria[j] === "benefit" ? max : min);
    antiIdeal.push(criteria[j] === "benefit" ? min : max);
  }

  const best = weighted.map((row) => distance(row, ideal));
  const worst = weighted.map((row) => distance(row, antiIdeal));
  const closeness = best.map((sPlus, i) => {
    const total = sPlus + worst[i]!;
    return total === 0 ? 0.5 : worst[i]! / total;
  });

  const order = closeness.map((_, i) => i).sort((a, b) => closeness[b]! - closeness[a]! || a - b);
  const rank = new Array<number>(closeness.length);
  let leader = order[0]!;
  order.forEach((index, position) => {
    if (!tied(closeness[index]!, closeness[leader]!)) leader = index;
    rank[index] = leader === index ? position + 1 : rank[leader]!;
  });
  // Re-sort by (rank, index) so tolerance-ties that float noise ordered differently list in input order.
  order.sort((a, b) => rank[a]! - rank[b]! || a - b);

  return { closeness, rank, order, weightsUsed, ideal, antiIdeal, distances: { best, worst } };
}

function validate({ matrix, weights, criteria }: TopsisInput): number {
  if (matrix.length === 0) {
    throw new TopsisInputError("EMPTY_MATRIX", "The decision matrix has no alternatives (rows); give at least one.");
  }
  const columns = Array.isArray(matrix[0]) ? matrix[0].length : 0;
  if (columns === 0) {
    throw new TopsisInputError("NO_CRITERIA", "The decision matrix has no criteria (columns); give at least one.");
  }
  matrix.forEach((row, i) => {
    if (!Array.isArray(row) || row.length !== columns) {
      const got = Array.isArray(row) ? `${row.length} values` : "no list of values";
      throw new TopsisInputError("RAGGED_ROWS", `Row ${i + 1} has ${got}, but row 1 has ${columns}; every alternative needs one value per criterion.`);
    }
  });
  if (weights.length !== columns) {
    throw new TopsisInputError("WEIGHTS_LENGTH", `There are ${weights.length} weights for ${columns} criteria; give exactly one weight per criterion.`);
  }
  if (criteria.length !== columns) {
    throw new TopsisInputError("CRITERIA_LENGTH", `There are ${criteria.length} criterion directions for ${columns} criteria; give exactly one ("benefit" or "cost") per criterion.`);
  }
  criteria.forEach((criterion, j) => {
    if (criterion !== "benefit" && criterion !== "cost") {
      throw new TopsisInputError("INVALID_CRITERION", `Criterion ${j + 1} is ${JSON.stringify(criterion)}; it must be "benefit" (higher is better) or "cost" (lower is better).`);
    }
  });
  weights.forEach((w, j) => {
    if (typeof w !== "number" || !Number.isFinite(w) || w < 0) {
      throw new TopsisInputError("INVALID_WEIGHT", `The weight of criterion ${j + 1} is ${String(w)}; weights must be finite numbers ≥ 0.`);
    }
  });
  if (!weights.some((w) => w > 0)) {
    throw new TopsisInputError("ZERO_WEIGHTS", "All weights are zero; at least one criterion needs a positive weight.");
  }
  matrix.forEach((row, i) =>
    row.forEach((x, j) => {
      if (typeof x !== "number" || !Number.isFinite(x)) {
        throw new TopsisInputError("INVALID_VALUE", `Row ${i + 1}, criterion ${j + 1} is ${String(x)}; every value must be a finite number.`);
      }
      if (x < 0) {
        throw new TopsisInputError("NEGATIVE_VALUE", `Row ${i + 1}, criterion ${j + 1} is ${x}; TOPSIS vector normalisation (x / √Σx²) needs values ≥ 0. Express the criterion as a non-negative magnitude (a cost instead of a negative benefit).`);
      }
    }),
  );
  return columns;
}

/** √Σx² of column j, scaled by the column maximum so large or tiny values neither overflow nor underflow. */
function columnNorm(matrix: TopsisInput["matrix"], j: number): number {
  let scale = 0;
  for (const row of matrix) scale = Math.max(scale, row[j]!);
  if (scale === 0) return 0;
  let sum = 0;
  for (const row of matrix) sum += (row[j]! / scale) ** 2;
  return scale * Math.sqrt(sum);
}

function distance(a: readonly number[], b: readonly number[]): number {
  let sum = 0;
  for (let j = 0; j < a.length; j++) sum += (a[j]! - b[j]!) ** 2;
  return Math.sqrt(sum);
}

function tied(a: number, b: number): boolean {
  return Math.abs(a - b) <= TIE_TOLERANCE * Math.max(Math.abs(a), Math.abs(b));
}
