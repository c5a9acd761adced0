// Rate limits over rate-limiter-flexible: in Redis when given a client (every node shares the
// counts), in memory otherwise. Keys are hashed, so Redis never holds an IP address or an e-mail.
import { createHash } from "node:crypto";
import { isIP } from "node:net";
import type { Redis } from "ioredis";
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from "rate-limiter-flexible";
import { AppError } from "../errors.ts";

export type RateBucket = "request:ip" | "request:user" | "auth:ip" | "login:email" | "chat:user";
export interface BucketLimit { points: number; durationSeconds: number }

export const DEFAULT_LIMITS: Record<RateBucket, BucketLimit> = {
  // 5 operations a second from one address, sustained for a minute: far above GraphiQL or a UI, below a scraper.
  "request:ip": { points: 300, durationSeconds: 60 },
  // One account across all its addresses (a worker fleet on one API key) may do twice what one address may.
  "request:user": { points: 600, durationSeconds: 60 },
  // login + register + refreshToken from one address: an office signing in and refreshing, not a password sprayer.
  "auth:ip": { points: 20, durationSeconds: 15 * 60 },
  // Failed logins for one e-mail, from any address (the caller consumes only on failure): stops guessing one password.
  "login:email": { points: 5, durationSeconds: 15 * 60 },
  // Messages to the assistant from one account: a person chatting (one every 10 s), not a script draining the model budget.
  "chat:user": { points: 30, durationSeconds: 5 * 60 },
};

const MESSAGES: Record<RateBucket, string> = {
  "request:ip": "Too many requests from this address.",
  "request:user": "Too many requests for this account.",
  "auth:ip": "Too many sign-in attempts from this address.",
  "login:email": "Too many failed logins for this e-mail address.",
  "chat:user": "Too many messages to the assistant from this account.",
};

export interface RateLimiter {
  /** Takes `points` from the key's budget; throws RATE_LIMITED (with `retryAfterSeconds`) once it is spent. */
  consume(bucket: RateBucket, key: string, points?: number): Promise<void>;
  /** Throws RATE_LIMITED if the budget is already spent, without taking from it (e.g. before checking a password). */
  check(bucket: RateBucket, key: string): Promise<void>;
  /** Gives points back. */
  reward(bucket: RateBucket, key: string, points?: number): Promise<void>;
  /** Forgets the key, e.g. the failed-login counter after a successful login. */
  reset(bucket: RateBucket, key: string): Promise<void>;
  /** Closes the Redis client the limiter was given (it owns it). */
  close(): Promise<void>;
}

export interface RateLimiterOptions {
  /** Shared counters; null or absent keeps them in this process. */
  redis?: Redis | null;
  /** Namespaces the Redis keys (one per deployment, or per test). */
  prefix: string;
  /** Overrides of DEFAULT_LIMITS (tests use tiny ones). */
  limits?: Partial<Record<RateBucket, BucketLimit>>;
}

/** True for the error `consume`/`check` throw when a budget is spent. */
export const isRateLimited = (err: unknown): err is AppError => err instanceof AppError && err.extensions.code === "RATE_LIMITED";

export function createRateLimiter({ redis, prefix, limits = {} }: RateLimiterOptions): RateLimiter {
  const config = { ...DEFAULT_LIMITS, ...limits };
  const limiters = new Map<RateBucket, RateLimiterAbstract>();
  for (const bucket of Object.keys(config) as RateBucket[]) {
    const { points, durationSeconds: duration } = config[bucket];
    const keyPrefix = `${prefix}:${bucket}`;
    const memory = new RateLimiterMemory({ points, duration, keyPrefix });
    limiters.set(bucket, redis
      // During a Redis outage each node limits alone instead of failing every request.
      ? new RateLimiterRedis({ storeClient: redis, points, duration, keyPrefix, rejectIfRedisNotReady: true, insuranceLimiter: memory })
      : memory);
  }

  const normalise = (bucket: RateBucket, key: string) =>
    bucket === "login:email" ? key.trim().toLowerCase() : bucket.endsWith(":ip") ? ipKey(key) : key;
  const keyOf = (bucket: RateBucket, key: string) => createHash("sha256").update(normalise(bucket, key)).digest("base64url");

  const limited = (bucket: RateBucket, msBeforeNext: number) => {
    const retryAfterSeconds = Math.max(1, Math.ceil(msBeforeNext / 1000));
    return new AppError("RATE_LIMITED", `${MESSAGES[bucket]} Try again in ${retryAfterSeconds} s.`, { retryAfterSeconds });
  };

  return {
    async consume(bucket, key, points = 1) {
      try {
        await limiters.get(bucket)!.consume(keyOf(bucket, key), points);
      } catch (err) {
        if (err instanceof RateLimiterRes) throw limited(bucket, err.msBeforeNext);
        throw err;
      }
    },
    async check(bucket, key) {
      const res = await limiters.get(bucket)!.get(keyOf(bucket, key));
      if (res && res.consumedPoints >= config[bucket].points) throw limited(bucket, res.msBeforeNext);
    },
    async reward(bucket, key, points = 1) {
      await limiters.get(bucket)!.reward(keyOf(bucket, key), points);
    },
    async reset(bucket, key) {
      await limiters.get(bucket)!.delete(keyOf(bucket, key));
    },
    async close() {
      if (redis && redis.status !== "end") await redis.quit().catch(() => redis.disconnect());
    },
  };
}

/** An IPv6 subscriber gets a whole /64, so limiting single addresses would let one client rotate forever. */
function ipKey(ip: string): string {
  if (isIP(ip) !== 6) return ip;
  const [head = "", tail] = ip.split("%")[0]!.split("::");
  const left = head ? head.split(":") : [];
  const right = tail === undefined ? [] : tail ? tail.split(":") : [];
  const groups = [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill("0"), ...right];
  return `${groups.slice(0, 4).map((g) => parseInt(g, 16).toString(16)).join(":")}::/64`;
}
