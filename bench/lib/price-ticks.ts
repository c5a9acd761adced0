// Realistic PriceTick payloads for the benchmarks that move ticks (bench/fanout.ts, bench/outbox.ts): a repricing of offer 1 000 000 + seq, with the GPU count,
// prices, spot price and availability varying with seq. About 420 B of JSON each.
import { changePercent } from "../../src/domain/money.ts";
import type { PriceTick } from "../../src/infra/pubsub-types.ts";

/** Whole cents → a Decimal(12,4) string, as the database hands prices to recordChanges. */
const dollars = (cents: number) => `${Math.floor(cents / 100)}.${String(cents % 100).padStart(2, "0")}00`;

/** A realistic repricing tick; `seq` varies the offer, prices and GPU count. `at` is an ISO time. */
export function priceTick(seq: number, at: string): PriceTick {
  const gpuCount = [1, 2, 4, 8][seq % 4]!;
  const perGpu = 150 + (seq % 200);
  const before = perGpu + 5 + (seq % 7);
  const spot = seq % 3 === 0 ? null : Math.round(perGpu * 0.6);
  const oldOnDemandPrice = dollars(before * gpuCount);
  const newOnDemandPrice = dollars(perGpu * gpuCount);
  return {
    offerId: 1_000_000 + seq, provider: "runpod", providerId: 1, gpuModel: "H100-SXM-80GB", gpuModelId: 1, region: "US-TX-3", gpuCount, kind: "changed",
    oldOnDemandPrice, newOnDemandPrice,
    oldSpotPrice: spot === null ? null : dollars((spot + 3) * gpuCount), newSpotPrice: spot === null ? null : dollars(spot * gpuCount),
    oldAvailability: "AVAILABLE", newAvailability: seq % 5 === 0 ? "LIMITED" : "AVAILABLE",
    pricePerGpuHour: dollars(perGpu), changePercent: changePercent(oldOnDemandPrice, newOnDemandPrice), at,
  };
}

/** `count` distinct ticks (seq 0 … count − 1) sharing one `at`, to cycle through without generating in the measured loop. */
export function tickPool(count: number, at = new Date().toISOString()): PriceTick[] {
  return Array.from({ length: count }, (_, i) => priceTick(i, at));
}
