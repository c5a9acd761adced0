// The fault suite (`npm run test:faults`, PostgreSQL only): one and two API processes (src/main.ts)
// on a private database and a private redis-server, the demo market polled every second by the
// elected leader, price alerts that keep firing and re-arming, and one follower per node (graphql-ws,
// resuming after its last cursor). Faults, one after the other on the same cluster: Redis killed for
// 2 s and for 20 s (restarted empty), every PostgreSQL connection of the API terminated, the ingestion
// leader SIGKILLed. After each: every follower has every event once and in order, every notification
// was delivered, each offer's latest PricePoint is its price, no transaction is stuck, one node leads.
// Prints the figures (events lost / duplicated, recovery and failover times) as a table.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { audit, Cluster, Follower, sleep, until, type Node } from "./harness.ts";

const base = process.env.DATABASE_URL;
const USER = { email: "faults@example.com", password: "a long and lovely passphrase" };

interface Figure {
  nodes: number; fault: string; duringFault: number; maxLagMs: number; delivered: number; lost: number; duplicated: number;
  outOfOrder: number; notifications: number; recoveryMs: number; failoverMs: number | null;
}
const figures: Figure[] = [];

afterAll(() => {
  if (!figures.length) return;
  const rows = figures.map((f) => `| ${f.nodes} | ${f.fault} | ${f.duringFault} | ${f.maxLagMs} | ${f.delivered} | ${f.lost} | ${f.duplicated} | ${f.outOfOrder} | ${f.notifications} | ${f.recoveryMs} | ${f.failoverMs ?? "–"} |`);
  console.log([
    "",
    "| nodes | fault | events committed during the fault | longest a committed event waited for a follower, ms | events delivered (all followers, whole run) | lost | duplicated | out of order | notifications delivered (each follower) | ms from recovery until every follower has every event committed by then | failover ms (first import after the fault) |",
    "|---|---|---|---|---|---|---|---|---|---|---|",
    ...rows,
  ].join("\n"));
});

