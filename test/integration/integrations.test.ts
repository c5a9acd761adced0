// Provider integrations (issue 17): a user's own provider keys, sealed at rest, never returned or
// logged or audited, tested against the provider's auth-checking endpoint (local servers speaking the
// providers' protocols), owner-only (IDOR), and API keys need the integration scopes.
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import type { Database } from "../../src/infra/db.ts";
import { createSecretSealer, type SecretSealer } from "../../src/infra/secret-sealer.ts";
import { createAccountChecker } from "../../src/ingestion/account-checks.ts";
import { integrationAad } from "../../src/services/integrations.ts";
import { testClient } from "../support/app.ts";
import { openTestDatabase } from "../support/db.ts";
import { startMain } from "../support/main-process.ts";
import { createServer, type IncomingHttpHeaders, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { send } from "../support/provider-server.ts";
import { testServices, userActor } from "../support/app.ts";

const PASSWORD = "a long and lovely passphrase";
const REGISTER = `mutation ($email: String!) { register(email: $email, password: "${PASSWORD}", name: "Someone") { accessToken } }`;
const FIELDS = `id provider { slug } label keyHint lastTest { ok status latencyMs error } createdAt updatedAt`;
const SAVE = `mutation ($provider: String!, $apiKey: String!, $label: String) { saveProviderIntegration(provider: $provider, apiKey: $apiKey, label: $label) { ${FIELDS} } }`;
const TEST = `mutation ($id: ID!) { testProviderIntegration(id: $id) { ${FIELDS} } }`;
const DELETE = `mutation ($id: ID!) { deleteProviderIntegration(id: $id) }`;
const LIST = `{ providerIntegrations { ${FIELDS} } integrationProviders }`;

const masterKey = (id: string) => ({ id, key: randomBytes(32) });
const GOOD = `vast_${randomBytes(12).toString("hex")}`;
const RUNPOD_GOOD = `rpa_${randomBytes(12).toString("hex")}`;

/**
 * Vast.ai's `GET /api/v0/users/current/` (Bearer): the account for the good key, 401 echoing the key it got
 * otherwise (as some providers do), 429 while `limited`. RunPod's GraphQL endpoint: `myself` for the good
 * key, a GraphQL error in a 200 otherwise.
 */
async function providers() {
  const state = { limited: false };
  const vast = await serve((req, res) => {
    const key = String(req.headers.authorization ?? "").replace(/^Bearer /, "");
    if (req.path !== "/api/v0/users/current/") return send(res, 404, { error: "not found" });
    if (state.limited) return send(res, 429, { error: "too many requests" }, { "retry-after": "30" });
    if (key === GOOD) return send(res, 200, { id: 4242, email: "ada@example.com", credit: 25 });
    return send(res, 401, { success: false, error: "invalid_api_key", msg: `Invalid API key ${key}` });
  });
  const runpod = await serve((req, res) => {
    const key = String(req.headers.authorization ?? "").replace(/^Bearer /, "");
    if (!JSON.parse(req.body).query.includes("myself")) return send(res, 400, { errors: [{ message: "bad query" }] });
    if (key === RUNPOD_GOOD) return send(res, 200, { data: { myself: { id: "user_77" } } });
    return send(res, 200, { errors: [{ message: "Unauthorized: the api key is not valid" }], data: null });
  });
  return { state, vast, runpod, env: { VAST_API_URL: `${vast.origin}/api/v0`, RUNPOD_API_URL: `${runpod.origin}/graphql`, LAMBDA_API_URL: "http://127.0.0.1:9/api/v1" } };
}

interface Seen { method: string; path: string; headers: IncomingHttpHeaders; body: string }

/** A local HTTP server for the whole suite (test/support/provider-server.ts closes its servers after each test). */
async function serve(api: (req: Seen, res: ServerResponse) => void) {
  const requests: Seen[] = [];
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (chunk: Buffer) => { body += chunk.toString(); });
    req.on("end", () => { const seen = { method: req.method!, path: req.url!, headers: req.headers, body }; requests.push(seen); api(seen, res); });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

/** Every string in a JSON value, flattened, for scanning. */
const text = (v: unknown) => JSON.stringify(v, (_k, x: unknown) => (typeof x === "bigint" ? String(x) : x));

describe("provider integrations", () => {
  let db: Database;
  let sealer: SecretSealer;
  let p: Awaited<ReturnType<typeof providers>>;
  let request: ReturnType<typeof testClient>["request"];
  let ada: { authorization: string };
  let bob: { authorization: string };
  const responses: unknown[] = [];
  const k1 = masterKey("k1");

  async function as<T = any>(who: { authorization: string } | Record<string, never>, query: string, variables: Record<string, unknown> = {}) {
    const r = await request<T>(query, variables, who);
    responses.push(r);
    return r;
  }

  beforeAll(async () => {
    db = await openTestDatabase();
    p = await providers();
    for (const slug of ["vast", "runpod", "lambda"]) await db.prisma.provider.create({ data: { slug, name: slug, kind: "MARKETPLACE" } });
    sealer = createSecretSealer({ keys: [k1] });
    request = testClient(db, { integrations: { sealer, accountChecker: createAccountChecker({ env: p.env, timeoutMs: 2_000 }) } }).request;
    const token = async (email: string) => `Bearer ${(await request(REGISTER, { email })).data.register.accessToken}`;
    ada = { authorization: await token("ada@example.com") };
    bob = { authorization: await token("bob@example.com") };
  });
  afterAll(async () => { await db?.close(); await p?.vast.close(); await p?.runpod.close(); });

  let adaVast: string;
  const adaId = async () => (await db.prisma.user.findUniqueOrThrow({ where: { email: "ada@example.com" } })).id;

  it("saves a key sealed for its owner: the answer shows only a hint, the row holds no plaintext", async () => {
    const r = await as(ada, SAVE, { provider: " Vast ", apiKey: `  ${GOOD}  `, label: "team account" });
    expect(r.errors).toBeUndefined();
    const saved = r.data.saveProviderIntegration;
    expect(saved).toMatchObject({ provider: { slug: "vast" }, label: "team account", keyHint: `****${GOOD.slice(-4)}`, lastTest: null });
    adaVast = saved.id;
    const row = await db.prisma.providerIntegration.findUniqueOrThrow({ where: { id: Number(adaVast) } });
    expect(row.sealedKey).not.toContain(GOOD);
    expect(row.sealedKey).not.toContain(GOOD.slice(5));
    expect(row.sealedKey.startsWith("gbs1.local.k1.")).toBe(true);
    expect(await sealer.open(row.sealedKey, integrationAad(row.userId, row.providerId))).toBe(GOOD);
    // Bound to its owner: the same value on another user's row does not open.
    await expect(sealer.open(row.sealedKey, integrationAad(row.userId + 1, row.providerId))).rejects.toMatchObject({ code: "SECRET_TAMPERED" });
  });

  it("tests the key against the provider's auth-checking endpoint and records status, latency and the provider's error", async () => {
    const ok = (await as(ada, TEST, { id: adaVast })).data.testProviderIntegration;
    expect(ok.lastTest).toMatchObject({ ok: true, status: 200, error: null });
    expect(ok.lastTest.latencyMs).toBeGreaterThanOrEqual(0);
    const seen = p.vast.requests.at(-1)!;
    expect([seen.method, seen.path, seen.headers.authorization]).toEqual(["GET", "/api/v0/users/current/", `Bearer ${GOOD}`]);

    // A revoked key: the provider says 401 and echoes the key; we keep its words without the key.
    const bad = `vast_${randomBytes(12).toString("hex")}`;
    await as(ada, SAVE, { provider: "vast", apiKey: bad });
    const refused = (await as(ada, TEST, { id: adaVast })).data.testProviderIntegration;
    expect(refused.lastTest).toMatchObject({ ok: false, status: 401 });
    expect(refused.lastTest.error).toContain("invalid_api_key");
    expect(refused.lastTest.error).toContain("[key]");
    expect(text(refused)).not.toContain(bad);

    // Rate limited: reported as the provider answered it, at once (no retries on a test).
    p.state.limited = true;
    const before = p.vast.requests.length;
    const limited = (await as(ada, TEST, { id: adaVast })).data.testProviderIntegration;
    p.state.limited = false;
    expect(limited.lastTest).toMatchObject({ ok: false, status: 429 });
    expect(limited.lastTest.error).toContain("429");
    expect(p.vast.requests.length - before).toBe(1);
    await as(ada, SAVE, { provider: "vast", apiKey: GOOD });
  });

  it("a provider that is down is a recorded result (status null), not a failed mutation", async () => {
    const saved = (await as(ada, SAVE, { provider: "lambda", apiKey: "secret_lambda_key_1234" })).data.saveProviderIntegration;
    const r = await as(ada, TEST, { id: saved.id });
    expect(r.errors).toBeUndefined();
    expect(r.data.testProviderIntegration.lastTest).toMatchObject({ ok: false, status: null });
    expect(r.data.testProviderIntegration.lastTest.error).toMatch(/lambda/);
    expect(await as(ada, DELETE, { id: saved.id })).toMatchObject({ data: { deleteProviderIntegration: saved.id } });
  });

  it("RunPod: a GraphQL error inside a 200 is a refusal", async () => {
    const saved = (await as(ada, SAVE, { provider: "runpod", apiKey: "rpa_wrong_key_0000" })).data.saveProviderIntegration;
    expect((await as(ada, TEST, { id: saved.id })).data.testProviderIntegration.lastTest).toMatchObject({ ok: false, status: 200, error: "Unauthorized: the api key is not valid" });
    await as(ada, SAVE, { provider: "runpod", apiKey: RUNPOD_GOOD });
    expect((await as(ada, TEST, { id: saved.id })).data.testProviderIntegration.lastTest).toMatchObject({ ok: true, status: 200 });
    expect(JSON.parse(p.runpod.requests.at(-1)!.body).query).toContain("myself");
  });

  it("saving again replaces the key and clears the last test; one integration per provider", async () => {
    const list = (await as(ada, LIST)).data;
    expect(list.providerIntegrations.map((i: { provider: { slug: string } }) => i.provider.slug)).toEqual(["vast", "runpod"]);
    expect(list.integrationProviders).toEqual(expect.arrayContaining(["runpod", "vast", "lambda", "shadeform", "tensordock", "primeintellect"]));
    const again = (await as(ada, SAVE, { provider: "vast", apiKey: GOOD, label: null })).data.saveProviderIntegration;
    expect(again).toMatchObject({ id: adaVast, label: null, lastTest: null });
  });

  it("another user cannot see, test or delete it (not found, as if it did not exist)", async () => {
    expect((await as(bob, LIST)).data.providerIntegrations).toEqual([]);
    for (const q of [TEST, DELETE]) {
      const r = await as(bob, q, { id: adaVast });
      expect(r.errors?.[0]?.extensions?.code).toBe("NOT_FOUND");
      expect(r.errors?.[0]?.message).toBe(`You have no provider integration with the ID "${adaVast}".`);
    }
    expect(await db.prisma.providerIntegration.count({ where: { id: Number(adaVast) } })).toBe(1);
    const r = await as({}, LIST);
    expect(r.errors?.[0]?.extensions?.code).toBe("UNAUTHENTICATED");
  });

  it("API keys need INTEGRATIONS_READ to list and INTEGRATIONS_WRITE to change", async () => {
    const key = async (scopes: string) => ({ authorization: `Bearer ${(await as(bob, `mutation { createApiKey(name: "k", scopes: [${scopes}]) { secret } }`)).data.createApiKey.secret}` });
    const account = await key("ACCOUNT_READ");
    const read = await key("INTEGRATIONS_READ");
    const write = await key("INTEGRATIONS_WRITE");
    expect((await as(account, LIST)).errors?.[0]?.extensions?.code).toBe("FORBIDDEN");
    expect((await as(read, LIST)).data.providerIntegrations).toEqual([]);
    expect((await as(read, SAVE, { provider: "vast", apiKey: GOOD })).errors?.[0]?.extensions?.code).toBe("FORBIDDEN");
    const saved = await as(write, SAVE, { provider: "vast", apiKey: GOOD });
    expect(saved.data.saveProviderIntegration.keyHint).toBe(`****${GOOD.slice(-4)}`);
    expect((await as(read, LIST)).data.providerIntegrations).toHaveLength(1);
    expect((await as(write, DELETE, { id: saved.data.saveProviderIntegration.id })).errors).toBeUndefined();
  });

  it("rejects bad input with a coded error and writes nothing", async () => {
    const before = await db.prisma.providerIntegration.count();
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ provider: "nope", apiKey: GOOD }, "BAD_USER_INPUT"],
      [{ provider: "vast\u0000", apiKey: GOOD }, "BAD_USER_INPUT"],
      [{ provider: "vast", apiKey: "short" }, "BAD_USER_INPUT"],
      [{ provider: "vast", apiKey: "has space inside it" }, "BAD_USER_INPUT"],
      [{ provider: "vast", apiKey: `nul\u0000byte_key_here` }, "BAD_USER_INPUT"],
      [{ provider: "vast", apiKey: "x".repeat(513) }, "BAD_USER_INPUT"],
      [{ provider: "vast", apiKey: GOOD, label: "l".repeat(101) }, "BAD_USER_INPUT"],
    ];
    for (const [variables, code] of cases) {
      const r = await as(bob, SAVE, variables);
      expect(r.errors?.[0]?.extensions?.code, JSON.stringify(variables)).toBe(code);
      expect(text(r)).not.toContain(GOOD);
    }
    for (const id of ["99999999999999999999", "-1", "abc", "1e308", "0"]) {
      expect((await as(bob, TEST, { id })).errors?.[0]?.extensions?.code, id).toBe("NOT_FOUND");
    }
    expect(await db.prisma.providerIntegration.count()).toBe(before);
  });

  it("without a sealer configured, saving is refused as unavailable", async () => {
    const services = testServices(db);
    await expect(services.integrations.saveProviderIntegration({ provider: "vast", apiKey: GOOD }, userActor(await adaId())))
      .rejects.toMatchObject({ extensions: { code: "SERVICE_UNAVAILABLE" } });
  });

  it("after master-key rotation (k2 in front of k1) old keys still open and new ones are sealed under k2", async () => {
    const rotated = createSecretSealer({ keys: [masterKey("k2"), k1] });
    const { integrations } = testServices(db, { sealer: rotated, accountChecker: createAccountChecker({ env: p.env }) });
    const ada = userActor(await adaId());
    expect((await integrations.testProviderIntegration({ id: adaVast }, ada)).lastTestOk).toBe(true);
    expect((await db.prisma.providerIntegration.findUniqueOrThrow({ where: { id: Number(adaVast) } })).sealedKey.startsWith("gbs1.local.k1.")).toBe(true);
    await integrations.saveProviderIntegration({ provider: "vast", apiKey: GOOD }, ada);
    expect((await db.prisma.providerIntegration.findUniqueOrThrow({ where: { id: Number(adaVast) } })).sealedKey.startsWith("gbs1.local.k2.")).toBe(true);
    // k1 dropped: what k2 sealed still opens; a key sealed only under k1 would need saving again (a coded error).
    const { integrations: k2only } = testServices(db, { sealer: createSecretSealer({ keys: [masterKey("k3")] }), accountChecker: createAccountChecker({ env: p.env }) });
    await expect(k2only.testProviderIntegration({ id: adaVast }, ada)).rejects.toMatchObject({ extensions: { code: "BAD_USER_INPUT", reason: "SECRET_UNKNOWN_KEY_ID" } });
  });

  it("the rewrap job re-seals every key under the active master key, leaves current ones, and reports what no key opens", async () => {
    const k2 = masterKey("k4");
    const old = createSecretSealer({ keys: [k1] });
    const adaRow = await db.prisma.providerIntegration.findUniqueOrThrow({ where: { id: Number(adaVast) } });
    await db.prisma.providerIntegration.update({ where: { id: adaRow.id }, data: { sealedKey: await old.seal(GOOD, integrationAad(adaRow.userId, adaRow.providerId)) } });
    const bobId = (await db.prisma.user.findUniqueOrThrow({ where: { email: "bob@example.com" } })).id;
    const runpod = await db.prisma.provider.findUniqueOrThrow({ where: { slug: "runpod" } });
    const lambda = await db.prisma.provider.findUniqueOrThrow({ where: { slug: "lambda" } });
    await db.prisma.providerIntegration.create({ data: { userId: bobId, providerId: runpod.id, keyHint: "****", sealedKey: await old.seal(RUNPOD_GOOD, integrationAad(bobId, runpod.id)) } });
    // Sealed under a key nobody has any more: reported, left as it is.
    const lost = await createSecretSealer({ keys: [masterKey("gone")] }).seal("lost_key_123456", integrationAad(bobId, lambda.id));
    await db.prisma.providerIntegration.create({ data: { userId: bobId, providerId: lambda.id, keyHint: "****", sealedKey: lost } });
    const sealer2 = createSecretSealer({ keys: [k2, k1] });
    const { integrations } = testServices(db, { sealer: sealer2 });
    await expect(integrations.rewrapIntegrationKeys({}, userActor(bobId))).rejects.toMatchObject({ extensions: { code: "FORBIDDEN" } });
    const system = { kind: "system", component: "test" } as const;
    const first = await integrations.rewrapIntegrationKeys({}, system);
    const rows = await db.prisma.providerIntegration.findMany({ orderBy: { id: "asc" } });
    expect(first.failed).toEqual([{ id: rows.find((r) => r.sealedKey === lost)!.id, code: "SECRET_UNKNOWN_KEY_ID" }]);
    expect([first.rewrapped, first.current]).toEqual([rows.length - 1, 0]);
    for (const r of rows.filter((r) => r.sealedKey !== lost)) {
      expect(r.sealedKey.startsWith("gbs1.local.k4."), String(r.id)).toBe(true);
      // k1 can go now: every rewrapped key opens under k2 alone.
      await createSecretSealer({ keys: [k2] }).open(r.sealedKey, integrationAad(r.userId, r.providerId));
    }
    expect(await integrations.rewrapIntegrationKeys({}, system)).toEqual({ rewrapped: 0, current: rows.length - 1, failed: first.failed });
    await db.prisma.providerIntegration.deleteMany({ where: { userId: bobId } });
  });

  it("every change is audited, and no response or audit entry ever holds a key", async () => {
    const audit = await db.prisma.auditLogEntry.findMany({ where: { action: { startsWith: "integration." } }, orderBy: { id: "asc" } });
    const actions = new Set(audit.map((a) => a.action));
    expect([...actions].sort()).toEqual(["integration.create", "integration.delete", "integration.replace_key", "integration.rewrap", "integration.test"]);
    const test = audit.find((a) => a.action === "integration.test")!;
    expect(test.details).toMatchObject({ provider: "vast", ok: true, status: 200 });
    for (const secret of [GOOD, RUNPOD_GOOD, "secret_lambda_key_1234", "rpa_wrong_key_0000"]) {
      expect(text(audit)).not.toContain(secret);
      expect(text(responses)).not.toContain(secret);
      expect(text(await db.prisma.providerIntegration.findMany())).not.toContain(secret);
    }
  });
});

