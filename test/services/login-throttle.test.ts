// Sign-in throttling through the accounts service, with the caller's address in the request metadata
// (as the API sets it from the socket or a trusted proxy): failures are counted per (e-mail, address)
// and per address, never per e-mail alone, so nobody can lock an owner out of their account from afar.
import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openTestDatabase } from "../support/db.ts";
import { testServices } from "../support/app.ts";
import type { Database } from "../../src/infra/db.ts";
import { createRateLimiter, isRateLimited, type RateLimiter } from "../../src/infra/rate-limit.ts";
import { anonymous } from "../../src/services/actor.ts";

const PASSWORD = "a long and lovely passphrase";
const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.each(["memory", "redis"] as const)("login throttle (%s)", (store) => {
  const prefix = `test:login:${randomUUID()}`;
  const redisClients: Redis[] = [];
  let db: Database;
  /** A fresh limiter with the default limits, in Redis (under this suite's prefix) or in memory. */
  async function limiter(options: Pick<Parameters<typeof createRateLimiter>[0], "loginDelays"> = {}): Promise<RateLimiter> {
    if (store === "memory") return createRateLimiter({ prefix, ...options });
    const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
    redisClients.push(redis);
    // Until the client is ready the limiter would fall back to its per-node memory insurance.
    await redis.ping();
    return createRateLimiter({ redis, prefix: `${prefix}:${redisClients.length}`, ...options });
  }
  beforeAll(async () => {
    db = await openTestDatabase();
    const { accounts } = testServices(db);
    for (const name of ["owner", "other", "forgetful"]) await accounts.register({ email: `${name}@example.com`, password: PASSWORD, name }, anonymous({ ip: "192.0.2.1" }));
  });
  afterAll(async () => {
    if (redisClients.length) {
      const admin = new Redis(REDIS_URL);
      const keys = await admin.keys(`${prefix}:*`);
      if (keys.length) await admin.del(...keys);
      await admin.quit();
      await Promise.all(redisClients.map((c) => c.quit()));
    }
    await db?.close();
  });

  /** What one login from `ip` ends with: "ok", "wrong" (UNAUTHENTICATED), or the seconds RATE_LIMITED asks to wait. */
  const login = (rateLimiter: RateLimiter) => async (email: string, password: string, ip: string) => {
    const { accounts } = testServices(db, { rateLimiter });
    try {
      await accounts.login({ email, password }, anonymous({ ip }));
      return "ok";
    } catch (err) {
      if (isRateLimited(err)) return err.extensions.retryAfterSeconds as number;
      if ((err as { extensions?: { code?: string } }).extensions?.code === "UNAUTHENTICATED") return "wrong";
      throw err;
    }
  };

  it("the owner signs in from their address while an attacker fails 100 times for the same e-mail from 20 others", async () => {
    const attempt = login(await limiter());
    const outcomes: Record<string, number> = {};
    for (let i = 0; i < 20; i++) {
      for (let n = 0; n < 6; n++) {
        const outcome = await attempt("Owner@Example.com", `guess ${i}-${n} is wrong`, `198.51.100.${i + 1}`);
        const key = typeof outcome === "number" ? `wait ${outcome} s` : outcome;
        outcomes[key] = (outcomes[key] ?? 0) + 1;
      }
    }
    // 5 free failures per attacking address, then each must wait
    expect(outcomes).toEqual({ wrong: 100, "wait 1 s": 20 });
    expect(await attempt("owner@example.com", PASSWORD, "203.0.113.7")).toBe("ok");
    // the owner's success clears only their own address: the first attacking address's next failure makes it wait 2 s
    const pending = await attempt("owner@example.com", "guess 0-6 is wrong", "198.51.100.1");
    if (typeof pending !== "number") expect(pending).toBe("wrong");
    else { // on a fast machine its 1 s wait may not be over yet
      await sleep(pending * 1000 + 50);
      expect(await attempt("owner@example.com", "guess 0-6 is wrong", "198.51.100.1")).toBe("wrong");
    }
    expect(await attempt("owner@example.com", PASSWORD, "198.51.100.1")).toBe(2);
  });

  it("after 5 failures from one address each attempt waits 1, 2, 4 s (retryAfterSeconds), the right password included", async () => {
    const attempt = login(await limiter());
    const ip = "198.51.100.200";
    for (let i = 0; i < 5; i++) expect(await attempt("other@example.com", "wrong wrong wrong", ip)).toBe("wrong");
    const waits: number[] = [];
    for (let i = 0; i < 3; i++) {
      const wait = await attempt("other@example.com", PASSWORD, ip);
      expect(typeof wait).toBe("number");
      waits.push(wait as number);
      await sleep((wait as number) * 1000 + 50);
      expect(await attempt("other@example.com", "wrong wrong wrong", ip)).toBe("wrong");
    }
    expect(waits).toEqual([1, 2, 4]);
    expect(await attempt("other@example.com", PASSWORD, ip)).toBe(8);
    // an unknown e-mail is throttled the same way, so the wait reveals nothing
    for (let i = 0; i < 5; i++) expect(await attempt("nobody@example.com", "wrong wrong wrong", "198.51.100.201")).toBe("wrong");
    expect(await attempt("nobody@example.com", PASSWORD, "198.51.100.201")).toBe(1);
  }, 30_000);

  it("one address failing across many e-mails (credential stuffing) is stopped after 20, for the rest of the 15 minutes", async () => {
    const attempt = login(await limiter());
    const outcomes = [];
    for (let i = 0; i < 25; i++) outcomes.push(await attempt(`victim${i}@example.com`, "wrong wrong wrong", "198.51.100.250"));
    expect(outcomes.slice(0, 20)).toEqual(Array(20).fill("wrong"));
    for (const wait of outcomes.slice(20)) expect(wait).toBeGreaterThan(890);
    expect(await attempt("owner@example.com", PASSWORD, "198.51.100.250")).toBeGreaterThan(890);
    expect(await attempt("owner@example.com", PASSWORD, "203.0.113.7")).toBe("ok");
  });

  it("a success clears that address's failures for the e-mail, and only those", async () => {
    // minutes, not seconds, so the assertions don't race the clock
    const attempt = login(await limiter({ loginDelays: { firstSeconds: 60, maxSeconds: 3600 } }));
    for (let i = 0; i < 4; i++) expect(await attempt("forgetful@example.com", "wrong wrong wrong", "203.0.113.9")).toBe("wrong");
    for (let i = 0; i < 5; i++) expect(await attempt("forgetful@example.com", "wrong wrong wrong", "198.51.100.9")).toBe("wrong");
    expect(await attempt("forgetful@example.com", PASSWORD, "203.0.113.9")).toBe("ok");
    // 4 + 5 failures uncleared would wait 16 min here; cleared, 5 more wait 1 min
    for (let i = 0; i < 5; i++) expect(await attempt("forgetful@example.com", "wrong wrong wrong", "203.0.113.9")).toBe("wrong");
    expect(await attempt("forgetful@example.com", PASSWORD, "203.0.113.9")).toBe(60);
    // the other address's failures stay
    expect(await attempt("forgetful@example.com", PASSWORD, "198.51.100.9")).toBeGreaterThan(55);
  });

  it.runIf(store === "redis")("two API nodes share the counts through Redis", async () => {
    const redisA = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
    const redisB = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
    redisClients.push(redisA, redisB);
    await Promise.all([redisA.ping(), redisB.ping()]);
    const shared = `${prefix}:shared`;
    const nodeA = login(createRateLimiter({ redis: redisA, prefix: shared }));
    const nodeB = login(createRateLimiter({ redis: redisB, prefix: shared }));
    for (let i = 0; i < 5; i++) expect(await (i % 2 ? nodeA : nodeB)("other@example.com", "wrong wrong wrong", "198.51.100.77")).toBe("wrong");
    expect(await nodeA("other@example.com", PASSWORD, "198.51.100.77")).toBe(1);
    expect(await nodeB("other@example.com", PASSWORD, "198.51.100.77")).toBe(1);
    expect(await nodeB("other@example.com", PASSWORD, "203.0.113.7")).toBe("ok");
    const keys = await redisA.keys(`${shared}:*`);
    expect(keys.length).toBeGreaterThan(0);
    expect(keys.join(" ")).not.toMatch(/other|example|198\.51|203\.0/i);
  });
});
