// The secret sealer over Vault's transit engine, through the real client (src/infra/vault.ts), against a local
// server that speaks the transit API as documented (https://developer.hashicorp.com/vault/api-docs/secret/transit):
// X-Vault-Token, AppRole login, encrypt / decrypt / rewrap, key versions (rotate, min_decryption_version),
// 400 `{"errors":[…]}` on a bad ciphertext, 403 on a bad token, 503 when sealed.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto";
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { loadConfig, type IntegrationKey } from "../../src/config.ts";
import { createSecretSealer, inspectSealed, secretSealerFromConfig, type SecretErrorCode } from "../../src/infra/secret-sealer.ts";
import { secretFailure } from "../support/secrets.ts";
import { createVault, createVaultConnection, createVaultTransit, VaultError } from "../../src/infra/vault.ts";

const ROOT_TOKEN = "hvs.root-token-7c2a";
const ROLE_ID = "5e0b9d1c-role-id";
const SECRET_ID = "a41f6e27-secret-id";
const KEY = "gpubroker-integrations";
const SECRET = "vast_live_2c4e6a8b0d1f3e5a7c9b";
const OWNER = "user_42|vast|integration_9";

interface Seen { method: string; path: string; headers: IncomingHttpHeaders; body: Record<string, unknown> | null }
interface TransitKey { versions: Buffer[]; minDecryptionVersion: number }

const servers: { close(): Promise<void> }[] = [];
afterEach(async () => { await Promise.all(servers.splice(0).map((s) => s.close())); });

