// In-process GraphQL client over yoga.fetch: a document in, the JSON out.
import type { TypedDocumentNode } from "@graphql-typed-document-node/core";
import { print } from "graphql";
import { randomUUID } from "node:crypto";
import { createApp, JWT_AUDIENCE, JWT_ISSUER } from "../../src/yoga.ts";
import { createLazyTokenSigner } from "../../src/infra/auth/tokens.ts";
import { logger } from "../../src/infra/logger.ts";
import { createPubSub } from "../../src/infra/pubsub.ts";
import { createEventLog, DEFAULT_RETENTION_MS, type EventLog } from "../../src/infra/event-log.ts";
import { createServices, type ServiceDeps, type UserActor } from "../../src/services/index.ts";
import { createRateLimiter } from "../../src/infra/rate-limit.ts";
import type { Database } from "../../src/infra/db.ts";

export interface GraphQLResponse<T> {
  data?: T | null;
  errors?: Array<{ message: string; path?: (string | number)[]; extensions?: Record<string, unknown> }>;
}

/** Auth limits high enough for suites that sign in many times from one (unknown) address. */
export const relaxedRateLimiter = () => createRateLimiter({
  prefix: `test-${randomUUID()}`,
  limits: { "auth:ip": { points: 10_000, durationSeconds: 900 }, "login:ip": { points: 10_000, durationSeconds: 900 }, "chat:user": { points: 10_000, durationSeconds: 60 }, "integration:user": { points: 10_000, durationSeconds: 60 }, "integration:fetch": { points: 10_000, durationSeconds: 60 }, "request:ip": { points: 100_000, durationSeconds: 60 } },
});

export function testClient(db: Database, options: Omit<Parameters<typeof createApp>[0], "db"> = {}) {
  const yoga = createApp({ db, rateLimiter: relaxedRateLimiter(), ...options });
  async function request<T = any, V = Record<string, unknown>>(
    document: string | TypedDocumentNode<T, V>,
    variables?: V,
    headers: Record<string, string> = {},
    /** The caller's address, as the socket would give it (in-process calls have none). */
    peer?: string,
  ): Promise<GraphQLResponse<T> & { status: number }> {
    const res = await yoga.fetch("http://localhost/graphql", {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/graphql-response+json", ...headers },
      body: JSON.stringify({ query: typeof document === "string" ? document : print(document), variables }),
    }, peer ? { req: { socket: { remoteAddress: peer }, headers: {} } } : {});
    return { status: res.status, ...((await res.json()) as GraphQLResponse<T>) };
  }
  return { yoga, request };
}

/**
 * An event log over the database (without Redis) that starts only when something subscribes or reads
 * it: building services touches no database, and suites that never stream start no timers. A test that
 * subscribes should pass its own `events` (createEventLog) and close it.
 */
export function lazyEventLog(prisma: Database["prisma"]): EventLog {
  let log: EventLog | null = null;
  const get = () => (log ??= createEventLog({ prisma }));
  return {
    retentionMs: DEFAULT_RETENTION_MS,
    kick: () => log?.kick(), // no log yet: no reader to wake
    subscribe: (stream, opts) => get().subscribe(stream, opts),
    head: (stream) => get().head(stream),
    subscriberCount: (stream) => log?.subscriberCount(stream) ?? 0,
    behindMs: (stream) => log?.behindMs(stream) ?? 0,
    close: async () => { await log?.close(); },
  };
}

/** The use-case layer over a test database, as the app builds it (in-process pub/sub, an event log without Redis and token keys by default). */
export function testServices(db: Database, overrides: Partial<ServiceDeps> = {}) {
  return createServices({
    prisma: db.prisma,
    pubsub: createPubSub({}),
    events: lazyEventLog(db.prisma),
    tokens: createLazyTokenSigner({ issuer: JWT_ISSUER, audience: JWT_AUDIENCE }),
    rateLimiter: relaxedRateLimiter(),
    log: logger,
    ...overrides,
  });
}

/** A signed-in caller as the context carries it. */
export const userActor = (id: number, role: "USER" | "ADMIN" = "USER", extra: Partial<UserActor> = {}): UserActor =>
  ({ kind: "user", id, role, via: "jwt", sessionFamily: "test", ...extra });
