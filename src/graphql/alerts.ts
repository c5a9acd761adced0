import { requireScope } from "../services/actor.ts";
import { z } from "zod";
import type { Context } from "./context.ts";
import type { Prisma } from "../generated/prisma/client.ts";
import { checkAlerts, notificationEvent, toSavedFilter, type NotificationRow } from "../ingestion/alerts.ts";
import { builder } from "./builder.ts";
import { documentedEnum } from "./enums.ts";
import { badInput, notFound } from "../errors.ts";
import { checkFilter, GpuOfferRef, OfferFilterInput, PAGE_SIZE } from "./offer.ts";

export const MAX_ALERTS_PER_USER = 50;

// ---------------------------------------------------------------- Types

const AlertPriceFieldEnum = documentedEnum("AlertPriceField", "Which price an alert compares with its threshold.", {
  PRICE_PER_GPU: { description: "On-demand price per GPU-hour." },
  PRICE: { description: "On-demand price per hour of the whole instance." },
});

// Not Relay nodes on purpose: `node(id:)` would bypass the owner check.
export const PriceAlertRef = builder.prismaObject("PriceAlert", {
  description: "A saved offers search with a price threshold. It fires one notification each time the cheapest matching active offer crosses to at or below the threshold, and re-arms when it goes back above.",
  fields: (t) => ({
    id: t.exposeID("id", { description: "Alert number (for updatePriceAlert and deletePriceAlert)." }),
    name: t.exposeString("name", { description: "Your name for the alert." }),
    filter: t.string({
      description: "The saved OfferFilter as JSON: GPU models as canonical names, provider slugs lower-cased, empty fields left out.",
      resolve: (a) => JSON.stringify(a.filter),
    }),
    priceField: t.expose("priceField", { type: AlertPriceFieldEnum, description: "Which price is compared with the threshold." }),
    threshold: t.expose("threshold", { type: "Money", description: "Fires when the cheapest match costs this much or less per hour." }),
    paused: t.exposeBoolean("paused", { description: "A paused alert is not evaluated and never fires." }),
    below: t.exposeBoolean("below", { description: "True while the cheapest match is at or below the threshold (already notified; fires again only after going back above)." }),
    lastTriggeredAt: t.expose("lastTriggeredAt", { type: "DateTime", nullable: true, description: "When it last fired." }),
    lastPrice: t.expose("lastPrice", { type: "Money", nullable: true, description: "The price that made it fire last." }),
    lastOffer: t.field({
      type: GpuOfferRef,
      nullable: true,
      description: "The offer that made it fire last.",
      // Prisma batches findUnique calls made in the same tick into one query.
      resolve: (a, _args, ctx) => (a.lastOfferId == null ? null : ctx.prisma.gpuOffer.findUnique({ where: { id: a.lastOfferId } })),
    }),
    createdAt: t.expose("createdAt", { type: "DateTime", description: "When it was created." }),
  }),
});

const NotificationRef = builder.prismaObject("Notification", {
  description: "A message for you, e.g. a price alert that fired.",
  fields: (t) => ({
    id: t.exposeID("id", { description: "Notification number (for markNotificationsRead)." }),
    kind: t.exposeString("kind", { description: "What happened: \"price_alert\"." }),
    title: t.exposeString("title", { description: "One line for a list." }),
    body: t.exposeString("body", { description: "The details in a sentence." }),
    data: t.string({
      description: "Machine-readable details as JSON; for price_alert: offerId, price, threshold, priceField, provider, gpuModel, gpuCount, region.",
      resolve: (n) => JSON.stringify(n.data ?? {}),
    }),
    readAt: t.expose("readAt", { type: "DateTime", nullable: true, description: "When you marked it read; null while unread." }),
    createdAt: t.expose("createdAt", { type: "DateTime", description: "When it was created." }),
    alert: t.relation("alert", { nullable: true, description: "The alert that fired, unless it was deleted since." }),
  }),
});

// ---------------------------------------------------------------- Helpers

/** Database id from an ID argument; anything else cannot be one of the viewer's rows. */
function rowId(id: string | number, what: string): number {
  const n = Number(id);
  if (!Number.isSafeInteger(n) || n <= 0) throw notFound(`You have no ${what} with the ID "${id}".`);
  return n;
}

