// The GraphQL side of /metrics as Yoga plugins: phase durations, operations and errors (by code) from
// @graphql-yoga/plugin-prometheus in the app's registry, HTTP request durations (useHttpDuration, ours), open SSE
// subscriptions (server.ts counts the WebSocket ones), and the /metrics endpoint itself. Operation names are the client's words, so only
// well-formed ones, and only the first MAX_OPERATION_NAMES of them, become label values.
import { getOperationAST, GraphQLError, Kind, type DocumentNode } from "graphql";
import { Histogram, type Registry } from "prom-client";
import { isAsyncIterable, type Plugin } from "graphql-yoga";
import { createCounter, createHistogram, usePrometheus, type FillLabelsFnParams } from "@graphql-yoga/plugin-prometheus";
import { isAppError } from "../errors.ts";
import { countWhileOpen, scrape, type Metrics, type Transport } from "../infra/metrics.ts";

export const METRICS_PATH = "/metrics";
/** Distinct operation names reported per node; later ones are "other" (a client inventing names cannot grow the series). */
export const MAX_OPERATION_NAMES = 200;
const OPERATION_NAME = /^[_A-Za-z][_0-9A-Za-z]{0,99}$/;
const CODE = /^[A-Z][A-Z0-9_]{0,63}$/;

export interface MetricsPluginOptions {
  /** Answer GET /metrics on this app's port; false when METRICS_PORT serves them elsewhere. */
  endpoint: boolean;
  /** Required as `Authorization: Bearer <token>` on /metrics when set (401 otherwise). */
  token?: string | undefined;
}

/** The root field a subscription document selects ("other" for anything unexpected); validation allows exactly one. */
export function subscriptionField(document: DocumentNode | undefined): string {
  const operation = document?.definitions.find((d) => d.kind === Kind.OPERATION_DEFINITION);
  const field = operation?.selectionSet.selections[0];
  return field?.kind === Kind.FIELD ? field.name.value : "other";
}

/** Counts the subscription while its stream is open. */
export function countSubscription<T>(metrics: Metrics, stream: AsyncIterable<T>, field: string, transport: Transport): AsyncIterableIterator<T> {
  const labels = { field, transport };
  metrics.subscriptionsActive.inc(labels);
  return countWhileOpen(stream[Symbol.asyncIterator](), () => metrics.subscriptionsActive.dec(labels));
}

export function metricsPlugins(metrics: Metrics, opts: MetricsPluginOptions): Plugin[] {
  return [
    ...(opts.endpoint ? [useMetricsEndpoint(metrics, opts.token)] : []),
    ...useGraphQLMetrics(metrics),
    useSseSubscriptionCount(metrics),
  ];
}

function useMetricsEndpoint(metrics: Metrics, token: string | undefined): Plugin {
  return {
    // Synchronous for every other path, so no other request waits on this hook.
    onRequest({ request, url, endResponse, fetchAPI }) {
      if (url.pathname !== METRICS_PATH) return;
      if (request.method !== "GET" && request.method !== "HEAD") {
        endResponse(new fetchAPI.Response(null, { status: 405, headers: { allow: "GET, HEAD" } }));
        return;
      }
      return scrape(metrics, request.headers.get("authorization"), token).then((answer) => {
        endResponse(new fetchAPI.Response(request.method === "HEAD" ? null : answer.body, { status: answer.status, headers: answer.headers }));
      });
    },
  };
}

function useGraphQLMetrics(metrics: Metrics): Plugin[] {
  const registry = metrics.registry;
  const names = new Set<string>();
  const operationName = (name: string | undefined) => {
    if (!name || name === "Anonymous") return "Anonymous";
    if (!OPERATION_NAME.test(name)) return "other";
    if (names.has(name)) return name;
    if (names.size >= MAX_OPERATION_NAMES) return "other";
    names.add(name);
    return name;
  };
  const operation = (p: FillLabelsFnParams) => ({ operationType: p.operationType ?? "unknown", operationName: operationName(p.operationName) });
  const labelNames = ["operationType", "operationName"] as const;
  const phase = <P extends string>(name: string, help: string, phases: [P, ...P[]]) =>
    createHistogram<P, (typeof labelNames)[number]>({ registry, histogram: { name, help, labelNames }, fillLabelsFn: operation, phases });

  const prometheus = usePrometheus({
    registry,
    endpoint: false,
    metrics: {
      graphql_envelop_request: createCounter<"execute" | "subscribe", (typeof labelNames)[number]>({
        registry, counter: { name: "graphql_envelop_request", help: "GraphQL operations run (executed or subscribed), by type and name.", labelNames }, fillLabelsFn: operation,
      }),
      graphql_envelop_request_duration: phase("graphql_envelop_request_duration", "Time of a whole GraphQL operation (parse to result).", ["execute", "subscribe"]),
      // A summary cannot be aggregated across nodes; the histogram above covers it.
      graphql_envelop_request_time_summary: false,
      graphql_envelop_phase_parse: phase("graphql_envelop_phase_parse", "Time spent parsing operations.", ["parse"]),
      graphql_envelop_phase_validate: phase("graphql_envelop_phase_validate", "Time spent validating operations.", ["validate"]),
      graphql_envelop_phase_context: phase("graphql_envelop_phase_context", "Time spent building the context (authentication).", ["context"]),
      graphql_envelop_phase_execute: phase("graphql_envelop_phase_execute", "Time spent executing queries and mutations.", ["execute"]),
      graphql_envelop_phase_subscribe: phase("graphql_envelop_phase_subscribe", "Time spent starting subscriptions (to the stream, not its events).", ["subscribe"]),
      graphql_envelop_error_result: createCounter<"parse" | "validate" | "context" | "execute" | "subscribe", "operationType" | "operationName" | "phase" | "code", FillLabelsFnParams & { error: unknown; errorPhase: "parse" | "validate" | "context" | "execute" | "subscribe" }>({
        registry,
        counter: { name: "graphql_envelop_error_result", help: "Errors in GraphQL results, by phase and error code.", labelNames: [...labelNames, "phase", "code"] },
        fillLabelsFn: (p) => ({ ...operation(p), phase: p.errorPhase, code: errorCode(p.error, p.errorPhase) }),
      }),
      // Counting deprecated fields walks every document with a TypeInfo visitor (~2–3 % of an offers request's CPU,
      // bench/README.md) and the schema deprecates nothing yet: turn it on with the first @deprecated field.
      graphql_envelop_deprecated_field: false,
      graphql_envelop_schema_change: true,
      // Observed by useHttpDuration below: the plugin's own version cost ~0.45 ms of CPU per request.
      graphql_yoga_http_duration: false,
    },
  }) as Plugin;
  return [prometheus, useHttpDuration(registry, operationName)];
}

