// Encryption at rest for the API keys users save for their own provider accounts (issue 17).
// One interface, two backends, one stored string per secret:
// - Vault transit (VAULT_ADDR set): Vault encrypts with its named key; we keep "gbs1.transit.v<n>.<Vault's ciphertext>".
//   Vault's plaintext is [1][sha256(aad)][secret], so the owner binding holds with any non-derived transit key.
// - Local envelope (INTEGRATION_KEYS): a random 256-bit data key per secret encrypts it (AES-256-GCM, 96-bit IV,
//   the owner as associated data); the data key is wrapped (AES-256-GCM) under the active master key:
//   "gbs1.local.<keyId>.<wrapIv>.<wrapTag>.<wrappedKey>.<iv>.<tag>.<ciphertext>", every part base64url.
// Rotation: add a key in front, `rewrap` every stored value (null = already current), then drop the old key.
// Errors carry a code; no message holds the plaintext, a master key or a Vault token.
import { createCipheriv, createDecipheriv, createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { Config, IntegrationKey } from "../config.ts";
import { createVaultTransit, transitKeyVersion, VaultError, type VaultConnection, type VaultTransit } from "./vault.ts";

export type SecretErrorCode =
  | "SECRET_KEY_MISSING" // no master key (nor Vault) configured, or the Vault transit mount / key is missing
  | "SECRET_UNKNOWN_KEY_ID" // sealed under a key that is no longer configured (dropped too early) or that Vault no longer allows
  | "SECRET_TAMPERED" // any part changed, not a sealed value, or opened with another owner (aad)
  | "SECRET_BACKEND_UNAVAILABLE" // Vault down, sealed, slow or answering nonsense: try again later
  | "SECRET_BACKEND_REFUSED"; // Vault refused us (403, AppRole login refused, an encrypt it will not do): fix the configuration

export class SecretError extends Error {
  constructor(
    readonly code: SecretErrorCode,
    message: string,
    readonly details: { keyId?: string; vaultCode?: VaultError["code"]; status?: number | null } = {},
  ) {
    super(message);
    this.name = "SecretError";
  }
}

/** A sealed secret: "gbs1.<backend>.<keyId>.<parts…>", every part base64url; fits one text column. */
export type Sealed = string;

export type SealerBackend = "local" | "transit" | "none";

export interface SecretSealer {
  /** Encrypts `plaintext` for the owner `aad` (e.g. "userId|provider|integrationId"); opening needs the same aad. */
  seal(plaintext: string, aad: string): Promise<Sealed>;
  open(sealed: Sealed, aad: string): Promise<string>;
  /** The value under the active key (after checking it opens with `aad`), or null when it already is. */
  rewrap(sealed: Sealed, aad: string): Promise<Sealed | null>;
  /** For logs and admin: the backend and the key new values are sealed under ("transit/<key>" for Vault). */
  describe(): { backend: SealerBackend; activeKeyId: string | null; ephemeral: boolean };
}

const VERSION = "gbs1";
const PART = /^[A-Za-z0-9_-]*$/;
const KEY_ID = /^[A-Za-z0-9_-]{1,32}$/;

/** Backend and key id of a sealed value, read without decrypting (e.g. to count values still under an old key); null when malformed. */
export function inspectSealed(sealed: string): { backend: "local" | "transit"; keyId: string } | null {
  const parts = sealed.split(".");
  if (parts[0] !== VERSION || !KEY_ID.test(parts[2] ?? "")) return null;
  if (parts[1] === "local" && parts.length === 9) return { backend: "local", keyId: parts[2]! };
  if (parts[1] === "transit" && parts.length === 4) return { backend: "transit", keyId: parts[2]! };
  return null;
}

/** For display: the last 4 characters behind a fixed mask ("****wxyz"); at most a quarter of a short secret is shown. */
export function lastFour(secret: string): string {
  const chars = Array.from(secret);
  if (chars.length === 0) return "";
  const shown = Math.min(4, Math.floor(chars.length / 4));
  return `****${chars.slice(chars.length - shown).join("")}`;
}

const tampered = (message = "the sealed secret does not open: it was changed, or it belongs to another owner") =>
  new SecretError("SECRET_TAMPERED", message);

function checkArguments(aad: string, plaintext?: string) {
  if (typeof aad !== "string" || aad === "") throw new TypeError("secret sealer: aad must be a non-empty string naming the owner");
  if (plaintext !== undefined && typeof plaintext !== "string") throw new TypeError("secret sealer: plaintext must be a string");
}

/** Strict base64url: a changed character always changes the bytes (no ignored padding bits or stray characters). */
function decodePart(part: string, length?: number): Buffer {
  const bytes = Buffer.from(part, "base64url");
  if (!PART.test(part) || bytes.toString("base64url") !== part || (length !== undefined && bytes.length !== length)) throw tampered();
  return bytes;
}

// Local envelope ------------------------------------------------------------------------------------------

const IV_BYTES = 12;
const TAG_BYTES = 16;
const DATA_KEY_BYTES = 32;

const dataAad = (aad: string) => Buffer.from(`${VERSION} secret|${aad}`, "utf8");
// The data key is bound to its master key id and owner too, so a wrapped key moved to another row does not open.
const wrapAad = (keyId: string, aad: string) => Buffer.from(`${VERSION} data key|${keyId}|${aad}`, "utf8");

function gcmEncrypt(key: Uint8Array, plaintext: Uint8Array, aad: Buffer) {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv("aes-256-gcm", key, iv, { authTagLength: TAG_BYTES }).setAAD(aad);
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return { iv, tag: cipher.getAuthTag(), ciphertext };
}

function gcmDecrypt(key: Uint8Array, iv: Buffer, tag: Buffer, ciphertext: Buffer, aad: Buffer): Buffer {
  try {
    const decipher = createDecipheriv("aes-256-gcm", key, iv, { authTagLength: TAG_BYTES }).setAAD(aad);
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(ciphertext), decipher.final()]);
  } catch {
    throw tampered();
  }
}

