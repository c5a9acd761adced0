// Live market events: price ticks, availability changes and the caller's own notifications, as
// async iterators over the event log (infra/event-log.ts); the GraphQL subscriptions (and any other
// listener) read these. Each event carries an opaque cursor; `after: cursor` replays what a client
// missed (within the log's retention), then follows live with no gap and no duplicate.
// Tick filters are the one offer filter (domain/offers/filter.ts) matched in memory, plus the move size.
import type { PrismaClient } from "../generated/prisma/client.ts";
import { changesAvailability, type Availability } from "../domain/catalog/types.ts";
import { matchesOffer, type ComplianceTagsInput, type OfferFacts, type OfferFilter, type OfferFilterInput } from "../domain/offers/filter.ts";
import { badInput } from "../errors.ts";
import type { EventLog, EventStreamName, EventStreams, LoggedEvent } from "../infra/event-log.ts";
import type { NotificationEvent, PriceTick } from "../infra/pubsub-types.ts";
import { requireScope, type Actor } from "./actor.ts";
import { resolveOfferFilter } from "./offers.ts";

/** The PriceTickFilter / OfferAvailabilityFilter inputs: a few offer-filter fields plus the tick-only minChangePercent. */
export interface TickFilterInput {
  gpuModels?: string[] | null; providers?: string[] | null; regions?: string[] | null; complianceTags?: ComplianceTagsInput | null;
  maxPricePerHour?: string | null; maxPricePerGpuHour?: string | null; minChangePercent?: number | null; availability?: Availability[] | null;
}

/** A tick filter: the one offer filter, plus the size of the move. */
export interface TickFilter { offers: OfferFilter; minChangePercent: number | null }

