// Which providers this deployment polls: an API adapter for every provider with a key (env or
// Vault), remote SkyPilot catalogs from SKYPILOT_CATALOGS, and with DEMO_MARKET the demo market
// for every stored provider that has no real adapter.
import type { PrismaClient } from "../generated/prisma/client.ts";
import type { Vault } from "../infra/vault.ts";
import type { AdapterConfig, ProviderAdapter } from "./adapter.ts";
import { createDemoAdapter } from "./adapters/demo.ts";
import { createLambdaAdapter } from "./adapters/lambda.ts";
import { createPrimeIntellectAdapter } from "./adapters/primeintellect.ts";
import { createRunpodAdapter } from "./adapters/runpod.ts";
import { createShadeformAdapter } from "./adapters/shadeform.ts";
import { createSkypilotCatalogAdapter } from "./adapters/skypilot-catalog.ts";
import { createTensorDockAdapter } from "./adapters/tensordock.ts";
import { createVastAdapter } from "./adapters/vast.ts";
import { providerInfo } from "./registry.ts";
import { providerApiKey } from "./secrets.ts";

export const API_ADAPTERS: Record<string, (config: AdapterConfig) => ProviderAdapter> = {
  runpod: createRunpodAdapter,
  vast: createVastAdapter,
  lambda: createLambdaAdapter,
  shadeform: createShadeformAdapter,
  tensordock: createTensorDockAdapter,
  primeintellect: createPrimeIntellectAdapter,
};

export interface AdapterSources {
  env: Record<string, string | undefined>;
  vault?: Vault | null;
  prisma: PrismaClient;
  /** "aws=https://…/vms.csv,gcp=https://…" */
  skypilotCatalogs?: string | undefined;
  demoMarket?: boolean;
}

/** `${SLUG}_API_URL` overrides a provider's public base URL (tests, proxies, sandboxes). */
export const baseUrlFor = (slug: string, env: AdapterSources["env"]) =>
  env[`${slug.toUpperCase()}_API_URL`] ?? providerInfo(slug)?.apiBaseUrl ?? null;

export async function configuredAdapters(sources: AdapterSources): Promise<{ adapters: ProviderAdapter[]; demo: string[] }> {
  const adapters: ProviderAdapter[] = [];
  const demo: string[] = [];
  for (const [slug, create] of Object.entries(API_ADAPTERS)) {
    const apiKey = await providerApiKey(slug, { env: sources.env, vault: sources.vault });
    const baseUrl = baseUrlFor(slug, sources.env);
    if (apiKey && baseUrl) adapters.push(create({ baseUrl, apiKey }));
  }
  for (const entry of (sources.skypilotCatalogs ?? "").split(",").map((s) => s.trim()).filter(Boolean)) {
    const [slug, url] = entry.split("=", 2).map((s) => s.trim());
    if (!slug || !url) throw new Error(`SKYPILOT_CATALOGS entry "${entry}" is not slug=url`);
    adapters.push(createSkypilotCatalogAdapter({ slug, baseUrl: url }));
  }
  if (sources.demoMarket) {
    const real = new Set(adapters.map((a) => a.slug));
    const stored = await sources.prisma.provider.findMany({ where: { offers: { some: {} } }, select: { slug: true }, orderBy: { slug: "asc" } });
    for (const { slug } of stored) {
      if (real.has(slug)) continue;
      adapters.push(createDemoAdapter(sources.prisma, slug));
      demo.push(slug);
    }
  }
  return { adapters, demo };
}
