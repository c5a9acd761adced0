// HashiCorp Vault clients over one connection (login + requests):
// - KV v2: reads `GET {addr}/v1/{mount}/data/{path}` (answer `{ data: { data, metadata } }`), cached per path
//   for cacheTtlMs.
// - Transit: `POST {addr}/v1/{mount}/{encrypt|decrypt|rewrap}/{key}` (answers `data.ciphertext` "vault:v<n>:…"
//   or `data.plaintext` base64) — encryption as a service, the key never leaves Vault.
// The connection authenticates with a static token or an AppRole login (`POST {addr}/v1/auth/approle/login` →
// `auth.client_token`, `auth.lease_duration` seconds). AppRole tokens are renewed by logging in again shortly
// before the lease ends, and once more when Vault answers 403 (a revoked token). Errors are typed by `code`
// and never carry the token or the secret id.
// API: https://developer.hashicorp.com/vault/api-docs/secret/kv/kv-v2#read-secret-version,
// https://developer.hashicorp.com/vault/api-docs/secret/transit and
// https://developer.hashicorp.com/vault/api-docs/auth/approle#login-with-approle.

export type VaultErrorCode =
  | "VAULT_SEALED" // 503: sealed (or standby / maintenance)
  | "VAULT_PERMISSION_DENIED" // 403 that a fresh login did not cure
  | "VAULT_NOT_FOUND" // 404: no secret (or only deleted versions) at the path; no transit mount
  | "VAULT_LOGIN_FAILED" // AppRole login refused
  | "VAULT_REJECTED" // transit 400: Vault refused the input (a ciphertext it cannot decrypt, a key version it no longer allows …)
  | "VAULT_UNAVAILABLE" // network error, timeout, other 5xx
  | "VAULT_BAD_RESPONSE"; // an answer not shaped like Vault's

export class VaultError extends Error {
  constructor(
    readonly code: VaultErrorCode,
    message: string,
    readonly status: number | null = null,
    /** Vault's own `errors` list (redacted), e.g. ["cipher: message authentication failed"]. */
    readonly vaultErrors: readonly string[] = [],
  ) {
    super(message);
    this.name = "VaultError";
  }
}

export interface VaultConnectionOptions {
  /** Vault's address, e.g. https://vault.internal:8200 (VAULT_ADDR). */
  addr: string;
  /** A static token; ignored when roleId and secretId are given. */
  token?: string;
  roleId?: string;
  secretId?: string;
  /** Per request. Default 5 s. */
  timeoutMs?: number;
  fetch?: typeof fetch;
  /** Clock in ms (tests). Default Date.now. */
  now?: () => number;
}

interface KvOptions {
  /** KV v2 mount. Default "secret". */
  mount?: string;
  /** How long a read secret is served from memory. Default 5 minutes. */
  cacheTtlMs?: number;
  /** Clock in ms (tests). Default Date.now. */
  now?: () => number;
}

/** A KV client with a connection of its own, or one sharing the login of another client (`connection`). */
export type VaultOptions = (VaultConnectionOptions & KvOptions) | ({ connection: VaultConnection } & KvOptions);

export interface Vault {
  /** The key/value pairs of the latest version at `path` (non-string values as JSON text). */
  read(path: string): Promise<Record<string, string>>;
  /** Forgets cached secrets (all, or one path). */
  clear(path?: string): void;
}

/** One answer of Vault: status, parsed body (null when not JSON), and `: a; b` from its `errors` list. */
export interface VaultAnswer {
  status: number;
  json: unknown;
  /** ": " + Vault's errors joined by "; " (redacted), or "" when it gave none. */
  said: string;
  /** Vault's errors one by one (redacted). */
  errors: string[];
}

/** Authenticated requests to one Vault, shared by the KV and transit clients. */
export interface VaultConnection {
  /** One request with the current token: logs in first when needed (AppRole), and once more on a 403. */
  request(method: "GET" | "POST", apiPath: string, body?: unknown): Promise<VaultAnswer>;
  /** The text with the token, role id, secret id and session token replaced by "[redacted]". */
  redact(text: string): string;
}

// Log in again when less than this share of the lease (at most a minute) is left.
const RENEW_SHARE = 0.1;
const RENEW_MAX_MS = 60_000;

const encodePath = (path: string) => path.split("/").map(encodeURIComponent).join("/");

