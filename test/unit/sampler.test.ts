// Which spans start a trace: incoming requests and named units of work, a configured fraction of them;
// a caller's sampled traceparent is followed whatever the fraction.
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { context, ROOT_CONTEXT, SpanKind, trace, TraceFlags } from "@opentelemetry/api";
import { SamplingDecision } from "@opentelemetry/sdk-trace-base";
import { createSampler } from "../../src/infra/tracing.ts";

const traceId = () => randomBytes(16).toString("hex");
const decide = (ratio: number, name: string, kind: SpanKind, parent = ROOT_CONTEXT) =>
  createSampler(ratio).shouldSample(parent, traceId(), name, kind, {}, []).decision;
const remoteParent = (sampled: boolean) => trace.setSpanContext(context.active(), {
  traceId: traceId(), spanId: randomBytes(8).toString("hex"), isRemote: true, traceFlags: sampled ? TraceFlags.SAMPLED : TraceFlags.NONE,
});

describe("trace sampling (OTEL_TRACES_SAMPLER_ARG)", () => {
  it("at 1, every request and named unit of work starts a trace; other spans never start one", () => {
    expect(decide(1, "POST", SpanKind.SERVER)).toBe(SamplingDecision.RECORD_AND_SAMPLED);
    expect(decide(1, "ingestion.poll", SpanKind.INTERNAL)).toBe(SamplingDecision.RECORD_AND_SAMPLED);
    expect(decide(1, "prisma:client:operation", SpanKind.INTERNAL)).toBe(SamplingDecision.NOT_RECORD);
    expect(decide(1, "GET", SpanKind.CLIENT)).toBe(SamplingDecision.NOT_RECORD);
  });

  it("at 0, nothing starts a trace, but a caller's sampled traceparent is followed and an unsampled one is not", () => {
    expect(decide(0, "POST", SpanKind.SERVER)).toBe(SamplingDecision.NOT_RECORD);
    expect(decide(0, "ingestion.poll", SpanKind.INTERNAL)).toBe(SamplingDecision.NOT_RECORD);
    expect(decide(0, "POST", SpanKind.SERVER, remoteParent(true))).toBe(SamplingDecision.RECORD_AND_SAMPLED);
    expect(decide(1, "POST", SpanKind.SERVER, remoteParent(false))).toBe(SamplingDecision.NOT_RECORD);
  });

  it("at 0.25, about a quarter of new traces are sampled, by trace id", () => {
    const n = 4_000;
    let sampled = 0;
    for (let i = 0; i < n; i++) if (decide(0.25, "POST", SpanKind.SERVER) === SamplingDecision.RECORD_AND_SAMPLED) sampled++;
    expect(sampled / n).toBeGreaterThan(0.2);
    expect(sampled / n).toBeLessThan(0.3);
  });
});
