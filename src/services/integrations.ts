// Provider integrations: a user connects their own provider account by saving its API key. The key is
// sealed at rest (src/infra/secret-sealer.ts) for this user and provider, never returned (only a hint of
// its last characters), never logged and never put in the audit log; every change is audited. A test
// asks the provider's auth-checking endpoint with the key and records what it answered.
// Admins have no path to a user's key either: no field, no service function returns it.
import { createHash } from "node:crypto";
import type { Logger } from "pino";
import { z } from "zod";
import type { PrismaClient, ProviderIntegration } from "../generated/prisma/client.ts";
import { isRateLimited, type RateLimiter } from "../infra/rate-limit.ts";
import type { NormalizedOffer } from "../domain/catalog/types.ts";
import { matchesOffer, type OfferFilterInput } from "../domain/offers/filter.ts";
import { Decimal } from "../domain/money.ts";
import { resolveOfferFilter } from "./offers.ts";
import { checkPageArgs, PAGE_SIZE } from "./paging.ts";
import { badInput, notFound, unavailable } from "../errors.ts";
import { appendAudit } from "../infra/audit.ts";
import { lastFour, SecretError, type SecretSealer } from "../infra/secret-sealer.ts";
import { withTxRetry } from "../infra/transactions.ts";
import { toRowId } from "../domain/ids.ts";
import { actorUserId, requireAdmin, requireScope, type Actor } from "./actor.ts";

/** One request to a provider's auth-checking endpoint with a key (src/ingestion/account-checks.ts). */
export interface AccountCheck {
  ok: boolean;
  status: number | null;
  latencyMs: number;
  error: string | null;
  account: string | null;
}
export interface AccountChecker {
  readonly providers: readonly string[];
  check(provider: string, apiKey: string, opts?: { signal?: AbortSignal }): Promise<AccountCheck>;
}

/** A provider's catalog read with a user's key (src/ingestion/account-catalog.ts): offers, or a coded failure. */
export type AccountFetchResult =
  | { ok: true; offers: NormalizedOffer[]; skipped: number; latencyMs: number }
  | { ok: false; code: "INTEGRATION_UNAUTHORIZED" | "PROVIDER_RATE_LIMITED" | "PROVIDER_UNAVAILABLE"; status: number | null; message: string; latencyMs: number };
export interface AccountCatalog {
  readonly providers: readonly string[];
  fetch(provider: string, apiKey: string, opts?: { signal?: AbortSignal }): Promise<AccountFetchResult>;
}

/** Why one connected account gave no offers: the provider's refusal, a limit, or the key store. */
export type AccountReadCode = Extract<AccountFetchResult, { ok: false }>["code"]
  | "RATE_LIMITED" | "INTEGRATION_KEY_UNREADABLE" | "SECRETS_UNAVAILABLE" | "PROVIDER_NOT_SUPPORTED";

/** How reading one connected account went. */
export interface AccountRead {
  integrationId: number;
  providerId: number;
  provider: string;
  ok: boolean;
  code: AccountReadCode | null;
  /** The provider's words (key scrubbed) or ours; null when ok. */
  message: string | null;
  /** The provider's HTTP status, when it answered. */
  status: number | null;
  /** When the answer was fetched (a cached answer keeps its time). */
  fetchedAt: Date;
  /** Served from this node's short cache (ACCOUNT_OFFERS_TTL_MS) instead of asking the provider. */
  cached: boolean;
  /** Offers the provider listed for the account, all of them, before the filter. */
  listed: number;
  /** With RATE_LIMITED: when to ask again. */
  retryAfterSeconds: number | null;
}

/** One offer as a connected account sees it: the stored shape, its ids, and the public catalog's row for the same offer, if any. */
export interface AccountOffer extends NormalizedOffer {
  providerId: number;
  gpuModelId: number | null;
  /** The GpuOffer with the same provider and externalId in the public catalog; null when only the account lists it. */
  catalogOfferId: number | null;
}

export interface AccountOffers { offers: AccountOffer[]; totalCount: number; accounts: AccountRead[] }