async function ownAlert(ctx: Context, id: string | number) {
  const alert = await ctx.prisma.priceAlert.findFirst({ where: { id: rowId(id, "price alert"), userId: requireScope(ctx.actor, "alerts:write").id }, select: { id: true } });
  if (!alert) throw notFound(`You have no price alert with the ID "${id}".`, { argument: "id" });
  return alert.id;
}

async function publish(ctx: Context, notifications: NotificationRow[]) {
  if (notifications.length) await ctx.services.events.publishNotifications(notifications.map(notificationEvent));
}

const alertName = z.string().trim().min(1, "The name must not be empty.").max(100, "A name has at most 100 characters.");

// ---------------------------------------------------------------- Queries

builder.queryFields((t) => ({
  priceAlerts: t.prismaField({
    type: [PriceAlertRef],
    description: "Your price alerts, newest first (a signed-in user, or an API key with ALERTS_WRITE).",
    authScopes: { apiScope: "alerts:write" },
    resolve: (query, _root, _args, ctx) => ctx.prisma.priceAlert.findMany({ ...query, where: { userId: requireScope(ctx.actor, "alerts:write").id }, orderBy: { id: "desc" } }),
  }),
  notifications: t.prismaConnection(
    {
      type: NotificationRef,
      cursor: "id",
      defaultSize: PAGE_SIZE.default,
      maxSize: PAGE_SIZE.max,
      description: `Your notifications, newest first. Relay connection (default ${PAGE_SIZE.default}, max ${PAGE_SIZE.max} per page).`,
      authScopes: { apiScope: "alerts:write" },
      args: { unreadOnly: t.arg.boolean({ description: "Only notifications not marked read yet (default false)." }) },
      resolve: (query, _root, args, ctx) => {
        for (const name of ["first", "last"] as const) {
          const n = args[name];
          if (n != null && (n < 0 || n > PAGE_SIZE.max)) throw badInput(`${name} must be between 0 and ${PAGE_SIZE.max} (got ${n}).`, { argument: name });
        }
        return ctx.prisma.notification.findMany({
          ...query,
          where: { userId: requireScope(ctx.actor, "alerts:write").id, ...(args.unreadOnly ? { readAt: null } : {}) },
          orderBy: { id: "desc" },
        });
      },
    },
    {
      name: "NotificationConnection",
      description: "A page of notifications.",
      fields: (c) => ({
        unreadCount: c.int({
          description: "All your unread notifications (not just this page).",
          resolve: (_conn, _args, ctx) => ctx.prisma.notification.count({ where: { userId: requireScope(ctx.actor, "alerts:write").id, readAt: null } }),
        }),
      }),
    },
    { name: "NotificationEdge", description: "A notification and its cursor." },
  ),
}));

// ---------------------------------------------------------------- Mutations

