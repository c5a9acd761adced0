import { describe, expect, it } from "vitest";
import { normaliseWeights, topsis, TopsisInputError, type TopsisCriterion, type TopsisInput } from "../../src/domain/math/topsis.ts";

// Published worked examples
//
// [CARS] Car selection: 4 cars × 4 criteria, weights 0.1 / 0.4 / 0.3 / 0.2, last criterion a cost.
//   Closeness to 8 decimals as published in the TOPSIS-Python README, "Using TOPSIS-Python"
//   (https://github.com/Anant99-sys/topsis; PyPI "topsis-antuanant" 0.0.3, https://libraries.io/pypi/topsis-antuanant/0.0.3:
//   "Alternatives ranking C: [0.74269409 0.40359933 0.17586999 0.44142927]"), which takes the example from
//   F. Faez, "TOPSIS Method in MADM". The same cars (Saturn 8 7 8 7, Ford 9 6 8 9, Mazda 6 7 8 6 = our rows 2–4)
//   and weights are the worked example "An example of using TOPSIS method" in the slides "Lecture 10"
//   (https://www.scribd.com/document/825129859/Lecture-10), slide 10: "Step 3 (a): A* = {0.059, 0.244, 0.162, 0.080}",
//   computed there from normalised values rounded to 2 decimals, hence asserted to 2 decimals.
const CARS: TopsisInput = {
  matrix: [
    [7, 9, 9, 8],
    [8, 7, 8, 7],
    [9, 6, 8, 9],
    [6, 7, 8, 6],
  ],
  weights: [0.1, 0.4, 0.3, 0.2],
  criteria: ["benefit", "benefit", "benefit", "cost"],
};
const CARS_CLOSENESS = [0.74269409, 0.40359933, 0.17586999, 0.44142927];

// [PP2018] J. Papathanasiou & N. Ploskas, "Multiple Criteria Decision Aid: Methods, Examples and Python
//   Implementations", Springer Optimization and Its Applications 136 (2018), ch. 1 "TOPSIS", pp. 1–30,
//   doi:10.1007/978-3-319-91648-4_1: 6 alternatives × 4 benefit criteria, weights 0.4 / 0.3 / 0.1 / 0.2,
//   closeness to 3 decimals [0.387, 0.327, 0.391, 0.615, 0.868, 0.493] and ranking [5, 6, 4, 2, 1, 3], as
//   reproduced in the reference test of https://github.com/energyinpython/distance-metrics-for-mcda,
//   tests/test_mcda_methods.py (Test_TOPSIS.test_topsis, Test_Rank_preferences).
const PP2018: TopsisInput = {
  matrix: [
    [8, 7, 2, 1],
    [5, 3, 7, 5],
    [7, 5, 6, 4],
    [9, 9, 7, 3],
    [11, 10, 3, 7],
    [6, 9, 5, 4],
  ],
  weights: [0.4, 0.3, 0.1, 0.2],
  criteria: ["benefit", "benefit", "benefit", "benefit"],
};

const round = (x: number, decimals: number) => Number(x.toFixed(decimals));