describe.runIf(!!base).each([1, 2])("faults, %i API node(s)", (nodeCount) => {
  const cluster = new Cluster(base!);
  const followers: Follower[] = [];
  let token = "";
  let userId = 0;

  beforeAll(async () => {
    await cluster.start();
    const a = await cluster.startNode("a", { SEED_SNAPSHOT: "true" });
    if (nodeCount === 2) await cluster.startNode("b");
    await until(() => cluster.leader(), "a leader", 30_000);
    const reg = await cluster.gql(a, `mutation ($e: String!, $p: String!) { register(email: $e, password: $p, name: "F") { accessToken user { id } } }`, { e: USER.email, p: USER.password });
    expect(reg.errors).toBeUndefined();
    token = reg.data.register.accessToken;
    userId = Number(reg.data.register.user.id);
    // One follower per node, each starting on its own node and moving to the next when it is gone.
    for (const [i, node] of cluster.nodes.entries()) {
      const order = () => [...cluster.nodes.slice(i), ...cluster.nodes.slice(0, i)].map((n) => n.url);
      followers.push(new Follower(`via ${node.name}`, order, token));
    }
    await until(() => followers.every((f) => f.ticks.length >= 20), "every follower to receive ticks", 60_000);
    // Alerts at each busy GPU model's cheapest price per GPU-hour: they fire now, re-arm and fire again as the demo market moves.
    const { rows } = await cluster.admin.query<{ name: string; price: string }>(`
      SELECT m.name, min(o."pricePerGpuHour")::text AS price FROM "GpuOffer" o JOIN "GpuModel" m ON m.id = o."gpuModelId"
      WHERE o.active GROUP BY m.name ORDER BY count(*) DESC LIMIT 12`);
    for (const r of rows) {
      const res = await cluster.gql(a, `mutation ($n: String!, $m: String!, $t: Money!) { createPriceAlert(name: $n, filter: { gpuModels: [$m] }, threshold: $t) { id } }`, { n: `cheapest ${r.name}`, m: r.name, t: r.price }, token);
      expect(res.errors).toBeUndefined();
    }
  }, 240_000);

  afterAll(async () => {
    for (const f of followers) await f.close();
    await cluster.stop();
  }, 60_000);

  /**
   * Watches delivery while a fault runs: every 50 ms, which event is the head and when each follower got
   * past it; the longest any committed event waited for the slowest follower. Stop it to read the result.
   */
  function watchLag() {
    const pending: { seq: number; at: number }[] = [];
    let maxLagMs = 0;
    let running = true;
    const done = (async () => {
      while (running) {
        const head = await cluster.head("market").catch(() => null);
        const now = Date.now();
        if (head !== null && (!pending.length || head > pending.at(-1)!.seq)) pending.push({ seq: head, at: now });
        const slowest = Math.min(...followers.map((f) => f.lastTick()));
        while (pending.length && pending[0]!.seq <= slowest) maxLagMs = Math.max(maxLagMs, now - pending.shift()!.at);
        if (pending.length) maxLagMs = Math.max(maxLagMs, now - pending[0]!.at);
        await sleep(50);
      }
    })();
    return { stop: async () => { running = false; await done; return maxLagMs; } };
  }

  /** Resolves with the ms from `since` until every follower has every event committed at `since`. */
  async function caughtUp(since: number): Promise<number> {
    const head = await cluster.head("market");
    await until(() => followers.every((f) => f.lastTick() >= head), `every follower at event ${head}`, 60_000);
    return Date.now() - since;
  }

  /** Checks every invariant (after some traffic through the recovered path) and records the figures. */
  async function settle(fault: string, figure: Pick<Figure, "duringFault" | "maxLagMs" | "recoveryMs" | "failoverMs">) {
    await sleep(2000);
    await caughtUp(Date.now());
    let delivered = 0;
    for (const f of followers) {
      const a = audit(f.ticks);
      expect({ follower: f.name, ...a, received: undefined }).toEqual({ follower: f.name, lost: 0, duplicated: 0, outOfOrder: 0, received: undefined });
      delivered += a.received;
    }
    // Every notification the user has was delivered to every follower, once.
    const { rows } = await cluster.admin.query<{ id: number }>(`SELECT id FROM "Notification" WHERE "userId" = $1 ORDER BY id`, [userId]);
    const ids = rows.map((r) => String(r.id));
    await until(() => followers.every((f) => f.notes.length >= ids.length), `${ids.length} notifications at every follower`, 30_000);
    for (const f of followers) {
      const got = f.notes.map((n) => n.id);
      expect(new Set(got).size).toBe(got.length);
      expect(got.filter((id) => ids.includes(id)).sort()).toEqual([...ids].sort());
      expect(audit(f.notes.map((n) => n.seq)).lost).toBe(0);
    }
    // Each active offer's latest PricePoint is its price: no import half-applied.
    const { rows: [mismatch] } = await cluster.admin.query<{ n: number }>(`
      SELECT count(*)::int AS n FROM "GpuOffer" o
      WHERE o.active AND o."onDemandPrice" IS DISTINCT FROM (SELECT p."onDemandPrice" FROM "PricePoint" p WHERE p."offerId" = o.id ORDER BY p."recordedAt" DESC, p.id DESC LIMIT 1)`);
    expect(mismatch!.n).toBe(0);
    // No transaction left open, and exactly one leader.
    const { rows: [stuck] } = await cluster.admin.query<{ n: number }>(`
      SELECT count(*)::int AS n FROM pg_stat_activity
      WHERE datname = $1 AND pid <> pg_backend_pid() AND xact_start IS NOT NULL AND now() - xact_start > interval '30 seconds'`, [cluster.dbName]);
    expect(stuck!.n).toBe(0);
    await until(() => cluster.leader(), "exactly one ingestion leader", 30_000);
    figures.push({ nodes: nodeCount, fault, delivered, lost: 0, duplicated: 0, outOfOrder: 0, notifications: ids.length, ...figure });
  }

  for (const seconds of [2, 20]) {
    it(`Redis killed for ${seconds} s (restarted empty): imports go on, every event reaches every follower once, in order`, async () => {
      await sleep(2000);
      const before = await cluster.head("market");
      const lag = watchLag();
      await cluster.killRedis();
      await sleep(seconds * 1000);
      const during = (await cluster.head("market")) - before;
      await cluster.startRedis();
      const recoveryMs = await caughtUp(Date.now());
      const maxLagMs = await lag.stop();
      expect(during).toBeGreaterThan(0); // the leader kept importing and writing events with Redis down
      await settle(`Redis down ${seconds} s`, { duringFault: during, maxLagMs, recoveryMs, failoverMs: null });
    }, 180_000);
  }

  it("every PostgreSQL connection of the API terminated (pg_terminate_backend): the pools, the feeds and the leadership recover", async () => {
    await sleep(2000);
    const before = await cluster.head("market");
    const lag = watchLag();
    const start = Date.now();
    const { rowCount } = await cluster.admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, [cluster.dbName]);
    expect(rowCount).toBeGreaterThan(0);
    // ingestion resumes: new events are committed again
    await until(async () => (await cluster.head("market")) > before || undefined, "an import after the connections were cut", 60_000);
    const failoverMs = Date.now() - start;
    const recoveryMs = await caughtUp(Date.now());
    const maxLagMs = await lag.stop();
    await settle("PostgreSQL connections terminated", { duringFault: (await cluster.head("market")) - before, maxLagMs, recoveryMs, failoverMs });
  }, 180_000);

  it("the ingestion leader SIGKILLed: another node (or the restarted one) leads, followers of the dead node resume elsewhere", async () => {
    await sleep(2000);
    const leader = (await until(() => cluster.leader(), "a leader", 30_000)) as Node;
    const before = await cluster.head("market");
    const lag = watchLag();
    const start = Date.now();
    await cluster.killNode(leader, "SIGKILL");
    const atKill = await cluster.head("market");
    // one node: restart it where it was; two: the other takes over by itself
    if (nodeCount === 1) await cluster.startNode(leader.name, {}, leader.port);
    await until(async () => (await cluster.head("market")) > atKill || undefined, "an import by the new leader", 60_000);
    const failoverMs = Date.now() - start;
    const recoveryMs = await caughtUp(Date.now());
    const maxLagMs = await lag.stop();
    if (nodeCount === 2) await cluster.startNode(leader.name, {}, leader.port); // back to two for the checks
    await settle("ingestion leader SIGKILL", { duringFault: (await cluster.head("market")) - before, maxLagMs, recoveryMs, failoverMs });
  }, 180_000);
});
