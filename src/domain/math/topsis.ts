// TOPSIS (Hwang & Yoon 1981, "Multiple Attribute Decision Making", ch. 3): rank alternatives (rows) by
// their relative closeness to an ideal point over criteria (columns).
//
//   1. r_ij = x_ij / √Σ_i x_ij²                 vector normalisation per column
//   2. v_ij = w_j · r_ij, w_j = W_j / Σ W        weights normalised to sum 1
//   3. A⁺_j = best v_ij (max benefit, min cost); A⁻_j = worst
//   4. S⁺_i = ‖v_i − A⁺‖₂, S⁻_i = ‖v_i − A⁻‖₂
//   5. C_i = S⁻_i / (S⁺_i + S⁻_i) ∈ [0, 1]; higher is better
//
// One implementation: topsisColumns computes steps 1–5 over columns (optionally over grouped rows, each
// standing for several equal alternatives) and rankRows orders and ranks the rows; topsis() validates a
// row-major matrix and runs both, and rankOffers (src/services/ranking.ts) runs them over groups of offers.
//
// Edge cases (each is exercised in test/unit/topsis.test.ts):
// - A constant column has A⁺_j = A⁻_j, so it adds nothing to either distance; an all-zero column has no
//   norm and is normalised to zeros instead of dividing by zero.
// - A zero weight drops its criterion out; at least one weight must be positive. Only the weights' ratios
//   matter, at any magnitude: [1e308, 1e308] is [0.5, 0.5] although its sum overflows.
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

/** TOPSIS over a decision matrix, validated: the row-major API over topsisColumns and rankRows. */
export function topsis(input: TopsisInput): TopsisResult {
  const columns = validate(input);
  const scores = topsisColumns({
    columns: Array.from({ length: columns }, (_, j) => Float64Array.from(input.matrix, (row) => row[j]!)),
    weights: input.weights,
    benefit: input.criteria.map((c) => c === "benefit"),
  });
  const closeness = Array.from(scores.closeness);
  const ranked = rankRows(scores.closeness, closeness.length);
  const rank = new Array<number>(closeness.length);
  for (const r of ranked) rank[r.row] = r.rank;
  const order = ranked.map((r) => r.row);
  return {
    closeness, rank, order, weightsUsed: scores.weightsUsed, ideal: Array.from(scores.ideal), antiIdeal: Array.from(scores.antiIdeal),
    distances: { best: Array.from(scores.distanceToIdeal), worst: Array.from(scores.distanceToAntiIdeal) },
  };
}

/** The core's input: column-major, already valid (finite values ≥ 0; weights ≥ 0, one positive; one direction per column). */
export interface TopsisColumnsInput {
  /** One array per criterion, one value per row. */
  columns: readonly ArrayLike<number>[];
  /** One per column, any scale; normalised to sum 1. */
  weights: readonly number[];
  /** Per column: true when higher is better (benefit), false for a cost. */
  benefit: readonly boolean[];
  /** Row i stands for counts[i] identical alternatives (grouped rows); default one each. */
  counts?: ArrayLike<number>;
}

export interface TopsisScores {
  weightsUsed: number[];
  /** C_i per row. */
  closeness: Float64Array;
  ideal: Float64Array;
  antiIdeal: Float64Array;
  /** S⁺ and S⁻ per row. */
  distanceToIdeal: Float64Array;
  distanceToAntiIdeal: Float64Array;
}

/**
 * Steps 1–5 over columns. With `counts`, row i stands for counts[i] identical alternatives: that weighs the
 * vector norms (Σ count·x²) and nothing else, so the scores are those of the expanded rows (bit for bit
 * when every count is 1, up to the order of the sums otherwise). rankOffers scores groups of equal offers.
 */