const HTTP_TIMING = Symbol("gpubroker.httpTiming");
interface HttpTiming { start: number; operationType?: string; operationName?: string }
type TimedRequest = Request & { [HTTP_TIMING]?: HttpTiming };

/**
 * graphql_yoga_http_duration: the time of each GraphQL HTTP request from its arrival to its response, by operation,
 * method and status, for requests whose document parsed (as @graphql-yoga/plugin-prometheus counts it). That
 * plugin's version keeps the start and the operation in two WeakMaps keyed by the request and copies the server
 * context per response; with it, an offers request took ~0.45 ms more CPU than without it (1.73 vs 1.29 ms, the
 * server in a process of its own: bench/README.md, "HTTP duration"). Here the timing rides on the request, and
 * each label set's child is looked up once.
 */
function useHttpDuration(registry: Registry, operationName: (name: string | undefined) => string): Plugin {
  const histogram = new Histogram({
    name: "graphql_yoga_http_duration", help: "Time of GraphQL HTTP requests, by operation, method and status.",
    labelNames: ["operationType", "operationName", "method", "statusCode"], registers: [registry],
  });
  // Bounded as the labels are: operation names (MAX_OPERATION_NAMES), operation types, methods Yoga answers, statuses.
  const children = new Map<string, Histogram.Internal<"operationType" | "operationName" | "method" | "statusCode">>();
  return {
    onRequest({ request }) {
      (request as TimedRequest)[HTTP_TIMING] = { start: performance.now() };
    },
    onParse({ context }) {
      const timing = (context.request as TimedRequest | undefined)?.[HTTP_TIMING];
      if (!timing) return undefined;
      return ({ result }) => {
        if (result instanceof Error) return;
        const operation = getOperationAST(result as DocumentNode, context.params?.operationName);
        timing.operationType = operation?.operation ?? "unknown";
        timing.operationName = operationName(operation?.name?.value);
      };
    },
    onResponse({ request, response }) {
      const timing = (request as TimedRequest)[HTTP_TIMING];
      if (!timing?.operationType) return;
      const key = `${timing.operationType}\n${timing.operationName}\n${request.method}\n${response.status}`;
      let child = children.get(key);
      if (!child) {
        child = histogram.labels({ operationType: timing.operationType, operationName: timing.operationName!, method: request.method, statusCode: response.status });
        children.set(key, child);
      }
      child.observe((performance.now() - timing.start) / 1000);
    },
  };
}

/** The error's stable code (the masked one for unexpected errors); parse and validation failures carry Yoga's. */
function errorCode(error: unknown, phase: string): string {
  if (phase === "parse") return "GRAPHQL_PARSE_FAILED";
  if (phase === "validate") return "GRAPHQL_VALIDATION_FAILED";
  const outer = error instanceof GraphQLError ? error : undefined;
  const inner = outer?.originalError ?? error;
  const code = outer?.extensions?.code ?? (isAppError(inner) ? inner.code : inner instanceof GraphQLError ? inner.extensions?.code : undefined);
  if (typeof code === "string") return CODE.test(code) ? code : "OTHER";
  return "INTERNAL_SERVER_ERROR";
}

/** Subscriptions over HTTP (SSE); the ones over graphql-ws are counted by server.ts after streams are shared. */
function useSseSubscriptionCount(metrics: Metrics): Plugin {
  return {
    onSubscribe: ({ args }) => ({
      onSubscribeResult: ({ result, setResult }) => {
        if (!(args.contextValue as { request?: unknown }).request || !isAsyncIterable(result)) return;
        setResult(countSubscription(metrics, result, subscriptionField(args.document), "sse"));
      },
    }),
  };
}
