// Plugins and scalar typings only; every type lives in its own domain file.
import SchemaBuilder from "@pothos/core";
import ErrorsPlugin from "@pothos/plugin-errors";
import PrismaPlugin from "@pothos/plugin-prisma";
import RelayPlugin from "@pothos/plugin-relay";
import SimpleObjectsPlugin from "@pothos/plugin-simple-objects";
import ValidationPlugin from "@pothos/plugin-validation";
import TracingPlugin from "@pothos/plugin-tracing";
import { createOpenTelemetryWrapper } from "@pothos/tracing-opentelemetry";
import { trace } from "@opentelemetry/api";
import { tracer } from "../infra/tracer.ts";
import type PrismaTypes from "../generated/pothos-types.ts";
import { getDatamodel } from "../generated/pothos-types.ts";
import type { Prisma } from "../generated/prisma/client.ts";
import { bootSettings } from "../config.ts";
import type { Context } from "./context.ts";
import { badInput } from "../errors.ts";

const traceResolver = createOpenTelemetryWrapper(tracer(), { includeArgs: false, includeSource: false });

export const builder = new SchemaBuilder<{
  Context: Context;
  PrismaTypes: PrismaTypes;
  Scalars: {
    Money: { Input: string; Output: Prisma.Decimal | string };
    DateTime: { Input: Date; Output: Date | string };
    // graphql-js's Float serialises an object through valueOf(): a Decimal's exact text, then Number, as
    // Number(decimal) would. So a Decimal column is exposed as Float without a resolver (under graphql-jit a
    // resolver costs a call and a resolve info per object: 100 of each on a page of 50 offers).
    Float: { Input: number; Output: number | Prisma.Decimal };
  };
  DefaultFieldNullability: false;
}>({
  // No auth-scope plugin: every service checks its caller itself (src/services/actor.ts), once.
  plugins: [TracingPlugin, ErrorsPlugin, ValidationPlugin, PrismaPlugin, RelayPlugin, SimpleObjectsPlugin],
  defaultFieldNullability: false,
  // A span per query and mutation root field (where a request's time goes: the services behind them),
  // under the operation's span (src/graphql/tracing.ts); nested fields and subscription events are not
  // traced one by one. No arguments in the spans (passwords, tokens).
  tracing: {
    default: (config) => config.parentType === "Query" || config.parentType === "Mutation",
    // A span here is only ever recorded inside a recording one (src/infra/tracing.ts samples no INTERNAL
    // span on its own): without one, the resolver runs unwrapped and costs no no-op span.
    wrap: (resolver, options) => {
      const traced = traceResolver(resolver, options);
      return (parent, args, context, info) => (trace.getActiveSpan()?.isRecording() ? traced : resolver)(parent, args, context, info);
    },
  },
  validation: {
    validationError: (result) => {
      const issues = result.issues.map((i) => ({
        path: (i.path ?? []).map((p) => (typeof p === "object" ? p.key : p)).join("."),
        message: i.message,
      }));
      return badInput(issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join("; "), { issues });
    },
  },
  prisma: {
    dmmf: getDatamodel(),
    client: (ctx) => ctx.prisma,
    exposeDescriptions: false,
    filterConnectionTotalCount: true,
    onUnusedQuery: bootSettings.production ? null : "warn",
  },
  relay: {
    cursorType: "String",
    clientMutationId: "omit",
    nodeQueryOptions: {
      description: "Fetches any object that has a global ID (an offer, a provider, a GPU model).",
      args: { id: { description: "A global ID." } },
    },
    nodesQueryOptions: {
      description: "Fetches several objects by global ID, in the order given.",
      args: { ids: { description: "Global IDs." } },
    },
    nodeTypeOptions: { description: "An object with a global ID, fetchable with `node(id:)`." },
    idFieldOptions: { description: "Global ID (opaque; use it with `node`, `offer` and as a stable key)." },
    pageInfoTypeOptions: { description: "Where a page sits in the whole list (Relay cursor connections)." },
    hasNextPageFieldOptions: { description: "True when more items follow this page." },
    hasPreviousPageFieldOptions: { description: "True when items precede this page." },
    startCursorFieldOptions: { description: "Cursor of the first item; pass it as `before` to page backwards." },
    endCursorFieldOptions: { description: "Cursor of the last item; pass it as `after` to page forwards." },
    edgesFieldOptions: { description: "The items of this page, each with its cursor." },
    pageInfoFieldOptions: { description: "Paging information." },
    cursorFieldOptions: { description: "Opaque position of this item; pass it as `after` or `before`." },
    nodeFieldOptions: { description: "The item." },
    firstArgOptions: { description: "Return the first n items (default 20, max 100)." },
    lastArgOptions: { description: "Return the last n items (max 100); combine with `before`." },
    afterArgOptions: { description: "Return items after this cursor (an `endCursor` from a previous page)." },
    beforeArgOptions: { description: "Return items before this cursor (a `startCursor` from a previous page)." },
  },
});

builder.queryType({ description: "The GPU marketplace: offers, providers, GPU models and price history." });
