import { getRefFromModel } from "@pothos/plugin-prisma";
import { z } from "zod";
import { Prisma, type Notification } from "../generated/prisma/client.ts";
import type { NotificationEvent, PriceTick } from "../infra/pubsub-types.ts";
import type { WithCursor } from "../services/events.ts";
import { builder } from "./builder.ts";
import { AvailabilityEnum } from "./enums.ts";
import { whereFields } from "./offer.ts";
import "./alerts.ts";

// ---------------------------------------------------------------- Types

const PriceTickKindEnum = builder.enumType("PriceTickKind", {
  description: "What happened to the offer in this tick.",
  values: {
    NEW: { value: "new", description: "The provider listed it for the first time." },
    CHANGED: { value: "changed", description: "Its price or availability changed." },
    REACTIVATED: { value: "reactivated", description: "The provider lists it again after withdrawing it." },
    DEACTIVATED: { value: "deactivated", description: "The provider stopped listing it (the new prices and availability are null)." },
  } as const,
});

const PriceTickRef = builder.objectRef<WithCursor<PriceTick>>("PriceTick").implement({
  description: "One offer's price or availability change, published when an ingestion run commits.",
  fields: (t) => ({
    cursor: t.exposeString("cursor", { description: "Where this event sits in the stream: pass the last one you received as `after` when you subscribe again (after a disconnect) to get what you missed, then live events, with no gap and no duplicate." }),
    offerId: t.globalID({ description: "Global ID of the GpuOffer (use it with `offer` or `node`).", resolve: (tick) => ({ type: "GpuOffer", id: tick.offerId }) }),
    provider: t.exposeString("provider", { description: "Provider slug." }),
    gpuModel: t.exposeString("gpuModel", { nullable: true, description: "Canonical GPU model name; null when the GPU is not identified." }),
    region: t.exposeString("region", { description: "The provider's region name." }),
    gpuCount: t.exposeInt("gpuCount", { description: "GPUs in the instance." }),
    kind: t.expose("kind", { type: PriceTickKindEnum, description: "What happened." }),
    oldOnDemandPrice: t.expose("oldOnDemandPrice", { type: "Money", nullable: true, description: "On-demand price per hour before; null for a new offer." }),
    newOnDemandPrice: t.expose("newOnDemandPrice", { type: "Money", nullable: true, description: "On-demand price per hour now; null for a withdrawn offer." }),
    oldSpotPrice: t.expose("oldSpotPrice", { type: "Money", nullable: true, description: "Spot price per hour before; null when there was none." }),
    newSpotPrice: t.expose("newSpotPrice", { type: "Money", nullable: true, description: "Spot price per hour now; null when there is none." }),
    oldAvailability: t.field({ type: AvailabilityEnum, nullable: true, description: "Availability before; null for a new offer.", resolve: (tick) => tick.oldAvailability as never }),
    newAvailability: t.field({ type: AvailabilityEnum, nullable: true, description: "Availability now; null for a withdrawn offer.", resolve: (tick) => tick.newAvailability as never }),
    pricePerGpuHour: t.expose("pricePerGpuHour", { type: "Money", description: "On-demand price per GPU-hour now (the last known one for a withdrawn offer)." }),
    changePercent: t.exposeFloat("changePercent", { nullable: true, description: "(new − old) ÷ old × 100 of the on-demand price, 2 decimals; null when either price is missing." }),
    at: t.expose("at", { type: "DateTime", description: "When the ingestion run saw the change." }),
  }),
});

// The `Notification` type of ./alerts.ts (not exported there): the stream sends what the list shows.
const NotificationRef = getRefFromModel("Notification", builder, "object");

/** The stored row an event was made from (a new notification is unread), with the event's cursor. */
const notificationRow = ({ data, createdAt, ...n }: WithCursor<NotificationEvent>): Notification & { cursor: string } =>
  ({ ...n, data: data as Prisma.JsonObject, createdAt: new Date(createdAt), readAt: null });

// ---------------------------------------------------------------- Inputs


