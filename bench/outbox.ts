// `npm run bench -- outbox`
//   Throughput of the event log's transactional outbox (src/infra/event-log.ts) in events/s, against
//   plain Redis pub/sub publishing of the same PriceTick JSON, in the same run and process.
//   - pub/sub: one ioredis client, PUBLISH <prefix>:market JSON.stringify(tick), BENCH_IN_FLIGHT awaited at once
//     (what createPubSub's Redis transport does per publish; no pub/sub topic carries PriceTick, so the
//     client is called directly).
//   - outbox write-only: transactions of B ticks each, `prisma.$transaction((tx) => appendEvents(tx, "market", batch))`,
//     no relay: commits/s and events/s of the writing side alone.
//   - outbox end-to-end: the same plus `kick()` of `createEventLog({ prisma, redisUrl, prefix })` after
//     each commit, timed until the relay has XADDed every event to the Redis Stream (EventRelay.relayed).
//   - diagnostic: bare pg write-only: appendEvents' statement as Prisma sent it (captured from its query
//     log), replayed between BEGIN and COMMIT on a bare pg pool: the writing side without Prisma.
//   No reader on either side: both stop where the event is in Redis.
// Env: BENCH_BATCHES ("1,10,100" events per transaction), BENCH_WRITERS ("1": concurrent writing
//      transactions), BENCH_SECONDS (3 s of writing or publishing per phase), BENCH_EVENTS (100000: at
//      most per outbox phase, the Redis Stream's MAXLEN ~), BENCH_IN_FLIGHT (64 publishes awaited at once),
//      BENCH_WARMUP (1 s per path first, not reported), BENCH_DRAIN (60 s at most for the relay to finish),
//      REDIS_URL (redis://127.0.0.1:6379), BENCH_DATABASE_URL (admin URL, see lib/database.ts),
//      BENCH_POOL_SIZE (10, Prisma's pg pool).
import { randomBytes } from "node:crypto";
import { cpus, loadavg } from "node:os";
import { Redis } from "ioredis";
import type { PrismaClient } from "../src/generated/prisma/client.ts";
import { appendEvents, createEventLog } from "../src/infra/event-log.ts";
import type { PriceTick } from "../src/infra/pubsub-types.ts";
import { withBenchDatabase, type BenchDatabase } from "./lib/database.ts";
import { printTable } from "./lib/load.ts";
import { tickPool } from "./lib/price-ticks.ts";
import { postgresCpu, postgresCpuDelta, redisCpuMs } from "./lib/process-cpu.ts";

interface Options {
  batches: number[];
  writers: number[];
  seconds: number;
  maxEvents: number;
  inFlight: number;
  warmup: number;
  drain: number;
  redisUrl: string;
}

