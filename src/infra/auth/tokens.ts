// Access tokens: RS256 JWTs signed with jose (15 minutes; iss, aud, sub, jti, exp required).
// Keys come from JWT_PRIVATE_KEY / JWT_PUBLIC_KEY (PEM) or, in development, a pair generated once
// and kept in the local data folder. The public key is served at /.well-known/jwks.json.
import { createHash, randomUUID } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  SignJWT, exportJWK, exportPKCS8, exportSPKI, generateKeyPair, importPKCS8, importSPKI, jwtVerify,
  type CryptoKey, type JWK,
} from "jose";

export const ACCESS_TOKEN_TTL_SECONDS = 15 * 60;
const ALG = "RS256";
const CLOCK_TOLERANCE_SECONDS = 5;

export interface AccessClaims { userId: number; role: "USER" | "ADMIN"; sessionFamily: string; jti: string; expiresAt: Date }

export interface TokenSigner {
  issue(user: { id: number; role: "USER" | "ADMIN" }, sessionFamily: string): Promise<{ token: string; expiresAt: Date }>;
  /** Throws `InvalidTokenError` for anything but a valid, unexpired token of ours. */
  verify(token: string): Promise<AccessClaims>;
  /** The public key as a JSON Web Key Set, for /.well-known/jwks.json. */
  jwks(): Promise<{ keys: JWK[] }>;
}

export class InvalidTokenError extends Error {
  constructor(readonly reason: string) {
    super(`invalid access token: ${reason}`);
    this.name = "InvalidTokenError";
  }
}

export interface KeyOptions { privateKeyPem?: string | undefined; publicKeyPem?: string | undefined; keyDir?: string | undefined }

/**
 * Loads the configured key pair; without one, generates a pair into keyDir on first use (kept for
 * later starts), or in memory when there is no keyDir either (tests).
 */
export async function loadKeys(opts: KeyOptions): Promise<{ privateKey: CryptoKey; publicKey: CryptoKey }> {
  let privatePem = opts.privateKeyPem;
  let publicPem = opts.publicKeyPem;
  if (!privatePem || !publicPem) {
    if (!opts.keyDir) return generateKeyPair(ALG, { modulusLength: 2048, extractable: true });
    const privatePath = join(opts.keyDir, "jwt-private.pem");
    const publicPath = join(opts.keyDir, "jwt-public.pem");
    if (!existsSync(privatePath) || !existsSync(publicPath)) {
      const pair = await generateKeyPair(ALG, { modulusLength: 2048, extractable: true });
      mkdirSync(opts.keyDir, { recursive: true });
      writeFileSync(privatePath, await exportPKCS8(pair.privateKey), { mode: 0o600 });
      writeFileSync(publicPath, await exportSPKI(pair.publicKey));
    }
    privatePem = readFileSync(privatePath, "utf8");
    publicPem = readFileSync(publicPath, "utf8");
  }
  return {
    privateKey: await importPKCS8(privatePem, ALG, { extractable: false }),
    publicKey: await importSPKI(publicPem, ALG, { extractable: true }),
  };
}

export interface SignerOptions {
  issuer: string;
  audience: string;
  /** Access token lifetime; default ACCESS_TOKEN_TTL_SECONDS (tests shorten it). */
  ttlSeconds?: number | undefined;
}

export async function createTokenSigner(keys: { privateKey: CryptoKey; publicKey: CryptoKey }, opts: SignerOptions): Promise<TokenSigner> {
  const ttlSeconds = opts.ttlSeconds ?? ACCESS_TOKEN_TTL_SECONDS;
  const publicJwk = await exportJWK(keys.publicKey);
  const kid = createHash("sha256").update(JSON.stringify({ e: publicJwk.e, kty: publicJwk.kty, n: publicJwk.n })).digest("base64url").slice(0, 16);
  return {
    jwks: async () => ({ keys: [{ ...publicJwk, kid, alg: ALG, use: "sig" }] }),
    async issue(user, sessionFamily) {
      const expiresAt = new Date((Math.floor(Date.now() / 1000) + ttlSeconds) * 1000);
      const token = await new SignJWT({ role: user.role, sid: sessionFamily })
        .setProtectedHeader({ alg: ALG, kid, typ: "JWT" })
        .setIssuer(opts.issuer).setAudience(opts.audience).setSubject(String(user.id))
        .setJti(randomUUID()).setIssuedAt().setExpirationTime(Math.floor(expiresAt.getTime() / 1000))
        .sign(keys.privateKey);
      return { token, expiresAt };
    },
    async verify(token) {
      try {
        const { payload } = await jwtVerify(token, keys.publicKey, {
          algorithms: [ALG], // allow-list: "none" and HS* with the public key are refused
          issuer: opts.issuer,
          audience: opts.audience,
          clockTolerance: CLOCK_TOLERANCE_SECONDS,
          requiredClaims: ["iss", "aud", "sub", "jti", "exp"],
        });
        const userId = Number(payload.sub);
        if (!Number.isSafeInteger(userId) || (payload.role !== "USER" && payload.role !== "ADMIN") || typeof payload.sid !== "string") {
          throw new InvalidTokenError("unexpected claims");
        }
        return { userId, role: payload.role, sessionFamily: payload.sid, jti: payload.jti!, expiresAt: new Date(payload.exp! * 1000) };
      } catch (err) {
        if (err instanceof InvalidTokenError) throw err;
        const code = (err as { code?: string }).code ?? "ERR_JWT_INVALID";
        throw new InvalidTokenError(code === "ERR_JWT_EXPIRED" ? "expired" : code.replace(/^ERR_/, "").toLowerCase());
      }
    },
  };
}

/** A signer whose keys are loaded (or generated) on first use, so building the app stays synchronous. */
export function createLazyTokenSigner(opts: KeyOptions & SignerOptions): TokenSigner {
  let signer: Promise<TokenSigner> | undefined;
  const get = () => (signer ??= loadKeys(opts).then((keys) => createTokenSigner(keys, opts)));
  return {
    issue: async (user, family) => (await get()).issue(user, family),
    verify: async (token) => (await get()).verify(token),
    jwks: async () => (await get()).jwks(),
  };
}
