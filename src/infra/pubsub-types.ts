// The events GPUBroker publishes. Price ticks and notifications travel through the event log
// (src/infra/event-log.ts: outbox, Redis Streams, resume); the other topics through the one pub/sub
// interface (src/infra/pubsub.ts): Redis across nodes when REDIS_URL is set, in-process otherwise.
import type { OfferChange } from "../domain/catalog/types.ts";

/**
 * One offer's price or availability change, as streamed by `priceTicks` / `offerAvailabilityChanged`:
 * the change a catalog run made (its ids are internal, not in the GraphQL type) with names and the move.
 */
export interface PriceTick extends OfferChange {
  /** Provider slug. */
  provider: string;
  /** Canonical GPU model name, null when unknown. */
  gpuModel: string | null;
  /** (new - old) / old × 100 for the on-demand price; null when there is no old or new price. */
  changePercent: number | null;
  /** ISO time of the ingestion run. */
  at: string;
}

export interface NotificationEvent {
  id: number;
  userId: number;
  alertId: number | null;
  kind: string;
  title: string;
  body: string;
  data: Record<string, unknown>;
  createdAt: string;
}

/** One stored event of an assistant's answer (a ChatEvent row), as chatMessageEvents streams it. */
export interface ChatStreamEvent {
  messageId: number;
  /** 1, 2, 3 … within the answer; a subscriber skips what it has and reads any gap from the database. */
  seq: number;
  /** text | tool_call | tool_result | recommendations | sources | completed | failed */
  type: string;
  payload: Record<string, unknown>;
  /** ISO time it was stored. */
  at: string;
}

/** Events of one answer, published after they are stored, in order. */
export interface ChatEventBatch { messageId: number; events: ChatStreamEvent[] }

/** Tells the node writing an answer that its reader came or went, or that the user cancelled it. */
export interface ChatControl { messageId: number; action: "cancel" | "attach" | "detach" }

/**
 * Credentials that stopped being valid, published after the change is committed; every API node ends
 * the open streams opened with them. With neither `sessionFamilies` nor `apiKeyId`: every credential
 * of the account (a disabled or deleted user).
 */
export interface AuthRevocation {
  userId: number;
  /** Sessions (refresh-token families) that ended: logout, logoutEverywhere, a password change, refresh-token reuse. */
  sessionFamilies?: string[];
  /** An API key that was revoked. */
  apiKeyId?: number;
}

/**
 * Pub/sub topics: signals and streams that are stored elsewhere (chat events are ChatEvent rows, read
 * back on a gap). Price ticks and notifications are not here: they go through the event log
 * (src/infra/event-log.ts), which never loses one.
 */
export interface Topics {
  "chat.event": ChatEventBatch;
  "chat.control": ChatControl;
  "auth.revoked": AuthRevocation;
}
export type Topic = keyof Topics;

export interface PubSub {
  publish<K extends Topic>(topic: K, payload: Topics[K]): Promise<void>;
  /**
   * An async iterator of the topic's events, from the moment the subscription is live (see
   * `subscriberCount`); ends (and unsubscribes) when returned. `keep` drops unwanted events before
   * they are queued, so a slow reader only buffers what it asked for. A reader that falls the buffer
   * limit behind gets the queued events, then a SUBSCRIPTION_OVERFLOW AppError: it must subscribe again.
   */
  subscribe<K extends Topic>(topic: K, keep?: (event: Topics[K]) => boolean): AsyncIterableIterator<Topics[K]>;
  /** This process's live subscriptions to the topic (counted once Redis has confirmed them). */
  subscriberCount(topic: Topic): number;
  /** Ends every open subscription, then closes the connections. */
  close(): Promise<void>;
}