/** How long one account's answer is reused (per node), so paging and refreshing do not ask the provider each time. */
export const ACCOUNT_OFFERS_TTL_MS = 60_000;
const ACCOUNT_CACHE_SIZE = 1_000;
/** The longest one account's read may take before it is reported PROVIDER_UNAVAILABLE. */
const ACCOUNT_FETCH_TIMEOUT_MS = 20_000;
const UNREADABLE_KEY = "The saved key can no longer be opened (the server's keys changed). Save the key again.";

export interface IntegrationDeps {
  prisma: PrismaClient;
  log: Logger;
  /** Bounds the calls to providers made with one account's keys ("integration:user"). */
  rateLimiter?: Pick<RateLimiter, "consume"> | undefined;
  /** Seals and opens the keys; without one, saving a key is refused (SERVICE_UNAVAILABLE). */
  sealer?: SecretSealer | undefined;
  /** Asks providers about keys; without one, testProviderIntegration is refused. */
  accountChecker?: AccountChecker | undefined;
  /** Reads providers' catalogs with a user's key; without one, myAccountOffers reports every account PROVIDER_NOT_SUPPORTED. */
  accountCatalog?: AccountCatalog | undefined;
}

export const MAX_LABEL = 100;
/** Validation rules the GraphQL arguments declare too. */
export const integrationLabelRule = z.string().trim().max(MAX_LABEL, `A label has at most ${MAX_LABEL} characters.`);
export const integrationKeyRule = z.string().trim()
  .min(8, "An API key has at least 8 characters.")
  .max(512, "An API key has at most 512 characters.")
  // Printable ASCII without spaces: what every provider issues; anything else is a paste error.
  .regex(/^[\x21-\x7e]+$/, "An API key is printable ASCII without spaces or control characters.");

/** What the sealed key is bound to: a sealed value copied to another user's or provider's row does not open. */
export const integrationAad = (userId: number, providerId: number) => `ProviderIntegration|user:${userId}|provider:${providerId}`;

