// Recorded prices over time, in hour / day / week buckets: for one offer (its on-demand price) or
// for a GPU model (price per GPU-hour across its offers). Public: every actor may read it.
import type { PrismaClient } from "../generated/prisma/client.ts";
import { toRowId } from "../domain/ids.ts";
import { badInput, notFound } from "../errors.ts";
import { resolveGpuModel } from "../infra/names.ts";
import { priceHistory, type HistoryBucket, type PriceBucket } from "../infra/offers.ts";
import type { Actor } from "./actor.ts";

export type { HistoryBucket, PriceBucket } from "../infra/offers.ts";

export const BUCKET_MS: Record<HistoryBucket, number> = { HOUR: 3_600_000, DAY: 86_400_000, WEEK: 604_800_000 };
export const MAX_BUCKETS = 5_000;

export interface PriceHistoryInput {
  /** The offer's database id (the id part of its global ID); give this or gpuModel. */
  offer?: string | null;
  /** A GPU model by canonical name or any provider spelling; give this or offer. */
  gpuModel?: string | null;
  /** Start (inclusive); default 30 days before `to`. */
  from?: Date | null;
  /** End (exclusive); default now. */
  to?: Date | null;
  bucket: HistoryBucket;
}

export function createPriceHistoryService({ prisma }: { prisma: PrismaClient }) {
  return {
    /** The buckets in [from, to) that hold recorded prices (empty buckets are left out: the price held). */
    async buckets(input: PriceHistoryInput, _actor: Actor): Promise<PriceBucket[]> {
      if ((input.offer == null) === (input.gpuModel == null)) throw badInput("Give exactly one of offer or gpuModel.");
      const to = input.to ?? new Date();
      const from = input.from ?? new Date(to.getTime() - 30 * BUCKET_MS.DAY);
      if (from >= to) throw badInput("from must be before to.", { argument: "from" });
      if ((to.getTime() - from.getTime()) / BUCKET_MS[input.bucket] > MAX_BUCKETS) {
        throw badInput(`That range holds more than ${MAX_BUCKETS} ${input.bucket} buckets; use a wider bucket or a shorter range.`, { argument: "bucket" });
      }
      if (input.offer != null) {
        const offerId = toRowId(input.offer);
        const offer = offerId === null ? null : await prisma.gpuOffer.findUnique({ where: { id: offerId }, select: { id: true } });
        if (!offer) throw notFound("No offer has this ID.", { argument: "offer" });
        return priceHistory(prisma, { offerId: offer.id, from, to, bucket: input.bucket });
      }
      const model = await resolveGpuModel(prisma, input.gpuModel!);
      if (!model) throw notFound(`No GPU model matches "${input.gpuModel}".`, { argument: "gpuModel" });
      return priceHistory(prisma, { gpuModelId: model.id, from, to, bucket: input.bucket });
    },
  };
}
