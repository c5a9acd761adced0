// Follows `priceTicks` over graphql-ws and never misses one: followPriceTicks (./gpubroker-client.ts)
// keeps the cursor of the last tick it handled in the subscription's `variables.after` and, whenever
// the connection drops (network, an API node restarting, a deploy), graphql-ws reconnects and
// subscribes again from that same `variables` object, that is with `after: <that cursor>`. The
// server replays what was missed, then goes live. Each tick is printed as one JSON line.
//
//   npm run codegen    # once: the typed documents in examples/generated/
//   npx tsx examples/follow-price-ticks.ts [http://localhost:4000/graphql]
//
// Environment: GPUBROKER_TOKEN (optional bearer token, sent on every connect), MAX_TICKS (exit after
// that many; the tests use it).
import { followPriceTicks, subscriptionClient } from "./gpubroker-client.ts";

const client = subscriptionClient({
  url: process.argv[2] ?? process.env.GPUBROKER_URL ?? "http://localhost:4000/graphql",
  token: process.env.GPUBROKER_TOKEN,
});
const maxTicks = Number(process.env.MAX_TICKS ?? Infinity);
let handled = 0;

const stop = followPriceTicks(client, {
  // Store the cursor durably (a file, your database) and pass it as `after` to resume across restarts of this client too.
  after: null,
  onTick: (tick) => {
    console.log(JSON.stringify(tick));
    if (++handled >= maxTicks) {
      stop();
      process.exit(0);
    }
  },
  // Away longer than the server keeps events: reload the state you show (e.g. the `offers` query), then follow live from now.
  onResumeWindowExceeded: () => console.error("resume window exceeded: reload the state, then follow live"),
  onResumed: (error) => console.error(error.code, error.message), // e.g. SUBSCRIPTION_OVERFLOW: resumed from the cursor
  onFatal: (error) => {
    console.error(`follow-price-ticks: ${error.code}: ${error.message}`);
    process.exit(1);
  },
});
