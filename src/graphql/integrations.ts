// Provider integrations in the API: a user's own provider accounts, with one-line resolvers into the
// integrations service (src/services/integrations.ts), which checks the caller, validates, seals and audits.
import { builder } from "./builder.ts";
import { ACCOUNT_OFFERS_TTL_MS, integrationKeyRule, integrationLabelRule, MAX_LABEL, type AccountOffer, type AccountOffers, type AccountRead, type AccountReadCode } from "../services/integrations.ts";
import { AvailabilityEnum } from "./enums.ts";
import { GpuOfferRef, OfferFilterInput } from "./offer.ts";
import { ProviderRef } from "./provider.ts";
import { GpuModelRef } from "./gpu-model.ts";
import { PAGE_SIZE } from "../services/paging.ts";
import { required } from "../infra/loaders.ts";

const AccountReadCodeEnum = builder.enumType("AccountReadCode", {
  description: "Why a connected account gave no offers in myAccountOffers.",
  values: {
    INTEGRATION_UNAUTHORIZED: { description: "The provider refused the saved key (revoked, expired or wrong): save a new one." },
    PROVIDER_RATE_LIMITED: { description: "The provider answered 429 (too many requests) to this account." },
    PROVIDER_UNAVAILABLE: { description: "The provider did not answer, failed (5xx), timed out, or answered something that is not its API." },
    RATE_LIMITED: { description: "GPUBroker's own limit of reads per account and provider; see retryAfterSeconds." },
    INTEGRATION_KEY_UNREADABLE: { description: "The saved key can no longer be decrypted (the server's keys changed): save it again." },
    SECRETS_UNAVAILABLE: { description: "The key store (Vault) cannot decrypt keys right now." },
    PROVIDER_NOT_SUPPORTED: { description: "This server cannot read this provider's catalog with an account's key." },
  } satisfies Record<AccountReadCode, { description: string }>,
});

const OfferSourceEnum = builder.enumType("OfferSource", {
  description: "Where an offer in a result comes from.",
  values: { MY_ACCOUNT: { description: "Read from the provider with your own connected account's key, just now (or from the short cache)." } } as const,
});

const AccountReadRef = builder.objectRef<AccountRead>("AccountRead").implement({
  description: "How reading one of your connected accounts went.",
  fields: (t) => ({
    integrationId: t.exposeID("integrationId", { description: "The integration (see providerIntegrations)." }),
    provider: t.field({ type: ProviderRef, description: "The provider.", resolve: (r, _a, ctx) => required(ctx.loaders.provider.get(r.providerId)) }),
    ok: t.exposeBoolean("ok", { description: "The provider answered with the account's catalog." }),
    code: t.field({ type: AccountReadCodeEnum, nullable: true, description: "Why not; null when ok.", resolve: (r) => r.code }),
    message: t.exposeString("message", { nullable: true, description: "What went wrong, in the provider's words where it gave any (never the key); null when ok." }),
    status: t.exposeInt("status", { nullable: true, description: "The provider's HTTP status, when it answered with an error." }),
    fetchedAt: t.expose("fetchedAt", { type: "DateTime", description: "When the answer was read from the provider." }),
    cached: t.exposeBoolean("cached", { description: `Served from this server's short cache (${ACCOUNT_OFFERS_TTL_MS / 1000} s per account and key) instead of asking the provider again.` }),
    listed: t.exposeInt("listed", { description: "Offers the provider listed for the account, before the filter." }),
    retryAfterSeconds: t.exposeInt("retryAfterSeconds", { nullable: true, description: "With RATE_LIMITED: seconds until this account may be read again." }),
  }),
});

