// Every function of the use-case layer is called directly (without GraphQL) by a test under
// test/services/, so an assistant tool or a script calling it is covered as a resolver is.
import { readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { testServices } from "../support/app.ts";
import type { Database } from "../../src/infra/db.ts";

const DIR = new URL("./", import.meta.url);
const sources = readdirSync(DIR).filter((f) => f.endsWith(".test.ts") && f !== "every-service.test.ts")
  .map((f) => readFileSync(new URL(f, DIR), "utf8")).join("\n");

describe("the use-case layer", () => {
  // Building the registry touches no database: factories only close over their dependencies.
  const services = testServices({ prisma: {} } as unknown as Database);
  const functions = Object.entries(services).flatMap(([module, fns]) =>
    Object.entries(fns as Record<string, unknown>).filter(([, fn]) => typeof fn === "function").map(([name]) => `${module}.${name}`));

  it("has the capabilities the API and the assistant share", () => {
    expect(Object.keys(services).sort()).toEqual([
      "accounts", "admin", "alerts", "assistant", "catalog", "chat", "events", "integrations", "kpis", "llmCost", "offers", "priceHistory", "ranking", "workload",
    ]);
    expect(functions.length).toBeGreaterThan(40);
  });

  it.each(functions)("%s is called directly by a service test", (qualified) => {
    const [module, name] = qualified.split(".") as [string, string];
    expect(sources).toMatch(new RegExp(`\\b${module}\\.${name}\\(`));
  });
});
