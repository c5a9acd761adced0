// The local envelope backend of the secret sealer (users' provider keys at rest, issue 17): round trip, owner
// binding, tampering, key ids, rotation, the refusing and ephemeral modes, lastFour, and INTEGRATION_KEYS parsing.
// Vault transit is in test/integration/vault-transit.test.ts.
import { createDecipheriv, createHash } from "node:crypto";
import { inspect } from "node:util";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig, type IntegrationKey } from "../../src/config.ts";
import { createSecretSealer, inspectSealed, lastFour, secretSealerFromConfig, type SecretErrorCode } from "../../src/infra/secret-sealer.ts";
import { secretFailure } from "../support/secrets.ts";

const masterKey = (id: string): IntegrationKey => ({ id, key: createHash("sha256").update(`test master key ${id}`).digest() });
const k1 = masterKey("k1");
const k2 = masterKey("k2");
const SECRET = "rpa_LIVE_9f8e7d6c5b4a3210fedcba98";
const OWNER = "user_42|runpod|integration_7";
const OTHER_OWNER = "user_43|runpod|integration_7";

/** What no error may ever show: the secret and the master keys, in every encoding a key is written in. */
const forbidden = [SECRET, ...[k1, k2].flatMap((k) => [k.key.toString("base64"), k.key.toString("base64url"), k.key.toString("hex")])];

const failure = (call: Promise<unknown>, code: SecretErrorCode) => secretFailure(call, code, forbidden);

const b64u = (bytes: Buffer) => bytes.toString("base64url");
/** The value with one bit of part `index` (decoded) flipped, re-encoded as a valid base64url part. */
function flipBit(sealed: string, index: number): string {
  const parts = sealed.split(".");
  const bytes = Buffer.from(parts[index]!, "base64url");
  bytes[0] = bytes[0]! ^ 0x01;
  parts[index] = b64u(bytes);
  return parts.join(".");
}