/** `caller` names the function in the error thrown without credentials. */
export function createVaultConnection(options: VaultConnectionOptions, caller = "createVaultConnection"): VaultConnection {
  const { token, roleId, secretId, timeoutMs = 5_000, fetch: doFetch = fetch, now = Date.now } = options;
  const addr = options.addr.replace(/\/+$/, "");
  const appRole = Boolean(roleId && secretId);
  if (!appRole && !token) throw new Error(`${caller}: give a token, or roleId and secretId for AppRole login`);
  let session: { token: string; renewAt: number } | null = appRole ? null : { token: token!, renewAt: Infinity };
  let loggingIn: Promise<string> | null = null;
  const redact = (text: string) =>
    [token, roleId, secretId, session?.token].reduce<string>((t, secret) => (secret ? t.split(secret).join("[redacted]") : t), text);

  async function call(method: string, path: string, headers: Record<string, string>, body?: unknown): Promise<VaultAnswer> {
    let res: Response;
    try {
      res = await doFetch(`${addr}${path}`, {
        method,
        headers: { accept: "application/json", ...(body === undefined ? {} : { "content-type": "application/json" }), ...headers },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (err) {
      const timedOut = (err as Error).name === "TimeoutError";
      throw new VaultError("VAULT_UNAVAILABLE", redact(`vault ${path}: ${timedOut ? `no answer within ${timeoutMs} ms` : (err as Error).message}`));
    }
    const text = await res.text().catch(() => "");
    let json: unknown = null;
    try { json = text ? JSON.parse(text) : null; } catch { /* read as "not Vault's shape" below */ }
    const listed = (json as { errors?: unknown } | null)?.errors;
    const errors = Array.isArray(listed) ? listed.map((e) => redact(String(e))) : [];
    return { status: res.status, json, said: errors.length > 0 ? `: ${errors.join("; ")}` : "", errors };
  }

  async function login(): Promise<string> {
    const { status, json, said, errors } = await call("POST", "/v1/auth/approle/login", {}, { role_id: roleId, secret_id: secretId });
    if (status === 503) throw new VaultError("VAULT_SEALED", `vault is sealed or unavailable (503${said})`, status, errors);
    if (status >= 500) throw new VaultError("VAULT_UNAVAILABLE", `vault AppRole login answered ${status}${said}`, status, errors);
    if (status !== 200) throw new VaultError("VAULT_LOGIN_FAILED", `vault AppRole login refused (${status}${said})`, status, errors);
    const auth = (json as { auth?: { client_token?: unknown; lease_duration?: unknown } } | null)?.auth;
    if (typeof auth?.client_token !== "string" || auth.client_token === "") {
      throw new VaultError("VAULT_BAD_RESPONSE", "vault AppRole login answered without auth.client_token", status);
    }
    const leaseMs = typeof auth.lease_duration === "number" && auth.lease_duration > 0 ? auth.lease_duration * 1000 : Infinity;
    session = { token: auth.client_token, renewAt: now() + leaseMs - Math.min(RENEW_MAX_MS, leaseMs * RENEW_SHARE) };
    return auth.client_token;
  }

  // One login at a time, shared by every request waiting for it.
  function currentToken(forceLogin = false): Promise<string> {
    if (session && !forceLogin && now() < session.renewAt) return Promise.resolve(session.token);
    if (!appRole) return Promise.resolve(session!.token);
    loggingIn ??= login().finally(() => { loggingIn = null; });
    return loggingIn;
  }

  return {
    async request(method, apiPath, body) {
      let tokenUsed = await currentToken();
      let answer = await call(method, apiPath, { "x-vault-token": tokenUsed }, body);
      if (answer.status === 403 && appRole) {
        // A revoked or expired token: one fresh login (unless another request already got one), then one retry.
        tokenUsed = await currentToken(session?.token === tokenUsed);
        answer = await call(method, apiPath, { "x-vault-token": tokenUsed }, body);
      }
      return answer;
    },
    redact,
  };
}

export function createVault(options: VaultOptions): Vault {
  const { mount = "secret", cacheTtlMs = 300_000, now = Date.now } = options;
  const connection = "connection" in options ? options.connection : createVaultConnection(options, "createVault");
  const cache = new Map<string, { value: Record<string, string>; expiresAt: number }>();
  const inFlight = new Map<string, Promise<Record<string, string>>>();

  async function fetchSecret(path: string): Promise<Record<string, string>> {
    const { status, json, said, errors } = await connection.request("GET", `/v1/${encodePath(mount)}/data/${encodePath(path)}`);
    if (status === 404) throw new VaultError("VAULT_NOT_FOUND", `vault has no secret at ${mount}/${path}`, status, errors);
    if (status === 403) throw new VaultError("VAULT_PERMISSION_DENIED", `vault denied reading ${mount}/${path} (403${said})`, status, errors);
    if (status === 503) throw new VaultError("VAULT_SEALED", `vault is sealed or unavailable (503${said})`, status, errors);
    if (status !== 200) throw new VaultError(status >= 500 ? "VAULT_UNAVAILABLE" : "VAULT_BAD_RESPONSE", `vault answered ${status} reading ${mount}/${path}${said}`, status, errors);
    const data = (json as { data?: { data?: unknown } } | null)?.data?.data;
    if (data === null || typeof data !== "object" || Array.isArray(data)) {
      throw new VaultError("VAULT_BAD_RESPONSE", `vault answer for ${mount}/${path} has no data.data object (is ${mount} a KV v2 mount?)`, status);
    }
    return Object.fromEntries(Object.entries(data).map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)]));
  }

  return {
    read(path) {
      const key = path.replace(/^\/+|\/+$/g, "");
      if (key === "" || key.split("/").some((s) => s === "" || s === "." || s === "..")) {
        return Promise.reject(new Error(`vault: invalid secret path ${JSON.stringify(path)}`));
      }
      const cached = cache.get(key);
      if (cached && now() < cached.expiresAt) return Promise.resolve(cached.value);
      let pending = inFlight.get(key);
      if (!pending) {
        pending = fetchSecret(key)
          .then((value) => { cache.set(key, { value, expiresAt: now() + cacheTtlMs }); return value; })
          .finally(() => inFlight.delete(key));
        inFlight.set(key, pending);
      }
      return pending;
    },
    clear(path) {
      if (path === undefined) cache.clear();
      else cache.delete(path.replace(/^\/+|\/+$/g, ""));
    },
  };
}

