// Open streams (subscriptions) end when the authority they were opened with ends: at the access
// token's (or API key's) expiry, on a revocation any node publishes on "auth.revoked" (logout,
// password change, refresh-token reuse, a revoked key, a disabled or deleted account), and, for a node
// that missed that message, at the next periodic re-check of every open stream's credential on this
// node (one query per kind). The transports decide how a stream ends (graphql/stream-authority.ts).
import type { Logger } from "pino";
import type { PrismaClient } from "../generated/prisma/client.ts";
import { unauthenticated, type AppError } from "../errors.ts";
import type { AuthRevocation, PubSub } from "../infra/pubsub-types.ts";
import { liveCredentials } from "./accounts.ts";
import type { Actor, UserActor } from "./actor.ts";

export const AUTHORITY_RECHECK_MS = 30_000;
/** The longest delay setTimeout takes; a later expiry is left to the re-check. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface StreamAuthorityDeps {
  prisma: PrismaClient;
  pubsub: PubSub;
  log: Pick<Logger, "warn" | "error">;
  /** How often every open stream's credential is checked again; default AUTHORITY_RECHECK_MS. */
  authorityRecheckMs?: number | undefined;
}

const ended = {
  session: () => unauthenticated("This session has ended. Sign in again."),
  apiKey: () => unauthenticated("This API key is no longer valid."),
  tokenExpired: () => unauthenticated("The access token has expired. Refresh it with refreshToken."),
  apiKeyExpired: () => unauthenticated("This API key has expired."),
};

/** Does the revocation cover the credential this user acts with? */
export function revokes(revocation: AuthRevocation, user: UserActor): boolean {
  if (revocation.userId !== user.id) return false;
  if (revocation.sessionFamilies) return user.via === "jwt" && user.sessionFamily !== undefined && revocation.sessionFamilies.includes(user.sessionFamily);
  if (revocation.apiKeyId !== undefined) return user.via === "api_key" && user.apiKeyId === revocation.apiKeyId;
  return true; // the whole account
}

interface Watch { user: UserActor; end: (reason: AppError) => void; timer?: NodeJS.Timeout }

export function createStreamAuthority({ prisma, pubsub, log, authorityRecheckMs = AUTHORITY_RECHECK_MS }: StreamAuthorityDeps) {
  const watches = new Set<Watch>();
  let listening = false;
  let recheckTimer: NodeJS.Timeout | undefined;
  let checking: Promise<void> | undefined;

  function finish(watch: Watch, reason: AppError) {
    if (!watches.delete(watch)) return;
    clearTimeout(watch.timer);
    if (watches.size === 0) { clearInterval(recheckTimer); recheckTimer = undefined; }
    try { watch.end(reason); } catch (err) { log.error({ err }, "ending a stream failed"); }
  }

  // One subscription per node, kept once opened; a message lost while it (re)subscribes is caught by the re-check.
  async function listen() {
    listening = true;
    try {
      for await (const revocation of pubsub.subscribe("auth.revoked")) {
        for (const watch of [...watches]) if (revokes(revocation, watch.user)) finish(watch, watch.user.via === "jwt" ? ended.session() : ended.apiKey());
      }
    } catch (err) {
      log.warn({ err }, "revocations stream failed; re-checking open streams");
      void recheck();
    } finally {
      listening = false;
    }
  }

  async function check() {
    const open = [...watches];
    if (open.length === 0) return;
    const live = await liveCredentials(prisma, {
      sessionFamilies: open.flatMap((w) => (w.user.via === "jwt" && w.user.sessionFamily ? [w.user.sessionFamily] : [])),
      apiKeys: open.flatMap((w) => (w.user.via === "api_key" && w.user.apiKeyId !== undefined ? [w.user.apiKeyId] : [])),
    });
    for (const watch of open) {
      const { via, sessionFamily, apiKeyId } = watch.user;
      if (via === "jwt" && !(sessionFamily && live.sessionFamilies.has(sessionFamily))) finish(watch, ended.session());
      if (via === "api_key" && !(apiKeyId !== undefined && live.apiKeys.has(apiKeyId))) finish(watch, ended.apiKey());
    }
  }

  /** Checks every open stream's credential now (one at a time: a slow database does not pile checks up). */
  function recheck(): Promise<void> {
    checking ??= check()
      .catch((err: unknown) => log.warn({ err }, "re-checking the credentials of open streams failed; trying again at the next interval"))
      .finally(() => { checking = undefined; });
    return checking;
  }

  return {
    /**
     * Calls `end` once, with an UNAUTHENTICATED AppError, when the caller's credential stops being
     * valid; returns the function that stops watching (call it when the stream ends first). Anonymous
     * and system callers have nothing that can end.
     */
    watch(actor: Actor, end: (reason: AppError) => void): () => void {
      if (actor.kind !== "user") return () => {};
      const watch: Watch = { user: actor, end };
      watches.add(watch);
      if (actor.expiresAt) {
        const ms = actor.expiresAt.getTime() - Date.now();
        const reason = actor.via === "jwt" ? ended.tokenExpired : ended.apiKeyExpired;
        if (ms <= 0) { finish(watch, reason()); return () => {}; }
        if (ms <= MAX_TIMER_MS) watch.timer = setTimeout(() => finish(watch, reason()), ms).unref();
      }
      if (!listening) void listen();
      recheckTimer ??= setInterval(() => void recheck(), authorityRecheckMs).unref();
      return () => {
        if (!watches.delete(watch)) return;
        clearTimeout(watch.timer);
        if (watches.size === 0) { clearInterval(recheckTimer); recheckTimer = undefined; }
      };
    },
    recheck,
    /** Streams watched on this node now. */
    get watching() { return watches.size; },
  };
}

export type StreamAuthority = ReturnType<typeof createStreamAuthority>;
