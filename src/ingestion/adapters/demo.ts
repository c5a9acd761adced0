// Demo market (opt-in, DEMO_MARKET=true): a "provider API" that answers with a provider's stored
// offers after a random walk of their prices, so the whole pipeline (catalog sync, price points,
// alerts, ticks) runs with no provider reachable. Prices drift in small steps and are pulled back
// towards the first price ever recorded, so a long demo stays near real published prices.
import { Prisma, type PrismaClient } from "../../generated/prisma/client.ts";
import type { Availability, CatalogOffer } from "../../domain/catalog/types.ts";
import type { FetchReport, ProviderAdapter } from "../adapter.ts";

export interface DemoMarketOptions {
  /** Chance that one offer's price moves in one poll. Default 0.05. */
  moveProbability?: number;
  /** Largest single move, as a fraction. Default 0.08. */
  maxStep?: number;
  /** Chance that one offer's availability changes in one poll. Default 0.02. */
  availabilityProbability?: number;
  /** Deterministic runs (tests, benchmarks). */
  random?: () => number;
}

/** mulberry32: a small seeded PRNG, good enough for simulated markets. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const STATES: Availability[] = ["AVAILABLE", "LIMITED", "UNAVAILABLE"];
const D = Prisma.Decimal;

export function createDemoAdapter(prisma: PrismaClient, slug: string, opts: DemoMarketOptions = {}): ProviderAdapter {
  const { moveProbability = 0.05, maxStep = 0.08, availabilityProbability = 0.02, random = Math.random } = opts;
  return {
    slug,
    async fetchOffers(): Promise<FetchReport> {
      const stored = await prisma.gpuOffer.findMany({
        where: { provider: { slug }, active: true },
        orderBy: { id: "asc" },
        include: { gpuModel: { select: { name: true } }, pricePoints: { orderBy: { recordedAt: "asc" }, take: 1, select: { onDemandPrice: true } } },
      });
      const offers = stored.map((o): CatalogOffer => {
        let price = new D(o.onDemandPrice);
        let spot = o.spotPrice ? new D(o.spotPrice) : null;
        if (random() < moveProbability) {
          const anchor = o.pricePoints[0]?.onDemandPrice ?? o.onDemandPrice;
          // step in [-maxStep, maxStep], biased back towards the first published price
          const pull = new D(anchor).div(price).minus(1).toNumber() * 0.25;
          const step = Math.max(-maxStep, Math.min(maxStep, (random() * 2 - 1) * maxStep + pull));
          const factor = new D(1 + step);
          price = D.max(new D("0.01"), price.mul(factor)).toDecimalPlaces(2);
          if (spot) spot = D.min(price, spot.mul(factor).toDecimalPlaces(2));
        }
        let availability = o.availability as Availability;
        if (random() < availabilityProbability) availability = STATES[Math.floor(random() * STATES.length)]!;
        return {
          externalId: o.externalId, instanceType: o.instanceType, gpuName: o.gpuName, gpuModel: o.gpuModel?.name ?? null,
          gpuCount: o.gpuCount, vramPerGpuGb: Number(o.vramPerGpuGb), vcpus: o.vcpus, ramGb: o.ramGb == null ? null : Number(o.ramGb),
          storageGb: o.storageGb == null ? null : Number(o.storageGb), region: o.region, zone: o.zone, country: o.country,
          onDemandPrice: price.toFixed(), spotPrice: spot?.toFixed() ?? null, currency: o.currency, availability,
          interconnect: o.interconnect, networkGbps: o.networkGbps == null ? null : Number(o.networkGbps), deployment: o.deployment,
        };
      });
      return { offers, skipped: 0, skipReasons: [], requests: 0 };
    },
  };
}
