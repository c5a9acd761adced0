// The fault suite (test/faults/): API processes, a private redis-server, faults injected one after
// the other. PostgreSQL only (DATABASE_URL); one file at a time, no parallel workers: it measures.
import { defineConfig } from "vitest/config";
import base from "./vitest.config.ts";

export default defineConfig({
  resolve: base.resolve,
  test: {
    include: ["test/faults/**/*.test.ts"],
    testTimeout: 300_000,
    hookTimeout: 300_000,
    pool: "forks",
    maxWorkers: 1,
    fileParallelism: false,
  },
});
