// Builds the Yoga app (schema, context, plugins) and nothing else: tests call `yoga.fetch` in-process.
import { randomUUID } from "node:crypto";
import { GraphQLError } from "graphql";
import type { Logger } from "pino";
import { createYoga, type GraphiQLOptions, type Plugin, type YogaServerInstance } from "graphql-yoga";
import { PothosValidationError } from "@pothos/core";
import { AppError } from "./errors.ts";
import { toGraphQLError } from "./graphql/errors.ts";
import { schema } from "./graphql/index.ts";
import type { Context } from "./graphql/context.ts";
import type { Database } from "./infra/db.ts";
import { createLoaders } from "./infra/loaders.ts";
import { logger } from "./infra/logger.ts";
import { createRateLimiter, type RateLimiter } from "./infra/rate-limit.ts";
import { clientIp, CSRF_HEADERS, limitPlugins, type RequestSource } from "./graphql/limits.ts";
import { useCodedStreamEnd } from "./graphql/shared-subscriptions.ts";
import { useStreamAuthority } from "./graphql/stream-authority.ts";
import { useCompiledExecution } from "./graphql/jit.ts";
import { corsFor, createEdgePolicy, DEFAULT_MAX_BODY_BYTES, edgePlugins, graphiqlPage, registerEdgePolicy, rememberCause, useRequestBodyLimit } from "./graphql/http-edge.ts";
import { createLazyTokenSigner, type TokenSigner } from "./infra/auth/tokens.ts";
import { createPubSub } from "./infra/pubsub.ts";
import { useOperationTracing } from "./graphql/tracing.ts";
import { createEventLog, EVENT_STALL_MS, EVENT_STREAMS, type EventLog } from "./infra/event-log.ts";
import { attachMetrics, createMetrics, type Metrics } from "./infra/metrics.ts";
import { metricsPlugins } from "./graphql/metrics.ts";
import type { PubSub } from "./infra/pubsub-types.ts";
import { createServices, type ServiceDeps, type Services } from "./services/index.ts";
import { createStreamAuthority } from "./services/stream-authority.ts";
import { createAssistant, type AssistantSettings } from "./assistant/index.ts";
import type { IngestionControl } from "./services/admin.ts";
import type { ChatLimits } from "./services/chat.ts";
import { createResponseCache, type ResponseCacheOptions } from "./graphql/response-cache.ts";

export interface YogaOptions {
  db: Database;
  /** Field suggestions, GraphiQL, introspection, localhost CORS and error causes for local callers; off in production. */
  development?: boolean;
  /** Largest request body (413 above it, checked on Content-Length and while reading) and WebSocket message; default 1 MiB. */
  maxBodyBytes?: number;
  /** Browser origins allowed to call cross-origin, with credentials; default: localhost origins in development, none otherwise. */
  corsOrigins?: readonly string[];
  /** Host header values this server answers for (others get 421); default: any. */
  allowedHosts?: readonly string[];
  /** `__schema` / `__type` queries; default: on in development only. */
  introspection?: boolean;
  /** The GraphiQL page on GET /graphql for browsers; default: on in development only. */
  graphiql?: boolean;
  /** sha256 hash → document; when set, only these operations run. */
  persistedOperations?: Readonly<Record<string, string>>;
  /** Components /ready checks besides the database (e.g. redis: () => redis.ping()). */
  readinessChecks?: Readonly<Record<string, () => Promise<unknown>>>;
  /** Signs and verifies access tokens; default: an in-memory key pair (tests). */
  tokens?: TokenSigner;
  /** Shared (Redis) or in-process rate limits; default: in-process. */
  rateLimiter?: RateLimiter;
  /** Proxies in front of us whose X-Forwarded-For entry names the client (true = 1); default: the socket address. */
  trustProxy?: boolean | number;
  /** Signals between nodes (revocations, the assistant's answers); default: in-process. */
  pubsub?: PubSub;
  /** Price ticks and notifications (the outbox); default: one over `db` without Redis, closed with the app. */
  events?: EventLog;
  /** /ready reports `events: down` when a committed event has waited longer than this for this node's feed; default EVENT_STALL_MS. */
  eventStallMs?: number;
  /** Provider polling, for the admin refreshProvider mutation. */
  ingestion?: IngestionControl;
  /** The use-case layer; default: built from the options above. */
  services?: Services;
  /** Users' provider keys: how they are sealed at rest and how a key is checked with its provider; without them both are refused. */
  integrations?: Pick<ServiceDeps, "sealer" | "accountChecker" | "accountCatalog">;
  /** Answers in progress per user and when a silent one counts as lost; defaults in services/chat.ts. */
  chatLimits?: Partial<ChatLimits>;
  /** Which backend writes the assistant's answers; default: the built-in planner. */
  assistant?: AssistantSettings;
  /** How often the credentials of every open stream are checked again, for revocations this node missed; default 30 000 ms. */
  authorityRecheckMs?: number;
  /** The registry and product metrics; default: a registry of this app's own, without process metrics. */
  metrics?: Metrics;
  /** GET /metrics on this app's port; default true (false when METRICS_PORT serves them on a port of their own). */
  metricsEndpoint?: boolean;
  /** Bearer token /metrics requires (401 without it); default: none. */
  metricsToken?: string | undefined;
  /** A span per GraphQL operation (OpenTelemetry; src/infra/tracing.ts starts the provider); default false. */
  tracing?: boolean;
  /** Compiled execution of queries and mutations (graphql-jit); default true. false only to measure it (bench/offers.ts). */
  jit?: boolean;
  /** GraphQL metrics and /metrics (the Prometheus plugins); default true. false only to measure their cost (bench/offers.ts). */
  graphqlMetrics?: boolean;
  /** Caches public catalog reads, invalidated by market events (src/graphql/response-cache.ts); default: none. */
  responseCache?: ResponseCacheOptions;
}

