// The use-case layer: one module per capability, each a set of functions of (validated input,
// actor). GraphQL resolvers, the assistant's tools, ingestion and scripts all call these, so
// permissions, validation and errors are defined once. May import domain/, infra/ and errors.ts;
// never graphql/, ingestion/ or the HTTP edge.
import type { Logger } from "pino";
import type { PrismaClient } from "../generated/prisma/client.ts";
import type { TokenSigner } from "../infra/auth/tokens.ts";
import type { EventLog } from "../infra/event-log.ts";
import type { PubSub } from "../infra/pubsub-types.ts";
import type { RateLimiter } from "../infra/rate-limit.ts";
import { createAccountService } from "./accounts.ts";
import { createAdminService, type IngestionControl } from "./admin.ts";
import { createAlertService } from "./alerts.ts";
import { createAssistantService } from "./assistant.ts";
import { createCatalogService } from "./catalog.ts";
import { createChatService, type ChatLimits } from "./chat.ts";
import { createIntegrationService, type AccountCatalog, type AccountChecker } from "./integrations.ts";
import type { SecretSealer } from "../infra/secret-sealer.ts";
import { createEventService } from "./events.ts";
import { createOfferService } from "./offers.ts";
import { createPriceHistoryService } from "./price-history.ts";
import { createKpiService } from "./kpis.ts";
import { createLlmCostService } from "./llm-cost.ts";
import { createRankingService } from "./ranking.ts";
import { createWorkloadService } from "./workload.ts";

export interface ServiceDeps {
  prisma: PrismaClient;
  /** Signals between nodes (revocations, the assistant's answers): Redis across nodes, or in-process. */
  pubsub: PubSub;
  /** Price ticks and notifications: durable, ordered, resumable (the transactional outbox). */
  events: EventLog;
  tokens: TokenSigner;
  rateLimiter: RateLimiter;
  /** Provider polling, when this process runs it (admin refreshProvider). */
  ingestion?: IngestionControl | undefined;
  log: Logger;
  /** Per-user answer limits (defaults in services/chat.ts). */
  chatLimits?: Partial<ChatLimits> | undefined;
  /** Seals users' provider keys at rest; without one, saving a key is refused. */
  sealer?: SecretSealer | undefined;
  /** Asks providers whether a key works (src/ingestion/account-checks.ts); without one, testing is refused. */
  accountChecker?: AccountChecker | undefined;
  /** Reads provider catalogs with a user's key (src/ingestion/account-catalog.ts); without one, myAccountOffers lists nothing. */
  accountCatalog?: AccountCatalog | undefined;
}

export function createServices(deps: ServiceDeps) {
  return {
    accounts: createAccountService(deps),
    admin: createAdminService(deps),
    alerts: createAlertService(deps),
    assistant: createAssistantService(deps),
    events: createEventService(deps),
    offers: createOfferService(deps),
    catalog: createCatalogService(deps),
    chat: createChatService(deps),
    integrations: createIntegrationService(deps),
    priceHistory: createPriceHistoryService(deps),
    kpis: createKpiService(deps),
    llmCost: createLlmCostService(deps),
    ranking: createRankingService(deps),
    workload: createWorkloadService(deps),
  };
}

export type Services = ReturnType<typeof createServices>;
export type { Actor, UserActor } from "./actor.ts";
