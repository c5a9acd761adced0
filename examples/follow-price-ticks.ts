// Follows `priceTicks` over graphql-ws and never misses one: it keeps the cursor of the last tick it
// handled and, whenever the connection drops (network, an API node restarting, a deploy), graphql-ws
// reconnects and subscribes again — with `after: <that cursor>`, because the subscribe message is
// built from the same `variables` object each time. The server replays what was missed, then goes live.
//
//   npx tsx examples/follow-price-ticks.ts [http://localhost:4000/graphql]
//
// Environment: GPUBROKER_TOKEN (optional bearer token, sent on every connect), MAX_TICKS (exit after
// that many; the tests use it).
import { createClient } from "graphql-ws";
import WebSocket from "ws";

const url = (process.argv[2] ?? process.env.GPUBROKER_URL ?? "http://localhost:4000/graphql").replace(/^http/, "ws");
const maxTicks = Number(process.env.MAX_TICKS ?? Infinity);

const query = /* GraphQL */ `
  subscription FollowTicks($after: String) {
    priceTicks(after: $after) { cursor offerId provider gpuModel kind newOnDemandPrice changePercent at }
  }`;

interface Tick { cursor: string; offerId: string; provider: string; gpuModel: string | null; kind: string; newOnDemandPrice: string | null; changePercent: number | null; at: string }

// Store the cursor durably (a file, your database) to resume across restarts of this client too.
const variables: { after: string | null } = { after: null };
let handled = 0;

const client = createClient({
  url,
  webSocketImpl: WebSocket,
  // Called on every (re)connect: a stream ends (close 4403) when its token expires, so hand a fresh one.
  connectionParams: () => (process.env.GPUBROKER_TOKEN ? { authorization: `Bearer ${process.env.GPUBROKER_TOKEN}` } : {}),
  retryAttempts: Infinity,
  shouldRetry: () => true,
  retryWait: (retries) => new Promise((r) => setTimeout(r, Math.min(10_000, 250 * 2 ** retries))),
});

function follow(): void {
  let ended = false;
  client.subscribe<{ priceTicks: Tick }>({ query, variables }, {
    next: ({ data, errors }) => {
      const code = errors?.[0]?.extensions?.code;
      if (code === "RESUME_WINDOW_EXCEEDED") {
        // Away longer than the server keeps events: reload the state you show (e.g. the `offers`
        // query), then follow live from now.
        console.error("resume window exceeded: reload the state, then follow live");
        variables.after = null;
      } else if (errors?.length) {
        console.error(code, errors[0]!.message); // e.g. SUBSCRIPTION_OVERFLOW: the stream ends; we resume below
      } else {
        const tick = data!.priceTicks;
        console.log(JSON.stringify(tick));
        variables.after = tick.cursor; // what a reconnect resumes from
        if (++handled >= maxTicks) { void client.dispose(); process.exit(0); }
      }
    },
    // The server ended the stream (after an error result such as SUBSCRIPTION_OVERFLOW): resume from the cursor.
    complete: () => { if (!ended) { ended = true; setTimeout(follow, 100); } },
    error: (err) => { console.error("subscription failed", err); if (!ended) { ended = true; setTimeout(follow, 1000); } },
  });
}

follow();
