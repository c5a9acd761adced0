// Price alerts and notifications in the API: their types, and one-line resolvers into the alerts
// service (src/services/alerts.ts), which checks the caller, validates and publishes.
import { builder } from "./builder.ts";
import { documentedEnum } from "./enums.ts";
import { alertNameRule, MAX_ALERTS_PER_USER, notificationIdsRule } from "../services/alerts.ts";
import { PAGE_SIZE } from "../services/paging.ts";
import { GpuOfferRef, OfferFilterInput } from "./offer.ts";

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
    cursor: t.string({
      nullable: true,
      description: "Set on events of the `notifications` subscription: pass the last one you received as `after` when you subscribe again to get what you missed. Null in queries.",
      resolve: (n) => (n as { cursor?: string }).cursor ?? null,
    }),
  }),
});

// ---------------------------------------------------------------- Queries

builder.queryFields((t) => ({
  priceAlerts: t.prismaField({
    type: [PriceAlertRef],
    description: "Your price alerts, newest first (a signed-in user, or an API key with ALERTS_WRITE).",
    resolve: (_query, _root, _args, ctx) => ctx.services.alerts.priceAlerts({}, ctx.actor),
  }),
  notifications: t.prismaConnection(
    {
      type: NotificationRef,
      cursor: "id",
      defaultSize: PAGE_SIZE.default,
      maxSize: PAGE_SIZE.max,
      description: `Your notifications, newest first. Relay connection (default ${PAGE_SIZE.default}, max ${PAGE_SIZE.max} per page).`,
      args: { unreadOnly: t.arg.boolean({ description: "Only notifications not marked read yet (default false)." }) },
      resolve: (query, _root, args, ctx) => ctx.services.alerts.notifications({ ...args, page: query }, ctx.actor),
    },
    {
      name: "NotificationConnection",
      description: "A page of notifications.",
      fields: (c) => ({
        unreadCount: c.int({
          description: "All your unread notifications (not just this page).",
          resolve: (_conn, _args, ctx) => ctx.services.alerts.unreadCount({}, ctx.actor),
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
    args: {
      name: t.arg.string({ required: true, description: "Your name for the alert, e.g. \"Cheap H100\".", validate: alertNameRule }),
      filter: t.arg({ type: OfferFilterInput, description: "Which offers to watch, as in `offers` (unknown GPU models or providers are an error). Alerts always watch active offers only (includeInactive is ignored)." }),
      threshold: t.arg({ type: "Money", required: true, description: "Fire when the cheapest match costs this much or less per hour." }),
      priceField: t.arg({ type: AlertPriceFieldEnum, required: true, defaultValue: "PRICE_PER_GPU", description: "Which price to compare (default PRICE_PER_GPU)." }),
    },
    resolve: (_query, _root, args, ctx) => ctx.services.alerts.createPriceAlert(args, ctx.actor),
  }),
  updatePriceAlert: t.prismaField({
    type: PriceAlertRef,
    description: "Renames, re-prices, pauses or resumes one of your alerts; omitted arguments stay as they are. The alert is re-checked at once against the current offers (so a resumed alert fires if a crossing happened while it was paused).",
    args: {
      id: t.arg.id({ required: true, description: "The alert's id." }),
      name: t.arg.string({ description: "New name.", validate: alertNameRule }),
      threshold: t.arg({ type: "Money", description: "New threshold." }),
      paused: t.arg.boolean({ description: "True to pause, false to resume." }),
    },
    resolve: (_query, _root, args, ctx) => ctx.services.alerts.updatePriceAlert(args, ctx.actor),
  }),
  deletePriceAlert: t.id({
    description: "Deletes one of your alerts and returns its id. Its notifications stay (with no alert).",
    args: { id: t.arg.id({ required: true, description: "The alert's id." }) },
    resolve: (_root, args, ctx) => ctx.services.alerts.deletePriceAlert(args, ctx.actor),
  }),
  markNotificationsRead: t.int({
    description: "Marks notifications read: the given ids, or all of yours with all: true. Returns how many were unread before. An id that is not one of yours is a NOT_FOUND error and nothing is marked.",
    args: {
      ids: t.arg.idList({ description: "Notification ids (at most 1000).", validate: notificationIdsRule }),
      all: t.arg.boolean({ description: "True to mark every notification of yours read." }),
    },
    resolve: (_root, args, ctx) => ctx.services.alerts.markNotificationsRead(args, ctx.actor),
  }),
}));