const AccountOfferRef = builder.objectRef<AccountOffer>("AccountOffer").implement({
  description: "An offer as your connected account sees it: the same facts and money as a GpuOffer (normalised the same way), marked `source: MY_ACCOUNT`, with the public catalog's listing of the same offer when there is one.",
  fields: (t) => ({
    source: t.field({ type: OfferSourceEnum, description: "Always MY_ACCOUNT: read with your key.", resolve: () => "MY_ACCOUNT" as const }),
    catalogOffer: t.field({
      type: GpuOfferRef, nullable: true,
      description: "The public catalog's GpuOffer with the same provider and externalId (compare prices and availability); null when only your account lists it.",
      resolve: (o, _a, ctx) => (o.catalogOfferId == null ? null : ctx.loaders.offer.get(o.catalogOfferId)),
    }),
    provider: t.field({ type: ProviderRef, description: "The provider.", resolve: (o, _a, ctx) => required(ctx.loaders.provider.get(o.providerId)) }),
    externalId: t.exposeString("externalId", { description: "The provider's identifier for the offer (as GpuOffer.externalId)." }),
    instanceType: t.exposeString("instanceType", { description: "The provider's instance type or SKU." }),
    gpuName: t.exposeString("gpuName", { description: "The GPU name as the provider spells it." }),
    gpuModel: t.field({ type: GpuModelRef, nullable: true, description: "The canonical GPU model; null when not identified.", resolve: (o, _a, ctx) => (o.gpuModelId == null ? null : ctx.loaders.gpuModel.get(o.gpuModelId)) }),
    gpuCount: t.exposeInt("gpuCount", { description: "GPUs in the instance." }),
    vramPerGpuGb: t.float({ description: "Memory per GPU in GB.", resolve: (o) => Number(o.vramPerGpuGb) }),
    vcpus: t.exposeInt("vcpus", { nullable: true, description: "Virtual CPUs." }),
    ramGb: t.float({ nullable: true, description: "System memory in GB.", resolve: (o) => o.ramGb }),
    region: t.exposeString("region", { description: "The provider's region name." }),
    country: t.exposeString("country", { nullable: true, description: "ISO 3166-1 alpha-2 country of the region, when known." }),
    onDemandPrice: t.field({ type: "Money", description: "On-demand price per hour for the whole instance, as your account sees it.", resolve: (o) => o.onDemandPrice }),
    spotPrice: t.field({ type: "Money", nullable: true, description: "Spot price per hour for the whole instance; null when not offered.", resolve: (o) => o.spotPrice }),
    pricePerGpuHour: t.field({ type: "Money", description: "On-demand price per GPU-hour.", resolve: (o) => o.pricePerGpuHour }),
    spotPricePerGpuHour: t.field({ type: "Money", nullable: true, description: "Spot price per GPU-hour; null when not offered.", resolve: (o) => o.spotPricePerGpuHour }),
    currency: t.exposeString("currency", { description: "ISO 4217 currency of the prices." }),
    availability: t.field({ type: AvailabilityEnum, description: "Can your account rent it now?", resolve: (o) => o.availability as "AVAILABLE" }),
  }),
});

const AccountOffersRef = builder.objectRef<AccountOffers>("MyAccountOffers").implement({
  description: "Offers as your connected accounts see them, and how reading each account went.",
  fields: (t) => ({
    offers: t.field({ type: [AccountOfferRef], description: "Matching offers from every account that answered, cheapest per GPU-hour first (then provider, externalId).", resolve: (r) => r.offers }),
    totalCount: t.exposeInt("totalCount", { description: "All matching offers (beyond `first`)." }),
    accounts: t.field({ type: [AccountReadRef], description: "One entry per connected account the filter's providers include: ok, or a code saying why it gave nothing. A broken key is reported here, not as an error.", resolve: (r) => r.accounts }),
  }),
});

const IntegrationTestRef = builder.objectRef<{ at: Date; ok: boolean; status: number | null; latencyMs: number | null; error: string | null }>("ProviderIntegrationTest").implement({
  description: "What the provider answered the last time the key was tested (testProviderIntegration).",
  fields: (t) => ({
    at: t.expose("at", { type: "DateTime", description: "When the test ran." }),
    ok: t.exposeBoolean("ok", { description: "The provider accepted the key." }),
    status: t.exposeInt("status", { nullable: true, description: "The HTTP status the provider answered; null when it did not answer (down, timeout)." }),
    latencyMs: t.exposeInt("latencyMs", { nullable: true, description: "How long the provider took to answer, in milliseconds." }),
    error: t.exposeString("error", { nullable: true, description: "Why the key was refused or could not be checked, in the provider's words where it gave any; null when ok." }),
  }),
});

