// Known providers: what we create a Provider row from the first time one of them is imported.
// Compliance tags are data: data/provider-compliance.json (src/infra/compliance.ts), each with its source.

export type ProviderKind = "MARKETPLACE" | "NEOCLOUD" | "HYPERSCALER";

export interface ProviderInfo {
  slug: string;
  name: string;
  kind: ProviderKind;
  /** Public API (or public price-list) base URL; adapters let it be overridden by configuration. */
  apiBaseUrl: string;
}

export const PROVIDERS: readonly ProviderInfo[] = [
  { slug: "runpod", name: "RunPod", kind: "MARKETPLACE", apiBaseUrl: "https://api.runpod.io/graphql" },
  { slug: "vast", name: "Vast.ai", kind: "MARKETPLACE", apiBaseUrl: "https://console.vast.ai/api/v0" },
  { slug: "tensordock", name: "TensorDock", kind: "MARKETPLACE", apiBaseUrl: "https://dashboard.tensordock.com/api/v2" },
  { slug: "lambda", name: "Lambda", kind: "NEOCLOUD", apiBaseUrl: "https://cloud.lambda.ai/api/v1" },
  { slug: "shadeform", name: "Shadeform", kind: "NEOCLOUD", apiBaseUrl: "https://api.shadeform.ai/v1" },
  { slug: "primeintellect", name: "Prime Intellect", kind: "NEOCLOUD", apiBaseUrl: "https://api.primeintellect.ai/api/v1" },
  { slug: "hyperstack", name: "Hyperstack", kind: "NEOCLOUD", apiBaseUrl: "https://infrahub-api.nexgencloud.com/v1" },
  { slug: "aws", name: "Amazon Web Services", kind: "HYPERSCALER", apiBaseUrl: "https://pricing.us-east-1.amazonaws.com" },
  { slug: "gcp", name: "Google Cloud", kind: "HYPERSCALER", apiBaseUrl: "https://cloudbilling.googleapis.com/v1" },
  { slug: "azure", name: "Microsoft Azure", kind: "HYPERSCALER", apiBaseUrl: "https://prices.azure.com/api/retail/prices" },
];

const BY_SLUG = new Map(PROVIDERS.map((p) => [p.slug, p]));

export function providerInfo(slug: string): ProviderInfo | undefined {
  return BY_SLUG.get(slug);
}
