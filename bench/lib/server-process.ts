// A server under test in a process of its own (./server-child.ts): its CPU time is read from that process
// alone, so neither the bench's own heap (the loaded catalog, the other servers) nor its client work is
// charged to it, and the two servers of a comparison cannot slow each other's garbage collection.
import { fork, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";

export type ServerSpec =
  /** GPUBroker's app as the bench runs it in-process: createApp + startServer over a pg pool (BENCH_POOL_SIZE). */
  | { kind: "gpubroker"; databaseUrl: string; jit?: boolean; responseCache?: boolean; graphqlMetrics?: boolean }
  /** The offers baseline (./offers-baseline.ts): node:http + one pg.Pool (10) query + JSON.stringify. */
  | { kind: "offers-baseline"; databaseUrl: string };

export type ChildMessage = { type: "ready"; url: string } | { type: "failed"; message: string } | { type: "cpu"; ms: number; maxRssMb: number; gcMs: number };

export interface ServerProcess {
  url: string;
  /** The process's CPU time so far (user + system, all its threads), in ms. */
  cpuMs(): Promise<number>;
  /** The process's peak resident set size so far, in MB. */
  peakRssMb(): Promise<number>;
  /** The main thread's garbage-collection pauses so far, in ms. */
  gcMs(): Promise<number>;
  stop(): Promise<void>;
}

const CHILD = fileURLToPath(new URL("./server-child.ts", import.meta.url));

/** `nodeFlags`: Node/V8 flags for the server process (e.g. `--max-semi-space-size=64`), after the parent's own. */
export async function startServerProcess(spec: ServerSpec, nodeFlags: readonly string[] = []): Promise<ServerProcess> {
  // The parent's execArgv (tsx's loader) lets the child import TypeScript as the bench does.
  const child: ChildProcess = fork(CHILD, { stdio: ["ignore", "inherit", "inherit", "ipc"], execArgv: [...process.execArgv, ...nodeFlags] });
  const exited = once(child, "exit").then(([code]) => { throw new Error(`the ${spec.kind} server process exited (code ${code})`); });
  exited.catch(() => {});
  child.send(spec);
  const next = () => Promise.race([once(child, "message").then(([m]) => m as ChildMessage), exited]);
  const first = await next();
  if (first.type !== "ready") {
    child.kill();
    throw new Error(`the ${spec.kind} server process did not start: ${first.type === "failed" ? first.message : first.type}`);
  }
  // One question at a time: the answers come back in order.
  let queue: Promise<unknown> = Promise.resolve();
  const usage = () => {
    const answer = queue.then(async () => {
      child.send("cpu");
      const m = await next();
      if (m.type !== "cpu") throw new Error(`unexpected message from the ${spec.kind} server: ${m.type}`);
      return m;
    });
    queue = answer.catch(() => {});
    return answer;
  };
  return {
    url: first.url,
    cpuMs: () => usage().then((m) => m.ms),
    peakRssMb: () => usage().then((m) => m.maxRssMb),
    gcMs: () => usage().then((m) => m.gcMs),
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const gone = once(child, "exit");
      child.send("stop");
      const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
      await gone;
      clearTimeout(timer);
    },
  };
}