/** A Vault with a transit mount at `transit/` (aes256-gcm96 keys, created on first encrypt), AppRole, and a KV v2 secret. */
async function vaultServer() {
  const state = {
    sealed: false,
    keys: new Map<string, TransitKey>(),
    tokens: new Set<string>([ROOT_TOKEN]),
    issued: 0,
  };
  const requests: Seen[] = [];

  const seal = (key: TransitKey, plaintext: Buffer) => {
    const version = key.versions.length;
    const nonce = randomBytes(12);
    const cipher = createCipheriv("aes-256-gcm", key.versions[version - 1]!, nonce);
    const sealed = Buffer.concat([nonce, cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
    return { ciphertext: `vault:v${version}:${sealed.toString("base64")}`, key_version: version };
  };
  /** Vault's decrypt: the error strings are Vault's own. */
  const open = (key: TransitKey, ciphertext: unknown): Buffer | string => {
    if (typeof ciphertext !== "string" || ciphertext === "") return "missing ciphertext to decrypt";
    if (!ciphertext.startsWith("vault:v")) return "invalid ciphertext: no prefix";
    const [, versionText = "", payload = ""] = /^vault:v([^:]*):(.*)$/s.exec(ciphertext) ?? [];
    const version = Number(versionText);
    if (!Number.isInteger(version) || version < 1) return "invalid ciphertext: version number could not be decoded";
    if (version > key.versions.length) return "invalid ciphertext: version is too new";
    if (version < key.minDecryptionVersion) return "ciphertext or signature version is disallowed by policy (too old)";
    const blob = Buffer.from(payload, "base64");
    if (blob.toString("base64") !== payload) return "invalid ciphertext: could not decode ciphertext";
    if (blob.length < 28) return "invalid ciphertext: too short";
    try {
      const decipher = createDecipheriv("aes-256-gcm", key.versions[version - 1]!, blob.subarray(0, 12));
      decipher.setAuthTag(blob.subarray(-16));
      return Buffer.concat([decipher.update(blob.subarray(12, -16)), decipher.final()]);
    } catch {
      return "cipher: message authentication failed";
    }
  };

  const server = createServer((req, res) => {
    let text = "";
    req.on("data", (chunk: Buffer) => { text += chunk.toString(); });
    req.on("end", () => {
      let body: Record<string, unknown> | null = null;
      try { body = text ? JSON.parse(text) as Record<string, unknown> : null; } catch { /* Vault answers 400 below */ }
      requests.push({ method: req.method!, path: req.url!, headers: req.headers, body });
      const reply = (status: number, json?: unknown) => {
        res.writeHead(status, json === undefined ? {} : { "content-type": "application/json" });
        res.end(json === undefined ? undefined : JSON.stringify(json));
      };
      const ok = (data: unknown) => reply(200, { request_id: `req-${requests.length}`, lease_id: "", renewable: false, lease_duration: 0, data, wrap_info: null, warnings: null, auth: null, mount_type: "transit" });
      const fail = (status: number, ...errors: string[]) => reply(status, { errors });
      if (state.sealed) return fail(503, "Vault is sealed");
      if (text && !body) return fail(400, "failed to parse JSON input");
      if (req.method === "POST" && req.url === "/v1/auth/approle/login") {
        if (body?.role_id !== ROLE_ID || body?.secret_id !== SECRET_ID) return fail(400, "invalid role or secret ID");
        const token = `hvs.approle-${++state.issued}`;
        state.tokens.add(token);
        return reply(200, { auth: { client_token: token, accessor: `acc-${state.issued}`, policies: ["default", "gpubroker"], lease_duration: 3600, renewable: true } });
      }
      if (!state.tokens.has(String(req.headers["x-vault-token"] ?? ""))) return fail(403, "permission denied");
      if (req.method === "GET" && req.url === "/v1/secret/data/gpubroker/db") return ok({ data: { password: "pg-secret" }, metadata: { version: 1 } });

      const route = /^\/v1\/transit\/(encrypt|decrypt|rewrap|keys)\/([\w.@-]+)(\/rotate|\/config)?$/.exec(req.url ?? "");
      if (!route || (req.method !== "POST" && req.method !== "PUT")) return fail(404, `no handler for route "${req.url?.slice(4)}". route entry not found.`);
      const [, operation, name, keyAction] = route as unknown as [string, string, string, string | undefined];
      let key = state.keys.get(name);
      if (operation === "encrypt") {
        const plaintext = body?.plaintext;
        if (typeof plaintext !== "string") return fail(400, "missing plaintext to encrypt");
        if (!/^[A-Za-z0-9+/]*={0,2}$/.test(plaintext)) return fail(400, "failed to base64-decode plaintext");
        if (!key) state.keys.set(name, key = { versions: [randomBytes(32)], minDecryptionVersion: 1 }); // upsert
        return ok(seal(key, Buffer.from(plaintext, "base64")));
      }
      if (!key) return fail(400, "encryption key not found");
      if (operation === "decrypt" || operation === "rewrap") {
        const plaintext = open(key, body?.ciphertext);
        if (typeof plaintext === "string") return fail(400, plaintext);
        return ok(operation === "decrypt" ? { plaintext: plaintext.toString("base64") } : seal(key, plaintext));
      }
      if (keyAction === "/rotate") { key.versions.push(randomBytes(32)); return ok({ name, latest_version: key.versions.length }); }
      if (keyAction === "/config") { key.minDecryptionVersion = Number(body?.min_decryption_version ?? 1); return reply(204); }
      return fail(405, "unsupported operation");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const addr = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const handle = {
    addr, state, requests,
    /** What an operator runs: `vault write -f transit/keys/<key>/rotate`, `… transit/keys/<key>/config min_decryption_version=N`. */
    admin: (path: string, body: unknown = {}) => fetch(`${addr}/v1/transit/keys/${KEY}${path}`, { method: "POST", headers: { "x-vault-token": ROOT_TOKEN }, body: JSON.stringify(body) }),
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
  servers.push(handle);
  return handle;
}

const sealerFor = (addr: string, token = ROOT_TOKEN) => createSecretSealer({ transit: createVaultTransit({ addr, token }) });
const ciphertextIn = (sealed: string) => Buffer.from(sealed.split(".")[3]!, "base64url").toString();

/** What no error may show: the secret, the tokens, the AppRole credentials, a master key. */
const legacyKey: IntegrationKey = { id: "k1", key: createHash("sha256").update("legacy key").digest() };
const forbidden = [SECRET, ROOT_TOKEN, ROLE_ID, SECRET_ID, "hvs.approle-", "hvs.revoked-token", legacyKey.key.toString("base64"), legacyKey.key.toString("hex")];

const failure = (call: Promise<unknown>, code: SecretErrorCode) => secretFailure(call, code, forbidden);

describe("secret sealer over Vault transit", () => {
  it("encrypts through transit/encrypt with the token and decrypts through transit/decrypt", async () => {
    const vault = await vaultServer();
    const sealer = sealerFor(`${vault.addr}/`);
    const sealed = await sealer.seal(SECRET, OWNER);

    expect(sealed).toMatch(/^gbs1\.transit\.v1\.[A-Za-z0-9_-]+$/);
    expect(ciphertextIn(sealed)).toMatch(/^vault:v1:[A-Za-z0-9+/]+=*$/);
    expect(inspectSealed(sealed)).toEqual({ backend: "transit", keyId: "v1" });
    expect(sealer.describe()).toEqual({ backend: "transit", activeKeyId: `transit/${KEY}`, ephemeral: false });
    const [encrypt] = vault.requests;
    expect(encrypt).toMatchObject({ method: "POST", path: `/v1/transit/encrypt/${KEY}` });
    expect(encrypt!.headers["x-vault-token"]).toBe(ROOT_TOKEN);
    expect(encrypt!.headers["content-type"]).toBe("application/json");
    // Vault gets [format 1][sha256 of the owner][secret]: the owner binding holds without a derived key.
    const sent = Buffer.from(String(encrypt!.body!.plaintext), "base64");
    expect(sent[0]).toBe(1);
    expect(sent.subarray(1, 33)).toEqual(createHash("sha256").update(`gbs1 secret|${OWNER}`).digest());
    expect(sent.subarray(33).toString()).toBe(SECRET);

    expect(await sealer.open(sealed, OWNER)).toBe(SECRET);
    expect(vault.requests[1]).toMatchObject({ method: "POST", path: `/v1/transit/decrypt/${KEY}`, body: { ciphertext: ciphertextIn(sealed) } });
  });

  it("refuses another owner (aad) after Vault decrypts, and a changed ciphertext that Vault refuses with 400", async () => {
    const vault = await vaultServer();
    const sealer = sealerFor(vault.addr);
    const sealed = await sealer.seal(SECRET, OWNER);
    await failure(sealer.open(sealed, "user_43|vast|integration_9"), "SECRET_TAMPERED");
    await failure(sealer.rewrap(sealed, "user_43|vast|integration_9"), "SECRET_TAMPERED");

    const ciphertext = ciphertextIn(sealed);
    const flipped = `${ciphertext.slice(0, 12)}${ciphertext[12] === "A" ? "B" : "A"}${ciphertext.slice(13)}`;
    const changed = `gbs1.transit.v1.${Buffer.from(flipped).toString("base64url")}`;
    const error = await failure(sealer.open(changed, OWNER), "SECRET_TAMPERED");
    expect(error.message).toBe(`the sealed secret does not open: vault transit decrypt with transit/${KEY} refused (400: cipher: message authentication failed)`);
    expect(error.details).toEqual({ vaultCode: "VAULT_REJECTED", status: 400 });

    const noPrefix = `gbs1.transit.v1.${Buffer.from(ciphertext.replace("vault:", "vault;")).toString("base64url")}`;
    await failure(sealer.open(noPrefix, OWNER), "SECRET_TAMPERED"); // caught before Vault: the key id no longer matches
    const requestsBefore = vault.requests.length;
    await failure(sealer.open(sealed.replace(".v1.", ".v2."), OWNER), "SECRET_TAMPERED");
    await failure(sealer.open(`${sealed}=`, OWNER), "SECRET_TAMPERED");
    expect(vault.requests.length).toBe(requestsBefore);
  });

  it("rotates: after transit/keys/<key>/rotate old values open, rewrap moves them to v2, min_decryption_version retires v1", async () => {
    const vault = await vaultServer();
    const sealer = sealerFor(vault.addr);
    const rewrapped = await sealer.seal(SECRET, OWNER);
    const forgotten = await sealer.seal("vast_never_rewrapped_0042", "user_7|vast|integration_1");
    expect((await vault.admin("/rotate")).status).toBe(200);

    expect(await sealer.open(rewrapped, OWNER)).toBe(SECRET);
    expect(inspectSealed(await sealer.seal(SECRET, OWNER))?.keyId).toBe("v2");
    const moved = await sealer.rewrap(rewrapped, OWNER);
    expect(inspectSealed(moved!)).toEqual({ backend: "transit", keyId: "v2" });
    expect(vault.requests.at(-1)).toMatchObject({ path: `/v1/transit/rewrap/${KEY}`, body: { ciphertext: ciphertextIn(rewrapped) } });
    expect(await sealer.open(moved!, OWNER)).toBe(SECRET);
    expect(await sealer.rewrap(moved!, OWNER)).toBeNull();

    expect((await vault.admin("/config", { min_decryption_version: 2 })).status).toBe(204);
    expect(await sealer.open(moved!, OWNER)).toBe(SECRET);
    const error = await failure(sealer.open(forgotten, "user_7|vast|integration_1"), "SECRET_UNKNOWN_KEY_ID");
    expect(error.message).toBe(`Vault no longer decrypts this key version: vault transit decrypt with transit/${KEY} refused (400: ciphertext or signature version is disallowed by policy (too old))`);
  });

  it("logs in with AppRole, shares the login with the KV client, and logs in again when the token is revoked", async () => {
    const vault = await vaultServer();
    const connection = createVaultConnection({ addr: vault.addr, roleId: ROLE_ID, secretId: SECRET_ID });
    const kv = createVault({ connection });
    const sealer = createSecretSealer({ transit: createVaultTransit({ connection }) });

    const sealed = await sealer.seal(SECRET, OWNER);
    expect(await kv.read("gpubroker/db")).toEqual({ password: "pg-secret" });
    vault.state.tokens.delete("hvs.approle-1");
    expect(await sealer.open(sealed, OWNER)).toBe(SECRET);
    expect(vault.requests.map((r) => [r.method, r.path, r.headers["x-vault-token"] ?? null])).toEqual([
      ["POST", "/v1/auth/approle/login", null],
      ["POST", `/v1/transit/encrypt/${KEY}`, "hvs.approle-1"],
      ["GET", "/v1/secret/data/gpubroker/db", "hvs.approle-1"],
      ["POST", `/v1/transit/decrypt/${KEY}`, "hvs.approle-1"],
      ["POST", "/v1/auth/approle/login", null],
      ["POST", `/v1/transit/decrypt/${KEY}`, "hvs.approle-2"],
    ]);
  });

  it("maps Vault down, a refused token, a sealed Vault and a refused login to coded errors, without secrets", async () => {
    const vault = await vaultServer();
    const sealed = await sealerFor(vault.addr).seal(SECRET, OWNER);

    const denied = await failure(sealerFor(vault.addr, "hvs.revoked-token").open(sealed, OWNER), "SECRET_BACKEND_REFUSED");
    expect(denied.message).toBe(`secret backend refused: vault transit decrypt with transit/${KEY} denied (403: permission denied)`);
    expect(denied.details).toEqual({ vaultCode: "VAULT_PERMISSION_DENIED", status: 403 });
    const login = createSecretSealer({ transit: createVaultTransit({ addr: vault.addr, roleId: ROLE_ID, secretId: "wrong-secret-id" }) });
    const refused = await failure(login.seal(SECRET, OWNER), "SECRET_BACKEND_REFUSED");
    expect(refused.details).toEqual({ vaultCode: "VAULT_LOGIN_FAILED", status: 400 });
    expect(refused.message).not.toContain("wrong-secret-id");

    vault.state.sealed = true;
    const sealedVault = await failure(sealerFor(vault.addr).open(sealed, OWNER), "SECRET_BACKEND_UNAVAILABLE");
    expect(sealedVault.message).toBe("secret backend unavailable: vault is sealed or unavailable (503: Vault is sealed)");
    expect(sealedVault.details).toEqual({ vaultCode: "VAULT_SEALED", status: 503 });
    await failure(sealerFor(vault.addr).seal(SECRET, OWNER), "SECRET_BACKEND_UNAVAILABLE");

    await vault.close();
    const down = await failure(sealerFor(vault.addr).seal(SECRET, OWNER), "SECRET_BACKEND_UNAVAILABLE");
    expect(down.details).toEqual({ vaultCode: "VAULT_UNAVAILABLE", status: null });
    expect(down.message).toMatch(/^secret backend unavailable: vault \/v1\/transit\/encrypt\/gpubroker-integrations: /);

    const silent = createServer(() => { /* never answers */ });
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    servers.push({ close: () => new Promise((resolve) => { silent.closeAllConnections(); silent.close(() => resolve()); }) });
    const slow = createSecretSealer({ transit: createVaultTransit({ addr: `http://127.0.0.1:${(silent.address() as AddressInfo).port}`, token: ROOT_TOKEN, timeoutMs: 100 }) });
    const timedOut = await failure(slow.open(sealed, OWNER), "SECRET_BACKEND_UNAVAILABLE");
    expect(timedOut.message).toBe(`secret backend unavailable: vault /v1/transit/decrypt/${KEY}: no answer within 100 ms`);
  });

  it("reports a missing transit mount or key as SECRET_KEY_MISSING", async () => {
    const vault = await vaultServer();
    const sealed = await sealerFor(vault.addr).seal(SECRET, OWNER);
    const noMount = createSecretSealer({ transit: createVaultTransit({ addr: vault.addr, token: ROOT_TOKEN, mount: "kms" }) });
    const error = await failure(noMount.seal(SECRET, OWNER), "SECRET_KEY_MISSING");
    expect(error.message).toMatch(/^no Vault transit key to use: vault transit encrypt with kms\/gpubroker-integrations: no such route \(404: no handler for route/);
    const otherKey = createSecretSealer({ transit: createVaultTransit({ addr: vault.addr, token: ROOT_TOKEN, key: "deleted-key" }) });
    const gone = await failure(otherKey.open(sealed, OWNER), "SECRET_KEY_MISSING");
    expect(gone.message).toBe("no Vault transit key to use: vault transit decrypt with transit/deleted-key refused (400: encryption key not found)");
    expect(vault.requests.at(-1)!.path).toBe("/v1/transit/decrypt/deleted-key");
  });

  it("opens values sealed with INTEGRATION_KEYS before Vault was configured, and rewrap moves them into Vault", async () => {
    const vault = await vaultServer();
    const local = await createSecretSealer({ keys: [legacyKey] }).seal(SECRET, OWNER);
    const both = createSecretSealer({ transit: createVaultTransit({ addr: vault.addr, token: ROOT_TOKEN }), keys: [legacyKey] });
    expect(await both.open(local, OWNER)).toBe(SECRET);
    expect(vault.requests).toHaveLength(0);
    const moved = await both.rewrap(local, OWNER);
    expect(inspectSealed(moved!)).toEqual({ backend: "transit", keyId: "v1" });
    expect(await both.open(moved!, OWNER)).toBe(SECRET);
    await failure(both.rewrap(local, "user_43|vast|integration_9"), "SECRET_TAMPERED");

    const transitOnly = sealerFor(vault.addr);
    const error = await failure(transitOnly.open(local, OWNER), "SECRET_UNKNOWN_KEY_ID");
    expect(error.message).toBe('the sealed secret needs local master key "k1" (INTEGRATION_KEYS), but this server seals with Vault transit');
  });

  it("is what the configuration asks for when VAULT_ADDR is set (mount and key from VAULT_TRANSIT_*)", async () => {
    const vault = await vaultServer();
    const config = loadConfig({ VAULT_ADDR: vault.addr, VAULT_TOKEN: ROOT_TOKEN, VAULT_TRANSIT_KEY: "user-provider-keys", INTEGRATION_KEYS: `k1:${legacyKey.key.toString("base64")}` });
    const sealer = secretSealerFromConfig(config);
    expect(sealer.describe()).toEqual({ backend: "transit", activeKeyId: "transit/user-provider-keys", ephemeral: false });
    expect(await sealer.open(await sealer.seal(SECRET, OWNER), OWNER)).toBe(SECRET);
    expect(vault.requests.map((r) => r.path)).toEqual(["/v1/transit/encrypt/user-provider-keys", "/v1/transit/decrypt/user-provider-keys"]);
  });
});

describe("Vault transit client", () => {
  it("answers Vault's ciphertext and key version, and types a 400 with Vault's errors", async () => {
    const vault = await vaultServer();
    const transit = createVaultTransit({ addr: vault.addr, token: ROOT_TOKEN });
    const { ciphertext, keyVersion } = await transit.encrypt(Buffer.from("hello"));
    expect([ciphertext.startsWith("vault:v1:"), keyVersion]).toEqual([true, 1]);
    expect((await transit.decrypt(ciphertext)).toString()).toBe("hello");
    await vault.admin("/rotate");
    expect((await transit.rewrap(ciphertext)).keyVersion).toBe(2);

    const error = await transit.decrypt("not-a-ciphertext").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(VaultError);
    expect(error).toMatchObject({ code: "VAULT_REJECTED", status: 400, vaultErrors: ["invalid ciphertext: no prefix"] });
    expect(() => createVaultTransit({ addr: vault.addr })).toThrow("createVaultTransit: give a token, or roleId and secretId for AppRole login");
  });
});