export const JWT_ISSUER = "gpubroker";
export const JWT_AUDIENCE = "gpubroker-api";

/**
 * Keeps typed errors, gives input errors BAD_USER_INPUT (Pothos validation, variable coercion),
 * and masks everything else behind an errorId that is logged with the cause (shown only to local
 * callers in development, see useLocalErrorCauses).
 */
export function maskError(error: unknown, _message?: string): Error {
  const outer = error instanceof GraphQLError ? error : undefined;
  const inner = outer?.originalError ?? error;
  if (outer && !outer.originalError) return outer; // parse and validation errors: Yoga sets their code
  // a coercion error's outer message says which variable and field ("Variable "$f" got invalid value …")
  if (inner instanceof AppError) return toGraphQLError(inner, { message: outer?.message, nodes: outer?.nodes, path: outer?.path });
  if (inner instanceof GraphQLError && inner.extensions?.code) return outer ?? inner;
  if (inner instanceof PothosValidationError || inner instanceof GraphQLError) {
    // a coercion error's outer message says which variable and field ("Variable "$f" got invalid value …")
    const message = inner instanceof PothosValidationError ? inner.message : outer?.message ?? inner.message;
    return new GraphQLError(message, { nodes: outer?.nodes, path: outer?.path, extensions: { code: "BAD_USER_INPUT" } });
  }
  const errorId = randomUUID();
  logger.error({ err: inner, errorId }, "unexpected error");
  const masked = new GraphQLError("Internal error. Quote this errorId when you report it.", {
    nodes: outer?.nodes, path: outer?.path, extensions: { code: "INTERNAL_SERVER_ERROR", errorId },
  });
  rememberCause(masked, inner);
  return masked;
}

/**
 * Yoga's logger. Yoga logs every error it replaced while masking at error level: a coded client error (bad input,
 * not found …) is not a server error, and an unexpected one is already logged by maskError with its errorId, so
 * both go to debug. Anything else Yoga reports stays at error.
 */
function yogaLogger(log: Logger) {
  const forward = (level: "debug" | "info" | "warn" | "error") => (...args: unknown[]) => {
    const [first] = args;
    const masked = level === "error" && first instanceof GraphQLError;
    (log[masked ? "debug" : level] as (...a: unknown[]) => void)(...args);
  };
  return { debug: forward("debug"), info: forward("info"), warn: forward("warn"), error: forward("error") };
}

