// Rate limits over rate-limiter-flexible: in Redis when given a client (every node shares the
// counts), in memory otherwise. Keys are hashed, so Redis never holds an IP address or an e-mail.
import { createHash } from "node:crypto";
import { isIP } from "node:net";
import type { Redis } from "ioredis";
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from "rate-limiter-flexible";
import { AppError } from "../errors.ts";
import type { Metrics } from "./metrics.ts";

export type RateBucket = "request:ip" | "request:user" | "auth:ip" | "login:ip" | "login:pair" | "chat:user" | "integration:user" | "integration:fetch";
export interface BucketLimit { points: number; durationSeconds: number }

export const DEFAULT_LIMITS: Record<RateBucket, BucketLimit> = {
  // 5 operations a second from one address, sustained for a minute: far above GraphiQL or a UI, below a scraper.
  "request:ip": { points: 300, durationSeconds: 60 },
  // One account across all its addresses (a worker fleet on one API key) may do twice what one address may.
  "request:user": { points: 600, durationSeconds: 60 },
  // register + changePassword + refreshToken from one address: an office of ~50 clients refreshing every 15 minutes, not a sign-up bot.
  "auth:ip": { points: 60, durationSeconds: 15 * 60 },
  // Failed logins from one address across every e-mail (a success gives its point back): an office mistyping, not credential stuffing.
  "login:ip": { points: 20, durationSeconds: 15 * 60 },
  // Failed logins for one e-mail from one address, remembered a day: `points` are free, each one after waits (DEFAULT_LOGIN_DELAYS).
  "login:pair": { points: 5, durationSeconds: 24 * 60 * 60 },
  // Messages to the assistant from one account: a person chatting (one every 10 s), not a script draining the model budget.
  "chat:user": { points: 30, durationSeconds: 5 * 60 },
  // Calls to providers with one account's own keys (testProviderIntegration): a person checking a key, not a key-validity oracle.
  "integration:user": { points: 20, durationSeconds: 5 * 60 },
  // Catalog reads at one provider with one account's key (myAccountOffers, past its cache): well under what the providers allow an account.
  "integration:fetch": { points: 10, durationSeconds: 60 },
};

/** After the free failures of one e-mail from one address, the next attempt waits `firstSeconds`, doubling per failure up to `maxSeconds`. */
export interface LoginDelays { firstSeconds: number; maxSeconds: number }
// 1, 2, 4 … 512 s, then 15 min: ten more guesses in the first 17 minutes, then four an hour; a person who mistyped waits seconds.
export const DEFAULT_LOGIN_DELAYS: LoginDelays = { firstSeconds: 1, maxSeconds: 15 * 60 };

const MESSAGES: Record<RateBucket, string> = {
  "request:ip": "Too many requests from this address.",
  "request:user": "Too many requests for this account.",
  "auth:ip": "Too many sign-ups, token refreshes or password changes from this address.",
  "login:ip": "Too many failed sign-ins from this address.",
  // Said the same whether or not an account has this e-mail.
  "login:pair": "Too many failed sign-ins for this e-mail address from this address.",
  "chat:user": "Too many messages to the assistant from this account.",
  "integration:user": "Too many provider key tests from this account.",
  "integration:fetch": "Too many reads of this provider with this account's key.",
};

export interface RateLimiter {
  /** Takes `points` from the key's budget; throws RATE_LIMITED (with `retryAfterSeconds`) once it is spent. */
  consume(bucket: RateBucket, key: string, points?: number): Promise<void>;
  /** Throws RATE_LIMITED if the budget is already spent, without taking from it. */
  check(bucket: RateBucket, key: string): Promise<void>;
  /** Gives points back. */
  reward(bucket: RateBucket, key: string, points?: number): Promise<void>;
  /** Forgets the key. */
  reset(bucket: RateBucket, key: string): Promise<void>;
  /**
   * Before checking a password: throws RATE_LIMITED while this e-mail from this address must still wait
   * (growing delays after its free failures), or when this address has spent its failures across all e-mails.
   */
  beginLogin(email: string, ip: string): Promise<void>;
  /** Counts a failed login for the e-mail from this address (and keeps the address's point). */
  loginFailed(email: string, ip: string): Promise<void>;
  /** Clears the e-mail's failures from this address and gives the address its point back. */
  loginSucceeded(email: string, ip: string): Promise<void>;
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
  /** Overrides of DEFAULT_LOGIN_DELAYS. */
  loginDelays?: Partial<LoginDelays>;
  /** Counts refusals by bucket. */
  metrics?: Pick<Metrics, "rateLimitRejections"> | undefined;
}

