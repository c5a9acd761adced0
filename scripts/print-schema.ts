// Prints the sorted SDL to schema.graphql (committed; test/schema.test.ts fails when it is stale).
import { writeFileSync } from "node:fs";
import { printSchema } from "graphql";
import { schema } from "../src/graphql/index.ts";

const sdl = `${printSchema(schema)}\n`;
writeFileSync(new URL("../schema.graphql", import.meta.url), sdl);
console.log(`schema.graphql: ${sdl.split("\n").length} lines`);
