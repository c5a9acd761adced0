// Reads a V8 .cpuprofile (written by the fanout server child under --profile) into self-time shares
// per package and per function, for a short "where does the CPU go" table.
import { readFileSync } from "node:fs";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}
interface CpuProfile { nodes: ProfileNode[]; samples: number[]; startTime: number; endTime: number }

export interface ProfileSummary {
  sampledMs: number;
  /** Share of samples in which the process was idle; the other shares are of the busy samples. */
  idlePercent: number;
  /** [package or area, % of samples], largest first. */
  byPackage: [string, number][];
  /** [function (file:line), area, % of samples], largest first. */
  byFunction: [string, string, number][];
}

/** `graphql`, `ws`, `src/…`, `node:internal`, `(garbage collector)`, … for a frame's script URL. */
function area(node: ProfileNode): string {
  const { url, functionName } = node.callFrame;
  if (!url) return functionName.startsWith("(") ? functionName : "(native)";
  // The innermost package: @graphql-tools/utils nested under @graphql-tools/executor counts as utils.
  const modules = /.*node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (modules) return modules[1]!;
  if (url.startsWith("node:")) return "node (core)";
  const ours = /\/(src|bench)\/(.+)$/.exec(url);
  return ours ? `${ours[1]}/${ours[2]!.split("/")[0]}` : url;
}

const place = (node: ProfileNode) => {
  const { functionName, url, lineNumber } = node.callFrame;
  const file = url ? url.replace(/^.*node_modules\//, "").replace(/^.*\/(src|bench)\//, "$1/").replace(/^file:\/\//, "") : "";
  return `${functionName || "(anonymous)"}${file ? ` ${file}:${lineNumber + 1}` : ""}`;
};

export function summarizeProfile(path: string, top = 20): ProfileSummary {
  const profile = JSON.parse(readFileSync(path, "utf8")) as CpuProfile;
  const hits = new Map<number, number>();
  for (const id of profile.samples) hits.set(id, (hits.get(id) ?? 0) + 1);
  const idleIds = new Set(profile.nodes.filter((n) => n.callFrame.functionName === "(idle)").map((n) => n.id));
  const idle = profile.samples.filter((id) => idleIds.has(id)).length;
  const total = profile.samples.length - idle || 1;
  const packages = new Map<string, number>();
  const functions = new Map<string, { area: string; n: number }>();
  for (const node of profile.nodes) {
    const n = hits.get(node.id) ?? 0;
    if (!n || idleIds.has(node.id)) continue;
    const a = area(node);
    packages.set(a, (packages.get(a) ?? 0) + n);
    const key = place(node);
    const f = functions.get(key) ?? { area: a, n: 0 };
    f.n += n;
    functions.set(key, f);
  }
  const pct = (n: number) => Math.round((n / total) * 1000) / 10;
  return {
    sampledMs: (profile.endTime - profile.startTime) / 1000,
    idlePercent: Math.round((idle / (profile.samples.length || 1)) * 1000) / 10,
    byPackage: [...packages].sort((a, b) => b[1] - a[1]).slice(0, top).map(([k, n]) => [k, pct(n)]),
    byFunction: [...functions].sort((a, b) => b[1].n - a[1].n).slice(0, top).map(([k, f]) => [k, f.area, pct(f.n)]),
  };
}
