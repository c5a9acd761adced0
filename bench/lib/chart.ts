// A standalone SVG line chart for bench/results/<bench>-<curve>.svg: no dependencies, no scripts, no
// external fonts or styles, so the file opens the same in a browser, an image viewer and a README.
import type { Curve } from "./results.ts";

const WIDTH = 760;
const HEIGHT = 440;
const MARGIN = { top: 56, right: 200, bottom: 64, left: 76 };
// Okabe–Ito: distinguishable with the common colour-vision deficiencies.
const COLOURS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000"];
/** Above this many points per series (or series), values are left to the tooltips. */
const MAX_LABELLED_POINTS = 10;
const MAX_LABELLED_SERIES = 3;

/** Renders one curve as an SVG document (y against x, one polyline with point markers per series). */
export function renderLineChart(curve: Curve): string {
  const series = curve.series.map((s) => ({ label: s.label, points: s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y)).sort((a, b) => a[0] - b[0]) }));
  const all = series.flatMap((s) => s.points);
  // A log axis needs positive x; otherwise the chart says it fell back to linear.
  const logX = Boolean(curve.logX) && all.every(([x]) => x > 0);
  const plot = { x: MARGIN.left, y: MARGIN.top, w: WIDTH - MARGIN.left - MARGIN.right, h: HEIGHT - MARGIN.top - MARGIN.bottom };

  const xs = all.map(([x]) => x);
  const ys = all.map(([, y]) => y);
  const xAxis = logX ? logAxis(xs) : linearAxis(xs, false);
  const yAxis = linearAxis(ys, true);
  const px = (x: number) => plot.x + ((xAxis.map(x) - xAxis.map(xAxis.min)) / (xAxis.map(xAxis.max) - xAxis.map(xAxis.min))) * plot.w;
  const py = (y: number) => plot.y + plot.h - ((y - yAxis.min) / (yAxis.max - yAxis.min)) * plot.h;

  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif" font-size="12">`);
  out.push(`<title>${esc(curve.title)}</title>`);
  out.push(`<rect width="${WIDTH}" height="${HEIGHT}" fill="#ffffff"/>`);
  out.push(`<text x="${WIDTH / 2}" y="28" text-anchor="middle" font-size="16" font-weight="600" fill="#222">${esc(curve.title)}</text>`);

  // Grid and ticks.
  out.push(`<g stroke="#e6e6e6" stroke-width="1">`);
  for (const t of yAxis.ticks) out.push(`<line x1="${f(plot.x)}" y1="${f(py(t))}" x2="${f(plot.x + plot.w)}" y2="${f(py(t))}"/>`);
  for (const t of xAxis.ticks) out.push(`<line x1="${f(px(t))}" y1="${f(plot.y)}" x2="${f(px(t))}" y2="${f(plot.y + plot.h)}"/>`);
  out.push(`</g>`);
  out.push(`<g fill="#444" font-size="11">`);
  for (const t of yAxis.ticks) out.push(`<text x="${f(plot.x - 8)}" y="${f(py(t) + 4)}" text-anchor="end">${esc(formatNumber(t))}</text>`);
  for (const t of xAxis.ticks) out.push(`<text x="${f(px(t))}" y="${f(plot.y + plot.h + 18)}" text-anchor="middle">${esc(formatNumber(t))}</text>`);
  out.push(`</g>`);
  out.push(`<g stroke="#444" stroke-width="1">`);
  out.push(`<line x1="${f(plot.x)}" y1="${f(plot.y + plot.h)}" x2="${f(plot.x + plot.w)}" y2="${f(plot.y + plot.h)}"/>`);
  out.push(`<line x1="${f(plot.x)}" y1="${f(plot.y)}" x2="${f(plot.x)}" y2="${f(plot.y + plot.h)}"/>`);
  for (const t of yAxis.ticks) out.push(`<line x1="${f(plot.x - 4)}" y1="${f(py(t))}" x2="${f(plot.x)}" y2="${f(py(t))}"/>`);
  for (const t of xAxis.ticks) out.push(`<line x1="${f(px(t))}" y1="${f(plot.y + plot.h)}" x2="${f(px(t))}" y2="${f(plot.y + plot.h + 4)}"/>`);
  out.push(`</g>`);
  const xLabel = `${curve.xLabel}${logX ? " (log scale)" : curve.logX ? " (linear: x ≤ 0 present)" : ""}`;
  out.push(`<text x="${f(plot.x + plot.w / 2)}" y="${HEIGHT - 18}" text-anchor="middle" fill="#222">${esc(xLabel)}</text>`);
  out.push(`<text transform="translate(20 ${f(plot.y + plot.h / 2)}) rotate(-90)" text-anchor="middle" fill="#222">${esc(curve.yLabel)}</text>`);

  // Series: line, markers with tooltips, and the values when there are few.
  const labelled = series.length <= MAX_LABELLED_SERIES && series.every((s) => s.points.length <= MAX_LABELLED_POINTS);
  const labels: { x: number; y: number; text: string; colour: string }[] = [];
  series.forEach((s, i) => {
    const colour = COLOURS[i % COLOURS.length]!;
    out.push(`<g>`);
    if (s.points.length > 1) {
      out.push(`<polyline fill="none" stroke="${colour}" stroke-width="2" stroke-linejoin="round" points="${s.points.map(([x, y]) => `${f(px(x))},${f(py(y))}`).join(" ")}"/>`);
    }
    for (const [x, y] of s.points) {
      out.push(`<circle cx="${f(px(x))}" cy="${f(py(y))}" r="4" fill="${colour}" stroke="#ffffff" stroke-width="1"><title>${esc(`${s.label}: ${formatNumber(x)} → ${formatValue(y)}`)}</title></circle>`);
      if (labelled) labels.push({ x: px(x), y: py(y), text: formatValue(y), colour });
    }
    out.push(`</g>`);
  });
  // Values beside their points (left of the rightmost ones, clear of the legend), at least 12 px apart per x.
  const right = Math.max(...labels.map((l) => l.x));
  for (const x of new Set(labels.map((l) => l.x))) {
    const column = labels.filter((l) => l.x === x).sort((a, b) => a.y - b.y);
    const ys = column.map((l) => l.y - 6);
    for (let j = 1; j < ys.length; j++) ys[j] = Math.max(ys[j]!, ys[j - 1]! + 12);
    const over = ys[ys.length - 1]! - (plot.y + plot.h);
    column.forEach((l, j) => {
      const y = over > 0 ? ys[j]! - over : ys[j]!;
      const end = x === right && labels.length > 1;
      out.push(`<text x="${f(end ? x - 5 : x + 5)}" y="${f(y)}" text-anchor="${end ? "end" : "start"}" font-size="10" fill="${l.colour}">${esc(l.text)}</text>`);
    });
  }

  // Legend, right of the plot.
  const lx = plot.x + plot.w + 20;
  out.push(`<g font-size="11" fill="#222">`);
  series.forEach((s, i) => {
    const colour = COLOURS[i % COLOURS.length]!;
    const ly = plot.y + 8 + i * 20;
    out.push(`<line x1="${f(lx)}" y1="${f(ly)}" x2="${f(lx + 18)}" y2="${f(ly)}" stroke="${colour}" stroke-width="2"/>`);
    out.push(`<circle cx="${f(lx + 9)}" cy="${f(ly)}" r="3.5" fill="${colour}"/>`);
    out.push(`<text x="${f(lx + 24)}" y="${f(ly + 4)}">${esc(truncate(s.label, 24))}<title>${esc(s.label)}</title></text>`);
  });
  if (all.length === 0) out.push(`<text x="${f(plot.x + plot.w / 2)}" y="${f(plot.y + plot.h / 2)}" text-anchor="middle" fill="#888">no data</text>`);
  out.push(`</g>`);
  out.push(`</svg>`);
  return `${out.join("\n")}\n`;
}

