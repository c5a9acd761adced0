// The Vault KV v2 client and provider key lookup against a local server that speaks Vault's HTTP API:
// token auth (X-Vault-Token), AppRole login, KV v2 reads, sealed / denied / missing answers.
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { createVault, VaultError, type VaultOptions } from "../../src/infra/vault.ts";
import { apiKeyEnvName, providerApiKey } from "../../src/ingestion/secrets.ts";

const ROOT_TOKEN = "hvs.root-token-5d1e";
const ROLE_ID = "8c1f7a2e-role-id";
const SECRET_ID = "2b9d44c0-secret-id";

interface Seen { method: string; path: string; headers: IncomingHttpHeaders; body: string }

const servers: { close(): Promise<void> }[] = [];
afterEach(async () => { await Promise.all(servers.splice(0).map((s) => s.close())); });

/** A Vault with a KV v2 mount at `secret/`, the AppRole auth method, and policies per token. */
async function vaultServer(opts: { leaseSeconds?: number } = {}) {
  const state = {
    sealed: false,
    secrets: new Map<string, Record<string, unknown>>([
      ["gpubroker/providers/runpod", { api_key: "rp-live-123" }],
      ["gpubroker/providers/lambda", { api_key: "lambda-live-456", limits: { rps: 5 }, enabled: true }],
      ["gpubroker/providers/vast", { note: "no key yet" }],
      ["gpubroker/db", { password: "pg-secret" }],
    ]),
    /** token → paths it may not read (everything else is allowed). */
    tokens: new Map<string, string[]>([[ROOT_TOKEN, []]]),
    deniedForAppRole: [] as string[],
    issued: 0,
  };
  const requests: Seen[] = [];
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (chunk: Buffer) => { body += chunk.toString(); });
    req.on("end", () => {
      requests.push({ method: req.method!, path: req.url!, headers: req.headers, body });
      const reply = (status: number, json: unknown) => { res.writeHead(status, { "content-type": "application/json" }); res.end(JSON.stringify(json)); };
      const envelope = { request_id: `req-${requests.length}`, lease_id: "", renewable: false, lease_duration: 0, wrap_info: null, warnings: null };
      if (state.sealed) return reply(503, { errors: ["Vault is sealed"] });
      if (req.method === "POST" && req.url === "/v1/auth/approle/login") {
        const { role_id, secret_id } = JSON.parse(body || "{}") as { role_id?: string; secret_id?: string };
        if (role_id !== ROLE_ID || secret_id !== SECRET_ID) return reply(400, { errors: ["invalid role or secret ID"] });
        const token = `hvs.approle-${++state.issued}`;
        state.tokens.set(token, state.deniedForAppRole);
        return reply(200, { ...envelope, data: null, mount_type: "", auth: {
          client_token: token, accessor: `acc-${state.issued}`, policies: ["default", "gpubroker"], token_policies: ["default", "gpubroker"],
          metadata: { role_name: "gpubroker" }, lease_duration: opts.leaseSeconds ?? 3600, renewable: true, entity_id: "ent-1",
          token_type: "service", orphan: true, mfa_requirement: null, num_uses: 0 } });
      }
      const kv = /^\/v1\/secret\/data\/(.+)$/.exec(req.url ?? "");
      if (req.method === "GET" && kv) {
        const denied = state.tokens.get(String(req.headers["x-vault-token"] ?? ""));
        const path = decodeURIComponent(kv[1]!);
        if (!denied || denied.includes(path)) return reply(403, { errors: ["permission denied"] });
        const data = state.secrets.get(path);
        if (!data) return reply(404, { errors: [] });
        return reply(200, { ...envelope, auth: null, mount_type: "kv", data: { data, metadata: {
          created_time: "2025-01-07T10:00:00.000000Z", custom_metadata: null, deletion_time: "", destroyed: false, version: 3 } } });
      }
      // A KV version 1 mount at kv1/: the secret is `data` itself, with no data/metadata envelope.
      const kv1 = /^\/v1\/kv1\/(.+)$/.exec(req.url ?? "");
      if (req.method === "GET" && kv1 && state.tokens.has(String(req.headers["x-vault-token"] ?? ""))) {
        return reply(200, { ...envelope, lease_duration: 2764800, auth: null, mount_type: "kv", data: { password: "pg-secret" } });
      }
      reply(404, { errors: [] });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const addr = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const handle = {
    addr, state, requests,
    logins: () => requests.filter((r) => r.path === "/v1/auth/approle/login").length,
    reads: () => requests.filter((r) => r.method === "GET").length,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
  servers.push(handle);
  return handle;
}

function clock(start = 1_700_000_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => { t += ms; } };
}

const appRole = (addr: string, extra: Partial<VaultOptions> = {}): VaultOptions => ({ addr, roleId: ROLE_ID, secretId: SECRET_ID, ...extra });

async function caught(promise: Promise<unknown>): Promise<VaultError> {
  const error = await promise.then(() => null, (e: unknown) => e);
  expect(error).toBeInstanceOf(VaultError);
  const message = (error as Error).message;
  for (const secret of [ROOT_TOKEN, ROLE_ID, SECRET_ID, "hvs.approle-"]) expect(message).not.toContain(secret);
  return error as VaultError;
}

describe("Vault KV v2 client", () => {
  it("reads a secret with a static token", async () => {
    const vault = await vaultServer();
    const secret = await createVault({ addr: `${vault.addr}/`, token: ROOT_TOKEN }).read("gpubroker/providers/lambda");

    expect(secret).toEqual({ api_key: "lambda-live-456", limits: '{"rps":5}', enabled: "true" });
    expect(vault.requests).toHaveLength(1);
    expect(vault.requests[0]).toMatchObject({ method: "GET", path: "/v1/secret/data/gpubroker/providers/lambda", body: "" });
    expect(vault.requests[0]!.headers["x-vault-token"]).toBe(ROOT_TOKEN);
  });

  it("logs in with AppRole once and reads with the token it got", async () => {
    const vault = await vaultServer();
    const client = createVault(appRole(vault.addr));
    expect(await client.read("gpubroker/providers/runpod")).toEqual({ api_key: "rp-live-123" });
    expect(await client.read("/gpubroker/db/")).toEqual({ password: "pg-secret" });

    expect(vault.requests.map((r) => [r.method, r.path])).toEqual([
      ["POST", "/v1/auth/approle/login"],
      ["GET", "/v1/secret/data/gpubroker/providers/runpod"],
      ["GET", "/v1/secret/data/gpubroker/db"],
    ]);
    expect(JSON.parse(vault.requests[0]!.body)).toEqual({ role_id: ROLE_ID, secret_id: SECRET_ID });
    expect(vault.requests[0]!.headers["content-type"]).toBe("application/json");
    expect(vault.requests[0]!.headers["x-vault-token"]).toBeUndefined();
    expect(vault.requests.slice(1).map((r) => r.headers["x-vault-token"])).toEqual(["hvs.approle-1", "hvs.approle-1"]);
  });

  it("serves a path from the cache within the TTL and asks again after it", async () => {
    const vault = await vaultServer();
    const time = clock();
    const client = createVault({ addr: vault.addr, token: ROOT_TOKEN, cacheTtlMs: 60_000, now: time.now });

    await Promise.all([client.read("gpubroker/providers/runpod"), client.read("gpubroker/providers/runpod")]);
    expect(vault.reads()).toBe(1);
    time.advance(59_999);
    await client.read("gpubroker/providers/runpod");
    expect(vault.reads()).toBe(1);

    vault.state.secrets.set("gpubroker/providers/runpod", { api_key: "rp-rotated-789" });
    time.advance(1);
    expect(await client.read("gpubroker/providers/runpod")).toEqual({ api_key: "rp-rotated-789" });
    expect(vault.reads()).toBe(2);

    client.clear("gpubroker/providers/runpod");
    await client.read("gpubroker/providers/runpod");
    expect(vault.reads()).toBe(3);
  });

  it("logs in again shortly before the AppRole lease ends", async () => {
    const vault = await vaultServer({ leaseSeconds: 3600 });
    const time = clock();
    const client = createVault(appRole(vault.addr, { cacheTtlMs: 0, now: time.now }));

    await client.read("gpubroker/providers/runpod");
    time.advance(3_539_999); // the last minute of the hour-long lease starts at 3,540 s
    await client.read("gpubroker/providers/runpod");
    expect(vault.logins()).toBe(1);
    time.advance(1);
    await client.read("gpubroker/providers/runpod");
    expect(vault.logins()).toBe(2);
    expect(vault.requests.at(-1)!.headers["x-vault-token"]).toBe("hvs.approle-2");
  });

  it("logs in once more when Vault answers 403 for a revoked token, then reads", async () => {
    const vault = await vaultServer();
    const client = createVault(appRole(vault.addr, { cacheTtlMs: 0 }));
    await client.read("gpubroker/providers/runpod");
    vault.state.tokens.delete("hvs.approle-1");

    expect(await client.read("gpubroker/providers/runpod")).toEqual({ api_key: "rp-live-123" });
    expect(vault.requests.map((r) => [r.method, r.path, r.headers["x-vault-token"] ?? null])).toEqual([
      ["POST", "/v1/auth/approle/login", null],
      ["GET", "/v1/secret/data/gpubroker/providers/runpod", "hvs.approle-1"],
      ["GET", "/v1/secret/data/gpubroker/providers/runpod", "hvs.approle-1"],
      ["POST", "/v1/auth/approle/login", null],
      ["GET", "/v1/secret/data/gpubroker/providers/runpod", "hvs.approle-2"],
    ]);
  });

  it("reports permission denied after one re-login, and at once with a static token", async () => {
    const vault = await vaultServer();
    vault.state.deniedForAppRole.push("gpubroker/db");
    const error = await caught(createVault(appRole(vault.addr)).read("gpubroker/db"));
    expect(error).toMatchObject({ code: "VAULT_PERMISSION_DENIED", status: 403, message: "vault denied reading secret/gpubroker/db (403: permission denied)" });
    expect(vault.logins()).toBe(2);
    expect(vault.reads()).toBe(2);

    const staticVault = await vaultServer();
    const denied = await caught(createVault({ addr: staticVault.addr, token: "hvs.revoked-token" }).read("gpubroker/db"));
    expect(denied).toMatchObject({ code: "VAULT_PERMISSION_DENIED", status: 403 });
    expect(denied.message).not.toContain("hvs.revoked-token");
    expect(staticVault.requests).toHaveLength(1);
  });

  it("reports a missing path as not found, without caching the miss", async () => {
    const vault = await vaultServer();
    const client = createVault({ addr: vault.addr, token: ROOT_TOKEN });
    const error = await caught(client.read("gpubroker/providers/nebius"));
    expect(error).toMatchObject({ code: "VAULT_NOT_FOUND", status: 404, message: "vault has no secret at secret/gpubroker/providers/nebius" });
    vault.state.secrets.set("gpubroker/providers/nebius", { api_key: "nb-1" });
    expect(await client.read("gpubroker/providers/nebius")).toEqual({ api_key: "nb-1" });
  });

  it("reports a sealed Vault on read and on login", async () => {
    const vault = await vaultServer();
    vault.state.sealed = true;
    const onRead = await caught(createVault({ addr: vault.addr, token: ROOT_TOKEN }).read("gpubroker/db"));
    expect(onRead).toMatchObject({ code: "VAULT_SEALED", status: 503, message: "vault is sealed or unavailable (503: Vault is sealed)" });
    const onLogin = await caught(createVault(appRole(vault.addr)).read("gpubroker/db"));
    expect(onLogin).toMatchObject({ code: "VAULT_SEALED", status: 503 });
  });

  it("reports refused AppRole credentials, an unreachable Vault, a silent one and a non-KV answer", async () => {
    const vault = await vaultServer();
    const refused = await caught(createVault({ addr: vault.addr, roleId: ROLE_ID, secretId: "wrong-secret-id" }).read("gpubroker/db"));
    expect(refused).toMatchObject({ code: "VAULT_LOGIN_FAILED", status: 400, message: "vault AppRole login refused (400: invalid role or secret ID)" });
    expect(refused.message).not.toContain("wrong-secret-id");

    await vault.close();
    const unreachable = await caught(createVault({ addr: vault.addr, token: ROOT_TOKEN }).read("gpubroker/db"));
    expect(unreachable).toMatchObject({ code: "VAULT_UNAVAILABLE", status: null });

    const silent = createServer(() => { /* never answers */ });
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    servers.push({ close: () => new Promise((resolve) => { silent.closeAllConnections(); silent.close(() => resolve()); }) });
    const timedOut = await caught(createVault({ addr: `http://127.0.0.1:${(silent.address() as AddressInfo).port}`, token: ROOT_TOKEN, timeoutMs: 100 })
      .read("gpubroker/db"));
    expect(timedOut).toMatchObject({ code: "VAULT_UNAVAILABLE", message: "vault /v1/secret/data/gpubroker/db: no answer within 100 ms" });

    const v1 = await vaultServer();
    const kv1 = await caught(createVault({ addr: v1.addr, token: ROOT_TOKEN, mount: "kv1" }).read("gpubroker/db"));
    expect(kv1).toMatchObject({ code: "VAULT_BAD_RESPONSE", status: 200,
      message: "vault answer for kv1/gpubroker/db has no data.data object (is kv1 a KV v2 mount?)" });
    expect(v1.requests[0]!.path).toBe("/v1/kv1/data/gpubroker/db");
  });

  it("refuses to start without credentials and rejects paths that escape the mount", async () => {
    expect(() => createVault({ addr: "http://127.0.0.1:8200" })).toThrow("createVault: give a token, or roleId and secretId");
    expect(() => createVault({ addr: "http://127.0.0.1:8200", roleId: ROLE_ID })).toThrow("createVault: give a token");
    const client = createVault({ addr: "http://127.0.0.1:8200", token: ROOT_TOKEN });
    for (const path of ["", "/", "gpubroker/../sys/seal", "a//b"]) await expect(client.read(path)).rejects.toThrow("vault: invalid secret path");
  });
});

describe("providerApiKey", () => {
  it("names the environment variable after the slug", () => {
    expect(["runpod", "primeintellect", "my-cloud"].map(apiKeyEnvName)).toEqual(["RUNPOD_API_KEY", "PRIMEINTELLECT_API_KEY", "MY_CLOUD_API_KEY"]);
  });

  it("takes the environment first, then Vault's gpubroker/providers/<slug> api_key, else null", async () => {
    const vault = await vaultServer();
    const client = createVault({ addr: vault.addr, token: ROOT_TOKEN });
    const env = { RUNPOD_API_KEY: "rp-from-env", LAMBDA_API_KEY: "  ", SHADEFORM_API_KEY: undefined };

    expect(await providerApiKey("runpod", { env, vault: client })).toBe("rp-from-env");
    expect(vault.requests).toHaveLength(0);
    expect(await providerApiKey("lambda", { env, vault: client })).toBe("lambda-live-456");
    expect(vault.requests.map((r) => r.path)).toEqual(["/v1/secret/data/gpubroker/providers/lambda"]);
    expect(await providerApiKey("vast", { env, vault: client })).toBeNull(); // path exists, no api_key
    expect(await providerApiKey("shadeform", { env, vault: client })).toBeNull(); // no path
    expect(await providerApiKey("lambda", { env })).toBeNull(); // no Vault configured
  });

  it("lets Vault failures other than a missing path through", async () => {
    const vault = await vaultServer();
    vault.state.sealed = true;
    await expect(providerApiKey("lambda", { env: {}, vault: createVault({ addr: vault.addr, token: ROOT_TOKEN }) }))
      .rejects.toMatchObject({ code: "VAULT_SEALED" });
  });
});