function expectError(input: TopsisInput, code: string, message: RegExp) {
  let caught: unknown;
  try {
    topsis(input);
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(TopsisInputError);
  expect((caught as TopsisInputError).code).toBe(code);
  expect((caught as TopsisInputError).message).toMatch(message);
}

describe("topsis: published examples", () => {
  it("reproduces the car-selection example to the published 8 decimals", () => {
    const result = topsis(CARS);
    result.closeness.forEach((c, i) => expect(c).toBeCloseTo(CARS_CLOSENESS[i]!, 8));
    expect(result.rank).toEqual([1, 3, 4, 2]);
    expect(result.order).toEqual([0, 3, 1, 2]);
    [0.059, 0.244, 0.162, 0.08].forEach((a, j) => expect(result.ideal[j]).toBeCloseTo(a, 2));
  });

  it("reproduces Papathanasiou & Ploskas (2018) to the published 3 decimals", () => {
    const result = topsis(PP2018);
    expect(result.closeness.map((c) => round(c, 3))).toEqual([0.387, 0.327, 0.391, 0.615, 0.868, 0.493]);
    expect(result.rank).toEqual([5, 6, 4, 2, 1, 3]);
  });

  it("reports the intermediate steps consistently with the closeness", () => {
    const result = topsis(CARS);
    expect(result.weightsUsed).toEqual([0.1, 0.4, 0.3, 0.2]);
    // Cost criterion: the ideal is the column minimum, the anti-ideal the maximum (6/√230 and 9/√230, × 0.2).
    expect(result.ideal[3]).toBeCloseTo((6 / Math.sqrt(230)) * 0.2, 15);
    expect(result.antiIdeal[3]).toBeCloseTo((9 / Math.sqrt(230)) * 0.2, 15);
    result.closeness.forEach((c, i) => {
      const { best, worst } = result.distances;
      expect(c).toBeCloseTo(worst[i]! / (best[i]! + worst[i]!), 15);
    });
  });
});

describe("topsis: weights", () => {
  it("normalises weights that do not sum to 1", () => {
    const scaled = topsis({ ...CARS, weights: [1, 4, 3, 2] });
    expect(scaled.weightsUsed.reduce((a, b) => a + b)).toBeCloseTo(1, 15);
    scaled.closeness.forEach((c, i) => expect(c).toBeCloseTo(CARS_CLOSENESS[i]!, 8));
  });

  it("normalises weights whose sum overflows ([1e308, 1e308] is [0.5, 0.5], not 0.5 closeness for every row)", () => {
    const huge = topsis({ ...PP2018, weights: [1e308, 1e308, 1e308, 1e308] });
    const plain = topsis({ ...PP2018, weights: [1, 1, 1, 1] });
    expect(huge.weightsUsed).toEqual([0.25, 0.25, 0.25, 0.25]);
    expect(huge.closeness).toEqual(plain.closeness);
    expect(huge.rank).toEqual(plain.rank);
    expect(new Set(huge.closeness).size).toBe(6);
    const two = topsis({ matrix: [[1, 9], [5, 5], [9, 2]], weights: [1e308, 1e308], criteria: ["benefit", "cost"] });
    expect(two.weightsUsed).toEqual([0.5, 0.5]);
    expect(two.order).toEqual([2, 1, 0]);
  });

  it("normalises weights bit for bit as w / Σw whenever the sum is finite", () => {
    for (const weights of [[0.1, 0.4, 0.3, 0.2], [3, 1, 1, 7], [1e-300, 2e-300, 5e-301, 1e-300], [0.7, 1e5, 13, 0]]) {
      const sum = weights.reduce((a, b) => a + b, 0);
      expect(normaliseWeights(weights)).toEqual(weights.map((w) => w / sum));
    }
  });

  it("drops a zero-weight criterion out entirely", () => {
    const withNoise = topsis({
      matrix: PP2018.matrix.map((row, i) => [...row, [100, 1, 50, 3, 70, 2][i]!]),
      weights: [...PP2018.weights, 0],
      criteria: [...PP2018.criteria, "cost"],
    });
    const plain = topsis(PP2018);
    withNoise.closeness.forEach((c, i) => expect(c).toBeCloseTo(plain.closeness[i]!, 14));
    expect(withNoise.weightsUsed[4]).toBe(0);
  });
});

describe("topsis: edge cases", () => {
  it("gives a single alternative closeness 0.5 (S⁺ = S⁻ = 0) and rank 1", () => {
    const result = topsis({ matrix: [[3, 40, 2]], weights: [1, 1, 1], criteria: ["benefit", "cost", "benefit"] });
    expect(result.closeness).toEqual([0.5]);
    expect(result.rank).toEqual([1]);
    expect(result.distances).toEqual({ best: [0], worst: [0] });
  });

  it("gives identical alternatives closeness 0.5 each and a shared rank 1", () => {
    const result = topsis({ matrix: [[2, 5], [2, 5], [2, 5]], weights: [1, 2], criteria: ["benefit", "cost"] });
    expect(result.closeness).toEqual([0.5, 0.5, 0.5]);
    expect(result.rank).toEqual([1, 1, 1]);
    expect(result.order).toEqual([0, 1, 2]);
  });

  it("maps closeness C to 1 − C when every criterion is reversed (why 0.5 is the neutral value)", () => {
    const reversed = topsis({ ...PP2018, criteria: PP2018.criteria.map((): TopsisCriterion => "cost") });
    const plain = topsis(PP2018);
    reversed.closeness.forEach((c, i) => expect(c).toBeCloseTo(1 - plain.closeness[i]!, 14));
  });

  it("lets a constant column contribute nothing", () => {
    const result = topsis({
      matrix: CARS.matrix.map((row) => [...row, 42]),
      weights: [0.1, 0.4, 0.3, 0.2, 0.5],
      criteria: [...CARS.criteria, "benefit"],
    });
    expect(result.ideal[4]).toBe(result.antiIdeal[4]);
    // The other weights shrink by 1/1.5 and every distance with them, so the ratio is unchanged.
    result.closeness.forEach((c, i) => expect(c).toBeCloseTo(CARS_CLOSENESS[i]!, 8));
  });

  it("treats an all-zero column as constant instead of dividing by zero", () => {
    const result = topsis({
      matrix: CARS.matrix.map((row) => [0, ...row]),
      weights: [0.3, ...CARS.weights],
      criteria: ["cost", ...CARS.criteria],
    });
    expect(result.closeness.every(Number.isFinite)).toBe(true);
    expect(result.ideal[0]).toBe(0);
    result.closeness.forEach((c, i) => expect(c).toBeCloseTo(CARS_CLOSENESS[i]!, 8));
  });

  it("shares the best rank on ties and skips the next (1, 2, 2, 4), listing ties in input order", () => {
    const result = topsis({
      matrix: [[1, 9], [5, 5], [9, 1], [5, 5]],
      weights: [1, 1],
      criteria: ["benefit", "cost"],
    });
    expect(result.rank).toEqual([4, 2, 1, 2]);
    expect(result.order).toEqual([2, 1, 3, 0]);
  });

  it("ties alternatives whose closeness differs only by float rounding", () => {
    // Cyclic permutations of one row under equal weights are equally close in exact arithmetic; summing
    // the squares in another order leaves the floats one ulp apart (asserted, so this test can fail).
    const result = topsis({
      matrix: [[0.17, 0.29, 0.61], [0.61, 0.17, 0.29], [0.29, 0.61, 0.17]],
      weights: [1, 1, 1],
      criteria: ["benefit", "benefit", "benefit"],
    });
    expect(new Set(result.closeness).size).toBeGreaterThan(1);
    expect(result.rank).toEqual([1, 1, 1]);
    expect(result.order).toEqual([0, 1, 2]);
  });

  it("is scale-invariant per column, even at magnitudes where Σx² overflows", () => {
    const huge = topsis({ ...CARS, matrix: CARS.matrix.map(([a, ...rest]) => [a! * 1e300, ...rest]) });
    huge.closeness.forEach((c, i) => expect(c).toBeCloseTo(CARS_CLOSENESS[i]!, 8));
  });
});

describe("topsis: input errors", () => {
  const ok = { weights: [1, 1], criteria: ["benefit", "cost"] as TopsisCriterion[] };

  it("rejects an empty matrix or one without criteria", () => {
    expectError({ matrix: [], ...ok }, "EMPTY_MATRIX", /no alternatives/);
    expectError({ matrix: [[]], weights: [], criteria: [] }, "NO_CRITERIA", /no criteria/);
  });

  it("rejects ragged rows, naming the row", () => {
    expectError({ matrix: [[1, 2], [3]], ...ok }, "RAGGED_ROWS", /Row 2 has 1 values, but row 1 has 2/);
  });

  it("rejects weights or criteria that do not match the columns", () => {
    expectError({ matrix: [[1, 2]], weights: [1], criteria: ok.criteria }, "WEIGHTS_LENGTH", /1 weights for 2 criteria/);
    expectError({ matrix: [[1, 2]], weights: ok.weights, criteria: ["benefit"] }, "CRITERIA_LENGTH", /1 criterion directions for 2 criteria/);
    expectError({ matrix: [[1, 2]], weights: ok.weights, criteria: ["benefit", "max" as TopsisCriterion] }, "INVALID_CRITERION", /Criterion 2 is "max"/);
  });

  it("rejects negative, non-finite and all-zero weights", () => {
    expectError({ matrix: [[1, 2]], weights: [1, -1], criteria: ok.criteria }, "INVALID_WEIGHT", /criterion 2 is -1/);
    expectError({ matrix: [[1, 2]], weights: [Number.NaN, 1], criteria: ok.criteria }, "INVALID_WEIGHT", /criterion 1 is NaN/);
    expectError({ matrix: [[1, 2]], weights: [Infinity, 1], criteria: ok.criteria }, "INVALID_WEIGHT", /Infinity/);
    expectError({ matrix: [[1, 2]], weights: [0, 0], criteria: ok.criteria }, "ZERO_WEIGHTS", /at least one criterion needs a positive weight/);
  });

  it("rejects non-finite and negative values, naming the cell", () => {
    expectError({ matrix: [[1, 2], [3, Number.NaN]], ...ok }, "INVALID_VALUE", /Row 2, criterion 2 is NaN/);
    expectError({ matrix: [[1, -Infinity]], ...ok }, "INVALID_VALUE", /finite/);
    expectError({ matrix: [[1, 2], [-3, 4]], ...ok }, "NEGATIVE_VALUE", /Row 2, criterion 1 is -3; .*values ≥ 0/);
  });
});
