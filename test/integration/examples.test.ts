// The typed client of examples/ (issue 15, part 6), run as a client developer runs it (`npx tsx
// examples/typed-client.ts <url> <GPU>`) against a live API on the real catalog snapshot: its rows are
// those of the same query made directly, its walk counts every active offer once, and a price change
// made by a catalog import reaches its priceTicks subscription. Errors exit non-zero with one line.
import { spawn } from "node:child_process";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openTestDatabase } from "../support/db.ts";
import { relaxedRateLimiter } from "../support/app.ts";
import { liveSubscribers } from "../support/events.ts";
import { until } from "../support/subscribe.ts";
import { createApp } from "../../src/yoga.ts";
import { startServer, type RunningServer } from "../../src/server.ts";
import { createEventLog, type EventLog } from "../../src/infra/event-log.ts";
import { loadSnapshot, seedFromSnapshot } from "../../src/ingestion/snapshot.ts";
import { applyCatalog } from "../../src/ingestion/catalog-sync.ts";
import { recordImport } from "../../src/ingestion/change-events.ts";
import { changePercent, formatMoney } from "../../src/domain/money.ts";
import type { Database } from "../../src/infra/db.ts";

const root = join(import.meta.dirname, "..", "..");
const snapshot = loadSnapshot();

let db: Database;
let events: EventLog;
let server: RunningServer;

beforeAll(async () => {
  db = await openTestDatabase();
  await seedFromSnapshot(db.prisma, { snapshot });
  events = createEventLog({ prisma: db.prisma, pollMs: 100 });
  server = await startServer(createApp({ db, events, rateLimiter: relaxedRateLimiter() }), { port: 0, host: "127.0.0.1" });
});
afterAll(async () => {
  await server?.stop();
  await events?.close();
  await db?.close();
});

/** Runs examples/typed-client.ts; `lines` fills as it prints. */
function runTypedClient(args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, ["--import", "tsx", "examples/typed-client.ts", ...args], {
    cwd: root, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"],
  });
  const out = { lines: [] as string[], stderr: "" };
  let buffer = "";
  child.stdout!.on("data", (chunk: Buffer) => {
    buffer += chunk.toString();
    let nl;
    while ((nl = buffer.indexOf("\n")) >= 0) { out.lines.push(buffer.slice(0, nl)); buffer = buffer.slice(nl + 1); }
  });
  child.stderr!.on("data", (chunk: Buffer) => { out.stderr += chunk.toString(); });
  const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
  return { child, out, exited };
}

async function queryApi(query: string, variables: Record<string, unknown> = {}) {
  const res = await fetch(server.url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ query, variables }) });
  const body = (await res.json()) as { data?: any; errors?: unknown[] };
  expect(body.errors).toBeUndefined();
  return body.data;
}

const squash = (line: string) => line.trim().replace(/\s+/g, " ");

describe("examples/typed-client.ts", () => {
  it("prints the cheapest offers of the query, walks every page, and prints the tick of a price change", async () => {
    const run = runTypedClient([server.url, "H100"], { MAX_TICKS: "1" });
    try {
      await until(() => run.out.lines.some((l) => l.startsWith("Following H100 price ticks")), "the client to subscribe", 60_000);
      await liveSubscribers(events, "market", 1, 30_000);
      // What the client's query printed, asked directly (before the price change below).
      const direct = (await queryApi(`{ offers(filter: { gpuModels: ["H100"] }, first: 5) {
        totalCount edges { node { instanceType region gpuCount pricePerGpuHour provider { name } gpuModel { name } } } } }`)).offers;

      // A catalog import that reprices one H100 offer of Lambda, as `npm run import:catalog` would.
      const lambda = snapshot.providers.find((p) => p.slug === "lambda")!;
      const target = lambda.offers.find((o) => o.gpuModel === "H100-SXM-80GB")!;
      const newPrice = "1.2345";
      const summary = await applyCatalog(db.prisma, "lambda", lambda.offers.map((o) => (o === target ? { ...o, onDemandPrice: newPrice } : o)), {
        onChanges: async (tx, changes) => { await recordImport(tx, changes, new Date()); },
      });
      expect(summary).toMatchObject({ updated: 1, deactivated: 0 });
      events.kick();
      expect(await run.exited).toBe(0);

      const lines = run.out.lines;
      // 1. The query: the same rows, in the same order, as the query made directly.
      expect(lines[0]).toBe(`Cheapest H100 offers (5 of ${direct.totalCount}):`);
      expect(lines.slice(1, 6).map(squash)).toEqual(direct.edges.map(({ node }: any) =>
        squash(`${node.provider.name} ${node.instanceType} ${node.region} ${node.gpuCount}× ${node.gpuModel.name} $${node.pricePerGpuHour}/GPU-hour`)));
      // 2. The walk: every active offer once, page by page.
      const active = await db.prisma.gpuOffer.count({ where: { active: true } });
      expect(active).toBeGreaterThan(1000);
      expect(lines[6]).toBe(`Walked ${Math.ceil(active / 100)} pages: ${active} offers (totalCount ${active}).`);
      // 3. The tick of the price change, with exact Money strings.
      expect(lines[7]).toBe("Following H100 price ticks (Ctrl-C to stop)…");
      const change = changePercent(target.onDemandPrice, newPrice)!;
      expect(change).toBeLessThan(0);
      expect(lines[8]).toMatch(new RegExp(`^  tick CHANGED lambda H100-SXM-80GB ${target.region}: \\$${formatMoney(target.onDemandPrice).replace(".", "\\.")} → \\$1\\.2345/hour \\(${change}%\\) at \\d{4}-`));
      expect(lines).toHaveLength(9);
      expect(run.out.stderr).toBe("");
    } finally {
      run.child.kill();
    }
  });

  it.each([
    ["an unknown GPU model", () => [server.url, "NOT-A-GPU"], {}, /^typed-client: BAD_USER_INPUT: Unknown GPU model: "NOT-A-GPU"/],
    ["a token that is not one (GPUBROKER_TOKEN is sent)", () => [server.url], { GPUBROKER_TOKEN: "not-a-token" }, /^typed-client: UNAUTHENTICATED: /],
    ["an unreachable API", () => ["http://127.0.0.1:9/graphql"], {}, /^typed-client: cannot reach http:\/\/127\.0\.0\.1:9\/graphql: /],
  ])("%s: exits 1 with one line on stderr", async (_what, args, env, message) => {
    const run = runTypedClient(args(), { MAX_TICKS: "1", ...env });
    expect(await run.exited).toBe(1);
    expect(run.out.stderr).toMatch(message);
    expect(run.out.stderr.trimEnd().split("\n")).toHaveLength(1);
    expect(run.out.lines).toEqual([]);
  });
});
