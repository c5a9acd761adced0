// Accounts, sessions and API keys: everything that reads or writes credentials lives here, and
// every security event is appended to the audit log in the same transaction as its change.
import { createHash, randomBytes, randomUUID } from "node:crypto";
import type { Logger } from "pino";
import type { ApiKey, Prisma, PrismaClient, User } from "../generated/prisma/client.ts";
import { emailProblem, nameProblem, normalizeEmail, passwordProblems } from "../domain/auth/policy.ts";
import { toRowId } from "../domain/ids.ts";
import { AppError, badInput, notFound, unauthenticated } from "../errors.ts";
import { appendAudit } from "../infra/audit.ts";
import { hashPassword, verifyPassword } from "../infra/auth/passwords.ts";
import { InvalidTokenError, type TokenSigner } from "../infra/auth/tokens.ts";
import type { AuthRevocation, PubSub } from "../infra/pubsub-types.ts";
import { anonymous, requireScope, requireSession, type Actor, type RequestMeta, type UserActor } from "./actor.ts";

export const REFRESH_TOKEN_TTL_DAYS = 30;
export const API_KEY_PREFIX = "gpb_";
const REFRESH_PREFIX = "gpr_";

export interface TokenPair { accessToken: string; accessTokenExpiresAt: Date; refreshToken: string; refreshTokenExpiresAt: Date; user: User }

const sha256 = (value: string) => createHash("sha256").update(value).digest("hex");
const opaque = (prefix: string) => `${prefix}${randomBytes(32).toString("base64url")}`;

/** The rate-limit operations accounts need (src/infra/rate-limit.ts provides them). */
export interface AuthRateLimiter {
  /** Counts one register, refreshToken or changePassword from an address; throws RATE_LIMITED once the bucket is exhausted. */
  consume(bucket: "auth:ip", key: string): Promise<unknown>;
  /** Before checking a password: throws RATE_LIMITED while this e-mail from this address must wait, or the address has spent its failures. */
  beginLogin(email: string, ip: string): Promise<unknown>;
  loginFailed(email: string, ip: string): Promise<unknown>;
  /** Clears this e-mail's failures from this address only: failures from other addresses never lock the owner out of theirs. */
  loginSucceeded(email: string, ip: string): Promise<unknown>;
}

export interface AccountsDeps {
  prisma: PrismaClient; tokens: TokenSigner; rateLimiter: AuthRateLimiter;
  /** Carries revocations to every API node, which end the open streams opened with them. */
  pubsub: Pick<PubSub, "publish">;
  log: Pick<Logger, "warn">;
}

