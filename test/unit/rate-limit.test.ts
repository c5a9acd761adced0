import { afterEach, describe, expect, it, vi } from "vitest";
import { createRateLimiter, DEFAULT_LIMITS, DEFAULT_LOGIN_DELAYS, isRateLimited, type RateLimiter } from "../../src/infra/rate-limit.ts";

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
  const limiter = () => createRateLimiter({ prefix: "test", limits: { "request:ip": { points: 3, durationSeconds: 60 }, "auth:ip": { points: 2, durationSeconds: 900 } } });

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
    await rl.check("auth:ip", "203.0.113.7");
    await rl.consume("auth:ip", "203.0.113.7");
    expect(await rejection(rl.check("auth:ip", "203.0.113.7"))).toBeNull();
    await rl.consume("auth:ip", "203.0.113.7");
    const err = await rejection(rl.check("auth:ip", "203.0.113.7"));
    expect(err?.message).toMatch(/^Too many sign-ups, token refreshes or password changes from this address\. Try again in \d+ s\.$/);
    expect(err?.extensions.retryAfterSeconds).toBeGreaterThan(0);
  });

  it("defaults: failures per (e-mail, address) wait 1 s, doubling to 15 min after 5 free; 20 failures per address in 15 min; no per-e-mail lock", () => {
    expect(DEFAULT_LIMITS["login:pair"]).toEqual({ points: 5, durationSeconds: 86_400 });
    expect(DEFAULT_LIMITS["login:ip"]).toEqual({ points: 20, durationSeconds: 900 });
    expect(DEFAULT_LOGIN_DELAYS).toEqual({ firstSeconds: 1, maxSeconds: 900 });
    expect(Object.keys(DEFAULT_LIMITS)).not.toContain("login:email");
  });
});

describe("login throttle (in memory, on a fake clock)", () => {
  afterEach(() => { vi.useRealTimers(); });
  const owner = "ada@example.com";

  /** What one login attempt meets: "ok" (the password gets checked) or the seconds it must wait. */
  const attempt = (rl: RateLimiter, email: string, ip: string) => rl.beginLogin(email, ip).then(() => "ok" as const, (err: unknown) => {
    if (!isRateLimited(err)) throw err;
    return err.extensions.retryAfterSeconds as number;
  });
  /** An attempt that gets checked and fails. */
  async function fail(rl: RateLimiter, email: string, ip: string) {
    expect(await attempt(rl, email, ip)).toBe("ok");
    await rl.loginFailed(email, ip);
  }

  it("after 5 free failures each attempt waits 1, 2, 4 … s, capped at 15 min; a refused attempt doesn't grow the wait", async () => {
    vi.useFakeTimers();
    const rl = createRateLimiter({ prefix: "t", limits: { "login:ip": { points: 1000, durationSeconds: 900 } } });
    for (let i = 0; i < 5; i++) await fail(rl, owner, "203.0.113.7");
    const waits: number[] = [];
    for (let i = 0; i < 13; i++) {
      const wait = await attempt(rl, owner, "203.0.113.7");
      expect(wait).not.toBe("ok");
      expect(await attempt(rl, owner, "203.0.113.7")).toBe(wait);
      waits.push(wait as number);
      vi.advanceTimersByTime((wait as number) * 1000);
      await fail(rl, owner, "203.0.113.7");
    }
    expect(waits).toEqual([1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900, 900]);
  });

  it("the wait binds one (e-mail, address) pair: the same e-mail from another address, and other e-mails, go at once", async () => {
    const rl = createRateLimiter({ prefix: "t" });
    for (let i = 0; i < 5; i++) await fail(rl, "Ada@Example.com ", "198.51.100.66");
    expect(await attempt(rl, "ada@EXAMPLE.com", "198.51.100.66")).toBe(1);
    expect(await attempt(rl, owner, "203.0.113.7")).toBe("ok");
    expect(await attempt(rl, "bob@example.com", "198.51.100.66")).toBe("ok");
    // one IPv6 /64 is one address
    for (let i = 0; i < 5; i++) await fail(rl, owner, `2001:db8:1:2::${i + 1}`);
    expect(await attempt(rl, owner, "2001:db8:1:2:ffff::9")).toBe(1);
    expect(await attempt(rl, owner, "2001:db8:1:3::1")).toBe("ok");
  });

  it("parallel attempts past the free failures: one gets checked, the rest wait", async () => {
    const rl = createRateLimiter({ prefix: "t" });
    for (let i = 0; i < 5; i++) await fail(rl, owner, "198.51.100.66");
    vi.useFakeTimers();
    vi.advanceTimersByTime(1000);
    const outcomes = await Promise.all(Array.from({ length: 10 }, () => attempt(rl, owner, "198.51.100.66")));
    expect(outcomes.filter((o) => o === "ok")).toHaveLength(1);
  });

  it("a success clears the pair's failures and gives the address its point back", async () => {
    vi.useFakeTimers();
    // 9 failures from the address fit only if the success gave its point back
    const rl = createRateLimiter({ prefix: "t", limits: { "login:ip": { points: 9, durationSeconds: 900 } } });
    for (let i = 0; i < 4; i++) await fail(rl, owner, "203.0.113.7");
    expect(await attempt(rl, owner, "203.0.113.7")).toBe("ok");
    await rl.loginSucceeded(owner, "203.0.113.7");
    // 4 + 5 failures would wait 16 s; after the success, 5 failures wait 1 s
    for (let i = 0; i < 5; i++) await fail(rl, owner, "203.0.113.7");
    expect(await attempt(rl, owner, "203.0.113.7")).toBe(1);
    expect(await attempt(rl, "carol@example.com", "203.0.113.7")).toBeGreaterThan(890);
  });

  it("an address gets 20 failures across every e-mail, then waits out the window; successes don't count", async () => {
    const rl = createRateLimiter({ prefix: "t" });
    for (let i = 0; i < 50; i++) {
      expect(await attempt(rl, owner, "203.0.113.7")).toBe("ok");
      await rl.loginSucceeded(owner, "203.0.113.7");
    }
    for (let i = 0; i < 20; i++) await fail(rl, `victim${i}@example.com`, "198.51.100.66");
    const err = await rejection(rl.beginLogin("victim99@example.com", "198.51.100.66"));
    expect(err?.message).toBe(`Too many failed sign-ins from this address. Try again in ${err?.extensions.retryAfterSeconds} s.`);
    expect(err?.extensions.retryAfterSeconds).toBeGreaterThan(890);
    expect(await attempt(rl, owner, "203.0.113.7")).toBe("ok");
  });
});