interface LocalParts { keyId: string; wrapIv: Buffer; wrapTag: Buffer; wrappedKey: Buffer; iv: Buffer; tag: Buffer; ciphertext: Buffer }

function parseLocal(sealed: string): LocalParts {
  const parts = sealed.split(".");
  const [, , keyId, wrapIv, wrapTag, wrappedKey, iv, tag, ciphertext] = parts;
  if (parts.length !== 9 || !KEY_ID.test(keyId!)) throw tampered();
  return {
    keyId: keyId!, wrapIv: decodePart(wrapIv!, IV_BYTES), wrapTag: decodePart(wrapTag!, TAG_BYTES), wrappedKey: decodePart(wrappedKey!, DATA_KEY_BYTES),
    iv: decodePart(iv!, IV_BYTES), tag: decodePart(tag!, TAG_BYTES), ciphertext: decodePart(ciphertext!),
  };
}

const formatLocal = (p: LocalParts) =>
  [VERSION, "local", p.keyId, p.wrapIv, p.wrapTag, p.wrappedKey, p.iv, p.tag, p.ciphertext]
    .map((part) => (typeof part === "string" ? part : part.toString("base64url"))).join(".");

interface Envelope {
  seal(plaintext: string, aad: string): Sealed;
  open(sealed: Sealed, aad: string): string;
  rewrap(sealed: Sealed, aad: string): Sealed | null;
  activeKeyId: string;
}

