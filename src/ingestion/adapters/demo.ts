// Demo market (opt-in, DEMO_MARKET=true): a "provider API" that answers with a provider's stored
// offers after a random walk of their prices, so the whole pipeline (catalog sync, price points,
// alerts, ticks) runs with no provider reachable. Prices drift in small steps and are pulled back
// towards the first price ever recorded, so a long demo stays near real published prices.
// Its adapters say `simulated: true`: the scheduler logs their polls at debug level (they move
// prices on every poll by design), leaving them to the periodic summary.
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

/** A demo market adapter: its answers are simulated, so its changes are not news (logged at debug). */
export interface DemoAdapter extends ProviderAdapter {
  readonly simulated: true;
}

const STATES: Availability[] = ["AVAILABLE", "LIMITED", "UNAVAILABLE"];
const D = Prisma.Decimal;

export function createDemoAdapter(prisma: PrismaClient, slug: string, opts: DemoMarketOptions = {}): DemoAdapter {
  const { moveProbability = 0.05, maxStep = 0.08, availabilityProbability = 0.02, random = Math.random } = opts;
  // Each offer's first recorded price, read once per offer (one index probe each): the history grows with
  // every poll, and reading all of it on each poll (as a nested `take: 1` include does) ends up saturating
  // the process in embedded mode, requests and signals included.
  const anchors = new Map<number, Prisma.Decimal>();
  async function loadAnchors(ids: number[]) {
    const missing = ids.filter((id) => !anchors.has(id));
    if (!missing.length) return;
    const rows = await prisma.$queryRaw<{ offerId: number; price: Prisma.Decimal }[]>`
      SELECT o.id AS "offerId", p."onDemandPrice" AS price FROM unnest(${missing}::int[]) AS o(id)
      CROSS JOIN LATERAL (SELECT "onDemandPrice" FROM "PricePoint" WHERE "offerId" = o.id ORDER BY "recordedAt", id LIMIT 1) p`;
    for (const r of rows) anchors.set(r.offerId, new D(r.price));
  }
  return {
    slug,
    simulated: true,
    async fetchOffers(): Promise<FetchReport> {
      const stored = await prisma.gpuOffer.findMany({
        where: { provider: { slug }, active: true },
        orderBy: { id: "asc" },
        include: { gpuModel: { select: { name: true } } },
      });
      await loadAnchors(stored.map((o) => o.id));
      const offers = stored.map((o): CatalogOffer => {
        let price = new D(o.onDemandPrice);
        let spot = o.spotPrice ? new D(o.spotPrice) : null;
        if (random() < moveProbability) {
          // an offer without a price point yet is anchored at its current price
          const anchor = anchors.get(o.id) ?? o.onDemandPrice;
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
