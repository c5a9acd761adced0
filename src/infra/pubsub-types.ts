// The events GPUBroker publishes. One pub/sub interface (src/infra/pubsub.ts): Redis across nodes
// when REDIS_URL is set, in-process otherwise.

/** One offer's price or availability change, as streamed by `priceTicks` / `offerAvailabilityChanged`. */
export interface PriceTick {
  offerId: number;
  /** Provider slug. */
  provider: string;
  /** Internal (not in the GraphQL type): the provider's id, for the offer filter. */
  providerId: number;
  /** Canonical GPU model name, null when unknown. */
  gpuModel: string | null;
  /** Internal (not in the GraphQL type): the GPU model's id, null when unknown, for the offer filter. */
  gpuModelId: number | null;
  region: string;
  gpuCount: number;
  kind: "new" | "changed" | "reactivated" | "deactivated";
  oldOnDemandPrice: string | null;
  newOnDemandPrice: string | null;
  oldSpotPrice: string | null;
  newSpotPrice: string | null;
  oldAvailability: string | null;
  newAvailability: string | null;
  /** New on-demand price per GPU-hour (the last known one for a withdrawn offer). */
  pricePerGpuHour: string;
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

export interface Topics {
  "price.tick": PriceTick;
  "offer.availability": PriceTick;
  notification: NotificationEvent;
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