const PriceTickFilterInput = builder.inputType("PriceTickFilter", {
  description: "Which ticks to receive, decided on the server. Every field is optional; given fields are combined with AND, values inside a list with OR.",
  fields: (t) => ({
    ...whereFields(t),
    maxPricePerHour: t.field({ type: "Money", description: "Only offers whose on-demand price per hour for the whole instance is at most this (the new price; the last known one for a withdrawn offer)." }),
    maxPricePerGpuHour: t.field({ type: "Money", description: "Only offers whose on-demand price per GPU-hour is at most this (the new price; the last known one for a withdrawn offer)." }),
    minChangePercent: t.float({ description: "Only price moves of at least this many percent, up or down (|changePercent| ≥ this); ticks without a change (new or withdrawn offers) are skipped when set.", validate: z.number().min(0).max(1_000_000) }),
  }),
});

const OfferAvailabilityFilterInput = builder.inputType("OfferAvailabilityFilter", {
  description: "Which availability changes to receive, decided on the server. Every field is optional; given fields are combined with AND, values inside a list with OR.",
  fields: (t) => ({
    ...whereFields(t),
    availability: t.field({ type: [AvailabilityEnum], description: "Only changes into these states; a withdrawn offer counts as UNAVAILABLE." }),
    maxPricePerHour: t.field({ type: "Money", description: "Only offers whose on-demand price per hour for the whole instance is at most this (the last known one for a withdrawn offer)." }),
  }),
});

// ---------------------------------------------------------------- Subscriptions

builder.subscriptionType({
  description: "Live events over WebSocket (graphql-ws) or Server-Sent Events, filtered on the server. Nothing is lost: every event of `priceTicks`, `offerAvailabilityChanged` and `notifications` carries a `cursor`; after a disconnect, subscribe again with the last cursor you received as `after` to get what you missed (kept for a retention window, 60 minutes by default; older gives RESUME_WINDOW_EXCEEDED: read the state with a query and subscribe without `after`), then live events. A stream opened with an access token or API key ends when that credential does (expiry, logout, a password change, revocation): over SSE with a last result carrying an UNAUTHENTICATED error, over graphql-ws by closing the connection with 4403; reconnect with a fresh token and your last cursor. A graphql-ws connection that reads `priceTicks` or `offerAvailabilityChanged` too slowly (the server holds more than its limit of unsent data for it, 1 MiB by default) is closed with 4413 \"Slow consumer\" instead of being buffered without end; any other stream that falls 10,000 events behind ends with SUBSCRIPTION_OVERFLOW. Either way, subscribe again with your last cursor as `after`, and you miss nothing.",
});

const afterArg = (t: Parameters<Parameters<typeof builder.subscriptionFields>[0]>[0]) => t.arg.string({
  description: "The `cursor` of the last event you received: the stream starts with the events after it (those matching your filter), then follows live. Omit it to start live from now.",
  validate: z.string().max(64, "`after` is a cursor: at most 64 characters."),
});

builder.subscriptionFields((t) => ({
  priceTicks: t.field({
    type: PriceTickRef,
    description: "One tick per offer that an ingestion run added, repriced, brought back or withdrew, as it commits. Over graphql-ws, a connection that falls more than the server's limit of unsent data behind is closed with 4413: resubscribe with `after: <the last cursor you received>` to get the rest.",
    args: { filter: t.arg({ type: PriceTickFilterInput, description: "Which ticks to receive; all when omitted." }), after: afterArg(t) },
    subscribe: (_root, args, ctx) => ctx.services.events.priceTicks(args.filter, ctx.actor, args.after),
    resolve: (tick) => tick,
  }),
  offerAvailabilityChanged: t.field({
    type: PriceTickRef,
    description: "One event per offer whose availability changed, that appeared, or that the provider withdrew or listed again. Over graphql-ws, a connection that falls more than the server's limit of unsent data behind is closed with 4413: resubscribe with `after: <the last cursor you received>` to get the rest.",
    args: { filter: t.arg({ type: OfferAvailabilityFilterInput, description: "Which changes to receive; all when omitted." }), after: afterArg(t) },
    subscribe: (_root, args, ctx) => ctx.services.events.availabilityChanges(args.filter, ctx.actor, args.after),
    resolve: (tick) => tick,
  }),
  notifications: t.field({
    type: NotificationRef,
    description: "Your own notifications as they are created (price alerts firing), unread; the same objects as the `notifications` query. Needs a signed-in user or an API key with ALERTS_WRITE, like that query.",
    args: { after: afterArg(t) },
    subscribe: (_root, args, ctx) => ctx.services.events.notifications(ctx.actor, args.after),
    resolve: notificationRow,
  }),
}));
