import type { YogaInitialContext } from "graphql-yoga";
import type { PrismaClient } from "../generated/prisma/client.ts";
import type { Loaders } from "../infra/loaders.ts";
import type { Actor, Services } from "../services/index.ts";
import type { Assistant } from "../assistant/index.ts";
import type { StreamAuthority } from "../services/stream-authority.ts";

/** Per-request context: who is calling, the services they call, and what the GraphQL layer needs to load rows. */
export interface Context extends Partial<YogaInitialContext> {
  /** The caller (anonymous without credentials); every service call is made as this actor. */
  actor: Actor;
  services: Services;
  /** The assistant (chat, status), built on the same services and run as the caller. */
  assistant: Assistant;
  /** Read by the Pothos Prisma plugin (selections, relations) and the batch loaders; writes go through services. */
  prisma: PrismaClient;
  loaders: Loaders;
  /** Ends this caller's open streams when their credential does (see ./stream-authority.ts); one per app. */
  streamAuthority: StreamAuthority;
}
