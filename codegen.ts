// Typed documents for the tests: every `graphql(...)` call under test/ is checked against
// the committed schema.graphql and gets result/variable types.
import type { CodegenConfig } from "@graphql-codegen/cli";

const config: CodegenConfig = {
  schema: "schema.graphql",
  documents: ["test/**/*.ts", "!test/generated/**"],
  ignoreNoDocuments: true,
  generates: {
    "test/generated/": {
      preset: "client",
      presetConfig: { fragmentMasking: false },
      config: {
        useTypeImports: true,
        enumsAsTypes: true,
        scalars: { Money: { input: "string | number", output: "string" }, DateTime: "string" },
        strictScalars: true,
        importExtension: ".ts",
      },
    },
  },
};
export default config;