export function topsisColumns({ columns, weights, benefit, counts }: TopsisColumnsInput): TopsisScores {
  const weightsUsed = normaliseWeights(weights);
  const m = columns.length;
  const n = columns[0]?.length ?? 0;
  const norms = new Float64Array(m);
  const ideal = new Float64Array(m);
  const antiIdeal = new Float64Array(m);
  for (let j = 0; j < m; j++) {
    const x = columns[j]!;
    const norm = (norms[j] = columnNorm(x, counts));
    const w = weightsUsed[j]!;
    let max = -Infinity, min = Infinity;
    for (let i = 0; i < n; i++) {
      const v = norm === 0 ? 0 : (x[i]! / norm) * w;
      if (v > max) max = v;
      if (v < min) min = v;
    }
    ideal[j] = benefit[j] ? max : min;
    antiIdeal[j] = benefit[j] ? min : max;
  }
  const closeness = new Float64Array(n);
  const distanceToIdeal = new Float64Array(n);
  const distanceToAntiIdeal = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0, worst = 0;
    for (let j = 0; j < m; j++) {
      const norm = norms[j]!;
      const v = norm === 0 ? 0 : (columns[j]![i]! / norm) * weightsUsed[j]!;
      best += (v - ideal[j]!) ** 2;
      worst += (v - antiIdeal[j]!) ** 2;
    }
    const sPlus = (distanceToIdeal[i] = Math.sqrt(best));
    const sMinus = (distanceToAntiIdeal[i] = Math.sqrt(worst));
    const total = sPlus + sMinus;
    closeness[i] = total === 0 ? 0.5 : sMinus / total;
  }
  return { weightsUsed, closeness, ideal, antiIdeal, distanceToIdeal, distanceToAntiIdeal };
}

/**
 * Weights scaled to sum 1. They are first divided by a power of two near the largest, which is exact, so
 * the result is bit for bit w / Σw wherever Σw is finite, and [0.5, 0.5] for [1e308, 1e308] (Σw = ∞).
 */
export function normaliseWeights(weights: readonly number[]): number[] {
  const max = weights.reduce((m, w) => Math.max(m, w), 0);
  const scale = max > 0 ? 2 ** Math.floor(Math.log2(max)) : 1;
  const scaled = weights.map((w) => w / scale);
  const sum = scaled.reduce((s, w) => s + w, 0);
  return scaled.map((w) => w / sum);
}

export interface RankedRow {
  row: number;
  /** Competition rank among the rows (1 = best; ties within 1e-12 relative share the leader's rank). */
  rank: number;
}

/**
 * The `k` best rows (closeness desc, then id asc; ids default to the row indices) with their ranks, best
 * first: ties within TIE_TOLERANCE of their leader share its rank and list by id, whatever order float
 * noise gave them.
 */
export function rankRows(closeness: ArrayLike<number>, k: number, ids?: ArrayLike<number>): RankedRow[] {
  const n = closeness.length;
  const id = ids ? (i: number) => ids[i]! : (i: number) => i;
  let top: number[];
  if (k < n && k <= 128) {
    // Insertion into the best k: one pass over n rows, no sort of all of them.
    const before = (a: number, b: number) => closeness[a]! > closeness[b]! || (closeness[a] === closeness[b] && id(a) < id(b));
    top = [];
    for (let i = 0; i < n && k > 0; i++) {
      if (top.length === k && !before(i, top[k - 1]!)) continue;
      let at = top.length === k ? k - 1 : top.length;
      while (at > 0 && before(i, top[at - 1]!)) { top[at] = top[at - 1]!; at--; }
      top[at] = i;
    }
  } else {
    top = Array.from({ length: n }, (_, i) => i).sort((a, b) => closeness[b]! - closeness[a]! || id(a) - id(b)).slice(0, Math.max(k, 0));
  }
  const ranks: number[] = [];
  let leader = 0;
  top.forEach((row, position) => {
    if (!tied(closeness[row]!, closeness[top[leader]!]!)) leader = position;
    ranks.push(leader === position ? position + 1 : ranks[leader]!);
  });
  return top.map((row, p) => ({ row, rank: ranks[p]! })).sort((a, b) => a.rank - b.rank || id(a.row) - id(b.row));
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

/** √Σ count·x² of a column, scaled by its maximum so large or tiny values neither overflow nor underflow. */
function columnNorm(x: ArrayLike<number>, counts: ArrayLike<number> | undefined): number {
  const n = x.length;
  let scale = 0;
  for (let i = 0; i < n; i++) if (x[i]! > scale) scale = x[i]!;
  if (scale === 0) return 0;
  let sum = 0;
  if (counts) for (let i = 0; i < n; i++) sum += counts[i]! * (x[i]! / scale) ** 2;
  else for (let i = 0; i < n; i++) sum += (x[i]! / scale) ** 2;
  return scale * Math.sqrt(sum);
}

function tied(a: number, b: number): boolean {
  return Math.abs(a - b) <= TIE_TOLERANCE * Math.max(Math.abs(a), Math.abs(b));
}