describe("local envelope sealer", () => {
  it("seals to a self-describing string that opens for the same owner", async () => {
    const sealer = createSecretSealer({ keys: [k1] });
    const sealed = await sealer.seal(SECRET, OWNER);

    expect(sealed).toMatch(/^gbs1\.local\.k1(\.[A-Za-z0-9_-]+){6}$/);
    expect(sealed).not.toContain(SECRET);
    expect(inspectSealed(sealed)).toEqual({ backend: "local", keyId: "k1" });
    expect(await sealer.open(sealed, OWNER)).toBe(SECRET);
    expect(sealer.describe()).toEqual({ backend: "local", activeKeyId: "k1", ephemeral: false });
    // A fresh data key and IVs every time.
    expect(await sealer.seal(SECRET, OWNER)).not.toBe(sealed);
    for (const text of ["", "ü€😀 \n\t", "x".repeat(10_000)]) expect(await sealer.open(await sealer.seal(text, OWNER), OWNER)).toBe(text);
  });

  it("writes exactly the documented format: the data key wrapped under the master key, the secret under the data key", async () => {
    const sealed = await createSecretSealer({ keys: [k1] }).seal(SECRET, OWNER);
    const parts = sealed.split(".");
    expect(parts.slice(0, 3)).toEqual(["gbs1", "local", "k1"]);
    const [wrapIv, wrapTag, wrappedKey, iv, tag, ciphertext] = parts.slice(3).map((p) => Buffer.from(p, "base64url"));
    expect([wrapIv, wrapTag, wrappedKey, iv, tag, ciphertext].map((b) => b!.length)).toEqual([12, 16, 32, 12, 16, SECRET.length]);

    const open = (key: Buffer, nonce: Buffer, authTag: Buffer, data: Buffer, aad: string) => {
      const d = createDecipheriv("aes-256-gcm", key, nonce).setAAD(Buffer.from(aad));
      d.setAuthTag(authTag);
      return Buffer.concat([d.update(data), d.final()]);
    };
    const dataKey = open(k1.key, wrapIv!, wrapTag!, wrappedKey!, `gbs1 data key|k1|${OWNER}`);
    expect(open(dataKey, iv!, tag!, ciphertext!, `gbs1 secret|${OWNER}`).toString()).toBe(SECRET);
  });

  it("still opens a value sealed by an earlier build (the stored format is stable)", async () => {
    const stored = "gbs1.local.k1.COmtUJQHQSjZPxfa.khvj2-XGl43SZCK2_Wq45A.ZdCkMQZxH0PLBYGFgPz49l6AtmQMidtPylywKvVskaw.qSGeSecvUHKGBVUH.g9PipkVXNixgb4DsEYKREQ.TOKgzg6AcF4H6mpjPuztb5aJ7cMThWYekVbU393ZcWXr";
    expect(await createSecretSealer({ keys: [k1] }).open(stored, OWNER)).toBe(SECRET);
  });

  it("refuses to open for another owner (aad), or with the aad missing", async () => {
    const sealer = createSecretSealer({ keys: [k1] });
    const sealed = await sealer.seal(SECRET, OWNER);
    const error = await failure(sealer.open(sealed, OTHER_OWNER), "SECRET_TAMPERED");
    expect(error.message).toBe("the sealed secret does not open: it was changed, or it belongs to another owner");
    await failure(sealer.rewrap(sealed, OTHER_OWNER), "SECRET_TAMPERED");
    await expect(sealer.open(sealed, "")).rejects.toThrow(TypeError);
    await expect(sealer.seal(SECRET, "")).rejects.toThrow("aad must be a non-empty string");
  });

  it("detects a change to any part: wrap IV, wrap tag, wrapped key, IV, tag, ciphertext", async () => {
    const sealer = createSecretSealer({ keys: [k1, k2] });
    const sealed = await sealer.seal(SECRET, OWNER);
    for (const index of [3, 4, 5, 6, 7, 8]) {
      await failure(sealer.open(flipBit(sealed, index), OWNER), "SECRET_TAMPERED");
      await failure(sealer.rewrap(flipBit(sealed, index), OWNER), "SECRET_TAMPERED");
    }
    const parts = sealed.split(".");
    const edit = (index: number, part: string) => parts.map((p, i) => (i === index ? part : p)).join(".");
    // The 16-byte tag ends in a character with 4 unused bits: a lenient decoder would not see this change.
    const tag = parts[7]!;
    const alias = [..."ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"]
      .find((c) => c !== tag.at(-1) && Buffer.from(tag.slice(0, -1) + c, "base64url").equals(Buffer.from(tag, "base64url")))!;
    expect(alias).toBeDefined();
    const edited = [
      edit(2, "k2"), // another configured master key
      edit(8, parts[8]!.slice(0, -2)), // a shorter ciphertext
      edit(6, `${parts[6]!}AAAA`), // an IV of the wrong length
      edit(7, tag.slice(0, -1) + alias), // the same bytes, written differently
      edit(8, `${parts[8]!}=`), // padding
      edit(8, parts[8]!.replace(/.$/, "+")), // a character outside base64url
      parts.slice(0, 8).join("."), // a part missing
      [...parts, "AA"].join("."),
      sealed.replace("gbs1.", "gbs2."),
      "not sealed at all",
    ];
    for (const value of edited) await failure(sealer.open(value, OWNER), "SECRET_TAMPERED");
  });

  it("detects parts of two values spliced together (same master key, same owner)", async () => {
    const sealer = createSecretSealer({ keys: [k1] });
    const a = (await sealer.seal(SECRET, OWNER)).split(".");
    const b = (await sealer.seal("another-secret", OWNER)).split(".");
    await failure(sealer.open([...a.slice(0, 6), ...b.slice(6)].join("."), OWNER), "SECRET_TAMPERED");
  });

  it("names the missing master key of a value sealed under a key no longer configured", async () => {
    const sealed = await createSecretSealer({ keys: [k1] }).seal(SECRET, OWNER);
    const error = await failure(createSecretSealer({ keys: [k2] }).open(sealed, OWNER), "SECRET_UNKNOWN_KEY_ID");
    expect(error.message).toBe('the sealed secret needs master key "k1", which is not in INTEGRATION_KEYS (configured: k2)');
    expect(error.details).toEqual({ keyId: "k1" });
    await failure(createSecretSealer({ keys: [k2] }).rewrap(sealed, OWNER), "SECRET_UNKNOWN_KEY_ID");
  });

  it("rotates: add k2 in front, rewrap every value to k2, then drop k1", async () => {
    const before = createSecretSealer({ keys: [k1] });
    const rewrapped = await before.seal(SECRET, OWNER);
    const forgotten = await before.seal("sk-never-rewrapped-0042", OTHER_OWNER);

    const during = createSecretSealer({ keys: [k2, k1] });
    expect(during.describe().activeKeyId).toBe("k2");
    expect(await during.open(rewrapped, OWNER)).toBe(SECRET);
    expect(inspectSealed(await during.seal(SECRET, OWNER))?.keyId).toBe("k2");
    const moved = await during.rewrap(rewrapped, OWNER);
    expect(inspectSealed(moved!)).toEqual({ backend: "local", keyId: "k2" });
    // Only the wrapped data key changes: the secret's own IV, tag and ciphertext stay.
    expect(moved!.split(".").slice(6)).toEqual(rewrapped.split(".").slice(6));
    expect(await during.open(moved!, OWNER)).toBe(SECRET);
    expect(await during.rewrap(moved!, OWNER)).toBeNull();

    const after = createSecretSealer({ keys: [k2] });
    expect(await after.open(moved!, OWNER)).toBe(SECRET);
    const error = await failure(after.open(forgotten, OTHER_OWNER), "SECRET_UNKNOWN_KEY_ID");
    expect(error.message).toContain('needs master key "k1"');
  });

  it("refuses every operation with SECRET_KEY_MISSING when no key is configured", async () => {
    const sealer = createSecretSealer({});
    expect(sealer.describe()).toEqual({ backend: "none", activeKeyId: null, ephemeral: false });
    const error = await failure(sealer.seal(SECRET, OWNER), "SECRET_KEY_MISSING");
    expect(error.message).toMatch(/set INTEGRATION_KEYS \(or VAULT_ADDR/);
    await failure(sealer.open("gbs1.local.k1.x", OWNER), "SECRET_KEY_MISSING");
    await failure(sealer.rewrap("gbs1.local.k1.x", OWNER), "SECRET_KEY_MISSING");
  });

  it("uses an ephemeral key only when asked, and a later run reports its values as sealed under an unknown key", async () => {
    const first = createSecretSealer({ ephemeral: true });
    expect(first.describe()).toMatchObject({ backend: "local", ephemeral: true, activeKeyId: expect.stringMatching(/^ephemeral-[0-9a-f]{8}$/) });
    const sealed = await first.seal(SECRET, OWNER);
    expect(await first.open(sealed, OWNER)).toBe(SECRET);
    const error = await failure(createSecretSealer({ ephemeral: true }).open(sealed, OWNER), "SECRET_UNKNOWN_KEY_ID");
    expect(error.message).toContain("an ephemeral key of an earlier run is gone for good");
    // Configured keys win over the ephemeral one.
    expect(createSecretSealer({ keys: [k1], ephemeral: true }).describe()).toEqual({ backend: "local", activeKeyId: "k1", ephemeral: false });
  });

  it("says which key a Vault-sealed value needs when Vault is not configured", async () => {
    const sealer = createSecretSealer({ keys: [k1] });
    const fromVault = `gbs1.transit.v3.${Buffer.from("vault:v3:AAAA").toString("base64url")}`;
    const error = await failure(sealer.open(fromVault, OWNER), "SECRET_UNKNOWN_KEY_ID");
    expect(error.message).toBe("the sealed secret needs Vault transit key version v3 (VAULT_ADDR), but this server seals with INTEGRATION_KEYS");
  });

  it("rejects master keys of the wrong size or id when built directly", () => {
    expect(() => createSecretSealer({ keys: [{ id: "k1", key: Buffer.alloc(16) }] })).toThrow('master key "k1" needs');
    expect(() => createSecretSealer({ keys: [{ id: "k 1", key: Buffer.alloc(32) }] })).toThrow(TypeError);
  });
});

describe("secretSealerFromConfig without Vault", () => {
  const keys = `k2:${k2.key.toString("base64")},k1:${k1.key.toString("base64url")}`;

  it("seals under the first INTEGRATION_KEYS key and opens with any", async () => {
    const sealer = secretSealerFromConfig(loadConfig({ INTEGRATION_KEYS: keys }));
    expect(sealer.describe()).toEqual({ backend: "local", activeKeyId: "k2", ephemeral: false });
    const old = await createSecretSealer({ keys: [k1] }).seal(SECRET, OWNER);
    expect(await sealer.open(old, OWNER)).toBe(SECRET);
  });

  it("refuses without keys, in production too; an ephemeral key only outside production", async () => {
    await failure(secretSealerFromConfig(loadConfig({})).seal(SECRET, OWNER), "SECRET_KEY_MISSING");
    expect(secretSealerFromConfig(loadConfig({ INTEGRATION_KEYS_EPHEMERAL: "true" })).describe()).toMatchObject({ backend: "local", ephemeral: true });
    expect(secretSealerFromConfig(loadConfig({ NODE_ENV: "test", INTEGRATION_KEYS_EPHEMERAL: "1" })).describe()).toMatchObject({ ephemeral: true });
  });
});

describe("lastFour", () => {
  it("shows the last four characters behind a fixed mask, and at most a quarter of a short secret", () => {
    expect(lastFour(SECRET)).toBe("****ba98");
    expect(lastFour("abcdefghijklmnop")).toBe("****mnop");
    expect(lastFour("abcdefgh")).toBe("****gh");
    expect(lastFour("abcdefg")).toBe("****g");
    expect(lastFour("abc")).toBe("****");
    expect(lastFour("")).toBe("");
    expect(lastFour("key-with-emoji-😀😀")).toBe("****i-😀😀");
  });
});

describe("INTEGRATION_KEYS configuration", () => {
  const b64 = (bytes: number, fill = 7) => Buffer.alloc(bytes, fill).toString("base64");
  const problems = (env: Record<string, string>) => {
    try { loadConfig(env); return []; } catch (err) { if (err instanceof ConfigError) return err.problems; throw err; }
  };

  it("parses ids and 32-byte keys in order, in base64 or base64url, padded or not", () => {
    const [plus, dash] = [Buffer.alloc(32, 0xfb), Buffer.alloc(32, 0xfe)];
    expect(plus.toString("base64")).toMatch(/^[^-_]*[+/][^-_]*=$/);
    expect(dash.toString("base64url")).toMatch(/^[^+/=]*[-_][^+/=]*$/);
    const config = loadConfig({ INTEGRATION_KEYS: ` k2:${plus.toString("base64")} , k_1-old:${dash.toString("base64url")},` });
    expect(config.INTEGRATION_KEYS!.map((k) => [k.id, k.key.toString("hex")])).toEqual([["k2", "fb".repeat(32)], ["k_1-old", "fe".repeat(32)]]);
    expect(loadConfig({}).INTEGRATION_KEYS).toBeUndefined();
    expect(loadConfig({})).toMatchObject({ VAULT_TRANSIT_MOUNT: "transit", VAULT_TRANSIT_KEY: "gpubroker-integrations", INTEGRATION_KEYS_EPHEMERAL: false });
  });

  it("never prints the key material (JSON, util.inspect)", () => {
    const config = loadConfig({ INTEGRATION_KEYS: `k1:${k1.key.toString("base64")}` });
    expect(JSON.stringify(config.INTEGRATION_KEYS)).toBe('[{"id":"k1","key":"[redacted]"}]');
    expect(inspect(config.INTEGRATION_KEYS)).toBe("[ IntegrationKey { id: 'k1', key: [redacted] } ]");
  });

  it("rejects wrong lengths, bad base64, bad or duplicate ids and repeated keys, one line each, without the key", () => {
    const secretish = b64(32, 9);
    expect(problems({ INTEGRATION_KEYS: `k1:${b64(16)}` })).toEqual(["INTEGRATION_KEYS: key \"k1\" must be 32 bytes, got 16 (make one with: openssl rand -base64 32)"]);
    expect(problems({ INTEGRATION_KEYS: `k1:${b64(33)}` })).toEqual(["INTEGRATION_KEYS: key \"k1\" must be 32 bytes, got 33 (make one with: openssl rand -base64 32)"]);
    expect(problems({ INTEGRATION_KEYS: `k1:${secretish.slice(0, 10)}!${secretish.slice(11)}` })).toEqual(["INTEGRATION_KEYS: key \"k1\" is not valid base64 (make one with: openssl rand -base64 32)"]);
    expect(problems({ INTEGRATION_KEYS: `k1:${secretish.slice(0, 41)}` })).toEqual(["INTEGRATION_KEYS: key \"k1\" is not valid base64 (make one with: openssl rand -base64 32)"]);
    expect(problems({ INTEGRATION_KEYS: `k1:${b64(32, 1)},k1:${b64(32, 2)}` })).toEqual(["INTEGRATION_KEYS: key id \"k1\" appears twice"]);
    expect(problems({ INTEGRATION_KEYS: `k1:${b64(32, 1)},k2:${b64(32, 1)}` })).toEqual(["INTEGRATION_KEYS: keys \"k1\" and \"k2\" are the same key"]);
    expect(problems({ INTEGRATION_KEYS: `${b64(32)},bad id:${b64(32)}` })).toEqual([
      "INTEGRATION_KEYS: entry 1 must be <id>:<base64 key>, the id 1 to 32 letters, digits, \"_\" or \"-\"",
      "INTEGRATION_KEYS: entry 2 must be <id>:<base64 key>, the id 1 to 32 letters, digits, \"_\" or \"-\"",
    ]);
    expect(problems({ INTEGRATION_KEYS: " , " })).toEqual(["INTEGRATION_KEYS: must list at least one <id>:<base64 key>"]);

    const all = problems({ INTEGRATION_KEYS: `k1:${secretish},k1:${secretish}`, VAULT_TOKEN: "hvs.should-not-show" }).join("\n");
    expect(all).not.toContain(secretish);
    expect(all).not.toContain(secretish.slice(0, 20));
  });

  it("refuses an ephemeral key in production, and checks transit mount and key names", () => {
    const pem = (kind: string) => `-----BEGIN ${kind} KEY-----\nabc\n-----END ${kind} KEY-----`;
    const production = { NODE_ENV: "production", JWT_PRIVATE_KEY: pem("PRIVATE"), JWT_PUBLIC_KEY: pem("PUBLIC") };
    expect(problems({ ...production, INTEGRATION_KEYS_EPHEMERAL: "true" })).toEqual([
      "INTEGRATION_KEYS_EPHEMERAL: is for development and tests only: in production set INTEGRATION_KEYS or VAULT_ADDR",
    ]);
    expect(problems(production)).toEqual([]); // the feature refuses at use (SECRET_KEY_MISSING), the server still starts
    expect(loadConfig({ VAULT_TRANSIT_MOUNT: "kms/transit", VAULT_TRANSIT_KEY: "user-keys.v2" })).toMatchObject({ VAULT_TRANSIT_MOUNT: "kms/transit", VAULT_TRANSIT_KEY: "user-keys.v2" });
    expect(problems({ VAULT_TRANSIT_MOUNT: "../sys", VAULT_TRANSIT_KEY: "a/b" })).toEqual([
      "VAULT_TRANSIT_MOUNT: must be a Vault mount path like transit or kv/transit (got \"../sys\")",
      "VAULT_TRANSIT_KEY: must be a Vault key name (letters, digits, _ . @ -)", // names with KEY are never echoed
    ]);
  });
});