/** True for the error `consume`/`check` throw when a budget is spent. */
export const isRateLimited = (err: unknown): err is AppError => err instanceof AppError && err.extensions.code === "RATE_LIMITED";

export function createRateLimiter({ redis, prefix, limits = {}, loginDelays = {}, metrics }: RateLimiterOptions): RateLimiter {
  const config = { ...DEFAULT_LIMITS, ...limits };
  const delays = { ...DEFAULT_LOGIN_DELAYS, ...loginDelays };
  const store = (name: string, points: number, duration: number): RateLimiterAbstract => {
    const keyPrefix = `${prefix}:${name}`;
    const memory = new RateLimiterMemory({ points, duration, keyPrefix });
    return redis
      // During a Redis outage each node limits alone instead of failing every request.
      ? new RateLimiterRedis({ storeClient: redis, points, duration, keyPrefix, rejectIfRedisNotReady: true, insuranceLimiter: memory })
      : memory;
  };
  const limiters = new Map<RateBucket, RateLimiterAbstract>();
  for (const bucket of Object.keys(config) as RateBucket[]) limiters.set(bucket, store(bucket, config[bucket].points, config[bucket].durationSeconds));
  const failures = limiters.get("login:pair")!;
  // One point: the first taker holds it (the attempt in flight, or the wait after a failure); everyone else is refused until it expires.
  const waits = store("login:wait", 1, 1);

  const normalise = (bucket: RateBucket, key: string) => (bucket.endsWith(":ip") ? ipKey(key) : key);
  const hash = (value: string) => createHash("sha256").update(value).digest("base64url");
  // Every HTTP request looks up its address's key: normalised and hashed once per address and bucket, not per
  // request. Bounded: a bucket's keys are forgotten when it holds 10,000.
  const keys = new Map<RateBucket, Map<string, string>>();
  const keyOf = (bucket: RateBucket, key: string) => {
    let known = keys.get(bucket);
    if (!known) keys.set(bucket, (known = new Map()));
    let digest = known.get(key);
    if (digest === undefined) {
      if (known.size >= 10_000) known.clear();
      known.set(key, (digest = hash(normalise(bucket, key))));
    }
    return digest;
  };
  // A NAT or an IPv6 /64 is one address, so the owner's own address is a different pair from the attacker's.
  const pairOf = (email: string, ip: string) => hash(`${email.trim().toLowerCase()}\n${ipKey(ip)}`);
  /** The wait before the next attempt after `failed` failures (of which `points` were free). */
  const waitAfter = (failed: number) =>
    Math.min(delays.maxSeconds, delays.firstSeconds * 2 ** Math.min(30, failed - config["login:pair"].points));

  const limited = (bucket: RateBucket, msBeforeNext: number) => {
    metrics?.rateLimitRejections.inc({ bucket });
    const retryAfterSeconds = Math.max(1, Math.ceil(msBeforeNext / 1000));
    return new AppError("RATE_LIMITED", `${MESSAGES[bucket]} Try again in ${retryAfterSeconds} s.`, { retryAfterSeconds });
  };

  async function consume(bucket: RateBucket, key: string, points = 1) {
    try {
      await limiters.get(bucket)!.consume(keyOf(bucket, key), points);
    } catch (err) {
      if (err instanceof RateLimiterRes) throw limited(bucket, err.msBeforeNext);
      throw err;
    }
  }

  return {
    consume,
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
    async beginLogin(email, ip) {
      const pair = pairOf(email, ip);
      const failed = (await failures.get(pair))?.consumedPoints ?? 0;
      if (failed >= config["login:pair"].points) {
        // Taken atomically, so parallel attempts can't all slip through between two waits.
        const gate = await waits.penalty(pair, 1, { customDuration: waitAfter(failed) });
        if (gate.consumedPoints > 1) throw limited("login:pair", gate.msBeforeNext);
      }
      // Taken before the password is checked, so a burst of parallel guesses can't overdraw it.
      await consume("login:ip", ip);
    },
    async loginFailed(email, ip) {
      const pair = pairOf(email, ip);
      const { consumedPoints: failed } = await failures.penalty(pair, 1);
      if (failed >= config["login:pair"].points) await waits.block(pair, waitAfter(failed));
    },
    async loginSucceeded(email, ip) {
      const pair = pairOf(email, ip);
      await Promise.all([failures.delete(pair), waits.delete(pair), limiters.get("login:ip")!.reward(keyOf("login:ip", ip))]);
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
