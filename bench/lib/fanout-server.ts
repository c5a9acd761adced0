// Child-process entry of the `fanout` benchmark: one WebSocket server in its own process, so the parent
// can read its CPU time and RSS from /proc; over IPC it reports its subscriber count and event-loop delay.
//   node --import tsx bench/lib/fanout-server.ts gpubroker   GPUBroker: createApp + startServer, its event log on Redis Streams
//   node --import tsx bench/lib/fanout-server.ts baseline    a bare `ws` server + one ioredis XREAD loop on the same stream
// Env: REDIS_URL, FANOUT_PREFIX (the Redis prefix of this phase), DATABASE_URL (gpubroker only),
//      FANOUT_CPU_PROFILE (optional: write a V8 CPU profile of the measured window to this path).
import { writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { Session } from "node:inspector/promises";
import type { AddressInfo } from "node:net";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { Redis } from "ioredis";
import { WebSocket, WebSocketServer } from "ws";
import type { PriceTick } from "../../src/infra/pubsub-types.ts";
import { mixFilter, wants, type MixFilter } from "./fanout-mix.ts";

export type ServerKind = "gpubroker" | "baseline";

/** Parent → child. */
export type FanoutCommand = { id: number; cmd: "subscribers" | "measure" | "usage" | "memory" | "exit" };
/** Child → parent: `ready` once listening, otherwise the reply to a command with the same id. */
export type FanoutReply =
  | { type: "ready"; port: number }
  | { type: "reply"; id: number; subscribers?: number; loop?: LoopDelay; memory?: HeapMemory };

/** After a full GC (the child runs with --expose-gc): V8 heap + external memory, and RSS, in bytes. */
export interface HeapMemory { heap: number; rss: number }

/** The server's event-loop delay between `measure` and `usage` (CPU and RSS the parent reads from /proc). */
export interface LoopDelay {
  p99Ms: number;
  maxMs: number;
}

interface RunningFanoutServer {
  port: number;
  /** Live subscriptions (GPUBroker: confirmed by Redis) or open sockets (baseline). */
  subscribers(): number;
  stop(): Promise<void>;
}

const env = (name: string) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};

// ---------------------------------------------------------------- GPUBroker

async function startGpuBroker(): Promise<RunningFanoutServer> {
  // Imported here: the baseline process must not pay for (or be measured with) GPUBroker's modules.
  const { openDatabase } = await import("../../src/infra/db.ts");
  const { createPubSub } = await import("../../src/infra/pubsub.ts");
  const { createEventLog } = await import("../../src/infra/event-log.ts");
  const { createRateLimiter } = await import("../../src/infra/rate-limit.ts");
  const { createApp } = await import("../../src/yoga.ts");
  const { startServer } = await import("../../src/server.ts");
  const prefix = env("FANOUT_PREFIX");
  // The parent writes the ticks here (the outbox); the feed checks it once a second and reads it when
  // Redis falls behind; the context needs a client too. Migrated by the parent.
  const db = await openDatabase({ databaseUrl: env("DATABASE_URL"), poolSize: 2 });
  const pubsub = createPubSub({ redisUrl: env("REDIS_URL"), prefix });
  const events = createEventLog({ prisma: db.prisma, redisUrl: env("REDIS_URL"), prefix });
  // Every subscribe is one `request:ip` operation, and all clients share 127.0.0.1 (the default is 300 a minute).
  const rateLimiter = createRateLimiter({ prefix, limits: { "request:ip": { points: 1_000_000, durationSeconds: 60 } } });
  const running = await startServer(createApp({ db, pubsub, events, rateLimiter }), { port: 0, host: "127.0.0.1" });
  return {
    port: running.port,
    subscribers: () => events.subscriberCount("market"),
    async stop() {
      await running.stop();
      await events.close();
      await pubsub.close();
      await rateLimiter.close();
      await db.close();
    },
  };
}

// ---------------------------------------------------------------- baseline

// GPUBroker's wire formats, by hand: Relay global ID, Money with at least 2 decimals, enum names.
const money = (s: string | null) => {
  if (s === null) return null;
  const [int, frac = ""] = s.split(".");
  const trimmed = frac.replace(/0+$/, "");
  return `${int}.${trimmed.padEnd(2, "0")}`;
};

/** The `priceTicks` selection of fanout.ts, field for field, in the same order. */
function wireTick(t: PriceTick) {
  return {
    offerId: Buffer.from(`GpuOffer:${t.offerId}`).toString("base64"), provider: t.provider, gpuModel: t.gpuModel,
    region: t.region, gpuCount: t.gpuCount, kind: t.kind.toUpperCase(),
    oldOnDemandPrice: money(t.oldOnDemandPrice), newOnDemandPrice: money(t.newOnDemandPrice),
    oldSpotPrice: money(t.oldSpotPrice), newSpotPrice: money(t.newSpotPrice),
    oldAvailability: t.oldAvailability, newAvailability: t.newAvailability,
    pricePerGpuHour: money(t.pricePerGpuHour), changePercent: t.changePercent, at: new Date(t.at).toISOString(),
  };
}

/**
 * One XREAD loop on the phase's Redis Stream, one JSON.stringify per tick, the same frame written to every
 * socket that wants it. With FANOUT_MIX=1 each client says who it is (`?client=i`) and gets the filter the
 * bench gave it (fanout-mix.ts), applied by hand per group of sockets with the same filter.
 */