export function createIntegrationService({ prisma, log, sealer, accountChecker, accountCatalog, rateLimiter }: IntegrationDeps) {
  const supported = () => accountChecker?.providers ?? [];
  // Per node: one answer per integration and key, shared by concurrent requests (one provider call), dropped after the TTL.
  const accountCache = new Map<string, { at: number; read: Promise<{ read: Omit<AccountRead, "cached">; offers: NormalizedOffer[] }> }>();

  /** Reads one connected account's catalog (cached; rate-limited per account and provider); every failure is a coded result. */
  async function readAccount(userId: number, row: Pick<ProviderIntegration, "id" | "providerId" | "sealedKey">, slug: string): Promise<{ read: AccountRead; offers: NormalizedOffer[] }> {
    const base = { integrationId: row.id, providerId: row.providerId, provider: slug, status: null, listed: 0, retryAfterSeconds: null };
    const failed = (code: AccountReadCode, message: string, extra: Partial<AccountRead> = {}) =>
      ({ read: { ...base, ok: false, code, message, fetchedAt: new Date(), cached: false, ...extra }, offers: [] });
    if (!accountCatalog?.providers.includes(slug)) return failed("PROVIDER_NOT_SUPPORTED", `This server cannot read ${slug} catalogs with an account's key.`);
    const key = `${row.id}|${createHash("sha256").update(row.sealedKey).digest("base64url")}`;
    const now = Date.now();
    const hit = accountCache.get(key);
    if (hit && now - hit.at < ACCOUNT_OFFERS_TTL_MS) {
      const { read, offers } = await hit.read;
      return { read: { ...read, cached: true }, offers };
    }
    try {
      await rateLimiter?.consume("integration:fetch", `${userId}:${slug}`);
    } catch (err) {
      if (!isRateLimited(err)) throw err;
      return failed("RATE_LIMITED", err.message, { retryAfterSeconds: Number(err.extensions.retryAfterSeconds) || null });
    }
    const read = (async () => {
      let apiKey: string;
      try {
        apiKey = await needSealer().open(row.sealedKey, integrationAad(userId, row.providerId));
      } catch (err) {
        if (!(err instanceof SecretError)) throw err;
        return keyUnreadable(err, "opening a key") ? failed("INTEGRATION_KEY_UNREADABLE", UNREADABLE_KEY)
          : failed("SECRETS_UNAVAILABLE", "Provider keys cannot be decrypted right now. Try again later.");
      }
      const result = await accountCatalog.fetch(slug, apiKey, { signal: AbortSignal.timeout(ACCOUNT_FETCH_TIMEOUT_MS) })
        .catch((err: unknown): AccountFetchResult => ({ ok: false, code: "PROVIDER_UNAVAILABLE", status: null, message: `${slug} did not answer in time (${(err as Error).name}).`, latencyMs: ACCOUNT_FETCH_TIMEOUT_MS }));
      const fetchedAt = new Date();
      if (!result.ok) return { read: { ...base, ok: false, code: result.code, message: result.message, status: result.status, fetchedAt, cached: false }, offers: [] };
      return { read: { ...base, ok: true, code: null, message: null, fetchedAt, cached: false, listed: result.offers.length }, offers: result.offers };
    })();
    accountCache.set(key, { at: now, read });
    read.catch(() => accountCache.delete(key)); // an unexpected failure is not kept: the caller gets it, the next call tries again
    if (accountCache.size > ACCOUNT_CACHE_SIZE) accountCache.delete(accountCache.keys().next().value!);
    return read;
  }

  function needSealer(): SecretSealer {
    if (!sealer) throw unavailable("Saving provider keys is not configured on this server (INTEGRATION_KEYS or VAULT_ADDR).");
    return sealer;
  }

  /** Logs a SecretError (Vault paths and key ids go to the log only); is it the saved value that no longer opens, or the key store? */
  function keyUnreadable(err: SecretError, what: string): boolean {
    log.error({ code: err.code, details: err.details, msg: err.message }, `provider integration: ${what} failed`);
    return err.code === "SECRET_TAMPERED" || err.code === "SECRET_UNKNOWN_KEY_ID";
  }

  /** A SecretError as the caller sees it: a coded error without Vault paths or key ids. */
  function sealingFailed(err: unknown, what: string): never {
    if (!(err instanceof SecretError)) throw err;
    if (keyUnreadable(err, what)) throw badInput(UNREADABLE_KEY, { reason: err.code });
    throw unavailable("Provider keys cannot be encrypted or decrypted right now. Try again later.", { reason: err.code });
  }

  async function provider(slug: string) {
    const s = slug.trim().toLowerCase();
    const row = s ? await prisma.provider.findUnique({ where: { slug: s }, select: { id: true, slug: true } }) : null;
    if (!row || !supported().includes(row.slug)) {
      throw badInput(`You can connect an account at ${supported().join(", ") || "no provider on this server"}; "${slug.slice(0, 40)}" is not one of them.`, { argument: "provider" });
    }
    return row;
  }

  async function own(id: string | number, userId: number): Promise<ProviderIntegration> {
    const rowId = toRowId(id);
    const row = rowId === null ? null : await prisma.providerIntegration.findFirst({ where: { id: rowId, userId } });
    if (!row) throw notFound(`You have no provider integration with the ID "${String(id).slice(0, 40)}".`, { argument: "id" });
    return row;
  }

  return {
    /** Providers whose accounts can be connected here. */
    providers: () => [...supported()],

    async providerIntegrations(_input: Record<string, never>, actor: Actor): Promise<ProviderIntegration[]> {
      const user = requireScope(actor, "integrations:read");
      return prisma.providerIntegration.findMany({ where: { userId: user.id }, orderBy: { id: "asc" } });
    },

    /** Saves (or replaces) the caller's key for a provider. */
    async saveProviderIntegration(input: { provider: string; apiKey: string; label?: string | null }, actor: Actor): Promise<ProviderIntegration> {
      const user = requireScope(actor, "integrations:write");
      const seal = needSealer();
      const key = integrationKeyRule.safeParse(input.apiKey);
      if (!key.success) throw badInput(key.error.issues[0]!.message, { argument: "apiKey" });
      const label = integrationLabelRule.safeParse(input.label ?? "");
      if (!label.success) throw badInput(label.error.issues[0]!.message, { argument: "label" });
      const p = await provider(input.provider);
      let sealedKey: string;
      try {
        sealedKey = await seal.seal(key.data, integrationAad(user.id, p.id));
      } catch (err) {
        sealingFailed(err, "sealing a key");
      }
      const data = { label: label.data || null, sealedKey, keyHint: lastFour(key.data), lastTestedAt: null, lastTestOk: null, lastTestStatus: null, lastTestLatencyMs: null, lastTestError: null };
      return withTxRetry(prisma, async (tx) => {
        const before = await tx.providerIntegration.findUnique({ where: { userId_providerId: { userId: user.id, providerId: p.id } }, select: { id: true } });
        const row = await tx.providerIntegration.upsert({
          where: { userId_providerId: { userId: user.id, providerId: p.id } },
          create: { userId: user.id, providerId: p.id, ...data },
          update: data,
        });
        await appendAudit(tx, {
          action: before ? "integration.replace_key" : "integration.create", actorUserId: user.id, targetType: "ProviderIntegration", targetId: row.id,
          ip: actor.meta?.ip, details: { provider: p.slug, label: row.label },
        });
        return row;
      }, { what: "saving the provider integration" });
    },

    /** Asks the provider whether the saved key works, and records the answer. */
    async testProviderIntegration(input: { id: string | number }, actor: Actor): Promise<ProviderIntegration> {
      const user = requireScope(actor, "integrations:write");
      const row = await own(input.id, user.id);
      if (!accountChecker) throw unavailable("Testing provider keys is not configured on this server.");
      await rateLimiter?.consume("integration:user", String(user.id));
      const p = await prisma.provider.findUniqueOrThrow({ where: { id: row.providerId }, select: { slug: true } });
      let apiKey: string;
      try {
        apiKey = await needSealer().open(row.sealedKey, integrationAad(user.id, row.providerId));
      } catch (err) {
        sealingFailed(err, "opening a key");
      }
      const result = await accountChecker.check(p.slug, apiKey);
      return withTxRetry(prisma, async (tx) => {
        // Only if the key was not replaced meanwhile: the result describes the key it was made with.
        const updated = await tx.providerIntegration.updateMany({
          where: { id: row.id, sealedKey: row.sealedKey },
          data: { lastTestedAt: new Date(), lastTestOk: result.ok, lastTestStatus: result.status, lastTestLatencyMs: result.latencyMs, lastTestError: result.error },
        });
        if (updated.count) {
          await appendAudit(tx, {
            action: "integration.test", actorUserId: user.id, targetType: "ProviderIntegration", targetId: row.id, ip: actor.meta?.ip,
            details: { provider: p.slug, ok: result.ok, status: result.status },
          });
        }
        const now = await tx.providerIntegration.findFirst({ where: { id: row.id, userId: user.id } });
        if (!now) throw notFound(`You have no provider integration with the ID "${String(input.id).slice(0, 40)}".`, { argument: "id" });
        return now;
      }, { what: "recording the provider integration test" });
    },

    /**
     * Key rotation: every stored key re-sealed under the active master key (or the newest Vault key version);
     * values already current are left alone, one that does not open is counted and left as it is. The
     * system or an admin only; audited once with the counts.
     */
    async rewrapIntegrationKeys(_input: Record<string, never>, actor: Actor): Promise<{ rewrapped: number; current: number; failed: Array<{ id: number; code: string }> }> {
      requireAdmin(actor);
      const seal = needSealer();
      const out = { rewrapped: 0, current: 0, failed: [] as Array<{ id: number; code: string }> };
      let after = 0;
      for (;;) {
        const rows = await prisma.providerIntegration.findMany({ where: { id: { gt: after } }, orderBy: { id: "asc" }, take: 100, select: { id: true, userId: true, providerId: true, sealedKey: true } });
        if (!rows.length) break;
        after = rows.at(-1)!.id;
        for (const row of rows) {
          let next: string | null;
          try {
            next = await seal.rewrap(row.sealedKey, integrationAad(row.userId, row.providerId));
          } catch (err) {
            if (!(err instanceof SecretError)) throw err;
            if (err.code === "SECRET_BACKEND_UNAVAILABLE" || err.code === "SECRET_BACKEND_REFUSED" || err.code === "SECRET_KEY_MISSING") throw unavailable(`Rewrapping stopped: ${err.code}.`, { reason: err.code });
            out.failed.push({ id: row.id, code: err.code });
            continue;
          }
          if (next === null) { out.current++; continue; }
          // Only if the user did not save a new key meanwhile (that one is already under the active key).
          const { count } = await prisma.providerIntegration.updateMany({ where: { id: row.id, sealedKey: row.sealedKey }, data: { sealedKey: next } });
          if (count) out.rewrapped++; else out.current++;
        }
      }
      await appendAudit(prisma, { action: "integration.rewrap", actorUserId: actorUserId(actor), targetType: "ProviderIntegration", details: { ...seal.describe(), rewrapped: out.rewrapped, current: out.current, failed: out.failed.length } });
      return out;
    },

    /**
     * Offers as the caller's connected accounts see them: each account's catalog read with its own key (cached per
     * node for ACCOUNT_OFFERS_TTL_MS, at most "integration:fetch" reads per account and provider), normalised as the
     * public catalog is, filtered by the one offer filter and sorted by price per GPU-hour. An account that fails
     * (refused or revoked key, provider down or limiting, key store) is a coded entry in `accounts`, never an error.
     */
    async myAccountOffers(input: { filter?: OfferFilterInput | null; first?: number | null }, actor: Actor): Promise<AccountOffers> {
      const user = requireScope(actor, "integrations:read");
      checkPageArgs({ first: input.first });
      const first = input.first ?? PAGE_SIZE.default;
      const filter = await resolveOfferFilter(prisma, input.filter);
      const rows = await prisma.providerIntegration.findMany({
        where: { userId: user.id, ...(filter.providerIds ? { providerId: { in: filter.providerIds } } : {}) },
        select: { id: true, providerId: true, sealedKey: true, provider: { select: { slug: true } } }, orderBy: { id: "asc" },
      });
      const reads = await Promise.all(rows.map((r) => readAccount(user.id, r, r.provider.slug)));
      const names = [...new Set(reads.flatMap((r) => r.offers.map((o) => o.gpuModel)).filter((m): m is string => m != null))];
      const models = new Map((names.length ? await prisma.gpuModel.findMany({ where: { name: { in: names } }, select: { id: true, name: true, vendor: true } }) : []).map((m) => [m.name, m]));
      const matching: AccountOffer[] = [];
      for (const { read, offers } of reads) {
        for (const o of offers) {
          const model = o.gpuModel ? models.get(o.gpuModel) : undefined;
          const offer: AccountOffer = { ...o, providerId: read.providerId, gpuModelId: model?.id ?? null, catalogOfferId: null };
          if (matchesOffer(filter, { ...offer, active: true, gpuVendor: model?.vendor ?? null })) matching.push(offer);
        }
      }
      const bySlug = new Map(reads.map((r) => [r.read.providerId, r.read.provider]));
      matching.sort((a, b) => new Decimal(a.pricePerGpuHour).comparedTo(b.pricePerGpuHour)
        || bySlug.get(a.providerId)!.localeCompare(bySlug.get(b.providerId)!) || a.externalId.localeCompare(b.externalId));
      const page = matching.slice(0, first);
      if (page.length) {
        const listed = await prisma.gpuOffer.findMany({ where: { OR: page.map((o) => ({ providerId: o.providerId, externalId: o.externalId })) }, select: { id: true, providerId: true, externalId: true } });
        const ids = new Map(listed.map((l) => [`${l.providerId}|${l.externalId}`, l.id]));
        for (const o of page) o.catalogOfferId = ids.get(`${o.providerId}|${o.externalId}`) ?? null;
      }
      return { offers: page, totalCount: matching.length, accounts: reads.map((r) => r.read) };
    },

    async deleteProviderIntegration(input: { id: string | number }, actor: Actor): Promise<string> {
      const user = requireScope(actor, "integrations:write");
      const row = await own(input.id, user.id);
      await withTxRetry(prisma, async (tx) => {
        const { count } = await tx.providerIntegration.deleteMany({ where: { id: row.id, userId: user.id } });
        if (!count) throw notFound(`You have no provider integration with the ID "${String(input.id).slice(0, 40)}".`, { argument: "id" });
        const p = await tx.provider.findUnique({ where: { id: row.providerId }, select: { slug: true } });
        await appendAudit(tx, { action: "integration.delete", actorUserId: user.id, targetType: "ProviderIntegration", targetId: row.id, ip: actor.meta?.ip, details: { provider: p?.slug ?? null } });
      }, { what: "deleting the provider integration" });
      return String(row.id);
    },
  };
}
