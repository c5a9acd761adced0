// Benchmarks load one server from one address far beyond the per-IP request limit on purpose.
import { randomUUID } from "node:crypto";
import { createRateLimiter } from "../../src/infra/rate-limit.ts";

export const benchRateLimiter = () => createRateLimiter({
  prefix: `bench-${randomUUID()}`,
  limits: { "request:ip": { points: 1_000_000_000, durationSeconds: 60 }, "request:user": { points: 1_000_000_000, durationSeconds: 60 } },
});
