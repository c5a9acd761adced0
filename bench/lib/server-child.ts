// The server process of ./server-process.ts: starts the server its parent describes, reports its URL, answers
// "cpu" with process.resourceUsage() (CPU time, peak RSS) and stops on "stop" (or when the parent goes).
import { PerformanceObserver } from "node:perf_hooks";
import pg from "pg";
import { openDatabase, PG_SESSION_OPTIONS } from "../../src/infra/db.ts";
import { createApp } from "../../src/yoga.ts";
import { startServer } from "../../src/server.ts";
import { createMemoryResponseCacheStore } from "../../src/infra/response-cache-store.ts";
import { benchRateLimiter } from "./rate-limit.ts";
import { startBaselineServer } from "./baseline.ts";
import { baselineAnswer } from "./offers-baseline.ts";
import type { ChildMessage, ServerSpec } from "./server-process.ts";

const send = (m: ChildMessage) => process.send!(m);

// Time in garbage collection so far (the main thread's pauses), in ms.
let gcMs = 0;
new PerformanceObserver((list) => { for (const e of list.getEntries()) gcMs += e.duration; }).observe({ entryTypes: ["gc"] });

async function start(spec: ServerSpec): Promise<{ url: string; stop: () => Promise<void> }> {
  if (spec.kind === "offers-baseline") {
    // Same session settings as the API's pool, so the baseline measures the SQL, not a configuration.
    const pool = new pg.Pool({ connectionString: spec.databaseUrl, max: 10, options: PG_SESSION_OPTIONS });
    pool.on("error", () => {}); // idle clients die when the database is force-dropped
    const server = await startBaselineServer(baselineAnswer(pool));
    return { url: server.url, stop: async () => { await server.stop(); await pool.end(); } };
  }
  const db = await openDatabase({ databaseUrl: spec.databaseUrl, poolSize: Number(process.env.BENCH_POOL_SIZE ?? 10) });
  // The response cache as main.ts sets it up without Redis (one process: an in-memory LRU).
  const app = createApp({
    db, rateLimiter: benchRateLimiter(), jit: spec.jit ?? true, graphqlMetrics: spec.graphqlMetrics ?? true,
    ...(spec.responseCache ? { responseCache: { store: createMemoryResponseCacheStore(), ttlMs: 60_000 } } : {}),
  });
  const server = await startServer(app, { port: 0, host: "127.0.0.1" });
  return { url: server.url, stop: async () => { await server.stop(); await app.dispose(); await db.close(); } };
}

process.once("message", (spec: ServerSpec) => {
  start(spec).then(
    (server) => {
      const stop = () => { server.stop().finally(() => process.exit(0)); };
      process.on("message", (m: unknown) => {
        if (m === "cpu") {
          const u = process.resourceUsage(); // maxRSS in KiB
          send({ type: "cpu", ms: (u.userCPUTime + u.systemCPUTime) / 1000, maxRssMb: u.maxRSS / 1024, gcMs });
        }
        else if (m === "stop") stop();
      });
      process.once("disconnect", stop);
      send({ type: "ready", url: server.url });
    },
    (err: Error) => { send({ type: "failed", message: err.stack ?? err.message }); process.exitCode = 1; process.disconnect(); },
  );
});