export function createAccountService({ prisma, tokens, rateLimiter, pubsub, log }: AccountsDeps) {
  /** Starts a new refresh family (a login) or continues one (a rotation) and signs an access token. */
  async function issue(tx: Prisma.TransactionClient, user: User, meta: RequestMeta, familyId: string = randomUUID()): Promise<TokenPair> {
    const refreshToken = opaque(REFRESH_PREFIX);
    const refreshTokenExpiresAt = new Date(Date.now() + REFRESH_TOKEN_TTL_DAYS * 86_400_000);
    await tx.session.create({
      data: {
        id: randomUUID(), familyId, userId: user.id, tokenHash: sha256(refreshToken), expiresAt: refreshTokenExpiresAt,
        ip: meta.ip ?? null, userAgent: meta.userAgent?.slice(0, 300) ?? null,
      },
    });
    const access = await tokens.issue(user, familyId);
    return { accessToken: access.token, accessTokenExpiresAt: access.expiresAt, refreshToken, refreshTokenExpiresAt, user };
  }

  /** Revokes the matching refresh tokens; returns how many and the sessions (families) they belonged to. */
  async function revokeFamilies(tx: Prisma.TransactionClient, where: Prisma.SessionWhereInput, reason: string) {
    const rows = await tx.session.updateManyAndReturn({ where: { ...where, revokedAt: null }, data: { revokedAt: new Date(), revokedReason: reason }, select: { familyId: true } });
    return { count: rows.length, families: [...new Set(rows.map((r) => r.familyId))] };
  }

  /** Tells every node, after the commit; not awaited (Redis may be restarting): the periodic re-check of open streams is the fallback. */
  function announce(revocation: AuthRevocation) {
    if (revocation.sessionFamilies?.length === 0) return;
    pubsub.publish("auth.revoked", revocation).catch((err: unknown) => log.warn({ err, revocation }, "could not publish a revocation; open streams end at the next re-check"));
  }

  async function checkNewPassword(password: string, email: string) {
    const problems = passwordProblems(password, email);
    if (problems.length) throw badInput(`The password is not accepted: ${problems.join(" ")}`, { field: "password", problems });
  }

  return {
    async register(input: { email: string; password: string; name: string }, actor: Actor): Promise<TokenPair> {
      const meta = actor.meta ?? {};
      await rateLimiter.consume("auth:ip", meta.ip ?? "unknown");
      const email = normalizeEmail(input.email);
      const problem = emailProblem(email) ?? nameProblem(input.name);
      if (problem) throw badInput(problem);
      await checkNewPassword(input.password, email);
      const passwordHash = await hashPassword(input.password);
      try {
        return await prisma.$transaction(async (tx) => {
          const user = await tx.user.create({ data: { email, name: input.name.trim(), passwordHash } });
          await appendAudit(tx, { action: "user.register", actorUserId: user.id, targetType: "User", targetId: user.id, ip: meta.ip });
          return issue(tx, user, meta);
        });
      } catch (err) {
        if (isUniqueViolation(err)) throw badInput("An account with this e-mail address already exists. Sign in instead.", { field: "email" });
        throw err;
      }
    },

    async login(input: { email: string; password: string }, actor: Actor): Promise<TokenPair> {
      const meta = actor.meta ?? {};
      const email = normalizeEmail(input.email);
      const ip = meta.ip ?? "unknown";
      // Keyed by (e-mail, address) and address, never by e-mail alone, whether or not the account exists.
      await rateLimiter.beginLogin(email, ip);
      const user = email.length <= 254 ? await prisma.user.findUnique({ where: { email } }) : null;
      const ok = await verifyPassword(user?.passwordHash, input.password.slice(0, 1024));
      if (!user || !ok) {
        await rateLimiter.loginFailed(email, ip);
        await appendAudit(prisma, { action: "user.login_failed", actorUserId: user?.id ?? null, ip: meta.ip, details: { reason: user ? "password" : "unknown_email" } });
        throw unauthenticated("Wrong e-mail or password.");
      }
      await rateLimiter.loginSucceeded(email, ip);
      return prisma.$transaction(async (tx) => {
        await appendAudit(tx, { action: "user.login", actorUserId: user.id, ip: meta.ip });
        return issue(tx, user, meta);
      });
    },

    /** Rotates a refresh token. Presenting one that was already used revokes its whole family. */
    async refresh(refreshToken: string, actor: Actor): Promise<TokenPair> {
      const meta = actor.meta ?? {};
      await rateLimiter.consume("auth:ip", meta.ip ?? "unknown");
      if (!refreshToken.startsWith(REFRESH_PREFIX) || refreshToken.length > 200) throw unauthenticated("This refresh token is not valid. Sign in again.");
      const outcome = await prisma.$transaction(async (tx) => {
        const session = await tx.session.findUnique({ where: { tokenHash: sha256(refreshToken) }, include: { user: true } });
        if (!session || session.revokedAt) return { error: "This refresh token is not valid. Sign in again." } as const;
        if (session.expiresAt <= new Date()) return { error: "This refresh token has expired. Sign in again." } as const;
        // Only one exchange wins, even under concurrent calls with the same token.
        const won = await tx.session.updateMany({ where: { id: session.id, rotatedAt: null, revokedAt: null }, data: { rotatedAt: new Date() } });
        if (won.count === 0) {
          const revoked = await revokeFamilies(tx, { familyId: session.familyId }, "refresh token reuse");
          await appendAudit(tx, { action: "session.refresh_reuse", actorUserId: session.userId, targetType: "SessionFamily", targetId: session.familyId, ip: meta.ip, details: { revoked: revoked.count } });
          return {
            error: "This refresh token was already used, so every session of this sign-in has been ended. Sign in again.",
            revoked: { userId: session.userId, sessionFamilies: revoked.families },
          } as const;
        }
        await appendAudit(tx, { action: "session.refresh", actorUserId: session.userId, targetType: "SessionFamily", targetId: session.familyId, ip: meta.ip });
        return { pair: await issue(tx, session.user, meta, session.familyId) } as const;
      });
      if ("revoked" in outcome && outcome.revoked) announce(outcome.revoked);
      if ("error" in outcome) throw unauthenticated(outcome.error!);
      return outcome.pair;
    },

    async logout(actor: Actor): Promise<number> {
      if (actor.kind === "user" && actor.via === "api_key") throw new AppError("FORBIDDEN", "API keys have no session to end; revoke the key instead.");
      const viewer = requireSession(actor);
      const meta = actor.meta ?? {};
      const revoked = await prisma.$transaction(async (tx) => {
        const revoked = await revokeFamilies(tx, { familyId: viewer.sessionFamily }, "logout");
        await appendAudit(tx, { action: "session.logout", actorUserId: viewer.id, targetType: "SessionFamily", targetId: viewer.sessionFamily, ip: meta.ip });
        return revoked;
      });
      announce({ userId: viewer.id, sessionFamilies: revoked.families });
      return revoked.count;
    },

    async logoutEverywhere(actor: Actor): Promise<number> {
      const viewer = requireSession(actor);
      const meta = actor.meta ?? {};
      const revoked = await prisma.$transaction(async (tx) => {
        const revoked = await revokeFamilies(tx, { userId: viewer.id }, "logout everywhere");
        await appendAudit(tx, { action: "session.logout_all", actorUserId: viewer.id, ip: meta.ip, details: { revoked: revoked.count } });
        return revoked;
      });
      announce({ userId: viewer.id, sessionFamilies: revoked.families });
      return revoked.count;
    },

    async updateMe(input: { name?: string | null }, actor: Actor): Promise<User> {
      const viewer = requireSession(actor);
      const meta = actor.meta ?? {};
      if (input.name == null) return prisma.user.findUniqueOrThrow({ where: { id: viewer.id } });
      const problem = nameProblem(input.name);
      if (problem) throw badInput(problem, { field: "name" });
      return prisma.$transaction(async (tx) => {
        const user = await tx.user.update({ where: { id: viewer.id }, data: { name: input.name!.trim() } });
        await appendAudit(tx, { action: "user.update", actorUserId: viewer.id, targetType: "User", targetId: viewer.id, ip: meta.ip, details: { fields: ["name"] } });
        return user;
      });
    },

    /** Changes the password and ends every other session; the caller's session continues. */
    async changePassword(input: { currentPassword: string; newPassword: string }, actor: Actor): Promise<number> {
      const viewer = requireSession(actor);
      const meta = actor.meta ?? {};
      await rateLimiter.consume("auth:ip", meta.ip ?? "unknown");
      const user = await prisma.user.findUniqueOrThrow({ where: { id: viewer.id } });
      if (!(await verifyPassword(user.passwordHash, input.currentPassword.slice(0, 1024)))) throw unauthenticated("The current password is wrong.");
      await checkNewPassword(input.newPassword, user.email);
      const passwordHash = await hashPassword(input.newPassword);
      const revoked = await prisma.$transaction(async (tx) => {
        await tx.user.update({ where: { id: user.id }, data: { passwordHash, passwordChangedAt: new Date() } });
        const revoked = await revokeFamilies(tx, { userId: user.id, NOT: { familyId: viewer.sessionFamily ?? "" } }, "password change");
        await appendAudit(tx, { action: "user.password_change", actorUserId: user.id, targetType: "User", targetId: user.id, ip: meta.ip, details: { revokedSessions: revoked.count } });
        return revoked;
      });
      announce({ userId: user.id, sessionFamilies: revoked.families });
      return revoked.count;
    },

    async createApiKey(input: { name: string; scopes: string[]; expiresAt?: Date | null }, actor: Actor) {
      const viewer = requireSession(actor);
      const meta = actor.meta ?? {};
      const name = input.name.trim();
      if (!name || name.length > 100) throw badInput("Give the key a name of 1 to 100 characters.", { field: "name" });
      if (input.expiresAt && input.expiresAt <= new Date()) throw badInput("expiresAt must be in the future.", { field: "expiresAt" });
      const secret = opaque(API_KEY_PREFIX);
      return prisma.$transaction(async (tx) => {
        const apiKey = await tx.apiKey.create({
          data: { userId: viewer.id, name, prefix: secret.slice(0, 12), keyHash: sha256(secret), scopes: [...new Set(input.scopes)].sort(), expiresAt: input.expiresAt ?? null },
        });
        await appendAudit(tx, { action: "api_key.create", actorUserId: viewer.id, targetType: "ApiKey", targetId: apiKey.id, ip: meta.ip, details: { name, scopes: apiKey.scopes } });
        return { apiKey, secret };
      });
    },

    async revokeApiKey(id: number | string, actor: Actor) {
      const viewer = requireSession(actor);
      const meta = actor.meta ?? {};
      const keyId = toRowId(id);
      if (keyId === null) throw notFound("You have no API key with this ID.");
      const { key, revoked } = await prisma.$transaction(async (tx) => {
        const key = await tx.apiKey.findFirst({ where: { id: keyId, userId: viewer.id } });
        if (!key) throw notFound("You have no API key with this ID.");
        const revoked = key.revokedAt ? key : await tx.apiKey.update({ where: { id: keyId }, data: { revokedAt: new Date() } });
        if (!key.revokedAt) await appendAudit(tx, { action: "api_key.revoke", actorUserId: viewer.id, targetType: "ApiKey", targetId: keyId, ip: meta.ip });
        return { key, revoked };
      });
      if (!key.revokedAt) announce({ userId: viewer.id, apiKeyId: keyId });
      return revoked;
    },

    /** The signed-in account (an access token, or an API key with account:read). */
    async me(actor: Actor): Promise<User> {
      const user = requireScope(actor, "account:read");
      return prisma.user.findUniqueOrThrow({ where: { id: user.id } });
    },

    /** The caller's API keys, newest first, revoked ones included. */
    async apiKeys(actor: Actor): Promise<ApiKey[]> {
      const user = requireSession(actor);
      return prisma.apiKey.findMany({ where: { userId: user.id }, orderBy: { id: "desc" } });
    },

    /** Resolves an Authorization header to the caller; anonymous without one. Invalid credentials throw UNAUTHENTICATED. */
    async authenticate(authorization: string | null | undefined, meta: RequestMeta = {}): Promise<Actor> {
      if (!authorization) return anonymous(meta);
      const match = /^Bearer\s+(\S+)$/i.exec(authorization.trim());
      if (!match) throw unauthenticated('Send credentials as "Authorization: Bearer <access token or API key>".');
      const credential = match[1]!;
      if (credential.startsWith(API_KEY_PREFIX)) {
        const key = credential.length <= 200 ? await prisma.apiKey.findUnique({ where: { keyHash: sha256(credential) }, include: { user: true } }) : null;
        if (!key || key.revokedAt) throw unauthenticated("This API key is not valid.");
        if (key.expiresAt && key.expiresAt <= new Date()) throw unauthenticated("This API key has expired.");
        // last use is informative: write it at most once a minute
        if (!key.lastUsedAt || Date.now() - key.lastUsedAt.getTime() > 60_000) {
          await prisma.apiKey.update({ where: { id: key.id }, data: { lastUsedAt: new Date() } });
        }
        return { kind: "user", id: key.userId, role: key.user.role, via: "api_key", scopes: key.scopes, apiKeyId: key.id, expiresAt: key.expiresAt, meta } satisfies UserActor;
      }
      let claims;
      try {
        claims = await tokens.verify(credential);
      } catch (err) {
        if (err instanceof InvalidTokenError) {
          throw unauthenticated(err.reason === "expired" ? "The access token has expired. Refresh it with refreshToken." : "The access token is not valid.");
        }
        throw err;
      }
      // Logout and password changes end sessions at once, not when the access token expires.
      // The role is read here too, so a demoted admin loses admin rights at once.
      const live = await prisma.session.findFirst({
        where: { familyId: claims.sessionFamily, userId: claims.userId, revokedAt: null },
        select: { user: { select: { role: true } } },
      });
      if (!live) throw unauthenticated("This session has ended. Sign in again.");
      return { kind: "user", id: claims.userId, role: live.user.role, via: "jwt", sessionFamily: claims.sessionFamily, expiresAt: claims.expiresAt, meta } satisfies UserActor;
    },
  };
}

