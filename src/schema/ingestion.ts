import { GraphQLError } from "graphql";
import { appendAudit } from "../infra/audit.ts";
import type { Ingestion } from "../providers/scheduler.ts";
import { builder } from "./builder.ts";
import { notFound } from "./errors.ts";
import { ProviderRef } from "./provider.ts";

// ---------------------------------------------------------------- Mutations (admin only)

builder.mutationFields((t) => ({
  refreshProvider: t.prismaField({
    type: ProviderRef,
    description: "Admin: polls a provider's API now and applies its catalog (alerts and live ticks included). Returns the provider; its health tells how the poll went. Audited.",
    authScopes: { admin: true },
    args: { slug: t.arg.string({ required: true, description: "Provider slug, e.g. \"runpod\"." }) },
    resolve: async (query, _root, args, ctx) => {
      // The server puts its ingestion in the context; an API built without one cannot refresh.
      const ingestion = (ctx as { ingestion?: Ingestion }).ingestion;
      if (!ingestion?.refreshNow) {
        throw new GraphQLError("Provider ingestion is not running in this server, so it cannot refresh providers.", { extensions: { code: "SERVICE_UNAVAILABLE" } });
      }
      const slug = args.slug.trim().toLowerCase();
      if (!ingestion.hasAdapter(slug)) throw notFound(`No provider with the slug "${args.slug}" has an ingestion adapter.`, { slug: args.slug });
      const run = await ingestion.refreshNow(slug);
      await appendAudit(ctx.prisma, {
        action: "provider.refresh", actorUserId: ctx.viewer!.id, targetType: "Provider", targetId: slug, ip: ctx.meta.ip,
        details: { ok: run.ok, healthStatus: run.healthStatus, latencyMs: run.latencyMs, changes: run.changes, notifications: run.notifications, error: run.error },
      });
      return ctx.prisma.provider.findUniqueOrThrow({ ...query, where: { slug } });
    },
  }),
}));
