// GPUBroker's own spans: the tracer (the no-op one until src/infra/tracing.ts registers a provider)
// and the names of the spans that may start a trace. Only @opentelemetry/api here, so modules that
// trace their work do not load the SDK.
import { trace, type Tracer } from "@opentelemetry/api";

export const tracer = (): Tracer => trace.getTracer("gpubroker");

/** Our units of work that may start a trace on their own (any other INTERNAL span needs a sampled parent). */
export const ROOT_SPANS: readonly string[] = ["ingestion.poll", "events.read", "events.relay"];
