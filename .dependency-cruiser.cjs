// Import rules (issue 10): graphql → services → domain/infra, ingestion → services/domain/infra, and
// nothing below the GraphQL layer imports it. `npm run lint:deps` (CI) fails on any violation.
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: "domain-is-pure",
      comment: "domain/ is pure logic: it imports only domain/ and the neutral errors module (plus npm packages).",
      severity: "error",
      from: { path: "^src/domain/" },
      to: { path: "^src/", pathNot: ["^src/domain/", "^src/errors\\.ts$"] },
    },
    {
      name: "errors-and-config-are-leaves",
      comment: "errors.ts and config.ts import nothing of ours, so every layer may use them.",
      severity: "error",
      from: { path: "^src/(errors|config)\\.ts$" },
      to: { path: "^src/" },
    },
    {
      name: "services-below-the-api",
      comment: "services/ are the use-case layer: domain, infra and errors only — never the GraphQL layer, ingestion or the HTTP edge.",
      severity: "error",
      from: { path: "^src/services/" },
      to: { path: "^src/(graphql/|ingestion/|assistant/|yoga\\.ts|server\\.ts|main\\.ts)" },
    },
    {
      name: "infra-implements-only",
      comment: "infra/ implements what services need (db, pub/sub, cache, vault, audit): it never reaches up.",
      severity: "error",
      from: { path: "^src/infra/" },
      to: { path: "^src/(graphql/|services/|ingestion/|assistant/|yoga\\.ts|server\\.ts|main\\.ts)" },
    },
    {
      name: "ingestion-below-the-api",
      comment: "ingestion/ uses services, domain and infra, never the GraphQL layer or the HTTP edge.",
      severity: "error",
      from: { path: "^src/ingestion/" },
      to: { path: "^src/(graphql/|yoga\\.ts|server\\.ts|main\\.ts)" },
    },
    {
      name: "assistant-below-the-api",
      comment: "assistant/ (tools, planner, backends) calls services as the caller; it never reaches the GraphQL layer, ingestion or the HTTP edge.",
      severity: "error",
      from: { path: "^src/assistant/" },
      to: { path: "^src/(graphql/|ingestion/|yoga\\.ts|server\\.ts|main\\.ts)" },
    },
    {
      name: "graphql-does-not-poll",
      comment: "The GraphQL layer reaches ingestion only through services (admin refreshProvider).",
      severity: "error",
      from: { path: "^src/graphql/" },
      to: { path: "^src/ingestion/" },
    },
    {
      name: "src-stands-alone",
      comment: "Nothing imports test code from src.",
      severity: "error",
      from: { path: "^src/" },
      to: { path: "^(test|bench|scripts)/" },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "^src/generated/" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: { exportsFields: ["exports"], conditionNames: ["import", "require", "node", "default"], extensions: [".ts", ".js", ".json"] },
  },
};
