// Administration and ingestion control: provider listing, roles, the audit chain and on-demand
// provider refreshes. Admins (access token) and the system may call these; every change is audited
// in the transaction that makes it.
import type { Provider, PrismaClient, User } from "../generated/prisma/client.ts";
import { notFound, unavailable } from "../errors.ts";
import { appendAudit, verifyAuditLog, type AuditVerification } from "../infra/audit.ts";
import { actorUserId, requireAdmin, type Actor, type Role } from "./actor.ts";

/** What a provider refresh reports (the ingestion scheduler's run). */
export interface RefreshRun {
  ok: boolean; healthStatus: string; latencyMs: number; changes: number; notifications: number; error: string | null;
}

/** The part of ingestion that admin operations drive; the scheduler implements it. */
export interface IngestionControl {
  hasAdapter(slug: string): boolean;
  refreshNow(slug: string): Promise<RefreshRun>;
}

export interface AdminDeps { prisma: PrismaClient; ingestion?: IngestionControl | undefined }

const normaliseSlug = (slug: string) => slug.trim().toLowerCase();

export function createAdminService({ prisma, ingestion }: AdminDeps) {
  return {
    /** Lists (enabled) or hides (disabled) a provider. */
    async setProviderEnabled(input: { slug: string; enabled: boolean }, actor: Actor): Promise<Provider> {
      requireAdmin(actor);
      const { slug, enabled } = input;
      return prisma.$transaction(async (tx) => {
        const found = await tx.provider.findUnique({ where: { slug } });
        if (!found) throw notFound(`No provider has the slug "${slug}".`, { slug });
        const provider = await tx.provider.update({ where: { slug }, data: { enabled } });
        await appendAudit(tx, { action: enabled ? "provider.enable" : "provider.disable", actorUserId: actorUserId(actor), targetType: "Provider", targetId: slug, ip: actor.meta?.ip });
        return provider;
      });
    },

    /** Makes an account USER or ADMIN. */
    async setUserRole(input: { email: string; role: Role }, actor: Actor): Promise<User> {
      requireAdmin(actor);
      return prisma.$transaction(async (tx) => {
        const found = await tx.user.findUnique({ where: { email: input.email.trim().toLowerCase() } });
        if (!found) throw notFound("No account has this e-mail address.");
        const user = await tx.user.update({ where: { id: found.id }, data: { role: input.role } });
        await appendAudit(tx, { action: "user.role_change", actorUserId: actorUserId(actor), targetType: "User", targetId: found.id, ip: actor.meta?.ip, details: { from: found.role, to: input.role } });
        return user;
      });
    },

    /** Walks the audit log's hash chain; the check itself is audited. */
    async verifyAuditLog(actor: Actor): Promise<AuditVerification> {
      requireAdmin(actor);
      const result = await verifyAuditLog(prisma);
      await appendAudit(prisma, { action: "audit.verify", actorUserId: actorUserId(actor), ip: actor.meta?.ip, details: { ok: result.ok, entries: result.entries } });
      return result;
    },

    /** Polls a provider now and applies its catalog; returns the provider with its new health. */
    async refreshProvider(input: { slug: string }, actor: Actor): Promise<Provider> {
      requireAdmin(actor);
      if (!ingestion) throw unavailable("Provider ingestion is not running in this server, so it cannot refresh providers.");
      const slug = normaliseSlug(input.slug);
      if (!ingestion.hasAdapter(slug)) throw notFound(`No provider with the slug "${input.slug}" has an ingestion adapter.`, { slug: input.slug });
      const run = await ingestion.refreshNow(slug);
      await appendAudit(prisma, {
        action: "provider.refresh", actorUserId: actorUserId(actor), targetType: "Provider", targetId: slug, ip: actor.meta?.ip,
        details: { ok: run.ok, healthStatus: run.healthStatus, latencyMs: run.latencyMs, changes: run.changes, notifications: run.notifications, error: run.error },
      });
      return prisma.provider.findUniqueOrThrow({ where: { slug } });
    },
  };
}
