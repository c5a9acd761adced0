// The HTTP load generator in a process of its own (forked by ./load.ts): the servers under test run in the
// parent, so the parent's CPU time during a load run is the servers' alone, client excluded.
import autocannon from "autocannon";

/** `amount`: stop after this many requests instead of after `duration` seconds. */
export interface LoadJob { url: string; body: string; connections: number; duration: number; amount?: number }
export type LoadChildMessage =
  | { type: "started" }
  | { type: "done"; requests: number; duration: number; errors: number; non2xx: number; p50: number; p99: number };

process.once("message", (job: LoadJob) => {
  process.send!({ type: "started" } satisfies LoadChildMessage);
  void autocannon({
    url: job.url, method: "POST", body: job.body, connections: job.connections, duration: job.duration, ...(job.amount ? { amount: job.amount } : {}),
    headers: { "content-type": "application/json", accept: "application/json" },
  }).then((r) => {
    process.send!({
      type: "done", requests: r.requests.total, duration: r.duration, errors: r.errors, non2xx: r.non2xx, p50: r.latency.p50, p99: r.latency.p99,
    } satisfies LoadChildMessage, () => process.disconnect());
  });
});