function localEnvelope(keys: readonly IntegrationKey[], ephemeral: boolean): Envelope {
  const active = keys[0]!;
  const byId = new Map(keys.map((k) => [k.id, k.key]));

  function unwrap(p: LocalParts, aad: string): Buffer {
    const master = byId.get(p.keyId);
    if (!master) {
      throw new SecretError("SECRET_UNKNOWN_KEY_ID", `the sealed secret needs master key "${p.keyId}", which is not in INTEGRATION_KEYS (configured: ${keys.map((k) => k.id).join(", ")})${ephemeral ? "; an ephemeral key of an earlier run is gone for good" : ""}`, { keyId: p.keyId });
    }
    return gcmDecrypt(master, p.wrapIv, p.wrapTag, p.wrappedKey, wrapAad(p.keyId, aad));
  }

  function wrap(dataKey: Buffer, aad: string) {
    const { iv, tag, ciphertext } = gcmEncrypt(active.key, dataKey, wrapAad(active.id, aad));
    return { keyId: active.id, wrapIv: iv, wrapTag: tag, wrappedKey: ciphertext };
  }

  /** Opens the value (proving it is intact and the owner's) and hands its data key to `use`, then wipes it. */
  function withDataKey<T>(sealed: string, aad: string, use: (dataKey: Buffer, parts: LocalParts) => T): T {
    const parts = parseLocal(sealed);
    const dataKey = unwrap(parts, aad);
    try {
      return use(dataKey, parts);
    } finally {
      dataKey.fill(0);
    }
  }

  return {
    activeKeyId: active.id,
    seal(plaintext, aad) {
      const dataKey = randomBytes(DATA_KEY_BYTES);
      try {
        const { iv, tag, ciphertext } = gcmEncrypt(dataKey, Buffer.from(plaintext, "utf8"), dataAad(aad));
        return formatLocal({ ...wrap(dataKey, aad), iv, tag, ciphertext });
      } finally {
        dataKey.fill(0);
      }
    },
    open(sealed, aad) {
      return withDataKey(sealed, aad, (dataKey, p) => gcmDecrypt(dataKey, p.iv, p.tag, p.ciphertext, dataAad(aad)).toString("utf8"));
    },
    rewrap(sealed, aad) {
      return withDataKey(sealed, aad, (dataKey, p) => {
        gcmDecrypt(dataKey, p.iv, p.tag, p.ciphertext, dataAad(aad)).fill(0); // only re-wrap what opens
        return p.keyId === active.id ? null : formatLocal({ ...p, ...wrap(dataKey, aad) });
      });
    },
  };
}

// Vault transit -------------------------------------------------------------------------------------------

const TRANSIT_FORMAT = 1;
const AAD_DIGEST_BYTES = 32;
const aadDigest = (aad: string) => createHash("sha256").update(`${VERSION} secret|${aad}`, "utf8").digest();

function fromVault(err: unknown, operation: "encrypt" | "decrypt" | "rewrap"): unknown {
  if (!(err instanceof VaultError)) return err;
  const details = { vaultCode: err.code, status: err.status };
  const says = (text: string) => err.vaultErrors.some((e) => e.includes(text));
  const why = err.message;
  switch (err.code) {
    case "VAULT_UNAVAILABLE": case "VAULT_SEALED": case "VAULT_BAD_RESPONSE":
      return new SecretError("SECRET_BACKEND_UNAVAILABLE", `secret backend unavailable: ${why}`, details);
    case "VAULT_PERMISSION_DENIED": case "VAULT_LOGIN_FAILED":
      return new SecretError("SECRET_BACKEND_REFUSED", `secret backend refused: ${why}`, details);
    case "VAULT_NOT_FOUND":
      return new SecretError("SECRET_KEY_MISSING", `no Vault transit key to use: ${why}`, details);
    case "VAULT_REJECTED":
      if (says("encryption key not found")) return new SecretError("SECRET_KEY_MISSING", `no Vault transit key to use: ${why}`, details);
      if (operation === "encrypt") return new SecretError("SECRET_BACKEND_REFUSED", `secret backend refused: ${why}`, details);
      if (says("too old") || says("too new")) return new SecretError("SECRET_UNKNOWN_KEY_ID", `Vault no longer decrypts this key version: ${why}`, details);
      return new SecretError("SECRET_TAMPERED", `the sealed secret does not open: ${why}`, details);
  }
}

