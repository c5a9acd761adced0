// One span per GraphQL operation (parse, validate, execute or subscribe), under the request's span,
// with the operation's name and type and its errors; no document text, variables or results (they
// may hold passwords and tokens). @envelop/opentelemetry, added by createApp only while tracing is on.
import { SpanKind, trace } from "@opentelemetry/api";
import { useOpenTelemetry } from "@envelop/opentelemetry";
import type { Plugin } from "graphql-yoga";

export function useOperationTracing(): Plugin {
  return useOpenTelemetry(
    { document: false, variables: false, result: false, resolvers: false },
    trace.getTracerProvider(),
    SpanKind.INTERNAL,
    {},
    "gpubroker",
  ) as Plugin;
}
