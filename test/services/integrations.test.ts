// The integrations service called directly, as scripts (npm run integrations:rewrap) and the assistant
// will: no GraphQL, an actor per call. The GraphQL side, logs and audit scans are in
// test/integration/integrations.test.ts.
import { randomBytes } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Database } from "../../src/infra/db.ts";
import { createSecretSealer } from "../../src/infra/secret-sealer.ts";
import { createRateLimiter } from "../../src/infra/rate-limit.ts";
import { createAccountChecker } from "../../src/ingestion/account-checks.ts";
import { createAccountCatalog } from "../../src/ingestion/account-catalog.ts";
import { anonymous, systemActor, type UserActor } from "../../src/services/actor.ts";
import { testServices, userActor } from "../support/app.ts";
import { openTestDatabase } from "../support/db.ts";

const KEY = `vast_${randomBytes(10).toString("hex")}`;

describe("integrations service", () => {
  let db: Database;
  let integrations: ReturnType<typeof testServices>["integrations"];
  let ada: UserActor;
  let bob: UserActor;
  const server = createServer((req, res) => {
    const ok = req.headers.authorization === `Bearer ${KEY}` && req.url === "/api/v0/users/current/";
    res.writeHead(ok ? 200 : 401, { "content-type": "application/json" }).end(JSON.stringify(ok ? { id: 7 } : { error: "invalid_api_key" }));
  });

  beforeAll(async () => {
    db = await openTestDatabase();
    await db.prisma.provider.create({ data: { slug: "vast", name: "Vast.ai", kind: "MARKETPLACE" } });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const env = { VAST_API_URL: `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v0` };
    integrations = testServices(db, { sealer: createSecretSealer({ keys: [{ id: "k1", key: randomBytes(32) }] }), accountChecker: createAccountChecker({ env }), accountCatalog: createAccountCatalog({ env }) }).integrations;
    const user = (email: string) => db.prisma.user.create({ data: { email, name: email, passwordHash: "x" } });
    ada = userActor((await user("ada@example.com")).id);
    bob = userActor((await user("bob@example.com")).id);
  });
  afterAll(async () => {
    server.closeAllConnections();
    server.close();
    await db?.close();
  });

  it("a user saves, lists, tests and deletes an integration; another user and anonymous callers get nothing", async () => {
    expect(integrations.providers()).toContain("vast");
    const saved = await integrations.saveProviderIntegration({ provider: "vast", apiKey: KEY, label: "mine" }, ada);
    expect(saved).toMatchObject({ label: "mine", keyHint: `****${KEY.slice(-4)}`, lastTestOk: null });
    expect(saved.sealedKey).not.toContain(KEY);
    expect((await integrations.providerIntegrations({}, ada)).map((i) => i.id)).toEqual([saved.id]);
    expect(await integrations.providerIntegrations({}, bob)).toEqual([]);
    await expect(integrations.providerIntegrations({}, anonymous())).rejects.toMatchObject({ extensions: { code: "UNAUTHENTICATED" } });
    const tested = await integrations.testProviderIntegration({ id: saved.id }, ada);
    expect(tested).toMatchObject({ lastTestOk: true, lastTestStatus: 200, lastTestError: null });
    await expect(integrations.testProviderIntegration({ id: saved.id }, bob)).rejects.toMatchObject({ extensions: { code: "NOT_FOUND" } });
    await expect(integrations.deleteProviderIntegration({ id: saved.id }, bob)).rejects.toMatchObject({ extensions: { code: "NOT_FOUND" } });
    expect(await integrations.deleteProviderIntegration({ id: String(saved.id) }, ada)).toBe(String(saved.id));
    expect(await integrations.providerIntegrations({}, ada)).toEqual([]);
  });

  it("reads what the caller's accounts see: a refused key is a coded account entry, others' accounts are not read", async () => {
    const saved = await integrations.saveProviderIntegration({ provider: "vast", apiKey: KEY }, ada);
    // this Vast.ai answers only /users/current/: its catalog path refuses the key
    const mine = await integrations.myAccountOffers({}, ada);
    expect(mine).toMatchObject({ totalCount: 0, offers: [], accounts: [{ integrationId: saved.id, provider: "vast", ok: false, code: "INTEGRATION_UNAUTHORIZED", status: 401, cached: false }] });
    expect(JSON.stringify(mine)).not.toContain(KEY);
    expect((await integrations.myAccountOffers({}, ada)).accounts[0]).toMatchObject({ code: "INTEGRATION_UNAUTHORIZED", cached: true });
    expect(await integrations.myAccountOffers({}, bob)).toEqual({ totalCount: 0, offers: [], accounts: [] });
    await expect(integrations.myAccountOffers({}, anonymous())).rejects.toMatchObject({ extensions: { code: "UNAUTHENTICATED" } });
    await expect(integrations.myAccountOffers({ filter: { gpuModels: ["not a gpu"] } }, ada)).rejects.toMatchObject({ extensions: { code: "BAD_USER_INPUT" } });
    await expect(integrations.myAccountOffers({ first: -1 }, ada)).rejects.toMatchObject({ extensions: { code: "BAD_USER_INPUT" } });
    await integrations.deleteProviderIntegration({ id: saved.id }, ada);
  });

  it("tests are rate-limited per account (integration:user), before the provider is asked", async () => {
    const sealer = createSecretSealer({ keys: [{ id: "k1", key: randomBytes(32) }] });
    const env = { VAST_API_URL: `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v0` };
    const limited = testServices(db, {
      sealer, accountChecker: createAccountChecker({ env }),
      rateLimiter: createRateLimiter({ prefix: `t-${randomBytes(4).toString("hex")}`, limits: { "integration:user": { points: 2, durationSeconds: 60 } } }),
    }).integrations;
    const saved = await limited.saveProviderIntegration({ provider: "vast", apiKey: KEY }, ada);
    await limited.testProviderIntegration({ id: saved.id }, ada);
    await limited.testProviderIntegration({ id: saved.id }, ada);
    await expect(limited.testProviderIntegration({ id: saved.id }, ada)).rejects.toMatchObject({ extensions: { code: "RATE_LIMITED" } });
    expect((await limited.testProviderIntegration({ id: (await limited.saveProviderIntegration({ provider: "vast", apiKey: KEY }, bob)).id }, bob)).lastTestOk).toBe(true);
    await limited.deleteProviderIntegration({ id: saved.id }, ada);
    await db.prisma.providerIntegration.deleteMany({ where: { userId: bob.id } });
  });

  it("rewrapping is for the system and admins; with nothing to do it reports zeros", async () => {
    await expect(integrations.rewrapIntegrationKeys({}, ada)).rejects.toMatchObject({ extensions: { code: "FORBIDDEN" } });
    await integrations.saveProviderIntegration({ provider: "vast", apiKey: KEY }, bob);
    expect(await integrations.rewrapIntegrationKeys({}, systemActor("test"))).toEqual({ rewrapped: 0, current: 1, failed: [] });
  });
});
