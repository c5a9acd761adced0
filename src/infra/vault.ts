// HashiCorp Vault KV v2 client: reads `GET {addr}/v1/{mount}/data/{path}` (answer `{ data: { data, metadata } }`)
// with a static token or an AppRole login (`POST {addr}/v1/auth/approle/login` → `auth.client_token`,
// `auth.lease_duration` seconds). AppRole tokens are renewed by logging in again shortly before the lease
// ends, and once more when Vault answers 403 (a revoked token). Secrets are cached per path for
// cacheTtlMs. Errors are typed by `code` and never carry the token or the secret id.
// API: https://developer.hashicorp.com/vault/api-docs/secret/kv/kv-v2#read-secret-version and
// https://developer.hashicorp.com/vault/api-docs/auth/approle#login-with-approle.

export type VaultErrorCode =
  | "VAULT_SEALED" // 503: sealed (or standby / maintenance)
  | "VAULT_PERMISSION_DENIED" // 403 that a fresh login did not cure
  | "VAULT_NOT_FOUND" // 404: no secret (or only deleted versions) at the path
  | "VAULT_LOGIN_FAILED" // AppRole login refused
  | "VAULT_UNAVAILABLE" // network error, timeout, other 5xx
  | "VAULT_BAD_RESPONSE"; // an answer not shaped like Vault's

export class VaultError extends Error {
  constructor(readonly code: VaultErrorCode, message: string, readonly status: number | null = null) {
    super(message);
    this.name = "VaultError";
  }
}

export interface VaultOptions {
  /** Vault's address, e.g. https://vault.internal:8200 (VAULT_ADDR). */
  addr: string;
  /** A static token; ignored when roleId and secretId are given. */
  token?: string;
  roleId?: string;
  secretId?: string;
  /** KV v2 mount. Default "secret". */
  mount?: string;
  /** How long a read secret is served from memory. Default 5 minutes. */
  cacheTtlMs?: number;
  /** Per request. Default 5 s. */
  timeoutMs?: number;
  fetch?: typeof fetch;
  /** Clock in ms (tests). Default Date.now. */
  now?: () => number;
}

export interface Vault {
  /** The key/value pairs of the latest version at `path` (non-string values as JSON text). */
  read(path: string): Promise<Record<string, string>>;
  /** Forgets cached secrets (all, or one path). */
  clear(path?: string): void;
}

// Log in again when less than this share of the lease (at most a minute) is left.
const RENEW_SHARE = 0.1;
const RENEW_MAX_MS = 60_000;

export function createVault(options: VaultOptions): Vault {
  const { token, roleId, secretId, mount = "secret", cacheTtlMs = 300_000, timeoutMs = 5_000, fetch: doFetch = fetch, now = Date.now } = options;
  const addr = options.addr.replace(/\/+$/, "");
  const appRole = Boolean(roleId && secretId);
  if (!appRole && !token) throw new Error("createVault: give a token, or roleId and secretId for AppRole login");
  const cache = new Map<string, { value: Record<string, string>; expiresAt: number }>();
  const inFlight = new Map<string, Promise<Record<string, string>>>();
  let session: { token: string; renewAt: number } | null = appRole ? null : { token: token!, renewAt: Infinity };
  let loggingIn: Promise<string> | null = null;
  const redact = (text: string) =>
    [token, roleId, secretId, session?.token].reduce<string>((t, secret) => (secret ? t.split(secret).join("[redacted]") : t), text);
  const encodePath = (path: string) => path.split("/").map(encodeURIComponent).join("/");

  async function call(method: string, path: string, headers: Record<string, string>, body?: unknown) {
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
    const errors = (json as { errors?: unknown } | null)?.errors;
    const said = Array.isArray(errors) && errors.length > 0 ? `: ${errors.map(String).join("; ")}` : "";
    return { status: res.status, json, said: redact(said) };
  }

  async function login(): Promise<string> {
    const { status, json, said } = await call("POST", "/v1/auth/approle/login", {}, { role_id: roleId, secret_id: secretId });
    if (status === 503) throw new VaultError("VAULT_SEALED", `vault is sealed or unavailable (503${said})`, status);
    if (status >= 500) throw new VaultError("VAULT_UNAVAILABLE", `vault AppRole login answered ${status}${said}`, status);
    if (status !== 200) throw new VaultError("VAULT_LOGIN_FAILED", `vault AppRole login refused (${status}${said})`, status);
    const auth = (json as { auth?: { client_token?: unknown; lease_duration?: unknown } } | null)?.auth;
    if (typeof auth?.client_token !== "string" || auth.client_token === "") {
      throw new VaultError("VAULT_BAD_RESPONSE", "vault AppRole login answered without auth.client_token", status);
    }
    const leaseMs = typeof auth.lease_duration === "number" && auth.lease_duration > 0 ? auth.lease_duration * 1000 : Infinity;
    session = { token: auth.client_token, renewAt: now() + leaseMs - Math.min(RENEW_MAX_MS, leaseMs * RENEW_SHARE) };
    return auth.client_token;
  }

  // One login at a time, shared by every read waiting for it.
  function currentToken(forceLogin = false): Promise<string> {
    if (session && !forceLogin && now() < session.renewAt) return Promise.resolve(session.token);
    if (!appRole) return Promise.resolve(session!.token);
    loggingIn ??= login().finally(() => { loggingIn = null; });
    return loggingIn;
  }

  async function fetchSecret(path: string): Promise<Record<string, string>> {
    const apiPath = `/v1/${encodePath(mount)}/data/${encodePath(path)}`;
    let tokenUsed = await currentToken();
    let answer = await call("GET", apiPath, { "x-vault-token": tokenUsed });
    if (answer.status === 403 && appRole) {
      // A revoked or expired token: one fresh login (unless another read already got one), then one retry.
      tokenUsed = await currentToken(session?.token === tokenUsed);
      answer = await call("GET", apiPath, { "x-vault-token": tokenUsed });
    }
    const { status, json, said } = answer;
    if (status === 404) throw new VaultError("VAULT_NOT_FOUND", `vault has no secret at ${mount}/${path}`, status);
    if (status === 403) throw new VaultError("VAULT_PERMISSION_DENIED", `vault denied reading ${mount}/${path} (403${said})`, status);
    if (status === 503) throw new VaultError("VAULT_SEALED", `vault is sealed or unavailable (503${said})`, status);
    if (status !== 200) throw new VaultError(status >= 500 ? "VAULT_UNAVAILABLE" : "VAULT_BAD_RESPONSE", `vault answered ${status} reading ${mount}/${path}${said}`, status);
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
