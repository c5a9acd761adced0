import { describe, expect, it } from "vitest";
import { GraphQLObjectType, type GraphQLResolveInfo } from "graphql";
import { schema } from "../../src/graphql/index.ts";

const NODE_TYPES = ["GpuModel", "GpuOffer", "Provider"];

describe("Node ids (src/graphql/node-ids.ts)", () => {
  it("covers every type that implements Node", () => {
    const nodes = Object.values(schema.getTypeMap())
      .filter((t): t is GraphQLObjectType => t instanceof GraphQLObjectType && t.getInterfaces().some((i) => i.name === "Node"))
      .map((t) => t.name).sort();
    expect(nodes).toEqual(NODE_TYPES);
  });

  it.each(NODE_TYPES)("%s.id is Relay's global id, answered at once (a string, not a promise)", (name) => {
    const resolve = (schema.getType(name) as GraphQLObjectType).getFields().id!.resolve!;
    const id = resolve({ id: 4242 }, {}, {}, {} as GraphQLResolveInfo);
    expect(typeof id).toBe("string");
    expect(id).toBe(Buffer.from(`${name}:4242`).toString("base64"));
  });
});
