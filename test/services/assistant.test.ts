// The assistant service called directly, as an assistant tool or a script would: parseWorkload is public (every
// caller gets the same reading), keeps only GPU models the catalog lists in the filter, and rejects unreadable
// text with BAD_USER_INPUT and a reason, never an internal error.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Database } from "../../src/infra/db.ts";
import { anonymous, systemActor, type Actor } from "../../src/services/actor.ts";
import type { Services } from "../../src/services/index.ts";
import { testServices, userActor } from "../support/app.ts";
import { openTestDatabase } from "../support/db.ts";
import { rejection } from "../support/errors.ts";
import { seedMarket } from "../support/market.ts";

const ACTORS: Actor[] = [anonymous(), userActor(1), userActor(2, "USER", { via: "api_key", scopes: [] }), systemActor("test")];


describe("assistant.parseWorkload", () => {
  let db: Database;
  let services: Services;
  const anon = anonymous();

  beforeAll(async () => {
    db = await openTestDatabase();
    await seedMarket(db.prisma, 24);  // GPU models H100-SXM-80GB, A100-SXM-80GB, RTX-4090, MI300X
    services = testServices(db);
  });
  afterAll(async () => { await db?.close(); });

  it("reads the same workload for every caller", async () => {
    const text = "I need to serve Llama 3 70B to 200 users in Europe, what's cheapest?";
    const first = await services.assistant.parseWorkload({ text }, anon);
    expect(first).toMatchObject({ kind: "LLM_INFERENCE", model: { preset: "llama-3-70b" }, hints: ["CHEAPEST"] });
    for (const actor of ACTORS) expect(await services.assistant.parseWorkload({ text }, actor)).toEqual(first);
  });

  it("keeps the GPU models the catalog lists, and says which it dropped", async () => {
    const p = await services.assistant.parseWorkload({ text: "serve llama 3 8b on an H100 or an H200 to 10 users" }, anon);
    expect(p.gpus.map((g) => g.gpuModels)).toEqual([["H100-SXM-80GB", "H100-PCIE-80GB", "H100-NVL-94GB"], ["H200-SXM-141GB", "H200-NVL-141GB"]]);
    expect(p.offerFilter).toEqual({ gpuModels: ["H100-SXM-80GB"] });
    expect(p.notes).toContain("No offer here has H200-SXM-141GB or H200-NVL-141GB (“H200”), so offerFilter does not name them.");
  });

  it("drops the GPU condition when no named model is listed, and says the filter matches every GPU", async () => {
    const p = await services.assistant.parseWorkload({ text: "2x L40S in Germany" }, anon);
    expect(p.offerFilter).toEqual({ countries: ["DE"], gpuCount: { min: 2, max: 2 } });
    expect(p.notes).toContain("No offer here has L40S (“2x L40S”), so offerFilter does not name it and matches every GPU.");
  });

  it("leaves a filter of listed models as the parser built it", async () => {
    const p = await services.assistant.parseWorkload({ text: "4x A100 80GB under $8/h" }, anon);
    expect(p.offerFilter).toEqual({ gpuModels: ["A100-SXM-80GB"], gpuCount: { min: 4, max: 4 }, price: { max: "8.00" } });
  });

  it("rejects unreadable text with BAD_USER_INPUT, the reason and the argument", async () => {
    const cases: Array<[string, string]> = [["", "EMPTY_TEXT"], ["   ", "EMPTY_TEXT"], ["x".repeat(2001), "TEXT_TOO_LONG"], ["llama\u0000", "CONTROL_CHARACTER"]];
    for (const [text, reason] of cases) {
      const error = await rejection(() => services.assistant.parseWorkload({ text }, anon));
      expect(error.extensions).toEqual({ code: "BAD_USER_INPUT", reason, argument: "text" });
    }
  });
});
