// Typed documents, checked against the committed schema.graphql: every `graphql(...)` call under
// test/ (for the tests) and under examples/ (the typed client a client developer copies) gets
// result and variable types. `npm run codegen` writes both; `npm test` and `npm run typecheck` run it.
import type { CodegenConfig } from "@graphql-codegen/cli";

// What a client sees on the wire: Money is an exact decimal string (a string or a number is accepted
// as input), DateTime an ISO 8601 string. strictScalars: a new scalar fails codegen until mapped here.
const scalars = { Money: { input: "string | number", output: "string" }, DateTime: "string" };

const config: CodegenConfig = {
  schema: "schema.graphql",
  ignoreNoDocuments: true,
  generates: {
    "test/generated/": {
      documents: ["test/**/*.ts", "!test/generated/**"],
      preset: "client",
      presetConfig: { fragmentMasking: false },
      config: { useTypeImports: true, enumsAsTypes: true, scalars, strictScalars: true, importExtension: ".ts" },
    },
    "examples/generated/": {
      documents: ["examples/*.ts"],
      preset: "client",
      presetConfig: { fragmentMasking: false },
      config: {
        useTypeImports: true,
        scalars,
        strictScalars: true,
        importExtension: ".ts",
        // The document as a typed string: sent as is with fetch or graphql-ws, no `graphql` package at run time.
        documentMode: "string",
        // Enums as string unions ("AVAILABLE" | …), no runtime enum objects to import.
        enumType: "string-literal",
      },
    },
  },
};
export default config;