// Transit: the sealer of users' provider keys (secret-sealer.ts) encrypts through it when VAULT_ADDR is set.

interface TransitOptions {
  /** Transit mount. Default "transit" (VAULT_TRANSIT_MOUNT). */
  mount?: string;
  /** The named encryption key (VAULT_TRANSIT_KEY), an aes256-gcm96 key without derivation. Default "gpubroker-integrations". */
  key?: string;
}

export type VaultTransitOptions = (VaultConnectionOptions & TransitOptions) | ({ connection: VaultConnection } & TransitOptions);

/** Vault's ciphertext ("vault:v<n>:…", stored as given) and the key version that made it. */
export interface TransitCiphertext {
  ciphertext: string;
  keyVersion: number;
}

export interface VaultTransit {
  readonly mount: string;
  readonly key: string;
  /** Encrypts with the key's latest version (Vault creates the key on first use when the policy allows it). */
  encrypt(plaintext: Uint8Array): Promise<TransitCiphertext>;
  decrypt(ciphertext: string): Promise<Buffer>;
  /** The same plaintext under the key's latest version, without it leaving Vault. */
  rewrap(ciphertext: string): Promise<TransitCiphertext>;
}

const CIPHERTEXT = /^vault:v([1-9][0-9]*):/;

/** The key version of a transit ciphertext ("vault:v3:…" → 3), or null when it does not look like one. */
export function transitKeyVersion(ciphertext: string): number | null {
  const match = CIPHERTEXT.exec(ciphertext);
  return match ? Number(match[1]) : null;
}

export function createVaultTransit(options: VaultTransitOptions): VaultTransit {
  const { mount = "transit", key = "gpubroker-integrations" } = options;
  const connection = "connection" in options ? options.connection : createVaultConnection(options, "createVaultTransit");

  async function post(operation: "encrypt" | "decrypt" | "rewrap", body: Record<string, string>): Promise<Record<string, unknown>> {
    const { status, json, said, errors } = await connection.request("POST", `/v1/${encodePath(mount)}/${operation}/${encodeURIComponent(key)}`, body);
    const what = `vault transit ${operation} with ${mount}/${key}`;
    if (status === 400) throw new VaultError("VAULT_REJECTED", `${what} refused (400${said})`, status, errors);
    if (status === 403) throw new VaultError("VAULT_PERMISSION_DENIED", `${what} denied (403${said})`, status, errors);
    if (status === 404) throw new VaultError("VAULT_NOT_FOUND", `${what}: no such route (404${said}; is ${mount} a transit mount?)`, status, errors);
    if (status === 503) throw new VaultError("VAULT_SEALED", `vault is sealed or unavailable (503${said})`, status, errors);
    if (status !== 200) throw new VaultError(status >= 500 ? "VAULT_UNAVAILABLE" : "VAULT_BAD_RESPONSE", `${what} answered ${status}${said}`, status, errors);
    const data = (json as { data?: unknown } | null)?.data;
    if (data === null || typeof data !== "object" || Array.isArray(data)) throw new VaultError("VAULT_BAD_RESPONSE", `${what} answered without a data object`, status);
    return data as Record<string, unknown>;
  }

  function ciphertextOf(data: Record<string, unknown>, operation: string): TransitCiphertext {
    const ciphertext = data.ciphertext;
    const keyVersion = typeof ciphertext === "string" ? transitKeyVersion(ciphertext) : null;
    if (typeof ciphertext !== "string" || keyVersion === null) {
      throw new VaultError("VAULT_BAD_RESPONSE", `vault transit ${operation} with ${mount}/${key} answered without a "vault:v<n>:" data.ciphertext`, 200);
    }
    return { ciphertext, keyVersion };
  }

  return {
    mount,
    key,
    async encrypt(plaintext) {
      return ciphertextOf(await post("encrypt", { plaintext: Buffer.from(plaintext).toString("base64") }), "encrypt");
    },
    async decrypt(ciphertext) {
      const plaintext = (await post("decrypt", { ciphertext })).plaintext;
      if (typeof plaintext !== "string" || !/^[A-Za-z0-9+/]*={0,2}$/.test(plaintext)) {
        throw new VaultError("VAULT_BAD_RESPONSE", `vault transit decrypt with ${mount}/${key} answered without a base64 data.plaintext`, 200);
      }
      return Buffer.from(plaintext, "base64");
    },
    async rewrap(ciphertext) {
      return ciphertextOf(await post("rewrap", { ciphertext }), "rewrap");
    },
  };
}