async function startBaseline(): Promise<RunningFanoutServer> {
  const http = createServer((_req, res) => res.writeHead(404).end());
  const wss = new WebSocketServer({ server: http, path: "/graphql" });
  const mix = process.env.FANOUT_MIX === "1";
  const groups = new Map<string, { filter: MixFilter | null; sockets: Set<WebSocket> }>();
  wss.on("connection", (socket, req) => {
    const client = Number(new URL(req.url ?? "/", "http://x").searchParams.get("client") ?? 0);
    const filter = mix ? mixFilter(client) : null;
    const key = JSON.stringify(filter);
    let group = groups.get(key);
    if (!group) groups.set(key, (group = { filter, sockets: new Set() }));
    group.sockets.add(socket);
    socket.once("close", () => group.sockets.delete(socket));
  });
  // The stream the event log's relay writes (src/infra/event-log.ts: `<prefix>:events:<stream>`, field "d" = the
  // payload's JSON), read as its feeds read it: the same client settings, XREAD COUNT 500 BLOCK 5000 after the last id.
  const key = `${env("FANOUT_PREFIX")}:events:market`;
  const reader = new Redis(env("REDIS_URL"), { maxRetriesPerRequest: null, lazyConnect: true });
  reader.on("error", (err: Error) => process.stderr.write(`baseline redis: ${err.message}\n`));
  await reader.connect();
  let last = (await reader.xrevrange(key, "+", "-", "COUNT", 1))[0]?.[0] ?? "0-0"; // live from now
  let closed = false;
  const reading = (async () => {
    while (!closed) {
      const res = await reader.xread("COUNT", 500, "BLOCK", 5000, "STREAMS", key, last).catch((err: unknown) => {
        if (!closed) process.stderr.write(`baseline XREAD: ${(err as Error).message}\n`);
        return null;
      });
      for (const [id, fields] of res?.[0]?.[1] ?? []) {
        last = id;
        // graphql-ws's `next` message for subscription id "1", as the bench's GPUBroker clients subscribe.
        const tick = JSON.parse(fields[1]!) as PriceTick;
        const frame = JSON.stringify({ id: "1", type: "next", payload: { data: { priceTicks: wireTick(tick) } } });
        for (const { filter, sockets } of groups.values()) {
          if (!wants(filter, tick)) continue;
          for (const socket of sockets) if (socket.readyState === WebSocket.OPEN) socket.send(frame);
        }
      }
    }
  })();
  await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
  return {
    port: (http.address() as AddressInfo).port,
    subscribers: () => wss.clients.size,
    async stop() {
      closed = true;
      for (const socket of wss.clients) socket.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      await new Promise<void>((resolve) => http.close(() => resolve()));
      reader.disconnect(); // ends a blocked XREAD
      await reading;
    },
  };
}

// ---------------------------------------------------------------- process: IPC and sampling

/** Starts the V8 sampling profiler when FANOUT_CPU_PROFILE is set; the returned function writes the profile. */
async function startProfiling(): Promise<() => Promise<void>> {
  const path = process.env.FANOUT_CPU_PROFILE;
  if (!path) return async () => {};
  const session = new Session();
  session.connect();
  await session.post("Profiler.enable");
  await session.post("Profiler.setSamplingInterval", { interval: 500 });
  await session.post("Profiler.start");
  return async () => {
    const { profile } = await session.post("Profiler.stop");
    writeFileSync(path, JSON.stringify(profile));
    session.disconnect();
  };
}

/** How long a ready socket may wait for its turn: the event loop's delay, sampled every 10 ms. */
function startMeasuring(): () => LoopDelay {
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  return () => {
    loop.disable();
    return { p99Ms: loop.percentile(99) / 1e6, maxMs: loop.max / 1e6 };
  };
}

async function main() {
  if (!process.send) throw new Error("fanout-server runs as a child of bench/fanout.ts (it needs an IPC channel)");
  const send = (reply: FanoutReply) => process.send!(reply);
  // The parent went away (Ctrl-C, crash): nothing to report to, so leave at once.
  process.on("disconnect", () => process.exit(0));
  const kind = process.argv[2] as ServerKind;
  if (kind !== "gpubroker" && kind !== "baseline") throw new Error(`unknown server "${kind}" (gpubroker | baseline)`);
  const server = kind === "gpubroker" ? await startGpuBroker() : await startBaseline();
  let stopMeasuring: (() => LoopDelay) | undefined;
  let stopProfiling: (() => Promise<void>) | undefined;

  process.on("message", async (message: FanoutCommand) => {
    const { id, cmd } = message;
    if (cmd === "subscribers") send({ type: "reply", id, subscribers: server.subscribers() });
    else if (cmd === "memory") {
      for (let k = 0; k < 3; k++) { (globalThis as { gc?: () => void }).gc?.(); await new Promise((r) => setImmediate(r)); }
      const m = process.memoryUsage();
      send({ type: "reply", id, memory: { heap: m.heapUsed + m.external, rss: m.rss } });
    } else if (cmd === "measure") {
      stopProfiling = await startProfiling();
      stopMeasuring = startMeasuring();
      send({ type: "reply", id });
    } else if (cmd === "usage") {
      const loop = stopMeasuring?.();
      await stopProfiling?.();
      send({ type: "reply", id, loop });
    } else if (cmd === "exit") {
      const force = setTimeout(() => process.exit(1), 10_000).unref();
      // The parent waits for the exit itself; --cpu-prof writes its profile here.
      void server.stop().finally(() => { clearTimeout(force); process.exit(0); });
    }
  });
  send({ type: "ready", port: server.port });
}

main().catch((err: unknown) => {
  process.stderr.write(`fanout-server: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(1);
});