interface Axis { min: number; max: number; ticks: number[]; map: (v: number) => number }

/** A linear axis over `values` plus a margin, with "nice" ticks (1, 2, 5 × 10^k); from 0 when asked and all values are ≥ 0. */
function linearAxis(values: number[], fromZero: boolean): Axis {
  let lo = values.length ? Math.min(...values) : 0;
  let hi = values.length ? Math.max(...values) : 1;
  if (fromZero && lo >= 0) lo = 0;
  if (hi === lo) {
    // All equal: zeros show 0 … 1, any other value sits in the middle.
    if (hi === 0 && fromZero) hi = 1;
    else {
      const pad = hi === 0 ? 1 : Math.abs(hi) / 2;
      lo -= pad;
      hi += pad;
    }
  }
  // Room around the data, so no marker or value sits on the frame (none below a zero baseline).
  const room = (hi - lo) * 0.06;
  if (!(fromZero && lo === 0)) lo -= room;
  hi += room;
  const step = niceStep((hi - lo) / 5);
  const min = Math.floor(lo / step) * step;
  const max = Math.ceil(hi / step) * step;
  const ticks: number[] = [];
  for (let t = min; t <= max + step / 2; t += step) ticks.push(Number(t.toPrecision(12)));
  return { min, max, ticks, map: (v) => v };
}

/** A log10 axis over the data plus a small margin: 1×, 2× and 5× ticks when it spans at most ~2.5 decades, else whole decades. */
function logAxis(values: number[]): Axis {
  let lo = Math.log10(Math.min(...values));
  let hi = Math.log10(Math.max(...values));
  if (lo === hi) {
    lo -= 0.5;
    hi += 0.5;
  }
  const pad = (hi - lo) * 0.06;
  const min = 10 ** (lo - pad);
  const max = 10 ** (hi + pad);
  const steps = hi - lo <= 2.5 ? [1, 2, 5] : [1];
  const ticks: number[] = [];
  for (let d = Math.floor(lo - pad); d <= Math.ceil(hi + pad); d++) for (const m of steps) {
    const t = Number((m * 10 ** d).toPrecision(12));
    if (t >= min && t <= max) ticks.push(t);
  }
  // Too narrow a range for two of those ticks: tick the data instead.
  return { min, max, ticks: ticks.length >= 2 ? ticks : [...new Set(values)].sort((a, b) => a - b), map: Math.log10 };
}

function niceStep(raw: number): number {
  const p = 10 ** Math.floor(Math.log10(raw));
  const m = raw / p;
  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
}

/** Axis and tooltip numbers: 10k, 1M, 2.5M, 0.25, 12.5. */
export function formatNumber(v: number): string {
  const a = Math.abs(v);
  if (a >= 1e9) return `${trim(v / 1e9)}G`;
  if (a >= 1e6) return `${trim(v / 1e6)}M`;
  if (a >= 1e4) return `${trim(v / 1e3)}k`;
  return trim(v);
}

/** A measured value: 3 significant digits, whole numbers above 100. */
function formatValue(v: number): string {
  const a = Math.abs(v);
  return a >= 100 ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : a >= 1 ? v.toFixed(2) : String(Number(v.toPrecision(3)));
}

const trim = (v: number) => String(Number(v.toPrecision(4)));
const f = (v: number) => String(Math.round(v * 10) / 10);
const truncate = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);
const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&apos;");
