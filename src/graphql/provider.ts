import { builder } from "./builder.ts";
import { ComplianceTagEnum, HealthStatusEnum, ProviderKindEnum } from "./enums.ts";
import type { ComplianceAttestation } from "../domain/catalog/compliance.ts";
import { GpuOfferRef } from "./offer.ts";
import { toRowId } from "../domain/ids.ts";
import { required } from "../infra/loaders.ts";

// ---------------------------------------------------------------- Types

const ProviderHealth = builder.simpleObject("ProviderHealth", {
  description: "How our last polls of the provider's API went.",
  fields: (t) => ({
    status: t.field({ type: HealthStatusEnum, description: "UNKNOWN until the provider has been polled." }),
    lastSuccessAt: t.field({ type: "DateTime", nullable: true, description: "When a poll last succeeded." }),
    lastErrorAt: t.field({ type: "DateTime", nullable: true, description: "When a poll last failed." }),
    lastError: t.string({ nullable: true, description: "The last failure, in words." }),
    latencyMs: t.int({ nullable: true, description: "Response time of the last poll in milliseconds." }),
  }),
});

const ComplianceAttestationRef = builder.objectRef<ComplianceAttestation>("ComplianceAttestation").implement({
  description: "A compliance attestation a provider holds, with where it says so.",
  fields: (t) => ({
    tag: t.expose("tag", { type: ComplianceTagEnum, description: "What is attested." }),
    source: t.exposeString("source", { description: "The provider's own page (report, certificate or programme page) that states it." }),
    checked: t.exposeString("checked", { description: "When GPUBroker last checked that page (YYYY-MM-DD)." }),
  }),
});

export const ProviderRef = builder.prismaNode("Provider", {
  id: { field: "id" },
  // A malformed or out-of-range id names no row (0 never does): `node` answers null, as for a missing one.
  findUnique: (id) => ({ id: toRowId(id) ?? 0 }),
  nullable: true,
  description: "A GPU cloud whose offers we list: a marketplace, a neocloud or a hyperscaler.",
  fields: (t) => ({
    slug: t.exposeString("slug", { description: "Stable short name used in filters, e.g. \"runpod\", \"lambda\"." }),
    name: t.exposeString("name", { description: "Display name." }),
    kind: t.expose("kind", { type: ProviderKindEnum, description: "Marketplace, neocloud or hyperscaler." }),
    apiBaseUrl: t.exposeString("apiBaseUrl", { nullable: true, description: "Base URL of the public API we read offers from." }),
    enabled: t.exposeBoolean("enabled", { description: "Whether the provider is polled and its offers listed." }),
    complianceTags: t.exposeStringList("complianceTags", { description: "Compliance attestations the provider holds, as ComplianceTag names, e.g. \"SOC2\", \"ISO27001\" (see `compliance` for each one's source)." }),
    compliance: t.field({
      type: [ComplianceAttestationRef],
      description: "Each compliance attestation with the provider's page that states it and when GPUBroker last checked that page. The offer filter's complianceTags match these.",
      resolve: (p, _args, ctx) => ctx.services.catalog.compliance(p, ctx.actor),
    }),
    reliabilityScore: t.float({
      nullable: true, description: "0–1 reliability estimate; null when unknown.",
      resolve: (p) => p.reliabilityScore?.toNumber() ?? null,
    }),
    health: t.field({
      type: ProviderHealth,
      description: "Health of the provider's API as seen by ingestion.",
      resolve: (p) => ({ status: p.healthStatus, lastSuccessAt: p.lastSuccessAt, lastErrorAt: p.lastErrorAt, lastError: p.lastError, latencyMs: p.latencyMs }),
    }),
    regions: t.stringList({
      description: "Regions where the provider has active offers, sorted.",
      resolve: (p, _args, ctx) => ctx.loaders.providerRegions.load(p.id),
    }),
    offerCount: t.relationCount("offers", { where: { active: true }, description: "Number of active offers." }),
    offers: t.relatedConnection("offers", {
      type: GpuOfferRef,
      cursor: "id",
      totalCount: true,
      description: "The provider's active offers, cheapest per GPU-hour first. For filters and other orders use `offers(filter: { providers: [slug] })`.",
      query: () => ({ where: { active: true }, orderBy: [{ pricePerGpuHour: "asc" }, { id: "asc" }] }),
    }, {
      name: "ProviderOfferConnection",
      description: "A page of one provider's offers.",
      fields: (c) => ({
        // same field the prisma plugin adds for `totalCount: true`, plus a description
        totalCount: c.int({
          description: "All active offers of the provider.",
          extensions: { pothosPrismaTotalCount: true },
          resolve: (conn) => (conn as unknown as { totalCount: number }).totalCount,
        }),
      }),
    }, { name: "ProviderOfferEdge", description: "An offer and its cursor." }),
  }),
});

builder.objectField(GpuOfferRef, "provider", (t) =>
  t.field({
    type: ProviderRef,
    description: "Who sells it.",
    resolve: (offer, _args, ctx) => required(ctx.loaders.provider.get(offer.providerId)),
  }));

// ---------------------------------------------------------------- Queries

builder.queryFields((t) => ({
  providers: t.field({
    type: [ProviderRef],
    description: "Every provider we list, by slug.",
    resolve: (_root, _args, ctx) => ctx.services.catalog.providers(ctx.actor),
  }),
  provider: t.field({
    type: ProviderRef,
    description: "One provider by slug, with its health and offers. Unknown slugs are a NOT_FOUND error.",
    args: { slug: t.arg.string({ required: true, description: "e.g. \"runpod\"." }) },
    resolve: (_root, args, ctx) => ctx.services.catalog.provider(args, ctx.actor),
  }),
}));
