import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { isEnumType, isInputObjectType, isInterfaceType, isObjectType, printSchema, type GraphQLNamedType } from "graphql";
import { schema } from "../src/graphql/index.ts";

describe("schema artefacts", () => {
  it("schema.graphql is the printed, sorted schema (run `npm run schema:print` when this fails)", () => {
    expect(readFileSync(new URL("../schema.graphql", import.meta.url), "utf8")).toBe(`${printSchema(schema)}\n`);
  });

  it("documents every type, field, argument and enum value", () => {
    const missing: string[] = [];
    const own = Object.values(schema.getTypeMap()).filter((t: GraphQLNamedType) => !t.name.startsWith("__") && !["String", "Int", "Float", "Boolean", "ID"].includes(t.name));
    for (const type of own) {
      if (!type.description) missing.push(type.name);
      if (isObjectType(type) || isInterfaceType(type) || isInputObjectType(type)) {
        for (const field of Object.values(type.getFields())) {
          if (!field.description) missing.push(`${type.name}.${field.name}`);
          for (const arg of "args" in field ? field.args : []) if (!arg.description) missing.push(`${type.name}.${field.name}(${arg.name})`);
        }
      }
      if (isEnumType(type)) for (const v of type.getValues()) if (!v.description) missing.push(`${type.name}.${v.name}`);
    }
    expect(missing).toEqual([]);
  });
});
