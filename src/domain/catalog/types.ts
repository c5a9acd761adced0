// The one shape every catalog source (CSV importer, snapshot, provider adapters) produces.
// Prices are decimal strings (e.g. "1.3900") so money never passes through a float.

export type Availability = "AVAILABLE" | "LIMITED" | "UNAVAILABLE" | "UNKNOWN";
export type Interconnect = "PCIE" | "SXM" | "NVLINK";
export type Deployment = "VM" | "CONTAINER" | "BARE_METAL";

export interface CatalogOffer {
  /** Unique within the provider; stable across polls (e.g. `${instanceType}|${region}|${zone}`). */
  externalId: string;
  instanceType: string;
  /** The provider's own GPU spelling; normalised to a canonical model by the importer. */
  gpuName: string;
  /** Canonical GpuModel name when the source already normalised `gpuName`; null = not a known model. */
  gpuModel?: string | null;
  gpuCount: number;
  /** VRAM per GPU in GB, when the source states it; otherwise taken from the GPU spec table. */
  vramPerGpuGb?: number | null;
  vcpus?: number | null;
  ramGb?: number | null;
  storageGb?: number | null;
  region: string;
  zone?: string | null;
  /** ISO 3166-1 alpha-2, upper case, when known. */
  country?: string | null;
  /** On-demand price per hour for the whole instance, decimal string. */
  onDemandPrice: string;
  /** Spot / interruptible / bid price per hour for the whole instance, decimal string. */
  spotPrice?: string | null;
  currency?: string;
  availability?: Availability;
  interconnect?: Interconnect | null;
  networkGbps?: number | null;
  deployment?: Deployment | null;
}

/** One offer that a catalog run added, repriced, brought back or withdrew: what ticks and alerts are made of. */
export interface OfferChange {
  offerId: number;
  providerId: number;
  kind: "new" | "changed" | "reactivated" | "deactivated";
  gpuModelId: number | null;
  region: string;
  gpuCount: number;
  pricePerGpuHour: string;
  oldOnDemandPrice: string | null;
  newOnDemandPrice: string | null;
  oldSpotPrice: string | null;
  newSpotPrice: string | null;
  oldAvailability: string | null;
  /** null when the offer was withdrawn (deactivated). */
  newAvailability: string | null;
}

/** True when the change belongs on `offerAvailabilityChanged`: the state moved, or the offer appeared, left or came back. */
export const changesAvailability = (change: Pick<OfferChange, "kind" | "oldAvailability" | "newAvailability">): boolean =>
  change.kind !== "changed" || change.oldAvailability !== change.newAvailability;

/** An offer as GPUBroker stores it, before its GPU model has an id: what applyCatalog writes and what a user's own account sees. */
export interface NormalizedOffer {
  externalId: string;
  instanceType: string;
  /** Canonical GPU model name; null when the GPU is not a known model. */
  gpuModel: string | null;
  gpuName: string;
  gpuCount: number;
  vramPerGpuGb: string;
  vramTotalGb: string;
  vcpus: number | null;
  ramGb: number | null;
  storageGb: number | null;
  region: string;
  zone: string | null;
  country: string | null;
  onDemandPrice: string;
  spotPrice: string | null;
  pricePerGpuHour: string;
  spotPricePerGpuHour: string | null;
  currency: string;
  availability: string;
  interconnect: string | null;
  networkGbps: number | null;
  deployment: string | null;
}
