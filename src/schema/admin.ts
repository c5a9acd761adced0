import { appendAudit, verifyAuditLog } from "../infra/audit.ts";
import { builder } from "./builder.ts";
import { notFound } from "./errors.ts";
import { ProviderRef } from "./provider.ts";
import { RoleEnum, UserRef } from "./auth.ts";

// ---------------------------------------------------------------- Types

const AuditBreak = builder.simpleObject("AuditBreak", {
  description: "The first audit entry whose hash does not follow from the chain.",
  fields: (t) => ({
    id: t.string({ description: "Id of the broken entry." }),
    reason: t.string({ description: "hash_mismatch (the entry was edited), prev_hash_mismatch (an entry before it was removed or inserted) or anchor_mismatch." }),
    expected: t.string({ description: "The hash the chain requires here." }),
    actual: t.string({ description: "The hash stored." }),
  }),
});

const AuditVerificationRef = builder.simpleObject("AuditVerification", {
  description: "Result of walking the audit log's hash chain from its first entry.",
  fields: (t) => ({
    ok: t.boolean({ description: "True when every entry's hash follows from the previous one." }),
    entries: t.int({ description: "Entries verified before the first break (all when ok)." }),
    headId: t.string({ nullable: true, description: "Last verified entry; keep it with headHash outside the database to detect a truncated tail later." }),
    headHash: t.string({ description: "Hash of the last verified entry." }),
    firstBroken: t.field({ type: AuditBreak, nullable: true, description: "Where the chain breaks, when it does." }),
  }),
});

// ---------------------------------------------------------------- Mutations (admin only)

builder.mutationFields((t) => ({
  setProviderEnabled: t.prismaField({
    type: ProviderRef,
    description: "Admin: lists (enabled) or hides (disabled) a provider. Audited.",
    authScopes: { admin: true },
    args: {
      slug: t.arg.string({ required: true, description: "Provider slug." }),
      enabled: t.arg.boolean({ required: true, description: "True to enable." }),
    },
    resolve: async (query, _root, { slug, enabled }, ctx) => ctx.prisma.$transaction(async (tx) => {
      const found = await tx.provider.findUnique({ where: { slug } });
      if (!found) throw notFound(`No provider has the slug "${slug}".`, { slug });
      const provider = await tx.provider.update({ ...query, where: { slug }, data: { enabled } });
      await appendAudit(tx, { action: enabled ? "provider.enable" : "provider.disable", actorUserId: ctx.viewer!.id, targetType: "Provider", targetId: slug, ip: ctx.meta.ip });
      return provider;
    }),
  }),
  setUserRole: t.prismaField({
    type: UserRef,
    description: "Admin: makes an account USER or ADMIN. Audited.",
    authScopes: { admin: true },
    args: {
      email: t.arg.string({ required: true, description: "The account's e-mail." }),
      role: t.arg({ type: RoleEnum, required: true, description: "New role." }),
    },
    resolve: async (query, _root, { email, role }, ctx) => ctx.prisma.$transaction(async (tx) => {
      const found = await tx.user.findUnique({ where: { email: email.trim().toLowerCase() } });
      if (!found) throw notFound("No account has this e-mail address.");
      const user = await tx.user.update({ ...query, where: { id: found.id }, data: { role } });
      await appendAudit(tx, { action: "user.role_change", actorUserId: ctx.viewer!.id, targetType: "User", targetId: found.id, ip: ctx.meta.ip, details: { from: found.role, to: role } });
      return user;
    }),
  }),
  verifyAuditLog: t.field({
    type: AuditVerificationRef,
    description: "Admin: walks the audit log's hash chain and reports the first broken entry. The check itself is audited.",
    authScopes: { admin: true },
    resolve: async (_root, _args, ctx) => {
      const result = await verifyAuditLog(ctx.prisma);
      await appendAudit(ctx.prisma, { action: "audit.verify", actorUserId: ctx.viewer!.id, ip: ctx.meta.ip, details: { ok: result.ok, entries: result.entries } });
      return { ...result, firstBroken: result.firstBroken ?? null };
    },
  }),
}));