async function viaVault<T>(operation: "encrypt" | "decrypt" | "rewrap", run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    throw fromVault(err, operation);
  }
}

function transitSealer(transit: VaultTransit, legacy: Envelope | null): SecretSealer {
  const format = ({ ciphertext, keyVersion }: { ciphertext: string; keyVersion: number }) =>
    [VERSION, "transit", `v${keyVersion}`, Buffer.from(ciphertext, "utf8").toString("base64url")].join(".");

  function parse(sealed: string): { keyId: string; ciphertext: string } {
    const parts = sealed.split(".");
    if (parts.length !== 4) throw tampered();
    const ciphertext = decodePart(parts[3]!).toString("utf8");
    if (`v${transitKeyVersion(ciphertext)}` !== parts[2]) throw tampered();
    return { keyId: parts[2]!, ciphertext };
  }

  async function decrypt(sealed: string, aad: string): Promise<Buffer> {
    const { ciphertext } = parse(sealed);
    const inner = await viaVault("decrypt", () => transit.decrypt(ciphertext));
    try {
      const digest = inner.subarray(1, 1 + AAD_DIGEST_BYTES);
      if (inner[0] !== TRANSIT_FORMAT || digest.length !== AAD_DIGEST_BYTES || !timingSafeEqual(digest, aadDigest(aad))) throw tampered();
      return Buffer.from(inner.subarray(1 + AAD_DIGEST_BYTES));
    } finally {
      inner.fill(0);
    }
  }

  async function seal(plaintext: string, aad: string): Promise<Sealed> {
    const inner = Buffer.concat([Buffer.of(TRANSIT_FORMAT), aadDigest(aad), Buffer.from(plaintext, "utf8")]);
    try {
      return format(await viaVault("encrypt", () => transit.encrypt(inner)));
    } finally {
      inner.fill(0);
    }
  }

  const backendOf = (sealed: string) => sealed.split(".", 2).join(".");

  return {
    async seal(plaintext, aad) {
      checkArguments(aad, plaintext);
      return seal(plaintext, aad);
    },
    async open(sealed, aad) {
      checkArguments(aad);
      if (backendOf(sealed) === `${VERSION}.local` && legacy) return legacy.open(sealed, aad);
      if (backendOf(sealed) !== `${VERSION}.transit`) throw notHere(sealed, "Vault transit");
      const secret = await decrypt(sealed, aad);
      return secret.toString("utf8");
    },
    async rewrap(sealed, aad) {
      checkArguments(aad);
      // A value sealed locally before Vault was configured moves into Vault.
      if (backendOf(sealed) === `${VERSION}.local` && legacy) return seal(legacy.open(sealed, aad), aad);
      if (backendOf(sealed) !== `${VERSION}.transit`) throw notHere(sealed, "Vault transit");
      const { keyId, ciphertext } = parse(sealed);
      (await decrypt(sealed, aad)).fill(0); // only rewrap what opens for this owner
      const rewrapped = await viaVault("rewrap", () => transit.rewrap(ciphertext));
      return `v${rewrapped.keyVersion}` === keyId ? null : format(rewrapped);
    },
    describe: () => ({ backend: "transit", activeKeyId: `${transit.mount}/${transit.key}`, ephemeral: false }),
  };
}

/** A value this sealer cannot open: sealed by the other backend (not configured here), or not a sealed value at all. */
function notHere(sealed: string, configured: string): SecretError {
  const found = inspectSealed(sealed);
  if (!found) return tampered("not a sealed secret (expected gbs1.local.… or gbs1.transit.…)");
  const by = found.backend === "local" ? `local master key "${found.keyId}" (INTEGRATION_KEYS)` : `Vault transit key version ${found.keyId} (VAULT_ADDR)`;
  return new SecretError("SECRET_UNKNOWN_KEY_ID", `the sealed secret needs ${by}, but this server seals with ${configured}`, { keyId: found.keyId });
}