function optionsFromEnv(): Options {
  const list = (name: string, fallback: string) => {
    const values = (process.env[name] ?? fallback).split(",").map((s) => Number(s.trim()));
    if (!values.length || !values.every((n) => Number.isInteger(n) && n > 0)) throw new Error(`${name} must be positive integers, e.g. "${fallback}" (got ${process.env[name]})`);
    return values;
  };
  const num = (name: string, fallback: number) => {
    const value = Number(process.env[name] ?? fallback);
    if (!(value >= 0)) throw new Error(`${name} must be a non-negative number (got ${process.env[name]})`);
    return value;
  };
  const o: Options = {
    batches: list("BENCH_BATCHES", "1,10,100"), writers: list("BENCH_WRITERS", "1"),
    seconds: num("BENCH_SECONDS", 3), maxEvents: num("BENCH_EVENTS", 100_000), inFlight: num("BENCH_IN_FLIGHT", 64),
    warmup: num("BENCH_WARMUP", 1), drain: num("BENCH_DRAIN", 60), redisUrl: process.env.REDIS_URL ?? "redis://127.0.0.1:6379",
  };
  if (!(o.seconds > 0) || !(o.maxEvents >= Math.max(...o.batches)) || !(o.inFlight >= 1)) {
    throw new Error("BENCH_SECONDS must be > 0, BENCH_EVENTS ≥ the largest batch, BENCH_IN_FLIGHT ≥ 1");
  }
  return o;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Distinct ticks cycled through by every phase, so no phase pays for generating them. */
const POOL = 1000;

// ---------------------------------------------------------------- one measured phase

type Mode = "pub/sub PUBLISH" | "outbox write-only" | "outbox end-to-end" | "diagnostic: bare pg write-only";

interface Phase {
  mode: Mode;
  label?: string;
  /** Events per transaction (outbox); null for pub/sub. */
  batch: number | null;
  /** Concurrent writing transactions (outbox) or publishes in flight (pub/sub). */
  concurrency: number;
  events: number;
  commits: number;
  seconds: number;
  /** End-to-end: seconds until the last commit; the rest is the relay catching up. */
  writeSeconds?: number;
  /** End-to-end: the relay's batches (each: one SELECT of ≤ 500 rows, one XADD pipeline, one EventRelay UPDATE). */
  relayBatches?: number;
  nodeCpuMs: number;
  pgCpuMs: number | null;
  redisCpuMs: number;
  load: number;
}

interface Env {
  bench: BenchDatabase; redis: Redis; ticks: PriceTick[]; streamKey: string; channel: string; prefix: string; o: Options;
  /** Every statement Prisma sends (its query log), text and parameters. */
  sql: { onQuery: ((query: string, params: string) => void) | null; relayUpdates: number };
}

/** Wall time and the CPU time of this process, PostgreSQL and Redis around `work`, which returns its own counts. */
async function timed(env: Env, work: () => Promise<{ events: number; commits: number; writeSeconds?: number; relayBatches?: number }>) {
  const load = loadavg()[0]!;
  const [pgBefore, redisBefore] = [await postgresCpu(env.bench.pool), await redisCpuMs(env.redis)];
  const cpu = process.cpuUsage();
  const start = performance.now();
  const counts = await work();
  const seconds = (performance.now() - start) / 1000;
  const used = process.cpuUsage(cpu);
  const [pgAfter, redisAfter] = [await postgresCpu(env.bench.pool), await redisCpuMs(env.redis)];
  return {
    ...counts, seconds, load, nodeCpuMs: (used.user + used.system) / 1000,
    pgCpuMs: postgresCpuDelta(pgBefore, pgAfter), redisCpuMs: redisAfter - redisBefore,
  };
}

async function publishPhase(env: Env, seconds: number, label?: string): Promise<Phase> {
  const { o, ticks, channel } = env;
  // A client of its own, as createPubSub's publisher (ioredis defaults, no auto-pipelining: commands
  // issued while others wait share the socket, i.e. they are pipelined).
  const publisher = new Redis(o.redisUrl, { lazyConnect: true });
  await publisher.connect();
  try {
    const r = await timed(env, async () => {
      const deadline = performance.now() + seconds * 1000;
      let next = 0;
      const worker = async () => {
        while (performance.now() < deadline) {
          const i = next++;
          await publisher.publish(channel, JSON.stringify(ticks[i % POOL]));
        }
      };
      await Promise.all(Array.from({ length: o.inFlight }, worker));
      return { events: next, commits: next };
    });
    return { mode: "pub/sub PUBLISH", label, batch: null, concurrency: o.inFlight, ...r };
  } finally {
    await publisher.quit();
  }
}

/** An empty outbox and stream: numbering restarts at 1, and the counter rows' dead versions are vacuumed. */
async function resetOutbox(env: Env): Promise<void> {
  const { pool } = env.bench;
  await pool.query(`TRUNCATE "OutboxEvent"`);
  await pool.query(`UPDATE "EventStream" SET seq = 0; UPDATE "EventRelay" SET relayed = 0`);
  await pool.query(`VACUUM (ANALYZE) "EventStream", "EventRelay", "OutboxEvent"`);
  await env.redis.del(env.streamKey);
}

/** `writers` loops of `$transaction(appendEvents(batch))` for `seconds` (or until maxEvents); `after` runs after each commit. */
async function writeBatches(prisma: PrismaClient, env: Env, batch: number, writers: number, seconds: number, after: () => void) {
  const { o, ticks } = env;
  const deadline = performance.now() + seconds * 1000;
  let reserved = 0;
  let commits = 0;
  const worker = async () => {
    while (reserved + batch <= o.maxEvents && performance.now() < deadline) {
      const first = reserved;
      reserved += batch;
      const payloads = Array.from({ length: batch }, (_, k) => ticks[(first + k) % POOL]!);
      await prisma.$transaction((tx) => appendEvents(tx, "market", payloads));
      commits++;
      after();
    }
  };
  await Promise.all(Array.from({ length: writers }, worker));
  return { events: reserved, commits };
}

async function committedHead(env: Env): Promise<number> {
  const { rows } = await env.bench.pool.query<{ seq: string }>(`SELECT seq FROM "EventStream" WHERE name = 'market'`);
  return Number(rows[0]!.seq);
}

async function writeOnlyPhase(env: Env, batch: number, writers: number, seconds: number, label?: string): Promise<Phase> {
  await resetOutbox(env);
  const r = await timed(env, () => writeBatches(env.bench.db.prisma, env, batch, writers, seconds, () => {}));
  const head = await committedHead(env);
  if (head !== r.events) throw new Error(`write-only B=${batch}: ${r.events} events written, the stream's head is ${head}`);
  return { mode: "outbox write-only", label, batch, concurrency: writers, ...r };
}

/**
 * appendEvents' statement as Prisma sends it for `batch` events: captured from the query log of one
 * transaction of two ticks, its parameters rebuilt for any batch (the count and the JSON array).
 */
async function captureAppendStatement(env: Env): Promise<{ text: string; params: (payloads: PriceTick[]) => unknown[] }> {
  const sample = env.ticks.slice(0, 2);
  let captured: { text: string; params: unknown[] } | undefined;
  env.sql.onQuery = (query, params) => { if (query.includes('"OutboxEvent"')) captured ??= { text: query, params: JSON.parse(params) as unknown[] }; };
  try {
    await env.bench.db.prisma.$transaction((tx) => appendEvents(tx, "market", sample));
  } finally {
    env.sql.onQuery = null;
  }
  const json = JSON.stringify(sample);
  if (!captured || !captured.params.includes(json)) throw new Error("could not capture appendEvents' statement from Prisma's query log");
  const { text, params } = captured;
  return { text, params: (payloads) => params.map((p) => (p === json ? JSON.stringify(payloads) : p === sample.length ? payloads.length : p)) };
}

async function barePgPhase(env: Env, batch: number, writers: number, seconds: number): Promise<Phase> {
  const statement = await captureAppendStatement(env);
  await resetOutbox(env);
  const { o, ticks } = env;
  const r = await timed(env, async () => {
    const deadline = performance.now() + seconds * 1000;
    let reserved = 0;
    let commits = 0;
    const worker = async () => {
      while (reserved + batch <= o.maxEvents && performance.now() < deadline) {
        const first = reserved;
        reserved += batch;
        const payloads = Array.from({ length: batch }, (_, k) => ticks[(first + k) % POOL]!);
        const client = await env.bench.pool.connect();
        try {
          await client.query("BEGIN");
          await client.query(statement.text, statement.params(payloads));
          await client.query("COMMIT");
        } catch (err) {
          await client.query("ROLLBACK").catch(() => {});
          throw err;
        } finally {
          client.release();
        }
        commits++;
      }
    };
    await Promise.all(Array.from({ length: writers }, worker));
    return { events: reserved, commits };
  });
  const head = await committedHead(env);
  if (head !== r.events) throw new Error(`bare pg B=${batch}: ${r.events} events written, the stream's head is ${head}`);
  return { mode: "diagnostic: bare pg write-only", batch, concurrency: writers, ...r };
}

async function endToEndPhase(env: Env, batch: number, writers: number, seconds: number, label?: string): Promise<Phase> {
  await resetOutbox(env);
  // The stream exists, empty, with a TTL that XADD keeps: a run killed before its cleanup (the relay may
  // add entries after the Ctrl-C handler's DEL) leaves nothing for long. Its last id is 0-1, below 1-0.
  await env.redis.multi().xadd(env.streamKey, "0-1", "d", "").xdel(env.streamKey, "0-1").expire(env.streamKey, 600).exec();
  const { prisma } = env.bench.db;
  const events = createEventLog({ prisma, redisUrl: env.o.redisUrl, prefix: env.prefix });
  try {
    await sleep(200); // its publisher connects and its first relay pass finds nothing: not timed
    const r = await timed(env, async () => {
      const relayUpdates = env.sql.relayUpdates;
      const start = performance.now();
      const written = await writeBatches(prisma, env, batch, writers, seconds, () => events.kick());
      const writeSeconds = (performance.now() - start) / 1000;
      // Relayed = in the Redis Stream (the relay records it after XADD's reply). Polled on a pg
      // connection of its own every 5 ms; the last poll's query is inside the time.
      const deadline = Date.now() + env.o.drain * 1000;
      for (;;) {
        const { rows } = await env.bench.pool.query<{ relayed: string }>(`SELECT relayed FROM "EventRelay" WHERE stream = 'market'`);
        if (Number(rows[0]!.relayed) >= written.events) break;
        if (Date.now() > deadline) throw new Error(`end-to-end B=${batch}: the relay had moved ${rows[0]!.relayed} of ${written.events} events after ${env.o.drain} s`);
        await sleep(5);
      }
      return { ...written, writeSeconds, relayBatches: env.sql.relayUpdates - relayUpdates };
    });
    // Every event is in the stream once, in order, under its own number.
    const [length, last] = await Promise.all([env.redis.xlen(env.streamKey), env.redis.xrevrange(env.streamKey, "+", "-", "COUNT", 1)]);
    if (length !== r.events || last[0]?.[0] !== `${r.events}-0`) {
      throw new Error(`end-to-end B=${batch}: the stream has ${length} entries, the last ${last[0]?.[0]}; expected ${r.events}, ending ${r.events}-0`);
    }
    return { mode: "outbox end-to-end", label, batch, concurrency: writers, ...r };
  } finally {
    await events.close();
  }
}

// ---------------------------------------------------------------- run

/** Deletes every key under the prefix (the Redis Stream; pub/sub channels leave none). */
async function cleanRedis(redis: Redis, prefix: string): Promise<number> {
  let cursor = "0";
  let removed = 0;
  do {
    const [nextCursor, keys] = await redis.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 1000);
    cursor = nextCursor;
    if (keys.length) removed += await redis.del(...keys);
  } while (cursor !== "0");
  return removed;
}

