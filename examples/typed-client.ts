// A typed client in three steps, with the helpers of ./gpubroker-client.ts (fetch + graphql-ws):
//   1. a query: the cheapest offers for a GPU model (provider, instance, $/GPU-hour);
//   2. a paginated walk over every active offer, page by page with `after: pageInfo.endCursor`;
//   3. a resumable `priceTicks` subscription for that GPU model (reconnects resume after the last cursor).
//
//   npm run codegen    # once, and after editing a document: writes examples/generated/
//   npx tsx examples/typed-client.ts [http://localhost:4000/graphql] [GPU model, default H100]
//
// Environment: GPUBROKER_TOKEN (optional bearer token), MAX_TICKS (exit 0 after that many ticks; the
// tests use it). Any error exits with status 1 and one line on stderr.
import { graphql } from "./generated/gql.ts";
import type { OfferPageQuery } from "./generated/graphql.ts";
import { followPriceTicks, request, subscriptionClient, type ClientOptions, type PriceTick } from "./gpubroker-client.ts";

const api: ClientOptions = { url: process.argv[2] ?? process.env.GPUBROKER_URL ?? "http://localhost:4000/graphql", token: process.env.GPUBROKER_TOKEN };
const gpu = process.argv[3] ?? "H100";
const maxTicks = Number(process.env.MAX_TICKS ?? Infinity);
// Pages of 100 (the API's maximum); the walk stops there even if the catalog is larger.
const PAGE_SIZE = 100;
const MAX_PAGES = 100;

const CheapestOffers = graphql(`
  query CheapestOffers($gpu: String!, $first: Int!) {
    offers(filter: { gpuModels: [$gpu] }, first: $first) {
      totalCount
      edges { node { instanceType region gpuCount pricePerGpuHour provider { name } gpuModel { name } } }
    }
  }
`);

const OfferPage = graphql(`
  query OfferPage($first: Int!, $after: String) {
    offers(first: $first, after: $after) {
      totalCount
      pageInfo { hasNextPage endCursor }
      edges { node { id } }
    }
  }
`);

async function printCheapest(): Promise<void> {
  const { offers } = await request(api, CheapestOffers, { gpu, first: 5 });
  console.log(`Cheapest ${gpu} offers (${offers.edges.length} of ${offers.totalCount}):`);
  for (const { node } of offers.edges) {
    // pricePerGpuHour is Money: an exact decimal string, printed as received.
    console.log(`  ${node.provider.name.padEnd(18)} ${node.instanceType.padEnd(32)} ${node.region.padEnd(16)} ${node.gpuCount}× ${node.gpuModel?.name ?? "?"}  $${node.pricePerGpuHour}/GPU-hour`);
  }
}

async function walkAllOffers(): Promise<void> {
  let after: string | null = null;
  let seen = 0;
  let pages = 0;
  let totalCount = 0;
  for (let hasNextPage = true; hasNextPage && pages < MAX_PAGES; pages++) {
    const { offers }: OfferPageQuery = await request(api, OfferPage, { first: PAGE_SIZE, after });
    seen += offers.edges.length;
    totalCount = offers.totalCount;
    hasNextPage = offers.pageInfo.hasNextPage;
    after = offers.pageInfo.endCursor ?? null;
  }
  console.log(`Walked ${pages} pages: ${seen} offers (totalCount ${totalCount})${seen < totalCount ? `, stopped after ${MAX_PAGES} pages` : ""}.`);
}

function printTick(tick: PriceTick): void {
  const change = tick.changePercent == null ? "" : ` (${tick.changePercent > 0 ? "+" : ""}${tick.changePercent}%)`;
  console.log(`  tick ${tick.kind} ${tick.provider} ${tick.gpuModel ?? "?"} ${tick.region}: $${tick.oldOnDemandPrice ?? "–"} → $${tick.newOnDemandPrice ?? "–"}/hour${change} at ${tick.at}`);
}

/** Follows the GPU model's price ticks until MAX_TICKS have arrived (forever by default). */
function followTicks(): Promise<void> {
  const client = subscriptionClient(api);
  console.log(`Following ${gpu} price ticks (Ctrl-C to stop)…`);
  return new Promise((resolve, reject) => {
    let handled = 0;
    const stop = followPriceTicks(client, {
      filter: { gpuModels: [gpu] },
      onTick: (tick) => {
        printTick(tick);
        if (++handled >= maxTicks) {
          stop();
          void Promise.resolve(client.dispose()).then(resolve);
        }
      },
      onResumeWindowExceeded: () => console.error("resume window exceeded: reload the offers, then follow live"),
      onResumed: (error) => console.error(`${error.code}: ${error.message} (resuming after the last cursor)`),
      onFatal: (error) => void Promise.resolve(client.dispose()).then(() => reject(error)),
    });
  });
}

try {
  await printCheapest();
  await walkAllOffers();
  if (maxTicks > 0) await followTicks();
} catch (err) {
  const error = err as Error & { code?: string };
  console.error(`typed-client: ${error.code ? `${error.code}: ` : ""}${error.message}`);
  process.exit(1);
}
