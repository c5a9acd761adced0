// `npm run bench -- assistant`
//   What GPUBroker adds to a streamed answer over the model server it relays. A local OpenAI-compatible
//   server (child process) streams every answer as BENCH_DELTAS deltas BENCH_INTERVAL_MS apart.
//   Baseline: clients read that stream straight from the upstream (POST /v1/chat/completions, SSE).
//   GPUBroker: clients call sendChatMessage and follow chatMessageEvents over graphql-ws, while the API
//   (this process, backend=openai, PostgreSQL) calls the upstream, stores every event and publishes it.
//   Measured per answer at 1 and 200 answers at once: time to first delta (from the request) and the
//   time per delta (first to last text, over the upstream's delta count: GPUBroker joins deltas that arrive
//   while it stores earlier ones); printed as GPUBroker / upstream ratios, with the time to the last delta.
// Env: BENCH_CONCURRENCY (1,200), BENCH_ROUNDS (5: waves per concurrency), BENCH_DELTAS (50), BENCH_INTERVAL_MS (20),
//      BENCH_DATABASE_URL (admin URL, see lib/database.ts).
import { spawn } from "node:child_process";
import { once } from "node:events";
import { cpus, loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import { createInterface } from "node:readline";
import WebSocket from "ws";
import { createClient, type Client } from "graphql-ws";
import { createApp } from "../src/yoga.ts";
import { startServer, type RunningServer } from "../src/server.ts";
import { createPubSub } from "../src/infra/pubsub.ts";
import { createRateLimiter } from "../src/infra/rate-limit.ts";
import { withBenchDatabase } from "./lib/database.ts";
import { median, printTable } from "./lib/load.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const UPSTREAM_ENTRY = fileURLToPath(new URL("./lib/fake-upstream.ts", import.meta.url));
const SEND = `mutation ($m: String!) { sendChatMessage(input: { message: $m }) { answer { id } } }`;
const EVENTS = `subscription ($id: ID!) { chatMessageEvents(messageId: $id) { __typename ... on ChatTextDelta { delta } ... on ChatMessageFailed { error { code message } } } }`;
/** Answers one user has in progress in a wave: one, as when N people each ask one question. */
const PER_USER = 1;

interface Options { concurrency: number[]; rounds: number; deltas: number; intervalMs: number }

function options(): Options {
  const concurrency = (process.env.BENCH_CONCURRENCY ?? "1,200").split(",").map((s) => Number(s.trim()));
  if (!concurrency.every((n) => Number.isInteger(n) && n > 0 && n <= 2000)) throw new Error("BENCH_CONCURRENCY must be whole numbers in 1..2000, e.g. \"1,200\"");
  const int = (name: string, fallback: number, max: number) => {
    const v = Number(process.env[name] ?? fallback);
    if (!Number.isInteger(v) || v < 1 || v > max) throw new Error(`${name} must be a whole number in 1..${max}`);
    return v;
  };
  return { concurrency, rounds: int("BENCH_ROUNDS", 5, 100), deltas: int("BENCH_DELTAS", 50, 10_000), intervalMs: int("BENCH_INTERVAL_MS", 20, 10_000) };
}

/**
 * One answer as a client saw it: ms from its request to the first and to the last text delta. GPUBroker joins
 * deltas that arrive while it is storing earlier ones, so the time per delta is the span over the upstream's count.
 */
interface Sample { firstMs: number; lastMs: number; received: number; sendMs?: number }

async function startUpstream(o: Options): Promise<{ url: string; stop(): Promise<void> }> {
  const child = spawn(process.execPath, ["--import", "tsx", UPSTREAM_ENTRY], {
    cwd: ROOT, env: { ...process.env, BENCH_DELTAS: String(o.deltas), BENCH_INTERVAL_MS: String(o.intervalMs) }, stdio: ["ignore", "pipe", "inherit"],
  });
  const [line] = (await once(createInterface({ input: child.stdout! }), "line")) as [string];
  return {
    url: (JSON.parse(line) as { url: string }).url,
    stop: async () => { if (child.exitCode === null) { child.kill("SIGTERM"); await once(child, "exit"); } },
  };
}

/** Baseline: one streamed completion read straight from the upstream. */
async function upstreamAnswer(url: string): Promise<Sample> {
  const start = performance.now();
  const res = await fetch(`${url}/chat/completions`, {
    method: "POST", headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: "fake-model", stream: true, messages: [{ role: "user", content: "hello" }] }),
  });
  const times: number[] = [];
  const decoder = new TextDecoder();
  let buffer = "";
  for await (const chunk of res.body!) {
    buffer += decoder.decode(chunk as Uint8Array, { stream: true });
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const data = buffer.slice(6, end);
      buffer = buffer.slice(end + 2);
      if (data === "[DONE]") continue;
      const content = (JSON.parse(data) as { choices: { delta: { content?: string } }[] }).choices[0]?.delta.content;
      if (content) times.push(performance.now());
    }
  }
  return sample(start, times);
}

