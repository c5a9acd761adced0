// Child-process entry of the `assistant` benchmark: the local OpenAI-compatible server (the tests' fake,
// speaking the real SSE protocol) in its own process, so its fixed pace is not slowed by the load it serves.
// Every chat request is answered with BENCH_DELTAS text deltas sent BENCH_INTERVAL_MS apart.
// Prints {"url": "http://127.0.0.1:PORT/v1"} on stdout once listening; stops on SIGTERM.
import { paced, startFakeOpenAI } from "../../test/support/fake-openai.ts";

const deltas = Number(process.env.BENCH_DELTAS ?? 50);
const intervalMs = Number(process.env.BENCH_INTERVAL_MS ?? 20);
const fake = await startFakeOpenAI({ script: () => paced(deltas, intervalMs) });
process.stdout.write(`${JSON.stringify({ url: fake.url })}\n`);
process.on("SIGTERM", () => { void fake.close().then(() => process.exit(0)); });