function localSealer(envelope: Envelope, ephemeral: boolean): SecretSealer {
  const local = (sealed: string) => {
    if (!sealed.startsWith(`${VERSION}.local.`)) throw notHere(sealed, "INTEGRATION_KEYS");
  };
  return {
    async seal(plaintext, aad) { checkArguments(aad, plaintext); return envelope.seal(plaintext, aad); },
    async open(sealed, aad) { checkArguments(aad); local(sealed); return envelope.open(sealed, aad); },
    async rewrap(sealed, aad) { checkArguments(aad); local(sealed); return envelope.rewrap(sealed, aad); },
    describe: () => ({ backend: "local", activeKeyId: envelope.activeKeyId, ephemeral }),
  };
}

function refusingSealer(): SecretSealer {
  const refuse = async (): Promise<never> => {
    throw new SecretError("SECRET_KEY_MISSING", "saving provider keys is off: set INTEGRATION_KEYS (or VAULT_ADDR for Vault transit); in development INTEGRATION_KEYS_EPHEMERAL=true uses a key that lasts until restart");
  };
  return { seal: refuse, open: refuse, rewrap: refuse, describe: () => ({ backend: "none", activeKeyId: null, ephemeral: false }) };
}

export interface SecretSealerOptions {
  /** Seal through Vault transit; `keys` then only open (and rewrap into Vault) values sealed locally before. */
  transit?: VaultTransit | null;
  /** Master keys, the first one active (INTEGRATION_KEYS). */
  keys?: readonly IntegrationKey[];
  /** With neither transit nor keys: seal under a random key made now (development and tests; config refuses it in production). */
  ephemeral?: boolean;
}

/** Vault transit when given, else local keys, else an ephemeral key when allowed, else a sealer refusing with SECRET_KEY_MISSING. */
export function createSecretSealer(options: SecretSealerOptions): SecretSealer {
  const keys = options.keys ?? [];
  for (const k of keys) {
    if (!KEY_ID.test(k.id) || k.key.length !== DATA_KEY_BYTES) throw new TypeError(`secret sealer: master key "${k.id}" needs an id of 1 to 32 [A-Za-z0-9_-] and 32 bytes`);
  }
  const envelope = keys.length > 0 ? localEnvelope(keys, false) : null;
  if (options.transit) return transitSealer(options.transit, envelope);
  if (envelope) return localSealer(envelope, false);
  if (options.ephemeral) {
    // A fresh id per run: a value from an earlier run says "unknown key" instead of "tampered".
    const key: IntegrationKey = { id: `ephemeral-${randomBytes(4).toString("hex")}`, key: randomBytes(DATA_KEY_BYTES) };
    return localSealer(localEnvelope([key], true), true);
  }
  return refusingSealer();
}

/** The sealer the configuration asks for; `connection` shares the login of the KV client when there is one. */
export function secretSealerFromConfig(
  config: Pick<Config, "NODE_ENV" | "VAULT_ADDR" | "VAULT_TOKEN" | "VAULT_ROLE_ID" | "VAULT_SECRET_ID" | "VAULT_TRANSIT_MOUNT" | "VAULT_TRANSIT_KEY" | "INTEGRATION_KEYS" | "INTEGRATION_KEYS_EPHEMERAL">,
  deps: { connection?: VaultConnection } = {},
): SecretSealer {
  const where = { mount: config.VAULT_TRANSIT_MOUNT, key: config.VAULT_TRANSIT_KEY };
  const transit = !config.VAULT_ADDR ? null
    : deps.connection ? createVaultTransit({ connection: deps.connection, ...where })
    : createVaultTransit({ addr: config.VAULT_ADDR, token: config.VAULT_TOKEN, roleId: config.VAULT_ROLE_ID, secretId: config.VAULT_SECRET_ID, ...where });
  return createSecretSealer({ transit, keys: config.INTEGRATION_KEYS, ephemeral: config.INTEGRATION_KEYS_EPHEMERAL && config.NODE_ENV !== "production" });
}
