// A small typed GPUBroker client: queries over fetch, subscriptions over graphql-ws, nothing else.
// The documents are written with `graphql(...)` from ./generated (run `npm run codegen`): each is
// checked against schema.graphql and carries its result and variable types, so `request(api, CheapestOffers, …)`
// returns exactly the fields selected. Money arrives as an exact decimal string ("2.49") and DateTime
// as an ISO 8601 string: print them or hand them to a decimal library, never parseFloat a price.
import { createClient, type Client } from "graphql-ws";
import WebSocket from "ws";
import { graphql } from "./generated/gql.ts";
import type { PriceTickFilter, PriceTicksSubscription, TypedDocumentString } from "./generated/graphql.ts";

/** A GraphQL error result; `code` is its `extensions.code` (BAD_USER_INPUT, RATE_LIMITED, …). */
export class GraphQLRequestError extends Error {
  constructor(message: string, readonly code: string | undefined) {
    super(message);
    this.name = "GraphQLRequestError";
  }
}

interface GraphQLResponse<TResult> {
  data?: TResult | null;
  errors?: { message: string; extensions?: { code?: string } }[];
}

export interface ClientOptions {
  /** The API's GraphQL endpoint, e.g. http://localhost:4000/graphql. */
  url: string;
  /**
   * An API key or access token sent as a bearer token (optional: the catalog is public). A function is
   * asked again for each request and each reconnect, so it can hand a refreshed access token.
   */
  token?: string | (() => string | undefined | Promise<string | undefined>) | undefined;
}

const bearer = async (token: ClientOptions["token"]) => (typeof token === "function" ? await token() : token);

/** Runs a query or mutation; resolves to its typed `data`, rejects with GraphQLRequestError on any error. */
export async function request<TResult, TVariables>(
  { url, token }: ClientOptions,
  document: TypedDocumentString<TResult, TVariables>,
  // Operations without variables can omit them; with required ones the compiler asks for them.
  ...[variables]: TVariables extends Record<string, never> ? [] : [TVariables]
): Promise<TResult> {
  const authorization = await bearer(token);
  const res = await fetch(url, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/graphql-response+json",
      ...(authorization ? { authorization: `Bearer ${authorization}` } : {}),
    },
    body: JSON.stringify({ query: document.toString(), variables }),
  }).catch((err: Error) => {
    throw new Error(`cannot reach ${url}: ${(err.cause as Error | undefined)?.message ?? err.message}`);
  });
  // A GraphQL error comes with a JSON body even when the status is 4xx; anything else is a transport failure.
  if (!res.headers.get("content-type")?.includes("json")) throw new Error(`HTTP ${res.status} ${res.statusText} from ${url}`);
  const body = (await res.json()) as GraphQLResponse<TResult>;
  const error = body.errors?.[0];
  if (error) throw new GraphQLRequestError(error.message, error.extensions?.code);
  if (!body.data) throw new Error(`HTTP ${res.status}: no data in the response`);
  return body.data;
}

/**
 * A graphql-ws client that reconnects forever with backoff. On every reconnect it sends the active
 * subscriptions again, each from its own `variables` object: followPriceTicks keeps `after` in it current.
 * That covers every way a stream is cut: a restart (1001), an expired token (4403) and a client that read too
 * slowly (4413, the server stops queueing for it): the resubscription with `after` misses nothing.
 */
export function subscriptionClient({ url, token }: ClientOptions): Client {
  return createClient({
    url: url.replace(/^http/, "ws"),
    webSocketImpl: WebSocket,
    // Called on every (re)connect: a stream ends (close 4403) when its access token expires, and the
    // reconnect must carry a fresh one (pass `token` as a function).
    connectionParams: async () => {
      const authorization = await bearer(token);
      return authorization ? { authorization: `Bearer ${authorization}` } : {};
    },
    retryAttempts: Infinity,
    shouldRetry: () => true,
    retryWait: (retries) => new Promise((resolve) => setTimeout(resolve, Math.min(10_000, 250 * 2 ** retries))),
  });
}

export const PriceTicks = graphql(`
  subscription PriceTicks($after: String, $filter: PriceTickFilter) {
    priceTicks(after: $after, filter: $filter) {
      cursor offerId provider gpuModel region kind oldOnDemandPrice newOnDemandPrice pricePerGpuHour changePercent at
    }
  }
`);

export type PriceTick = PriceTicksSubscription["priceTicks"];

export interface FollowOptions {
  filter?: PriceTickFilter;
  /** Resume after this cursor (stored by an earlier run); omit to start live from now. */
  after?: string | null;
  /** Called once per tick, in order; store `tick.cursor` durably to resume across restarts too. */
  onTick: (tick: PriceTick) => void;
  /** Away longer than the server keeps events: reload the state you show (e.g. the offers query); live ticks follow. */
  onResumeWindowExceeded?: () => void;
  /** The server refused the subscription itself (a bad filter or cursor): retrying cannot help, following stops. */
  onFatal: (error: GraphQLRequestError) => void;
  /** A stream error it recovers from by resuming (e.g. SUBSCRIPTION_OVERFLOW when the client reads too slowly). */
  onResumed?: (error: GraphQLRequestError) => void;
}

// Errors in the request itself: the same subscription would get them again.
const FATAL = new Set(["BAD_USER_INPUT", "GRAPHQL_VALIDATION_FAILED", "GRAPHQL_PARSE_FAILED", "FORBIDDEN"]);

/**
 * Follows `priceTicks` and never misses one: each tick's cursor goes into the subscription's
 * `variables.after`, so whether graphql-ws reconnects (network, an API node replaced) or the server
 * ends the stream, the subscription is sent again with it and the server replays what was missed,
 * then goes live. Returns a function that stops following.
 */
export function followPriceTicks(client: Client, options: FollowOptions): () => void {
  const variables: { after: string | null; filter: PriceTickFilter | null } = { after: options.after ?? null, filter: options.filter ?? null };
  let stopped = false;
  let unsubscribe = () => {};

  const subscribe = () => {
    let ended = false;
    const again = (ms: number) => {
      if (ended || stopped) return;
      ended = true;
      setTimeout(subscribe, ms);
    };
    unsubscribe = client.subscribe<PriceTicksSubscription>({ query: PriceTicks.toString(), variables }, {
      next: ({ data, errors }) => {
        if (stopped) return;
        const error = errors?.[0];
        if (!error && data) {
          variables.after = data.priceTicks.cursor; // what a reconnect resumes from
          options.onTick(data.priceTicks);
          return;
        }
        const failure = new GraphQLRequestError(error?.message ?? "empty result", error?.extensions?.code as string | undefined);
        if (failure.code === "RESUME_WINDOW_EXCEEDED") {
          variables.after = null;
          options.onResumeWindowExceeded?.();
        } else if (failure.code && FATAL.has(failure.code)) {
          stop();
          options.onFatal(failure);
        } else {
          options.onResumed?.(failure); // the stream ends after it; `complete` resubscribes from the cursor
        }
      },
      complete: () => again(100),
      // Validation errors arrive as an array of errors; anything else is the connection giving up.
      error: (err) => {
        if (Array.isArray(err)) {
          stop();
          const first = err[0] as { message?: string; extensions?: { code?: string } } | undefined;
          options.onFatal(new GraphQLRequestError(first?.message ?? "subscription refused", first?.extensions?.code ?? "GRAPHQL_VALIDATION_FAILED"));
        } else again(1000);
      },
    });
  };
  const stop = () => {
    stopped = true;
    unsubscribe();
  };
  subscribe();
  return stop;
}
