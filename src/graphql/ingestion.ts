import { builder } from "./builder.ts";
import { ProviderRef } from "./provider.ts";

// ---------------------------------------------------------------- Mutations (admin only)

builder.mutationFields((t) => ({
  refreshProvider: t.prismaField({
    type: ProviderRef,
    description: "Admin: polls a provider's API now and applies its catalog (alerts and live ticks included). Returns the provider; its health tells how the poll went. Audited.",
    args: { slug: t.arg.string({ required: true, description: "Provider slug, e.g. \"runpod\"." }) },
    resolve: (_query, _root, args, ctx) => ctx.services.admin.refreshProvider(args, ctx.actor),
  }),
}));