builder.mutationFields((t) => ({
  createPriceAlert: t.prismaField({
    type: PriceAlertRef,
    description: `Saves an offers filter with a price threshold (at most ${MAX_ALERTS_PER_USER} alerts per account). It is checked at once and after every price change of a matching offer: when the cheapest match is at or below the threshold you get one notification, and another only after it has gone back above and crossed again.`,
    authScopes: { apiScope: "alerts:write" },
    args: {
      name: t.arg.string({ required: true, description: "Your name for the alert, e.g. \"Cheap H100\".", validate: alertName }),
      filter: t.arg({ type: OfferFilterInput, description: "Which offers to watch, as in `offers` (unknown GPU models or providers are an error). Alerts always watch active offers only (includeInactive is ignored)." }),
      threshold: t.arg({ type: "Money", required: true, description: "Fire when the cheapest match costs this much or less per hour." }),
      priceField: t.arg({ type: AlertPriceFieldEnum, required: true, defaultValue: "PRICE_PER_GPU", description: "Which price to compare (default PRICE_PER_GPU)." }),
    },
    resolve: async (query, _root, args, ctx) => {
      await checkFilter(ctx, args.filter); // unknown names → BAD_USER_INPUT, as in `offers`
      const userId = requireScope(ctx.actor, "alerts:write").id;
      const { id, notifications } = await ctx.prisma.$transaction(async (tx) => {
        await tx.$queryRaw`SELECT id FROM "User" WHERE id = ${userId} FOR UPDATE`; // serialises the per-user limit
        if (await tx.priceAlert.count({ where: { userId } }) >= MAX_ALERTS_PER_USER) {
          throw badInput(`You already have ${MAX_ALERTS_PER_USER} price alerts, the most an account may have. Delete one first.`, { limit: MAX_ALERTS_PER_USER });
        }
        const alert = await tx.priceAlert.create({
          data: { userId, name: args.name.trim(), filter: toSavedFilter(args.filter) as Prisma.InputJsonObject, threshold: args.threshold, priceField: args.priceField },
          select: { id: true },
        });
        return { id: alert.id, notifications: await checkAlerts(tx, [alert.id], new Date()) };
      });
      await publish(ctx, notifications);
      return ctx.prisma.priceAlert.findUniqueOrThrow({ ...query, where: { id } });
    },
  }),
  updatePriceAlert: t.prismaField({
    type: PriceAlertRef,
    description: "Renames, re-prices, pauses or resumes one of your alerts; omitted arguments stay as they are. The alert is re-checked at once against the current offers (so a resumed alert fires if a crossing happened while it was paused).",
    authScopes: { apiScope: "alerts:write" },
    args: {
      id: t.arg.id({ required: true, description: "The alert's id." }),
      name: t.arg.string({ description: "New name.", validate: alertName }),
      threshold: t.arg({ type: "Money", description: "New threshold." }),
      paused: t.arg.boolean({ description: "True to pause, false to resume." }),
    },
    resolve: async (query, _root, args, ctx) => {
      const id = await ownAlert(ctx, args.id);
      const notifications = await ctx.prisma.$transaction(async (tx) => {
        await tx.priceAlert.update({
          where: { id },
          data: { name: args.name?.trim() ?? undefined, threshold: args.threshold ?? undefined, paused: args.paused ?? undefined },
        });
        return checkAlerts(tx, [id], new Date());
      });
      await publish(ctx, notifications);
      return ctx.prisma.priceAlert.findUniqueOrThrow({ ...query, where: { id } });
    },
  }),
  deletePriceAlert: t.id({
    description: "Deletes one of your alerts and returns its id. Its notifications stay (with no alert).",
    authScopes: { apiScope: "alerts:write" },
    args: { id: t.arg.id({ required: true, description: "The alert's id." }) },
    resolve: async (_root, args, ctx) => {
      const { count } = await ctx.prisma.priceAlert.deleteMany({ where: { id: rowId(args.id, "price alert"), userId: requireScope(ctx.actor, "alerts:write").id } });
      if (!count) throw notFound(`You have no price alert with the ID "${args.id}".`, { argument: "id" });
      return String(args.id);
    },
  }),
  markNotificationsRead: t.int({
    description: "Marks notifications read: the given ids, or all of yours with all: true. Returns how many were unread before. An id that is not one of yours is a NOT_FOUND error and nothing is marked.",
    authScopes: { apiScope: "alerts:write" },
    args: {
      ids: t.arg.idList({ description: "Notification ids (at most 1000).", validate: z.array(z.union([z.string(), z.number()])).max(1000, "At most 1000 ids at once.") }),
      all: t.arg.boolean({ description: "True to mark every notification of yours read." }),
    },
    resolve: async (_root, args, ctx) => {
      const userId = requireScope(ctx.actor, "alerts:write").id;
      const now = new Date();
      if ((args.ids != null) === !!args.all) throw badInput("Give either ids or all: true.");
      if (args.all) return (await ctx.prisma.notification.updateMany({ where: { userId, readAt: null }, data: { readAt: now } })).count;
      const ids = [...new Set(args.ids!.map((id) => rowId(id, "notification")))];
      return ctx.prisma.$transaction(async (tx) => {
        const own = await tx.notification.findMany({ where: { id: { in: ids }, userId }, select: { id: true } });
        if (own.length !== ids.length) {
          const found = new Set(own.map((n) => n.id));
          const missing = ids.filter((id) => !found.has(id));
          throw notFound(`You have no notification with the ID${missing.length > 1 ? "s" : ""} ${missing.map((m) => `"${m}"`).join(", ")}.`, { argument: "ids" });
        }
        return (await tx.notification.updateMany({ where: { id: { in: ids }, userId, readAt: null }, data: { readAt: now } })).count;
      });
    },
  }),
}));