export function createApp(opts: YogaOptions): YogaServerInstance<Record<string, unknown>, Context> {
  const { db, development = false } = opts;
  const tokens = opts.tokens ?? createLazyTokenSigner({ issuer: JWT_ISSUER, audience: JWT_AUDIENCE });
  const metrics = opts.metrics ?? createMetrics();
  if (db.poolStats) metrics.observePool(db.poolStats);
  const rateLimiter = opts.rateLimiter ?? createRateLimiter({ prefix: "gpubroker", metrics });
  const pubsub = opts.pubsub ?? createPubSub({ metrics });
  const ownEvents = opts.events ? null : createEventLog({ prisma: db.prisma, metrics });
  const loggedEvents = opts.events ?? ownEvents!;
  const responseCache = opts.responseCache ? createResponseCache(opts.responseCache, schema, loggedEvents, logger.child({ component: "response-cache" })) : null;
  // With the cache, this node hands a market event to its subscribers once it has dropped the results it changes.
  const events = responseCache?.events ?? loggedEvents;
  const services = opts.services ?? createServices({ prisma: db.prisma, pubsub, events, tokens, rateLimiter, ingestion: opts.ingestion, chatLimits: opts.chatLimits, log: logger, ...opts.integrations });
  const streamAuthority = createStreamAuthority({ prisma: db.prisma, pubsub, log: logger.child({ component: "stream-authority" }), authorityRecheckMs: opts.authorityRecheckMs });
  const assistant = createAssistant({ services, pubsub, settings: opts.assistant ?? { backend: "builtin" }, log: logger.child({ component: "assistant" }), metrics });
  const edge = {
    development, maxBodyBytes: opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES, corsOrigins: opts.corsOrigins, allowedHosts: opts.allowedHosts,
    introspection: opts.introspection ?? development, persistedOperations: opts.persistedOperations, trustProxy: opts.trustProxy ?? false,
    readiness: {
      database: async () => { await db.prisma.$queryRaw`SELECT 1`; },
      // Event delivery is stalled when a committed event has waited longer than this for this node's feed.
      events: async () => {
        const late = EVENT_STREAMS.filter((stream) => events.behindMs(stream) > (opts.eventStallMs ?? EVENT_STALL_MS));
        if (late.length) throw new Error(`event delivery stalled: ${late.join(", ")}`);
      },
      ...opts.readinessChecks,
    },
    log: logger.child({ component: "http" }),
  };
  const policy = createEdgePolicy(edge);
  // Rendered once: a small page whose script, styles and workers this server serves (http-edge.ts).
  const graphiqlHtml = (opts.graphiql ?? development) ? graphiqlPage(GRAPHIQL_OPTIONS) : null;
  const yoga = createYoga<Record<string, unknown>, Context>({
    schema,
    graphqlEndpoint: "/graphql",
    graphiql: graphiqlHtml !== null,
    renderGraphiQL: () => graphiqlHtml!,
    landingPage: false,
    logging: yogaLogger(logger.child({ component: "yoga" })),
    maskedErrors: { maskError },
    healthCheckEndpoint: "/health",
    // Enforced by useRequestBodyLimit (last plugin below): the same limit and errors, without streaming a body Node framed.
    maxRequestBodySize: false,
    cors: corsFor(policy),
    plugins: [
      ...(opts.graphqlMetrics === false ? [] : metricsPlugins(metrics, { endpoint: opts.metricsEndpoint ?? true, token: opts.metricsToken })),
      // Before the limits: their result hooks (suggestions stripped) see the errors graphql-js gives a bad variable.
      ...(opts.jit === false ? [] : useCompiledExecution()),
      ...limitPlugins({ development, rateLimiter, trustProxy: opts.trustProxy }),
      ...edgePlugins(edge, policy, graphiqlHtml),
      ...(opts.tracing ? [useOperationTracing()] : []),
      useCodedStreamEnd(),
      useStreamAuthority(),
      // yoga.dispose() (shutdown) stops the answers this node writes, each stored as failed.
      { onDispose: async () => { await assistant.close(); await responseCache?.close(); await ownEvents?.close(); } },
      useJwks(tokens),
      // Last to hook execute: its lookup replaces execute, after anything else that does.
      ...(responseCache?.plugins ?? []),
      // Where Yoga's own maxRequestBodySize runs: after every other plugin's onRequestParse.
      useRequestBodyLimit(edge.maxBodyBytes),
    ],
    context: async (initial) => {
      // HTTP operations carry a Fetch Request; WebSocket ones the connection_init payload
      const headers = typeof initial.request?.headers?.get === "function" ? initial.request.headers : null;
      const params = (initial as { connectionParams?: Record<string, unknown> }).connectionParams;
      const authorization = headers?.get("authorization") ?? (typeof params?.authorization === "string" ? params.authorization : null);
      const meta = { ip: clientIp(initial as RequestSource, opts.trustProxy), userAgent: headers?.get("user-agent") ?? null };
      const actor = await services.accounts.authenticate(authorization, meta);
      return { actor, services, assistant, prisma: db.prisma, loaders: createLoaders(db.prisma), streamAuthority };
    },
  });
  registerEdgePolicy(yoga, policy);
  attachMetrics(yoga, metrics);
  return yoga;
}

