// Live market events: price ticks, availability changes and the caller's own notifications, as
// async iterators over the pub/sub; the GraphQL subscriptions (and any other listener) read these.
// Tick filters are the one offer filter (domain/offers/filter.ts) matched in memory, plus the move size.
import type { PrismaClient } from "../generated/prisma/client.ts";
import type { Availability } from "../domain/catalog/types.ts";
import { matchesOffer, type OfferFacts, type OfferFilter, type OfferFilterInput } from "../domain/offers/filter.ts";
import type { NotificationEvent, PriceTick, PubSub } from "../infra/pubsub-types.ts";
import { requireScope, type Actor } from "./actor.ts";
import { resolveOfferFilter } from "./offers.ts";

/** The PriceTickFilter / OfferAvailabilityFilter inputs: a few offer-filter fields plus the tick-only minChangePercent. */
export interface TickFilterInput {
  gpuModels?: string[] | null; providers?: string[] | null; regions?: string[] | null;
  maxPricePerHour?: string | null; maxPricePerGpuHour?: string | null; minChangePercent?: number | null; availability?: Availability[] | null;
}

/** A tick filter: the one offer filter, plus the size of the move. */
export interface TickFilter { offers: OfferFilter; minChangePercent: number | null }

/** The tick inputs as the offer filter writes them; withdrawals are ticks too, so inactive offers count. */
function offerFilterInput(f: TickFilterInput): OfferFilterInput {
  return {
    gpuModels: f.gpuModels, providers: f.providers, regions: f.regions?.map((r) => r.trim()), availability: f.availability,
    price: f.maxPricePerHour == null ? null : { max: f.maxPricePerHour },
    pricePerGpu: f.maxPricePerGpuHour == null ? null : { max: f.maxPricePerGpuHour },
    includeInactive: true,
  };
}

/** What the offer filter sees of a tick: a withdrawn offer is UNAVAILABLE at its last known price. */
export function tickFacts(tick: PriceTick): Partial<OfferFacts> {
  return {
    active: tick.kind !== "deactivated",
    providerId: tick.providerId,
    gpuModelId: tick.gpuModelId,
    region: tick.region,
    gpuCount: tick.gpuCount,
    availability: tick.newAvailability ?? "UNAVAILABLE",
    onDemandPrice: tick.newOnDemandPrice ?? tick.oldOnDemandPrice,
    pricePerGpuHour: tick.pricePerGpuHour,
    spotPrice: tick.newSpotPrice,
  };
}

/** Does the tick pass the filter? The offer criteria through `matchesOffer`, then |changePercent| ≥ minChangePercent. */
export function matchesTick(filter: TickFilter, tick: PriceTick): boolean {
  const { minChangePercent } = filter;
  return matchesOffer(filter.offers, tickFacts(tick))
    && (minChangePercent == null || (tick.changePercent != null && Math.abs(tick.changePercent) >= minChangePercent));
}

export function createEventService({ prisma, pubsub }: { prisma: PrismaClient; pubsub: PubSub }) {
  /** Resolves the names (unknown ones are BAD_USER_INPUT, as in `offers`) and returns the predicate. */
  async function tickMatcher(input: TickFilterInput | null | undefined): Promise<(tick: PriceTick) => boolean> {
    const f = input ?? {};
    const filter: TickFilter = { offers: await resolveOfferFilter(prisma, offerFilterInput(f)), minChangePercent: f.minChangePercent ?? null };
    return (tick) => matchesTick(filter, tick);
  }

  return {
    /** Every committed price or availability change matching the filter (public). */
    async priceTicks(filter: TickFilterInput | null | undefined, _actor: Actor): Promise<AsyncIterableIterator<PriceTick>> {
      return pubsub.subscribe("price.tick", await tickMatcher(filter));
    },
    /** Availability changes (and offers appearing or withdrawn) matching the filter (public). */
    async availabilityChanges(filter: TickFilterInput | null | undefined, _actor: Actor): Promise<AsyncIterableIterator<PriceTick>> {
      return pubsub.subscribe("offer.availability", await tickMatcher(filter));
    },
    /** The caller's own notifications as they are created. */
    notifications(actor: Actor): AsyncIterableIterator<NotificationEvent> {
      const userId = requireScope(actor, "alerts:write").id;
      return pubsub.subscribe("notification", (n) => n.userId === userId);
    },
  };
}