const sample = (start: number, times: number[]): Sample => ({ firstMs: times[0]! - start, lastMs: times.at(-1)! - start, received: times.length });

/** GPUBroker: sendChatMessage, then chatMessageEvents over a (shared) graphql-ws connection until the final event. */
async function gpubrokerAnswer(server: RunningServer, token: string, ws: Client): Promise<Sample> {
  const start = performance.now();
  const res = await fetch(`http://127.0.0.1:${server.port}/graphql`, {
    method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify({ query: SEND, variables: { m: "hello" } }),
  });
  const body = (await res.json()) as { data?: { sendChatMessage: { answer: { id: string } } }; errors?: unknown[] };
  if (!body.data) throw new Error(`sendChatMessage failed: ${JSON.stringify(body.errors)}`);
  const sendMs = performance.now() - start;
  const times: number[] = [];
  await new Promise<void>((resolve, reject) => {
    ws.subscribe({ query: EVENTS, variables: { id: body.data!.sendChatMessage.answer.id } }, {
      next: (r) => {
        const e = (r.data as { chatMessageEvents: { __typename: string; error?: unknown } } | undefined)?.chatMessageEvents;
        if (e?.__typename === "ChatTextDelta") times.push(performance.now());
        if (e?.__typename === "ChatMessageFailed") reject(new Error(`answer failed: ${JSON.stringify(e.error)}`));
        if (r.errors) reject(new Error(JSON.stringify(r.errors)));
      },
      error: reject,
      complete: resolve,
    });
  });
  return { ...sample(start, times), sendMs };
}

const pct = (values: number[], p: number) => {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};
const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
const ms = (v: number) => v.toFixed(1);

