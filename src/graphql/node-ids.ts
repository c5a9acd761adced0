// Global ids without a promise. Pothos's relay plugin resolves the `id` of every Node type through an async
// function: a promise per object, and graphql-jit on its asynchronous path for the whole object (a page of 50
// offers: 50 promises, their continuations and 50 resolve infos, ~50 KB of garbage per request). Each of our Node
// types serialises its id synchronously (prismaNode's `id: { field }`), so the same global id is encoded here at
// once: Relay's default encoding, base64("Type:id"), as the plugin's resolver would (test/unit/node-ids.test.ts).
import { GraphQLObjectType, type GraphQLFieldResolver, type GraphQLSchema } from "graphql";
import { encodeGlobalID } from "@pothos/plugin-relay";

type IdSerializer = GraphQLFieldResolver<unknown, unknown>;

/** Replaces the resolver of `id` on each Node type whose id serialiser is synchronous; returns the schema. */
export function withSyncNodeIds(schema: GraphQLSchema): GraphQLSchema {
  for (const type of Object.values(schema.getTypeMap())) {
    if (!(type instanceof GraphQLObjectType) || !type.getInterfaces().some((i) => i.name === "Node")) continue;
    const serialize = (type.extensions.pothosOptions as { id?: { resolve?: IdSerializer } } | undefined)?.id?.resolve;
    const field = type.getFields().id;
    if (!serialize || !field?.resolve) continue;
    const viaPlugin = field.resolve;
    const name = type.name;
    field.resolve = (parent, args, context, info) => {
      const id = serialize(parent, args, context, info);
      // A serialiser that answers a promise (none of ours today) keeps the plugin's resolver.
      return id != null && typeof (id as PromiseLike<unknown>).then === "function" ? viaPlugin(parent, args, context, info) : encodeGlobalID(name, String(id));
    };
  }
  return schema;
}