export type AccountService = ReturnType<typeof createAccountService>;

/** What the periodic re-check of open streams reads: which of these credentials are still valid, as `authenticate` decides. */
export interface LiveCredentials { sessionFamilies: Set<string>; apiKeys: Set<number> }

const CHECK_CHUNK = 5_000;

/**
 * Of the given sessions (refresh-token families) and API keys, the ones still valid: a family with
 * an unrevoked token, an unrevoked, unexpired key. One indexed query per kind (per 5 000); a deleted
 * user's sessions and keys are gone with it.
 */
export async function liveCredentials(prisma: PrismaClient, ask: { sessionFamilies: Iterable<string>; apiKeys: Iterable<number> }): Promise<LiveCredentials> {
  const families = [...new Set(ask.sessionFamilies)];
  const keys = [...new Set(ask.apiKeys)];
  const live: LiveCredentials = { sessionFamilies: new Set(), apiKeys: new Set() };
  const now = new Date();
  for (let i = 0; i < families.length; i += CHECK_CHUNK) {
    // GROUP BY in SQL: a family keeps a row per rotation, and only whether one is unrevoked matters
    const rows = await prisma.session.groupBy({ by: ["familyId"], where: { familyId: { in: families.slice(i, i + CHECK_CHUNK) }, revokedAt: null } });
    for (const r of rows) live.sessionFamilies.add(r.familyId);
  }
  for (let i = 0; i < keys.length; i += CHECK_CHUNK) {
    const rows = await prisma.apiKey.findMany({ where: { id: { in: keys.slice(i, i + CHECK_CHUNK) }, revokedAt: null, OR: [{ expiresAt: null }, { expiresAt: { gt: now } }] }, select: { id: true } });
    for (const r of rows) live.apiKeys.add(r.id);
  }
  return live;
}

function isUniqueViolation(err: unknown): boolean {
  const e = err as { code?: string; message?: string; cause?: { code?: string } };
  // Prisma maps it to P2002 on adapter-pg; pglite-prisma-adapter passes the raw SQLSTATE
  return e?.code === "P2002" || e?.cause?.code === "23505" || /Unique constraint failed|duplicate key value/.test(e?.message ?? "");
}