export async function run(): Promise<void> {
  const o = options();
  const upstream = await startUpstream(o);
  try {
    await withBenchDatabase("gpubroker_bench_assistant", async ({ db }) => {
      const users = Math.ceil(Math.max(...o.concurrency) / PER_USER);
      const app = createApp({
        db, pubsub: createPubSub({}),
        rateLimiter: createRateLimiter({ prefix: "bench", limits: { "auth:ip": { points: 1e6, durationSeconds: 60 }, "login:ip": { points: 1e6, durationSeconds: 60 }, "request:ip": { points: 1e9, durationSeconds: 60 }, "request:user": { points: 1e9, durationSeconds: 60 }, "chat:user": { points: 1e9, durationSeconds: 60 } } }),
        assistant: { backend: "openai", openaiBaseUrl: upstream.url, model: "fake-model", historyTurns: 0 },
        chatLimits: { maxConcurrentAnswers: PER_USER },
      });
      const server = await startServer(app, { port: 0, host: "127.0.0.1" });
      const clients: { token: string; ws: Client }[] = [];
      try {
        for (let i = 0; i < users; i++) {
          // One at a time: registration hashes the password (argon2), which is deliberately slow.
          const res = await fetch(`http://127.0.0.1:${server.port}/graphql`, {
            method: "POST", headers: { "content-type": "application/json" },
            body: JSON.stringify({ query: `mutation { register(email: "bench${i}@example.com", password: "a long and lovely passphrase", name: "Bench") { accessToken } }` }),
          });
          const token = ((await res.json()) as { data: { register: { accessToken: string } } }).data.register.accessToken;
          clients.push({ token, ws: createClient({ url: `ws://127.0.0.1:${server.port}/graphql`, webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${token}` }, lazy: false }) });
        }
        // Warm-up: JIT, pools and connections on both paths.
        await Promise.all(Array.from({ length: 10 }, (_, i) => Promise.all([upstreamAnswer(upstream.url), gpubrokerAnswer(server, clients[i % users]!.token, clients[i % users]!.ws)])));

        const rows: (string | number)[][] = [];
        console.log(`assistant streaming: ${o.deltas} deltas ${o.intervalMs} ms apart per answer, ${o.rounds} waves per concurrency; ${cpus().length} cores, load ${loadavg().map((l) => l.toFixed(2)).join(" ")}`);
        for (const n of o.concurrency) {
          const base: Sample[] = [];
          const ours: Sample[] = [];
          // This process's CPU time per answer (server and clients; the upstream and PostgreSQL run elsewhere).
          const cpu = { base: 0, ours: 0 };
          const timed = async (key: "base" | "ours", f: () => Promise<unknown>) => {
            const before = process.cpuUsage();
            await f();
            const used = process.cpuUsage(before);
            cpu[key] += (used.user + used.system) / 1000;
          };
          for (let r = 0; r < o.rounds; r++) {
            // Alternate which path goes first, so neither always meets a warmer machine.
            const wave = (f: (i: number) => Promise<Sample>) => Promise.all(Array.from({ length: n }, (_, i) => f(i)));
            const upstreamWave = () => timed("base", () => wave(() => upstreamAnswer(upstream.url)).then((s) => base.push(...s)));
            const ourWave = () => timed("ours", () => wave((i) => gpubrokerAnswer(server, clients[i % users]!.token, clients[i % users]!.ws)).then((s) => ours.push(...s)));
            if (r % 2) { await ourWave(); await upstreamWave(); } else { await upstreamWave(); await ourWave(); }
          }
          const first = (s: Sample[]) => s.map((x) => x.firstMs);
          const last = (s: Sample[]) => s.map((x) => x.lastMs);
          // Mean time per upstream delta between the first and the last text.
          const gap = (s: Sample[]) => mean(s.map((x) => (x.lastMs - x.firstMs) / (o.deltas - 1)));
          rows.push([
            n, ms(median(first(base))), ms(median(first(ours))), (median(first(ours)) / median(first(base))).toFixed(2),
            ms(pct(first(base), 99)), ms(pct(first(ours), 99)), ms(median(ours.map((x) => x.sendMs!))),
            ms(gap(base)), ms(gap(ours)), ms(gap(ours) - gap(base)), (gap(ours) / gap(base)).toFixed(3),
            ms(median(last(base))), ms(median(last(ours))), Math.round(mean(ours.map((x) => x.received))),
            ms(cpu.base / base.length), ms(cpu.ours / ours.length),
          ]);
        }
        printTable(["answers at once", "first delta p50 upstream ms", "GPUBroker ms", "ratio", "p99 upstream", "p99 GPUBroker", "of which sendChatMessage p50", "per delta upstream ms", "GPUBroker ms", "added per delta ms", "per-delta ratio", "last delta p50 upstream ms", "GPUBroker ms", `deltas received (of ${o.deltas})`, "CPU ms per answer upstream", "GPUBroker"], rows);
      } finally {
        await Promise.all(clients.map((c) => c.ws.dispose()));
        await server.stop();
        await app.dispose();
      }
    });
  } finally {
    await upstream.stop();
  }
}