/** The tick inputs as the offer filter writes them; withdrawals are ticks too, so inactive offers count. */
function offerFilterInput(f: TickFilterInput): OfferFilterInput {
  return {
    gpuModels: f.gpuModels, providers: f.providers, complianceTags: f.complianceTags, regions: f.regions?.map((r) => r.trim()), availability: f.availability,
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

/** An event as subscribers get it: what happened, and where to resume after it. */
export type WithCursor<T> = T & { cursor: string };

const CURSOR_PREFIX = "ev1";
const CURSOR_RE = /^ev1:(market|notification):(\d{1,15})$/;

/** The opaque cursor of event `seq` of a stream (base64url of "ev1:<stream>:<seq>"). */
export function eventCursor(stream: EventStreamName, seq: number): string {
  return Buffer.from(`${CURSOR_PREFIX}:${stream}:${seq}`).toString("base64url");
}

/** The event number a cursor names, or BAD_USER_INPUT when it is not a cursor of this stream. */
export function parseEventCursor(cursor: string, stream: EventStreamName): number {
  const match = cursor.length <= 64 && /^[A-Za-z0-9_-]+$/.test(cursor) ? CURSOR_RE.exec(Buffer.from(cursor, "base64url").toString("latin1")) : null;
  if (!match) throw badInput("`after` is not a cursor this server issued. Pass the `cursor` of an event you received from this subscription.", { argument: "after" });
  if (match[1] !== stream) throw badInput(`\`after\` is a cursor of another subscription (${match[1] === "market" ? "priceTicks / offerAvailabilityChanged" : "notifications"}).`, { argument: "after" });
  return Number(match[2]);
}

/** The log's events as subscribers see them: the payload with its cursor. `onEnd` runs once when the stream ends, however it ends. */
function withCursors<S extends EventStreamName>(stream: S, source: AsyncIterableIterator<LoggedEvent<EventStreams[S]>>, onEnd: () => void = () => {}): AsyncIterableIterator<WithCursor<EventStreams[S]>> {
  let ended = false;
  const finish = () => { if (!ended) { ended = true; onEnd(); } };
  const map = (r: IteratorResult<LoggedEvent<EventStreams[S]>>): IteratorResult<WithCursor<EventStreams[S]>> => {
    if (r.done) { finish(); return r; }
    return { done: false, value: { ...r.value.payload, cursor: eventCursor(stream, r.value.seq) } };
  };
  const iterator: AsyncIterableIterator<WithCursor<EventStreams[S]>> = {
    [Symbol.asyncIterator]: () => iterator,
    next: () => source.next().then(map, (err: unknown) => { finish(); throw err; }),
    return: async () => { finish(); await source.return?.(); return { done: true, value: undefined }; },
    throw: async (err: unknown) => { finish(); await source.return?.(); throw err; },
  };
  return iterator;
}

interface IndexedTickFilter { matches: (tick: PriceTick) => boolean }

/**
 * The live tick filters of this process, indexed by the facts a tick has exactly one value of (GPU model,
 * provider, region), so an event is matched against the filters that can want it, not against all of
 * them. The event log asks every live subscriber's `keep` in turn with the same event object: the first
 * call works out the matching set through the index, the others look themselves up in it.
 */
export class TickIndex {
  private readonly byModel = new Map<number, Set<IndexedTickFilter>>();
  private readonly byProvider = new Map<number, Set<IndexedTickFilter>>();
  private readonly byRegion = new Map<string, Set<IndexedTickFilter>>();
  private readonly any = new Set<IndexedTickFilter>();
  private lastTick: PriceTick | null = null;
  private lastMatched = new Set<IndexedTickFilter>();
  /** Filters checked in full for the last events (those the index picked out); for tests and metrics. */
  checked = 0;
  size = 0;

  /** Adds a live filter; returns its `keep` and the function that removes it. */
  add(filter: TickFilter, extra: (tick: PriceTick) => boolean = () => true): { keep: (tick: PriceTick) => boolean; remove: () => void } {
    const entry: IndexedTickFilter = { matches: (tick) => extra(tick) && matchesTick(filter, tick) };
    const { gpuModelIds, providerIds, regions } = filter.offers;
    const buckets: Set<IndexedTickFilter>[] = gpuModelIds?.length ? gpuModelIds.map((id) => bucket(this.byModel, id))
      : providerIds?.length ? providerIds.map((id) => bucket(this.byProvider, id))
      : regions?.length ? regions.map((r) => bucket(this.byRegion, r))
      : [this.any];
    for (const b of buckets) b.add(entry);
    this.size++;
    this.lastTick = null;
    let removed = false;
    return {
      keep: (tick) => this.matching(tick).has(entry),
      remove: () => {
        if (removed) return;
        removed = true;
        this.size--;
        this.lastTick = null;
        for (const b of buckets) b.delete(entry);
        prune(this.byModel); prune(this.byProvider); prune(this.byRegion);
      },
    };
  }

  /** The filters that want this tick (computed once per event object). */
  matching(tick: PriceTick): Set<IndexedTickFilter> {
    if (tick === this.lastTick) return this.lastMatched;
    const matched = new Set<IndexedTickFilter>();
    const candidates = [this.any, tick.gpuModelId == null ? undefined : this.byModel.get(tick.gpuModelId), this.byProvider.get(tick.providerId), this.byRegion.get(tick.region)];
    for (const set of candidates) {
      if (!set) continue;
      for (const entry of set) {
        this.checked++;
        let wanted = false;
        try { wanted = entry.matches(tick); } catch { /* a filter that cannot read the event does not want it */ }
        if (wanted) matched.add(entry);
      }
    }
    this.lastTick = tick;
    this.lastMatched = matched;
    return matched;
  }
}

function bucket<K>(map: Map<K, Set<IndexedTickFilter>>, key: K): Set<IndexedTickFilter> {
  let set = map.get(key);
  if (!set) map.set(key, (set = new Set()));
  return set;
}

function prune<K>(map: Map<K, Set<IndexedTickFilter>>) {
  for (const [key, set] of map) if (!set.size) map.delete(key);
}

export function createEventService({ prisma, events }: { prisma: PrismaClient; events: EventLog }) {
  const ticks = new TickIndex();

  /** Resolves the names (unknown ones are BAD_USER_INPUT, as in `offers`). */
  async function tickFilter(input: TickFilterInput | null | undefined): Promise<TickFilter> {
    const f = input ?? {};
    return { offers: await resolveOfferFilter(prisma, offerFilterInput(f)), minChangePercent: f.minChangePercent ?? null };
  }

  async function stream<S extends EventStreamName>(name: S, after: string | null | undefined, keep: (event: EventStreams[S]) => boolean, onEnd?: () => void) {
    const from = after == null ? null : parseEventCursor(after, name);
    return withCursors(name, await events.subscribe(name, { after: from, keep }), onEnd);
  }

  /** Live market subscriptions go through the index; a resumed one replays its own past first, so it keeps its own predicate. */
  async function marketStream(filter: TickFilter, after: string | null | undefined, extra: (tick: PriceTick) => boolean) {
    if (after != null) return stream("market", after, (tick) => extra(tick) && matchesTick(filter, tick));
    const entry = ticks.add(filter, extra);
    try {
      return await stream("market", null, entry.keep, entry.remove);
    } catch (err) {
      entry.remove();
      throw err;
    }
  }

  return {
    /** Every committed price or availability change matching the filter (public); after `after` when given. */
    async priceTicks(filter: TickFilterInput | null | undefined, _actor: Actor, after?: string | null): Promise<AsyncIterableIterator<WithCursor<PriceTick>>> {
      return marketStream(await tickFilter(filter), after, () => true);
    },
    /** Availability changes (and offers appearing or withdrawn) matching the filter (public); after `after` when given. */
    async availabilityChanges(filter: TickFilterInput | null | undefined, _actor: Actor, after?: string | null): Promise<AsyncIterableIterator<WithCursor<PriceTick>>> {
      return marketStream(await tickFilter(filter), after, changesAvailability);
    },
    /** The caller's own notifications as they are created; after `after` when given. */
    async notifications(actor: Actor, after?: string | null): Promise<AsyncIterableIterator<WithCursor<NotificationEvent>>> {
      const userId = requireScope(actor, "alerts:write").id;
      return stream("notification", after, (n) => n.userId === userId);
    },
    /** The index of live tick filters (for tests and diagnostics). */
    tickIndex: ticks,
  };
}
