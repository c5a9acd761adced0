// Every GraphQL example in the README must be valid against the schema (they are the API's front door).
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parse, validate } from "graphql";
import { schema } from "../src/graphql/index.ts";

const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
const blocks = [...readme.matchAll(/```graphql\n([\s\S]*?)```/g)].map((m) => m[1]!);
const operations = blocks.flatMap((block) => block.split(/\n(?=query\b|mutation\b|subscription\b|\{)/).map((op) => op.trim()).filter((op) => op && !op.startsWith("#") || /\n(query|mutation|subscription)\b/.test(op)));

describe("README examples", () => {
  it("has examples", () => expect(operations.length).toBeGreaterThan(20));
  it.each(operations.map((op) => [op.split("\n").find((l) => !l.startsWith("#"))!.slice(0, 80), op]))("%s", (_title, op) => {
    const errors = validate(schema, parse(op)).map((e) => e.message);
    expect(errors).toEqual([]);
  });
});
