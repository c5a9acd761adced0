// Live market events: price ticks, availability changes and the caller's own notifications, as
// async iterators over the pub/sub; the GraphQL subscriptions (and any other listener) read these.
import type { Logger } from "pino";
import { Prisma, type PrismaClient } from "../generated/prisma/client.ts";
import { normalizeGpuName } from "../domain/gpu/normalize.ts";
import { badInput } from "../errors.ts";
import { resolveNames } from "../infra/names.ts";
import type { NotificationEvent, PriceTick, PubSub } from "../infra/pubsub-types.ts";
import { requireScope, type Actor } from "./actor.ts";

export interface TickFilterInput {
  gpuModels?: string[] | null; providers?: string[] | null; regions?: string[] | null;
  maxPricePerHour?: string | null; maxPricePerGpuHour?: string | null; minChangePercent?: number | null; availability?: string[] | null;
}

const set = <T>(values: readonly T[] | null | undefined) => (values?.length ? new Set(values) : null);

export function createEventService({ prisma, pubsub }: { prisma: PrismaClient; pubsub: PubSub; log: Logger }) {
  /** Checks the names (unknown ones are BAD_USER_INPUT, as in `offers`) and returns the predicate. */
  async function tickMatcher(input: TickFilterInput | null | undefined): Promise<(tick: PriceTick) => boolean> {
    const f = input ?? {};
    let models: Set<string> | null = null;
    if (f.gpuModels?.length) {
      const wanted = f.gpuModels.map((raw) => {
        const match = normalizeGpuName(raw);
        return { raw, name: match.known ? match.name : raw.trim() };
      });
      const { unknown } = await resolveNames(prisma, "models", [...new Set(wanted.map((w) => w.name))]);
      const bad = wanted.filter((w) => unknown.includes(w.name)).map((w) => w.raw);
      if (bad.length) throw badInput(`Unknown GPU model${bad.length > 1 ? "s" : ""}: ${bad.map((u) => `"${u}"`).join(", ")}. The gpuModels query lists every known model.`, { field: "filter.gpuModels", unknown: bad });
      models = new Set(wanted.map((w) => w.name));
    }
    const providers = set(f.providers?.map((s) => s.trim().toLowerCase()));
    if (providers) {
      const { unknown } = await resolveNames(prisma, "providers", [...providers]);
      if (unknown.length) throw badInput(`Unknown provider slug${unknown.length > 1 ? "s" : ""}: ${unknown.map((u) => `"${u}"`).join(", ")}. The providers query lists every slug.`, { field: "filter.providers", unknown });
    }
    const regions = set(f.regions?.map((r) => r.trim()));
    const availability = set(f.availability);
    const maxPrice = f.maxPricePerHour == null ? null : new Prisma.Decimal(f.maxPricePerHour);
    const maxPerGpu = f.maxPricePerGpuHour == null ? null : new Prisma.Decimal(f.maxPricePerGpuHour);
    const minChange = f.minChangePercent ?? null;
    return (tick) => {
      const price = tick.newOnDemandPrice ?? tick.oldOnDemandPrice;
      return (!models || (tick.gpuModel != null && models.has(tick.gpuModel)))
        && (!providers || providers.has(tick.provider))
        && (!regions || regions.has(tick.region))
        && (!availability || availability.has(tick.newAvailability ?? "UNAVAILABLE"))
        && (!maxPrice || (price != null && maxPrice.gte(price)))
        && (!maxPerGpu || maxPerGpu.gte(tick.pricePerGpuHour))
        && (minChange == null || (tick.changePercent != null && Math.abs(tick.changePercent) >= minChange));
    };
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
