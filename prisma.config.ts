import { defineConfig } from "prisma/config";
import { migrationAdapter } from "./prisma/migration-adapter.ts";

// Prisma 6 needs `url = env("DATABASE_URL")` to resolve, otherwise the CLI cannot read
// `engineType = "client"` and falls back to downloading the native query engine (offline: fails).
process.env.DATABASE_URL ??= "postgresql://root@127.0.0.1:5432/gpubroker_dev";
const url = process.env.DATABASE_URL;

export default defineConfig({
  experimental: { adapter: true },
  engine: "js",
  adapter: async () => migrationAdapter(url),
  schema: "prisma/schema.prisma",
  migrations: { path: "prisma/migrations" },
});
