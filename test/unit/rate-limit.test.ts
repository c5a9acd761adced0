import { describe, expect, it } from "vitest";
import { createRateLimiter, DEFAULT_LIMITS, isRateLimited } from "../../src/infra/rate-limit.ts";

/** The error a rejected call throws, or null when it passed. */
async function rejection(call: Promise<void>) {
  try {
    await call;
    return null;
  } catch (err) {
    if (!isRateLimited(err)) throw err;
    return { message: err.message, extensions: err.extensions };
  }
}

describe("in-memory rate limiter", () => {
  const limiter = () => createRateLimiter({ prefix: "test", limits: { "request:ip": { points: 3, durationSeconds: 60 }, "login:email": { points: 2, durationSeconds: 900 } } });

  it("lets the budget through, then answers RATE_LIMITED with the seconds until it refills", async () => {
    const rl = limiter();
    for (let i = 0; i < 3; i++) expect(await rejection(rl.consume("request:ip", "203.0.113.7"))).toBeNull();
    const err = await rejection(rl.consume("request:ip", "203.0.113.7"));
    expect(err?.extensions.code).toBe("RATE_LIMITED");
    expect(err?.extensions.retryAfterSeconds).toBeGreaterThan(0);
    expect(err?.extensions.retryAfterSeconds).toBeLessThanOrEqual(60);
    expect(err?.message).toBe(`Too many requests from this address. Try again in ${err?.extensions.retryAfterSeconds} s.`);
  });

  it("counts keys and buckets apart", async () => {
    const rl = limiter();
    await rl.consume("request:ip", "a", 3);
    expect(await rejection(rl.consume("request:ip", "b"))).toBeNull();
    expect(await rejection(rl.consume("request:user", "a"))).toBeNull();
    expect(await rejection(rl.consume("request:ip", "a"))).not.toBeNull();
  });

  it("reset forgets a key and reward gives points back", async () => {
    const rl = limiter();
    await rl.consume("request:ip", "a", 3);
    await rl.reset("request:ip", "a");
    expect(await rejection(rl.consume("request:ip", "a", 3))).toBeNull();
    await rl.reward("request:ip", "a");
    expect(await rejection(rl.consume("request:ip", "a"))).toBeNull();
    expect(await rejection(rl.consume("request:ip", "a"))).not.toBeNull();
  });

  it("check throws once the budget is spent without spending it", async () => {
    const rl = limiter();
    await rl.check("login:email", "ada@example.com");
    await rl.check("login:email", "ada@example.com");
    await rl.consume("login:email", "ada@example.com");
    expect(await rejection(rl.check("login:email", "ada@example.com"))).toBeNull();
    await rl.consume("login:email", "ada@example.com");
    const err = await rejection(rl.check("login:email", "ada@example.com"));
    expect(err?.message).toMatch(/^Too many failed logins for this e-mail address\. Try again in \d+ s\.$/);
    expect(err?.extensions.retryAfterSeconds).toBeGreaterThan(0);
  });

  it("treats e-mail addresses case- and space-insensitively", async () => {
    const rl = limiter();
    await rl.consume("login:email", "Ada@Example.com ");
    await rl.consume("login:email", "ada@example.com");
    expect(await rejection(rl.check("login:email", "ADA@EXAMPLE.COM"))).not.toBeNull();
    await rl.reset("login:email", " ada@example.COM");
    expect(await rejection(rl.check("login:email", "ada@example.com"))).toBeNull();
  });

  it("defaults to 5 failed logins per e-mail per 15 minutes", () => {
    expect(DEFAULT_LIMITS["login:email"]).toEqual({ points: 5, durationSeconds: 900 });
  });
});
