import { describe, expect, it } from "vitest";
import { renderLineChart } from "../../bench/lib/chart.ts";
import type { Curve } from "../../bench/lib/results.ts";

/** Tags in document order; throws unless every element closes in order and no raw `&` or `<` is in text or attributes. */
function checkWellFormed(svg: string): string[] {
  const names: string[] = [];
  const open: string[] = [];
  const tag = /<(\/?)([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>/g;
  let at = 0;
  for (let m = tag.exec(svg); m; m = tag.exec(svg)) {
    const text = svg.slice(at, m.index);
    if (text.includes("<") || text.includes(">")) throw new Error(`stray markup before ${m[0]}: ${JSON.stringify(text)}`);
    for (const part of [text, m[3]!]) {
      const amp = part.match(/&(?!(amp|lt|gt|quot|apos|#\d+);)/);
      if (amp) throw new Error(`raw & in ${JSON.stringify(part)}`);
    }
    const [, close, name, , selfClose] = m;
    if (close) {
      const expected = open.pop();
      if (expected !== name) throw new Error(`</${name}> closes <${expected}>`);
    } else {
      names.push(name!);
      if (!selfClose) open.push(name!);
    }
    at = tag.lastIndex;
  }
  if (svg.slice(at).trim() !== "") throw new Error("text after the root element");
  if (open.length) throw new Error(`unclosed: ${open.join(", ")}`);
  return names;
}

const curve = (over: Partial<Curve> = {}): Curve => ({
  id: "rank", title: "rankOffers ms vs offers", xLabel: "offers", yLabel: "ms (median)", logX: true,
  series: [
    { label: "rankOffers median", points: [[10_000, 12.5], [100_000, 80.1], [1_000_000, 901.2]] },
    { label: "baseline", points: [[10_000, 30], [100_000, 410], [1_000_000, 4_350]] },
  ],
  ...over,
});
const circles = (svg: string) => (svg.match(/<circle [^>]*r="4"/g) ?? []).length;
const polylines = (svg: string) => svg.match(/<polyline [^>]*points="([^"]*)"/g) ?? [];

describe("renderLineChart", () => {
  it("is one well-formed svg element with a title, both axes' labels, a line and a marker per point", () => {
    const svg = renderLineChart(curve());
    expect(svg.startsWith("<svg ")).toBe(true);
    expect(svg).toContain('xmlns="http://www.w3.org/2000/svg"');
    const tags = checkWellFormed(svg);
    expect(tags[0]).toBe("svg");
    expect(svg).toContain(">rankOffers ms vs offers</text>");
    expect(svg).toContain(">offers (log scale)</text>");
    expect(svg).toContain(">ms (median)</text>");
    expect(svg).toContain(">rankOffers median<title>");
    expect(svg).toContain(">baseline<title>");
    expect(polylines(svg)).toHaveLength(2);
    expect(circles(svg)).toBe(6);
    expect(svg).toContain("<title>rankOffers median: 100k → 80.1</title>");
    expect(svg).toContain("<title>baseline: 1M → 4350</title>");
  });

  it("puts decades equally apart on a log x axis and ticks 10k, 100k, 1M", () => {
    const svg = renderLineChart(curve());
    const [line] = polylines(svg);
    const xs = /points="([^"]*)"/.exec(line!)![1]!.split(" ").map((p) => Number(p.split(",")[0]));
    expect(xs).toHaveLength(3);
    expect(Math.abs((xs[1]! - xs[0]!) - (xs[2]! - xs[1]!))).toBeLessThan(0.2);
    for (const tick of ["10k", "100k", "1M"]) expect(svg).toMatch(new RegExp(`text-anchor="middle">${tick}</text>`));
  });

  it("spaces x linearly without logX", () => {
    const svg = renderLineChart(curve({ logX: false }));
    const xs = /points="([^"]*)"/.exec(polylines(svg)[0]!)![1]!.split(" ").map((p) => Number(p.split(",")[0]));
    expect((xs[2]! - xs[1]!) / (xs[1]! - xs[0]!)).toBeCloseTo(10, 1);
    expect(svg).not.toContain("log scale");
  });

  it("draws a single point as a marker without a line", () => {
    const svg = renderLineChart(curve({ series: [{ label: "only", points: [[100_000, 42]] }] }));
    checkWellFormed(svg);
    expect(polylines(svg)).toHaveLength(0);
    expect(circles(svg)).toBe(1);
    expect(svg).not.toContain("NaN");
    expect(svg).toContain("<title>only: 100k → 42.0</title>");
  });

  it("draws all-equal y values as a flat line inside the plot", () => {
    const svg = renderLineChart(curve({ series: [{ label: "flat", points: [[1, 5], [2, 5], [3, 5]] }], logX: false }));
    checkWellFormed(svg);
    expect(svg).not.toContain("NaN");
    const ys = /points="([^"]*)"/.exec(polylines(svg)[0]!)![1]!.split(" ").map((p) => Number(p.split(",")[1]));
    expect(new Set(ys).size).toBe(1);
    expect(ys[0]).toBeGreaterThanOrEqual(56);
    expect(ys[0]).toBeLessThanOrEqual(440 - 64);
    const zeros = renderLineChart(curve({ series: [{ label: "zero", points: [[1, 0], [2, 0]] }], logX: false }));
    expect(zeros).not.toContain("NaN");
  });

  it("escapes < & > and quotes in the title and labels", () => {
    const svg = renderLineChart(curve({ title: `p90 < 50 & "fast"`, series: [{ label: "a<b & c>d 'x'", points: [[1, 1], [10, 2]] }] }));
    checkWellFormed(svg);
    expect(svg).toContain("p90 &lt; 50 &amp; &quot;fast&quot;");
    expect(svg).toContain("a&lt;b &amp; c&gt;d &apos;x&apos;");
    expect(svg).not.toContain("a<b");
  });

  it("falls back to a linear axis when logX meets x ≤ 0, and survives an empty series and non-finite values", () => {
    const svg = renderLineChart(curve({ series: [{ label: "with zero", points: [[0, 1], [10, Number.NaN], [100, 3]] }, { label: "empty", points: [] }] }));
    checkWellFormed(svg);
    expect(svg).not.toContain("NaN");
    expect(circles(svg)).toBe(2);
    expect(svg).toContain("linear: x ≤ 0 present");
    expect(svg).toContain(">empty<title>");
    expect(checkWellFormed(renderLineChart(curve({ series: [] })))).toContain("svg");
  });
});