/** Serves the access-token public key as a JWK Set, so other services can verify our tokens. */
function useJwks(tokens: TokenSigner): Plugin {
  return {
    // Synchronous for every other path, so no other request waits on this hook.
    onRequest({ url, endResponse, fetchAPI }) {
      if (url.pathname !== "/.well-known/jwks.json") return;
      return tokens.jwks().then((jwks) => endResponse(new fetchAPI.Response(JSON.stringify(jwks), {
        headers: { "content-type": "application/jwk-set+json", "cache-control": "public, max-age=300" },
      })));
    },
  };
}

/**
 * GraphiQL's settings. Subscriptions use Server-Sent Events through the page's own fetch, so they carry the Headers
 * tab (Authorization) as queries do — graphql-ws would send only connection params fixed when the page loads — plus
 * the CSRF header their GET needs. The tabs are README examples, verbatim (test/integration/graphiql.test.ts).
 */
const GRAPHIQL_OPTIONS: GraphiQLOptions = {
  title: "GPUBroker",
  endpoint: "/graphql",
  subscriptionsProtocol: "SSE",
  additionalHeaders: { [CSRF_HEADERS[0]!]: "1" },
  defaultTabs: [
    { query: `query CheapH100Boxes {
  offers(
    filter: { gpuModels: ["H100"], gpuCount: { min: 8 }, countries: ["US"] }
    orderBy: { field: PRICE_PER_GPU, direction: ASC }
    first: 5
  ) {
    totalCount
    edges { node { id provider { name } instanceType gpuCount pricePerGpuHour onDemandPrice region } }
    pageInfo { endCursor hasNextPage }
  }
}
` },
    { query: `query MarketFacets {
  offerFacets(filter: { gpuCount: { min: 1 } }) {
    gpuModels { value count minPricePerGpuHour medianPricePerGpuHour maxPricePerGpuHour }
    providers { value count }
    regions { value count }
    countries { value count }
    complianceTags { value count minPricePerGpuHour }
  }
}
` },
    { query: `query RankOffers {
  rankOffers(filter: { gpuCount: { min: 1 } }, model: "llama-3-8b", criteria: [
    { criterion: PRICE_PER_GPU_HOUR, weight: 3 }, { criterion: COST_PER_MTOK, weight: 2 },
    { criterion: TOTAL_VRAM, weight: 1 }, { criterion: PROVIDER_RELIABILITY, weight: 1 }], first: 5) {
    considered excluded ranked { rank closeness offer { provider { slug } instanceType pricePerGpuHour } values { criterion value } }
  }
}
` },
    { query: `subscription FollowTicks($after: String) {
  priceTicks(after: $after, filter: { gpuModels: ["H100"] }) { cursor offerId provider newOnDemandPrice changePercent at }
}
` },
    { query: `query ParseWorkload {
  parseWorkload(text: "I need to serve Llama 3 70B to 200 users in Europe, what's cheapest?") {
    kind confidence
    model { name preset parameters }
    quantities { text value unit period }
    regions { text countries }
    budget { maxPricePerHour maxPricePerGpuHour total }
    hints notUnderstood notes assumptions
    workloadInput workloadInputReason offerFilter
  }
}
` },
    { query: `mutation Register {
  register(email: "ada@example.com", password: "a long and lovely passphrase", name: "Ada") {
    accessToken accessTokenExpiresAt refreshToken user { id email role }
  }
}
` },
    // Signed in: the Headers tab holds the access token Register or Login returned.
    { query: `# Headers: {"Authorization": "Bearer <login.accessToken>"}
query Me { me { email name role } }
`, headers: `{"Authorization": "Bearer <login.accessToken>"}` },
  ],
};
