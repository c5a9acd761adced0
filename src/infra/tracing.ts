// OpenTelemetry tracing. Off unless OTEL_EXPORTER_OTLP_ENDPOINT is set (or a test passes an exporter):
// then nothing is registered, the API stays the no-op one and the only cost left is the few no-op
// spans our own code starts (root GraphQL fields, ingestion polls, event batches).
//
// On: a NodeTracerProvider (W3C traceparent/baggage propagation, AsyncLocalStorage context) exporting
// over OTLP/HTTP in batches, and the kept instrumentations:
// - @opentelemetry/instrumentation-http: a SERVER span per incoming request (traceparent honoured);
//   /health, /ready and /metrics are not traced
// - @opentelemetry/instrumentation-undici: every outbound fetch (provider APIs, the LLM, Vault), with
//   traceparent injected
// - @opentelemetry/instrumentation-ioredis: Redis commands inside a traced operation
// - @prisma/instrumentation: Prisma operations and their SQL
// - GraphQL: @envelop/opentelemetry (one span per operation, src/graphql/tracing.ts) and
//   @pothos/tracing-opentelemetry (root fields: where the time goes)
// Background chatter (event feeds polling, the relay, pruning) is not traced on its own: a root span
// is sampled only for an incoming request or one of our named units of work (ROOT_SPANS).
import { createRequire } from "node:module";
import { context, SpanKind, trace, type Attributes, type Context, type Link } from "@opentelemetry/api";
import { registerInstrumentations } from "@opentelemetry/instrumentation";
import { HttpInstrumentation } from "@opentelemetry/instrumentation-http";
import { IORedisInstrumentation } from "@opentelemetry/instrumentation-ioredis";
import { UndiciInstrumentation } from "@opentelemetry/instrumentation-undici";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { resourceFromAttributes } from "@opentelemetry/resources";
import {
  BatchSpanProcessor, ParentBasedSampler, SamplingDecision, SimpleSpanProcessor, TraceIdRatioBasedSampler,
  type Sampler, type SamplingResult, type SpanExporter,
} from "@opentelemetry/sdk-trace-base";
import { NodeTracerProvider } from "@opentelemetry/sdk-trace-node";
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from "@opentelemetry/semantic-conventions";
import { PrismaInstrumentation } from "@prisma/instrumentation";
import { ROOT_SPANS } from "./tracer.ts";


const UNTRACED_PATHS = new Set(["/health", "/ready", "/metrics", "/favicon.ico"]);

/**
 * Samples incoming requests and our named units of work (a `ratio` of them, by trace id); anything else
 * only inside a sampled trace.
 */
class RootSampler implements Sampler {
  private readonly byRatio: TraceIdRatioBasedSampler;
  constructor(private readonly ratio: number) { this.byRatio = new TraceIdRatioBasedSampler(ratio); }
  shouldSample(context: Context, traceId: string, name: string, kind: SpanKind, attributes: Attributes, links: Link[]): SamplingResult {
    const root = kind === SpanKind.SERVER || ROOT_SPANS.includes(name);
    if (!root) return { decision: SamplingDecision.NOT_RECORD };
    return this.ratio >= 1 ? { decision: SamplingDecision.RECORD_AND_SAMPLED } : this.byRatio.shouldSample(context, traceId);
  }
  toString() { return `GPUBrokerRootSampler{${this.ratio}}`; }
}

/** A caller's sampling decision (traceparent) is followed; a new trace is started by RootSampler. */
export const createSampler = (ratio: number): Sampler => new ParentBasedSampler({ root: new RootSampler(ratio) });

/** The active span's ids, for log lines (setLogMixin): every line written inside a traced request names its trace. */
export function traceFields(): Record<string, string> {
  const span = trace.getSpan(context.active())?.spanContext();
  return span && trace.isSpanContextValid(span) ? { trace_id: span.traceId, span_id: span.spanId } : {};
}

export interface TracingOptions {
  /** OTLP/HTTP endpoint (OTEL_EXPORTER_OTLP_ENDPOINT); spans go to `<endpoint>/v1/traces`. */
  endpoint?: string | undefined;
  /** Replaces the OTLP exporter (tests: an InMemorySpanExporter), spans exported one by one. */
  exporter?: SpanExporter;
  serviceName?: string;
  serviceVersion?: string;
  /** Fraction of root requests and units of work traced (OTEL_TRACES_SAMPLER_ARG); default 1 (all). */
  sampleRatio?: number;
}

export interface Tracing {
  /** Flushes what is buffered and stops tracing. */
  shutdown(): Promise<void>;
}

/** Starts tracing when an endpoint or an exporter is given; null (nothing registered) otherwise. */
export function startTracing(opts: TracingOptions): Tracing | null {
  if (!opts.endpoint && !opts.exporter) return null;
  const exporter = opts.exporter ?? new OTLPTraceExporter({ url: `${opts.endpoint!.replace(/\/+$/, "")}/v1/traces` });
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: opts.serviceName ?? "gpubroker", [ATTR_SERVICE_VERSION]: opts.serviceVersion ?? "0.0.0" }),
    sampler: createSampler(opts.sampleRatio ?? 1),
    spanProcessors: [opts.exporter ? new SimpleSpanProcessor(exporter) : new BatchSpanProcessor(exporter)],
  });
  provider.register(); // global provider, W3C trace-context + baggage propagators, AsyncLocalStorage context
  const unregister = registerInstrumentations({
    tracerProvider: provider,
    instrumentations: [
      new HttpInstrumentation({
        ignoreIncomingRequestHook: (req) => UNTRACED_PATHS.has((req.url ?? "/").split("?")[0]!),
        // Outbound HTTP goes through fetch (undici), traced below; node:http clients here are tests and tools.
        ignoreOutgoingRequestHook: () => true,
      }),
      new UndiciInstrumentation(),
      new IORedisInstrumentation({ requireParentSpan: true }),
      // Operations and their SQL; not the client's serialize / compile / connect steps (half the spans, little news).
      new PrismaInstrumentation({ ignoreSpanTypes: ["prisma:client:serialize", "prisma:client:compile", "prisma:client:connect"] }),
    ],
  });
  // The require hooks patch modules as CommonJS loads them; this code base imports node:http and ioredis
  // as ESM, which shares their CommonJS exports: requiring them once here applies the patches to those.
  const require = createRequire(import.meta.url);
  require("node:http");
  require("ioredis");
  return {
    async shutdown() {
      unregister();
      await provider.shutdown();
      trace.disable();
    },
  };
}
