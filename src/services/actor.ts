// Who is calling a service: a signed-in user (access token), a machine client (API key), an
// anonymous visitor, or the system itself (ingestion, scripts). Every service checks its caller with
// the guards below, so a GraphQL resolver, an assistant tool and a script get the same answer.
import { forbidden, unauthenticated } from "../errors.ts";

export type Role = "USER" | "ADMIN";
export const API_KEY_SCOPES = ["catalog:read", "account:read", "alerts:write", "chat:write", "integrations:read", "integrations:write"] as const;
export type ApiKeyScope = (typeof API_KEY_SCOPES)[number];

/** Where a request came from, for the audit log and rate limits. */
export interface RequestMeta { ip?: string | null; userAgent?: string | null }

interface Base { meta?: RequestMeta }

/** A signed-in account: through an access token (a session) or an API key (with scopes). */
export interface UserActor extends Base {
  kind: "user";
  id: number;
  role: Role;
  via: "jwt" | "api_key";
  /** Access token: the refresh-token family of this login. */
  sessionFamily?: string;
  /** API key: what it may do. */
  scopes?: readonly string[];
  apiKeyId?: number;
  /** When the credential stops being valid by itself: the access token's `exp`, an API key's expiry (none: never). */
  expiresAt?: Date | null;
}
export interface AnonymousActor extends Base { kind: "anonymous" }
/** Trusted code of our own (ingestion, scripts, tests); never the result of a request. */
export interface SystemActor extends Base { kind: "system"; component: string }

export type Actor = UserActor | AnonymousActor | SystemActor;

export const anonymous = (meta?: RequestMeta): AnonymousActor => ({ kind: "anonymous", meta });
export const systemActor = (component: string): SystemActor => ({ kind: "system", component });

const SIGN_IN = "Sign in first: send \"Authorization: Bearer <access token or API key>\".";
const denied = () => forbidden("You are not allowed to do this.");

/** Any signed-in caller (access token or API key). */
export function requireUser(actor: Actor): UserActor {
  if (actor.kind === "user") return actor;
  throw actor.kind === "anonymous" ? unauthenticated(SIGN_IN) : denied();
}

/** A signed-in user with an access token; API keys cannot manage credentials or sessions. */
export function requireSession(actor: Actor): UserActor & { via: "jwt" } {
  const user = requireUser(actor);
  if (user.via !== "jwt") throw denied();
  return user as UserActor & { via: "jwt" };
}

/** An access token, or an API key that holds `scope`. */
export function requireScope(actor: Actor, scope: ApiKeyScope): UserActor {
  const user = requireUser(actor);
  if (user.via === "api_key" && !user.scopes?.includes(scope)) throw denied();
  return user;
}

/** A signed-in admin (access token), or the system. */
export function requireAdmin(actor: Actor): UserActor | SystemActor {
  if (actor.kind === "system") return actor;
  const user = requireUser(actor);
  if (user.via !== "jwt" || user.role !== "ADMIN") throw denied();
  return user;
}

/** The user id an audit entry names as actor: null for the system. */
export const actorUserId = (actor: Actor): number | null => (actor.kind === "user" ? actor.id : null);
