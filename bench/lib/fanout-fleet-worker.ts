// Worker-thread entry of the `fanout` benchmark's clients (fanout-clients.ts starts it through tsx's
// tsImport): runs the fleet of fanout-fleet.ts on its own event loop, so that receiving ~70,000 frames/s
// neither waits for nor delays the publisher on the main thread. Counters go to the shared memory it is
// given; problems and client 0's first frame to the MessagePort; `count` is acknowledged through `acks`.
import { readlinkSync } from "node:fs";
import { workerData } from "node:worker_threads";
import { OpenError, runFleet, type FromWorker, type ToWorker, type WorkerInput } from "./fanout-fleet.ts";

const { options, memory, port, acks } = workerData as WorkerInput;
const post = (m: FromWorker) => port.postMessage(m);

let tid = NaN;
try { tid = Number(readlinkSync("/proc/thread-self").split("/").pop()); } catch { /* not Linux: no per-thread CPU */ }
post({ type: "tid", tid });

try {
  const fleet = await runFleet(options, memory, {
    problem: (text) => post({ type: "problem", text }),
    firstFrame: (text) => post({ type: "first", text }),
  });
  port.on("message", (m: ToWorker) => {
    if (m.type === "count") {
      fleet.count(m.since);
      Atomics.store(acks, 0, m.seq);
      Atomics.notify(acks, 0);
    } else {
      void fleet.close().then(() => { post({ type: "closed" }); port.close(); });
    }
  });
  post({ type: "opened" });
} catch (err) {
  const e = err as Error;
  post({ type: "failed", message: e.message, code: e instanceof OpenError ? e.code : undefined, opened: e instanceof OpenError ? e.opened : 0 });
  port.close();
}
