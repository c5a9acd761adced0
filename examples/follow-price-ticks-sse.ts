// Follows `priceTicks` over Server-Sent Events (graphql-yoga's "distinct connections" mode: one
// POST with Accept: text/event-stream per subscription) with nothing but fetch, and never misses a
// tick: on any disconnect it posts again with `after: <cursor of the last tick it handled>`.
//
//   npx tsx examples/follow-price-ticks-sse.ts [http://localhost:4000/graphql]
//
// Environment: GPUBROKER_TOKEN (optional bearer token), MAX_TICKS (exit after that many; the tests use it).
// The subscription is the typed PriceTicks document of ./gpubroker-client.ts (`npm run codegen` first).
import { PriceTicks } from "./gpubroker-client.ts";
import type { PriceTicksSubscription } from "./generated/graphql.ts";

const url = process.argv[2] ?? process.env.GPUBROKER_URL ?? "http://localhost:4000/graphql";
const maxTicks = Number(process.env.MAX_TICKS ?? Infinity);

let after: string | null = null; // store it durably to resume across restarts of this client too
let handled = 0;

/** One stream: resolves when the server ends it or the connection drops. */
async function streamOnce(): Promise<void> {
  const res = await fetch(url, {
    method: "POST",
    headers: {
      "content-type": "application/json", accept: "text/event-stream",
      ...(process.env.GPUBROKER_TOKEN ? { authorization: `Bearer ${process.env.GPUBROKER_TOKEN}` } : {}),
    },
    body: JSON.stringify({ query: PriceTicks.toString(), variables: { after } }),
  });
  if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
  const decoder = new TextDecoder();
  let buffer = "";
  for await (const chunk of res.body) {
    buffer += decoder.decode(chunk, { stream: true });
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const frame = buffer.slice(0, end).split("\n");
      buffer = buffer.slice(end + 2);
      const data = frame.find((l) => l.startsWith("data:"))?.slice(5).trim();
      if (!frame.includes("event: next") || !data) continue;
      const { data: result, errors } = JSON.parse(data) as { data?: PriceTicksSubscription; errors?: { message: string; extensions?: { code?: string } }[] };
      if (errors?.[0]?.extensions?.code === "RESUME_WINDOW_EXCEEDED") {
        console.error("resume window exceeded: reload the state, then follow live");
        after = null;
      } else if (errors?.length) {
        console.error(errors[0]!.extensions?.code, errors[0]!.message);
      } else if (result) {
        console.log(JSON.stringify(result.priceTicks));
        after = result.priceTicks.cursor;
        if (++handled >= maxTicks) process.exit(0);
      }
    }
  }
}

for (let retries = 0; ; ) {
  try {
    await streamOnce();
    retries = 0; // the server ended the stream: resume at once
  } catch (err) {
    console.error("disconnected:", (err as Error).message);
    retries++;
  }
  await new Promise((r) => setTimeout(r, Math.min(10_000, 100 * 2 ** retries)));
}
