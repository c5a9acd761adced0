import type { YogaInitialContext } from "graphql-yoga";
import type { Logger } from "pino";
import type { PrismaClient } from "./generated/prisma/client.ts";
import type { Database } from "./infra/db.ts";
import type { Loaders } from "./infra/loaders.ts";
import type { Accounts, RequestMeta, Viewer } from "./infra/auth/accounts.ts";
import type { PubSub } from "./infra/pubsub-types.ts";
import type { Ingestion } from "./providers/scheduler.ts";

/** Per-request context: the database, batch loaders and a request-scoped logger. */
export interface Context extends Partial<YogaInitialContext> {
  prisma: PrismaClient;
  db: Database;
  loaders: Loaders;
  log: Logger;
  requestId: string;
  /** The caller, or null when anonymous. */
  viewer: Viewer | null;
  accounts: Accounts;
  /** Client IP and user agent, for audit and rate limits. */
  meta: RequestMeta;
  /** Price ticks, availability changes and notifications (Redis across nodes, or in-process). */
  pubsub: PubSub;
  /** Provider polling, when this server runs it (admin refreshProvider). */
  ingestion?: Ingestion | undefined;
}
