// In-process GraphQL client over yoga.fetch: a document in, the JSON out.
import type { TypedDocumentNode } from "@graphql-typed-document-node/core";
import { print } from "graphql";
import { randomUUID } from "node:crypto";
import { createApp } from "../../src/yoga.ts";
import { createRateLimiter } from "../../src/infra/rate-limit.ts";
import type { Database } from "../../src/infra/db.ts";

export interface GraphQLResponse<T> {
  data?: T | null;
  errors?: Array<{ message: string; path?: (string | number)[]; extensions?: Record<string, unknown> }>;
}

/** Auth limits high enough for suites that sign in many times from one (unknown) address. */
export const relaxedRateLimiter = () => createRateLimiter({
  prefix: `test-${randomUUID()}`,
  limits: { "auth:ip": { points: 10_000, durationSeconds: 900 }, "request:ip": { points: 100_000, durationSeconds: 60 } },
});

export function testClient(db: Database, options: Omit<Parameters<typeof createApp>[0], "db"> = {}) {
  const yoga = createApp({ db, rateLimiter: relaxedRateLimiter(), ...options });
  async function request<T = any, V = Record<string, unknown>>(
    document: string | TypedDocumentNode<T, V>,
    variables?: V,
    headers: Record<string, string> = {},
  ): Promise<GraphQLResponse<T> & { status: number }> {
    const res = await yoga.fetch("http://localhost/graphql", {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/graphql-response+json", ...headers },
      body: JSON.stringify({ query: typeof document === "string" ? document : print(document), variables }),
    });
    return { status: res.status, ...((await res.json()) as GraphQLResponse<T>) };
  }
  return { yoga, request };
}
