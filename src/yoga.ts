// Builds the Yoga app (schema, context, plugins) and nothing else: tests call `yoga.fetch` in-process.
import { randomUUID } from "node:crypto";
import { GraphQLError } from "graphql";
import { createYoga, useReadinessCheck, type YogaServerInstance } from "graphql-yoga";
import { PothosValidationError } from "@pothos/core";
import { schema } from "./schema/index.ts";
import type { Context } from "./context.ts";
import type { Database } from "./infra/db.ts";
import { createLoaders } from "./infra/loaders.ts";
import { logger } from "./infra/logger.ts";

export interface YogaOptions {
  db: Database;
  /** GraphiQL and field suggestions; off in production. */
  development?: boolean;
}

/** Keeps typed errors, turns Pothos input errors into BAD_USER_INPUT, masks everything else with an id. */
export function maskError(error: unknown, _message: string, isDev?: boolean): Error {
  const inner = error instanceof GraphQLError && error.originalError ? error.originalError : error;
  if (inner instanceof GraphQLError && inner.extensions?.code) return error as Error;
  if (inner instanceof PothosValidationError) {
    const base = error instanceof GraphQLError ? error : undefined;
    return new GraphQLError(inner.message, { nodes: base?.nodes, path: base?.path, extensions: { code: "BAD_USER_INPUT" } });
  }
  if (inner instanceof GraphQLError) return inner;
  const errorId = randomUUID();
  logger.error({ err: inner, errorId }, "unexpected error");
  const base = error instanceof GraphQLError ? error : undefined;
  return new GraphQLError(isDev && inner instanceof Error ? inner.message : "Internal error. Quote this errorId when you report it.", {
    nodes: base?.nodes, path: base?.path, extensions: { code: "INTERNAL_SERVER_ERROR", errorId },
  });
}

export function createApp({ db, development = false }: YogaOptions): YogaServerInstance<Record<string, unknown>, Context> {
  return createYoga<Record<string, unknown>, Context>({
    schema,
    graphqlEndpoint: "/graphql",
    graphiql: development ? { title: "GPUBroker", defaultQuery: GRAPHIQL_DEFAULT_QUERY } : false,
    landingPage: false,
    logging: logger.child({ component: "yoga" }),
    maskedErrors: { maskError, isDev: development },
    healthCheckEndpoint: "/health",
    plugins: [
      useReadinessCheck({
        endpoint: "/ready",
        check: async () => { await db.prisma.$queryRaw`SELECT 1`; },
      }),
    ],
    context: ({ request }) => {
      // WebSocket operations pass a Node IncomingMessage, HTTP ones a Fetch Request
      const header = request?.headers && typeof request.headers.get === "function" ? request.headers.get("x-request-id") : null;
      const requestId = header && /^[\w-]{1,64}$/.test(header) ? header : randomUUID();
      return { prisma: db.prisma, db, loaders: createLoaders(db.prisma), log: logger.child({ requestId }), requestId };
    },
  });
}

const GRAPHIQL_DEFAULT_QUERY = `# Cheapest H100s with at least 2 GPUs, with the market around them
query CheapH100s {
  offers(filter: { gpuModels: ["H100"], gpuCount: { min: 2 } }, orderBy: { field: PRICE_PER_GPU }, first: 5) {
    totalCount
    edges { node { provider { name } instanceType gpuCount pricePerGpuHour onDemandPrice region } }
    pageInfo { endCursor hasNextPage }
  }
  offerFacets { gpuModels { value count minPricePerGpuHour medianPricePerGpuHour } }
}
`;
