import { builder } from "./builder.ts";
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
    args: {
      slug: t.arg.string({ required: true, description: "Provider slug." }),
      enabled: t.arg.boolean({ required: true, description: "True to enable." }),
    },
    resolve: (_query, _root, args, ctx) => ctx.services.admin.setProviderEnabled(args, ctx.actor),
  }),
  refreshProvider: t.prismaField({
    type: ProviderRef,
    description: "Admin: polls a provider's API now and applies its catalog (alerts and live ticks included). Returns the provider; its health tells how the poll went. Audited.",
    args: { slug: t.arg.string({ required: true, description: "Provider slug, e.g. \"runpod\"." }) },
    resolve: (_query, _root, args, ctx) => ctx.services.admin.refreshProvider(args, ctx.actor),
  }),
  setUserRole: t.prismaField({
    type: UserRef,
    description: "Admin: makes an account USER or ADMIN. Audited.",
    args: {
      email: t.arg.string({ required: true, description: "The account's e-mail." }),
      role: t.arg({ type: RoleEnum, required: true, description: "New role." }),
    },
    resolve: (_query, _root, args, ctx) => ctx.services.admin.setUserRole(args, ctx.actor),
  }),
  verifyAuditLog: t.field({
    type: AuditVerificationRef,
    description: "Admin: walks the audit log's hash chain and reports the first broken entry. The check itself is audited.",
    resolve: async (_root, _args, ctx) => {
      const result = await ctx.services.admin.verifyAuditLog(ctx.actor);
      return { ...result, firstBroken: result.firstBroken ?? null };
    },
  }),
}));