export async function run(): Promise<void> {
  const o = optionsFromEnv();
  const prefix = `gpubroker_bench_outbox_${Date.now().toString(36)}_${randomBytes(3).toString("hex")}`;
  const streamKey = `${prefix}:events:market`; // the event log's key for the "market" stream
  const redis = new Redis(o.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 2 });
  redis.on("error", () => {});
  await redis.connect().catch((err: unknown) => { throw new Error(`Redis at ${o.redisUrl}: ${(err as Error).message}`); });
  // Ctrl-C / SIGTERM: lib/database.ts drops the database and exits; this runs first and sends the
  // DEL at once (ioredis writes it to the connected socket synchronously), so the stream goes too.
  const onSignal = () => { void redis.del(streamKey).catch(() => {}); };
  process.on("SIGINT", onSignal).on("SIGTERM", onSignal);

  const phases: Phase[] = [];
  let bytes = { publish: 0, stream: 0 };
  try {
    await withBenchDatabase("gpubroker_bench_outbox", async (bench) => {
      const env: Env = {
        bench, redis, ticks: tickPool(POOL), streamKey, channel: `${prefix}:market`, prefix, o, sql: { onQuery: null, relayUpdates: 0 },
      };
      // One listener for the client's life (Prisma has no $off): counts the relay's progress records.
      (bench.db.prisma as unknown as { $on(event: "query", cb: (e: { query: string; params: string }) => void): void }).$on("query", (e) => {
        if (e.query.startsWith(`UPDATE "EventRelay"`)) env.sql.relayUpdates++;
        env.sql.onQuery?.(e.query, e.params);
      });
      const redisVersion = /^redis_version:(\S+)/m.exec(await redis.info("server"))?.[1];
      const { rows: [pgVersion] } = await bench.pool.query<{ v: string }>(`SELECT current_setting('server_version') AS v`);
      console.log(`Node ${process.version}, ${cpus().length} CPUs (${cpus()[0]?.model.trim()}); PostgreSQL ${pgVersion!.v} (database ${bench.name}) and ` +
        `Redis ${redisVersion} (prefix ${prefix}) are separate processes on ${o.redisUrl.includes("127.0.0.1") || o.redisUrl.includes("localhost") ? "this machine" : "their hosts"}.`);
      console.log(`Each phase: ${o.seconds} s of writing (outbox: at most ${o.maxEvents} events); outbox batches ${o.batches.join(", ")} events per transaction, ` +
        `${o.writers.join(" / ")} writer(s); pub/sub ${o.inFlight} PUBLISH in flight. Load average ${loadavg().map((l) => l.toFixed(2)).join(" ")}.\n`);

      if (o.warmup > 0) {
        process.stdout.write("  warm-up (not reported) … ");
        await publishPhase(env, o.warmup);
        await endToEndPhase(env, 10, 1, o.warmup);
        await writeOnlyPhase(env, 10, 1, o.warmup);
        console.log("done");
      }
      const step = async (what: string, phase: () => Promise<Phase>) => {
        process.stdout.write(`  ${what} … `);
        const p = await phase();
        phases.push(p);
        console.log(`${p.events} events in ${p.seconds.toFixed(2)} s`);
      };
      await step("pub/sub (before)", () => publishPhase(env, o.seconds, "before"));
      for (const writers of o.writers) {
        for (const batch of o.batches) {
          await step(`outbox write-only B=${batch} × ${writers}`, () => writeOnlyPhase(env, batch, writers, o.seconds));
          await step(`outbox end-to-end B=${batch} × ${writers}`, () => endToEndPhase(env, batch, writers, o.seconds));
          // The entries' size as relayed (the stream still holds the end-to-end phase's events).
          const [entry] = await redis.xrange(streamKey, "-", "+", "COUNT", 1);
          bytes = { publish: Buffer.byteLength(JSON.stringify(env.ticks[0])), stream: Buffer.byteLength(entry?.[1][1] ?? "") };
          await step(`bare pg write-only B=${batch} × ${writers}`, () => barePgPhase(env, batch, writers, o.seconds));
        }
      }
      await step("pub/sub (after)", () => publishPhase(env, o.seconds, "after"));
      const removed = await cleanRedis(redis, prefix);
      if (removed) console.log(`Removed ${removed} Redis key(s) under ${prefix}.`);
    });
    report(phases, o, bytes);
  } finally {
    process.off("SIGINT", onSignal).off("SIGTERM", onSignal);
    await cleanRedis(redis, prefix).catch(() => 0);
    redis.disconnect();
  }
}

