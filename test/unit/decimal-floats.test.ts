import { describe, expect, it } from "vitest";
import { GraphQLFloat, GraphQLObjectType } from "graphql";
import { Prisma } from "../../src/generated/prisma/client.ts";
import { schema } from "../../src/graphql/index.ts";

// src/graphql/builder.ts lets Float fields answer a Decimal: graphql-js serialises it through valueOf().
describe("Decimal columns exposed as Float", () => {
  it.each(["80", "79.6", "0.5", "0", "-0", "0.0000001", "123456789.123456789", "1e+21", "2.5e-8"])("%s serialises as Number(decimal)", (text) => {
    const d = new Prisma.Decimal(text);
    expect(GraphQLFloat.serialize(d)).toBe(Number(d));
  });

  it("GpuOffer's Decimal columns are read without a resolver", () => {
    const fields = (schema.getType("GpuOffer") as GraphQLObjectType).getFields();
    for (const name of ["vramPerGpuGb", "vramTotalGb", "ramGb", "storageGb", "networkGbps"]) {
      expect(fields[name]!.type.toString(), name).toMatch(/^Float!?$/);
      expect(fields[name]!.resolve, name).toBeUndefined();
    }
  });
});
