// Plugins and scalar typings only; every type lives in its own domain file.
import SchemaBuilder from "@pothos/core";
import ErrorsPlugin from "@pothos/plugin-errors";
import PrismaPlugin from "@pothos/plugin-prisma";
import RelayPlugin from "@pothos/plugin-relay";
import ScopeAuthPlugin from "@pothos/plugin-scope-auth";
import SimpleObjectsPlugin from "@pothos/plugin-simple-objects";
import ValidationPlugin from "@pothos/plugin-validation";
import type PrismaTypes from "../generated/pothos-types.ts";
import { getDatamodel } from "../generated/pothos-types.ts";
import type { Prisma } from "../generated/prisma/client.ts";
import { bootSettings } from "../config.ts";
import type { Context } from "./context.ts";
import { badInput, forbidden, unauthenticated } from "../errors.ts";

export const builder = new SchemaBuilder<{
  Context: Context;
  PrismaTypes: PrismaTypes;
  Scalars: {
    Money: { Input: string; Output: Prisma.Decimal | string };
    DateTime: { Input: Date; Output: Date | string };
  };
  AuthScopes: {
    public: boolean;
    /** Any caller with credentials (a signed-in user or an API key). */
    user: boolean;
    /** A signed-in user (access token), not an API key. */
    session: boolean;
    /** A signed-in admin. */
    admin: boolean;
    /** An access token, or an API key that holds this scope. */
    apiScope: string;
  };
  DefaultFieldNullability: false;
}>({
  plugins: [ScopeAuthPlugin, ErrorsPlugin, ValidationPlugin, PrismaPlugin, RelayPlugin, SimpleObjectsPlugin],
  defaultFieldNullability: false,
  scopeAuth: {
    // Transitional: services check their callers themselves (src/services/actor.ts); these scopes remain
    // only on fields not yet moved into a service.
    authScopes: ({ actor }) => ({
      public: true,
      user: actor.kind === "user",
      session: actor.kind === "user" && actor.via === "jwt",
      admin: actor.kind === "user" && actor.via === "jwt" && actor.role === "ADMIN",
      apiScope: (scope: string) => actor.kind === "user" && (actor.via === "jwt" || (actor.scopes?.includes(scope) ?? false)),
    }),
    authorizeOnSubscribe: true,
    unauthorizedError: (_parent, { actor }) => actor.kind === "user"
      ? forbidden("You are not allowed to do this.")
      : unauthenticated("Sign in first: send \"Authorization: Bearer <access token or API key>\"."),
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