describe("provider integrations in the running server", () => {
  it("never writes a key to the log, at debug, through save, a refused test, a bad request and delete", async () => {
    const p = await providers();
    onTestFinished(async () => { await p.vast.close(); await p.runpod.close(); });
    const dataDir = mkdtempSync(join(tmpdir(), "gpubroker-integrations-"));
    const keys = `k1:${randomBytes(32).toString("base64")}`;
    const main = startMain(dataDir, { LOG_LEVEL: "debug", INTEGRATION_KEYS: keys, INGESTION: "false", ...p.env });
    try {
      const url = await main.ready;
      const post = async (query: string, variables: Record<string, unknown>, authorization?: string) => {
        const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json", ...(authorization ? { authorization } : {}) }, body: JSON.stringify({ query, variables }) });
        return (await res.json()) as any;
      };
      const token = `Bearer ${(await post(REGISTER, { email: "eve@example.com" })).data.register.accessToken}`;
      const bad = `vast_${randomBytes(12).toString("hex")}`;
      const responses: unknown[] = [];
      const saved = await post(SAVE, { provider: "vast", apiKey: bad }, token);
      responses.push(saved);
      expect(saved.data.saveProviderIntegration.keyHint).toBe(`****${bad.slice(-4)}`);
      const id = saved.data.saveProviderIntegration.id;
      const tested = await post(TEST, { id }, token); // the provider refuses it, echoing it
      responses.push(tested);
      expect(tested.data.testProviderIntegration.lastTest).toMatchObject({ ok: false, status: 401 });
      expect(p.vast.requests.at(-1)!.headers.authorization).toBe(`Bearer ${bad}`);
      responses.push(await post(SAVE, { provider: "vast", apiKey: `${bad} x` }, token)); // bad input holding the key
      responses.push(await post(`mutation { saveProviderIntegration(provider: "vast", apiKey: "${bad}", label: 5) { id } }`, {}, token)); // invalid document
      const mine = await post(`{ myAccountOffers { totalCount accounts { ok code status message } } }`, {}, token); // the catalog read with the key
      responses.push(mine);
      expect(mine.data.myAccountOffers).toMatchObject({ totalCount: 0, accounts: [{ ok: false, code: "PROVIDER_UNAVAILABLE", status: 404 }] });
      expect(p.vast.requests.at(-1)!.headers.authorization).toBe(`Bearer ${bad}`);
      responses.push(await post(DELETE, { id }, token));
      expect(text(responses)).not.toContain(bad);
      const { stdout, stderr } = main.output();
      expect(stdout + stderr).not.toContain(bad);
      expect(stdout).toContain("\"level\":20"); // debug lines were written
    } finally {
      main.child.kill("SIGTERM");
      await main.exited;
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 60_000);
});