// Not a Relay node on purpose: `node(id:)` would bypass the owner check.
export const ProviderIntegrationRef = builder.prismaObject("ProviderIntegration", {
  description: "Your own account at a provider, connected with its API key. The key is encrypted at rest and never returned, to you or to an admin: only `keyHint`.",
  fields: (t) => ({
    id: t.exposeID("id", { description: "Integration number (for testProviderIntegration and deleteProviderIntegration)." }),
    provider: t.relation("provider", { description: "The provider the account is at." }),
    label: t.exposeString("label", { nullable: true, description: "Your label for the account." }),
    keyHint: t.exposeString("keyHint", { description: "At most the last 4 characters of the key, behind a fixed mask, e.g. \"****9f3a\"." }),
    lastTest: t.field({
      type: IntegrationTestRef,
      nullable: true,
      description: "The last test of the key; null until it is tested (saving a new key clears it).",
      resolve: (i) => (i.lastTestedAt && i.lastTestOk !== null
        ? { at: i.lastTestedAt, ok: i.lastTestOk, status: i.lastTestStatus, latencyMs: i.lastTestLatencyMs, error: i.lastTestError }
        : null),
    }),
    createdAt: t.expose("createdAt", { type: "DateTime", description: "When it was first saved." }),
    updatedAt: t.expose("updatedAt", { type: "DateTime", description: "When it last changed (key saved again, tested)." }),
  }),
});

builder.queryFields((t) => ({
  providerIntegrations: t.prismaField({
    type: [ProviderIntegrationRef],
    description: "Your provider integrations, oldest first (a signed-in user, or an API key with INTEGRATIONS_READ).",
    resolve: (_query, _root, _args, ctx) => ctx.services.integrations.providerIntegrations({}, ctx.actor),
  }),
  myAccountOffers: t.field({
    type: AccountOffersRef,
    description: `Offers as your own provider accounts see them (saveProviderIntegration): each connected provider is asked with your key, answers are reused for ${ACCOUNT_OFFERS_TTL_MS / 1000} s, and reads are limited per account and provider. The same filter as \`offers\` applies (providers narrow which accounts are read). One account failing does not fail the query: see \`accounts\`. Needs a signed-in user or an API key with INTEGRATIONS_READ.`,
    args: {
      filter: t.arg({ type: OfferFilterInput, description: "Same filter as `offers` (includeInactive has no effect: an account lists what it can rent)." }),
      first: t.arg.int({ description: `How many offers (default ${PAGE_SIZE.default}, at most ${PAGE_SIZE.max}).` }),
    },
    resolve: (_root, args, ctx) => ctx.services.integrations.myAccountOffers(args, ctx.actor),
  }),
  integrationProviders: t.stringList({
    description: "Slugs of the providers whose accounts can be connected on this server.",
    resolve: (_root, _args, ctx) => ctx.services.integrations.providers(),
  }),
}));

builder.mutationFields((t) => ({
  saveProviderIntegration: t.prismaField({
    type: ProviderIntegrationRef,
    description: "Connects your account at a provider by saving its API key, or replaces the key saved for that provider (one integration per provider). The key is encrypted at rest, never returned and never logged; the change is audited. Needs a signed-in user or an API key with INTEGRATIONS_WRITE.",
    args: {
      provider: t.arg.string({ required: true, description: "Provider slug, e.g. \"runpod\" (see integrationProviders)." }),
      apiKey: t.arg.string({ required: true, description: "The API key of your account there (8 to 512 printable characters, no spaces).", validate: integrationKeyRule }),
      label: t.arg.string({ description: `Your label for the account (at most ${MAX_LABEL} characters).`, validate: integrationLabelRule }),
    },
    resolve: (_query, _root, args, ctx) => ctx.services.integrations.saveProviderIntegration(args, ctx.actor),
  }),
  testProviderIntegration: t.prismaField({
    type: ProviderIntegrationRef,
    description: "Asks the provider's auth-checking endpoint whether the saved key works, and records the answer in `lastTest` (status, latency, the provider's error). A refused key is a result, not an error. Needs INTEGRATIONS_WRITE with an API key.",
    args: { id: t.arg.id({ required: true, description: "The integration's id." }) },
    resolve: (_query, _root, args, ctx) => ctx.services.integrations.testProviderIntegration({ id: args.id }, ctx.actor),
  }),
  deleteProviderIntegration: t.id({
    description: "Deletes the integration and its key; returns its id. Audited. Needs INTEGRATIONS_WRITE with an API key.",
    args: { id: t.arg.id({ required: true, description: "The integration's id." }) },
    resolve: (_root, args, ctx) => ctx.services.integrations.deleteProviderIntegration({ id: args.id }, ctx.actor),
  }),
}));