function report(phases: Phase[], o: Options, bytes: { publish: number; stream: number }): void {
  const rate = (p: Phase) => p.events / p.seconds;
  const pubsub = phases.filter((p) => p.mode === "pub/sub PUBLISH");
  const baseline = pubsub.reduce((sum, p) => sum + rate(p), 0) / pubsub.length;
  const pct = (ms: number | null, p: Phase) => (ms == null ? "" : ((ms / 1000 / p.seconds) * 100).toFixed(0));
  const rows = phases.map((p) => [
    p.label ? `${p.mode} (${p.label})` : p.mode, p.batch ?? "", p.concurrency, p.events, p.commits, p.seconds.toFixed(2),
    rate(p).toFixed(0), (p.commits / (p.writeSeconds ?? p.seconds)).toFixed(0), (rate(p) / baseline).toFixed(3),
    p.writeSeconds === undefined ? "" : ((p.seconds - p.writeSeconds) * 1000).toFixed(0), p.relayBatches ?? "",
    pct(p.nodeCpuMs, p), pct(p.pgCpuMs, p), pct(p.redisCpuMs, p), ((p.nodeCpuMs * 1000) / p.events).toFixed(1), p.load.toFixed(2),
  ]);
  console.log("");
  printTable(["mode", "batch", "writers / in flight", "events", "commits", "seconds", "events/s", "commits/s", "× pub/sub",
    "relay tail ms", "relay batches", "Node CPU %", "PG CPU %", "Redis CPU %", "Node µs/event", "load"], rows);
  const [before, after] = pubsub;
  console.log(`\n× pub/sub: events/s ÷ the mean of the two pub/sub runs (${baseline.toFixed(0)} events/s` +
    `${before && after ? `; before ${rate(before).toFixed(0)}, after ${rate(after).toFixed(0)}` : ""}).`);
  console.log(`events/s: events ÷ seconds. Pub/sub: until every PUBLISH was answered. Write-only: until the last commit.`);
  console.log(`End-to-end: from the first transaction until EventRelay.relayed reached the last event (every event XADDed`);
  console.log(`to the stream; checked: XLEN and the last id); commits/s over the writing part; relay tail = the time after`);
  console.log(`the last commit; relay batches = the relay's SELECT → XADD pipeline → EventRelay UPDATE passes. Bare pg: appendEvents'`);
  console.log(`statement as Prisma sent it, between BEGIN and COMMIT on a bare pg pool (same session settings), no Prisma.`);
  console.log(`CPU %: of one core over the phase — this Node process (writers, relay, ioredis: one`);
  console.log(`thread), PostgreSQL (this database's sessions + background processes), Redis (whole server). load: 1-min`);
  console.log(`load average at the phase's start (${cpus().length} CPUs; PostgreSQL and Redis share them with this process). Node ${process.version}.`);
  if (bytes.stream) console.log(`Payload: ${bytes.publish} B published (JSON.stringify); ${bytes.stream} B per stream entry (jsonb read back as text).`);
}
