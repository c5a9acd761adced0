import { z } from "zod";
import { API_KEY_SCOPES, type ApiKeyScope } from "../services/actor.ts";
import type { TokenPair } from "../services/accounts.ts";
import { builder } from "./builder.ts";
import { documentedEnum } from "./enums.ts";

// ---------------------------------------------------------------- Types

export const RoleEnum = documentedEnum("Role", "What an account may do.", {
  USER: { description: "Search, alerts, chat, API keys for itself." },
  ADMIN: { description: "Also manages providers and verifies the audit log." },
});

// Not a Relay node on purpose: a user is reachable only through `me`, never by ID.
export const UserRef = builder.prismaObject("User", {
  description: "A GPUBroker account. Only its owner can read it (through `me`).",
  fields: (t) => ({
    id: t.exposeID("id", { description: "Account number." }),
    email: t.exposeString("email", { description: "Sign-in e-mail address, lower-cased." }),
    name: t.exposeString("name", { description: "Display name." }),
    role: t.expose("role", { type: RoleEnum, description: "USER or ADMIN." }),
    createdAt: t.expose("createdAt", { type: "DateTime", description: "When the account was created." }),
  }),
});

const AuthPayload = builder.objectRef<TokenPair>("AuthPayload").implement({
  description: "Credentials for a signed-in session. Send the access token as `Authorization: Bearer <accessToken>`; when it expires (15 minutes), exchange the refresh token with `refreshToken` — each refresh token works once.",
  fields: (t) => ({
    accessToken: t.exposeString("accessToken", { description: "A signed JWT (RS256), valid for 15 minutes." }),
    accessTokenExpiresAt: t.expose("accessTokenExpiresAt", { type: "DateTime", description: "When the access token stops working." }),
    refreshToken: t.exposeString("refreshToken", { description: "Opaque, single-use; store it securely. Reusing a used one ends the whole sign-in." }),
    refreshTokenExpiresAt: t.expose("refreshTokenExpiresAt", { type: "DateTime", description: "When the refresh token stops working (30 days)." }),
    tokenType: t.string({ description: "Always \"Bearer\".", resolve: () => "Bearer" }),
    user: t.field({ type: UserRef, description: "The signed-in account.", resolve: (p) => p.user }),
  }),
});

const SCOPE_VALUES = Object.fromEntries(API_KEY_SCOPES.map((s) => [s.replace(":", "_").toUpperCase(), s])) as Record<string, ApiKeyScope>;
export const ApiKeyScopeEnum = builder.enumType("ApiKeyScope", {
  description: "What an API key may do besides reading the public catalog.",
  values: {
    CATALOG_READ: { value: "catalog:read", description: "Read the catalog (also allowed without a key)." },
    ACCOUNT_READ: { value: "account:read", description: "Read the owner's account (`me`)." },
    ALERTS_WRITE: { value: "alerts:write", description: "Manage the owner's price alerts." },
    CHAT_WRITE: { value: "chat:write", description: "Talk to the assistant as the owner." },
    INTEGRATIONS_READ: { value: "integrations:read", description: "List the owner's provider integrations (never their keys: no credential can read those)." },
    INTEGRATIONS_WRITE: { value: "integrations:write", description: "Save, test and delete the owner's provider integrations (implies reading them through the mutations' answers)." },
  } satisfies Record<keyof typeof SCOPE_VALUES, { value: ApiKeyScope; description: string }>,
});

const ApiKeyRef = builder.prismaObject("ApiKey", {
  description: "A key for machine clients, sent as `Authorization: Bearer gpb_…`. The secret is shown once, at creation; only its prefix is kept readable.",
  fields: (t) => ({
    id: t.exposeID("id", { description: "Key number (for revokeApiKey)." }),
    name: t.exposeString("name", { description: "What the key is for." }),
    prefix: t.exposeString("prefix", { description: "First characters of the secret, to tell keys apart." }),
    scopes: t.field({ type: [ApiKeyScopeEnum], description: "What the key may do.", resolve: (k) => k.scopes as ApiKeyScope[] }),
    createdAt: t.expose("createdAt", { type: "DateTime", description: "When it was created." }),
    expiresAt: t.expose("expiresAt", { type: "DateTime", nullable: true, description: "When it stops working; null = never." }),
    lastUsedAt: t.expose("lastUsedAt", { type: "DateTime", nullable: true, description: "Last request made with it (to the minute)." }),
    revokedAt: t.expose("revokedAt", { type: "DateTime", nullable: true, description: "When it was revoked; null while active." }),
  }),
});

const CreatedApiKey = builder.simpleObject("CreatedApiKey", {
  description: "A new API key and its secret. Copy the secret now: it is not stored and cannot be shown again.",
  fields: (t) => ({
    apiKey: t.field({ type: ApiKeyRef, description: "The key's details." }),
    secret: t.string({ description: "The full key, `gpb_…`." }),
  }),
});

// ---------------------------------------------------------------- Inputs

const email = z.string().max(254, "An e-mail address has at most 254 characters.");
const password = z.string().max(1024, "A password has at most 1024 characters.");

// ---------------------------------------------------------------- Queries

builder.queryFields((t) => ({
  me: t.prismaField({
    type: UserRef,
    description: "The signed-in account (an access token, or an API key with ACCOUNT_READ).",
    resolve: (_query, _root, _args, ctx) => ctx.services.accounts.me(ctx.actor),
  }),
  apiKeys: t.prismaField({
    type: [ApiKeyRef],
    description: "Your API keys, newest first, revoked ones included.",
    resolve: (_query, _root, _args, ctx) => ctx.services.accounts.apiKeys(ctx.actor),
  }),
}));

// ---------------------------------------------------------------- Mutations

builder.mutationType({ description: "Changes: accounts, sessions, API keys and administration." });

builder.mutationFields((t) => ({
  register: t.field({
    type: AuthPayload,
    description: "Creates an account and signs it in. Passwords need 12+ characters, must not contain the e-mail, and must not be a common password.",
    args: {
      email: t.arg.string({ required: true, description: "Sign-in address (case does not matter).", validate: email }),
      password: t.arg.string({ required: true, description: "At least 12 characters.", validate: password }),
      name: t.arg.string({ required: true, description: "Display name.", validate: z.string().max(100, "A name has at most 100 characters.") }),
    },
    resolve: (_root, args, ctx) => ctx.services.accounts.register(args, ctx.actor),
  }),
  login: t.field({
    type: AuthPayload,
    description: "Signs in. A wrong e-mail and a wrong password get the same answer. After 5 failures for one e-mail from one address, each further attempt from that address waits 1 s, 2 s, 4 s … up to 15 minutes (a success clears it); 20 failures from one address in 15 minutes, across all e-mails, pause that address. Failures from other addresses never lock you out.",
    args: {
      email: t.arg.string({ required: true, description: "Sign-in address.", validate: email }),
      password: t.arg.string({ required: true, description: "Password.", validate: password }),
    },
    resolve: (_root, args, ctx) => ctx.services.accounts.login(args, ctx.actor),
  }),
  refreshToken: t.field({
    type: AuthPayload,
    description: "Exchanges a refresh token for a new access token and a new refresh token (the old one stops working).",
    args: { refreshToken: t.arg.string({ required: true, description: "The refresh token from login, register or the last refresh.", validate: z.string().max(200) }) },
    resolve: (_root, args, ctx) => ctx.services.accounts.refresh(args.refreshToken, ctx.actor),
  }),
  logout: t.boolean({
    description: "Ends this sign-in (its refresh tokens and access tokens stop working).",
    resolve: async (_root, _args, ctx) => (await ctx.services.accounts.logout(ctx.actor)) >= 0,
  }),
  logoutEverywhere: t.int({
    description: "Ends every sign-in of this account, this one included; returns how many session tokens were revoked.",
    resolve: (_root, _args, ctx) => ctx.services.accounts.logoutEverywhere(ctx.actor),
  }),
  updateMe: t.field({
    type: UserRef,
    description: "Changes your display name.",
    args: { name: t.arg.string({ description: "New display name.", validate: z.string().max(100, "A name has at most 100 characters.") }) },
    resolve: (_root, args, ctx) => ctx.services.accounts.updateMe(args, ctx.actor),
  }),
  changePassword: t.int({
    description: "Changes your password and ends every other sign-in; returns how many session tokens were revoked.",
    args: {
      currentPassword: t.arg.string({ required: true, description: "Your password now.", validate: password }),
      newPassword: t.arg.string({ required: true, description: "The new password (same rules as register).", validate: password }),
    },
    resolve: (_root, args, ctx) => ctx.services.accounts.changePassword(args, ctx.actor),
  }),
  createApiKey: t.field({
    type: CreatedApiKey,
    description: "Creates an API key for a machine client. The secret is in the answer, once.",
    args: {
      name: t.arg.string({ required: true, description: "What the key is for.", validate: z.string().max(100, "A name has at most 100 characters.") }),
      scopes: t.arg({ type: [ApiKeyScopeEnum], required: true, description: "What the key may do." }),
      expiresAt: t.arg({ type: "DateTime", description: "When it stops working; omit for never." }),
    },
    resolve: (_root, args, ctx) => ctx.services.accounts.createApiKey(args, ctx.actor),
  }),
  revokeApiKey: t.field({
    type: ApiKeyRef,
    description: "Revokes one of your API keys at once.",
    args: { id: t.arg.id({ required: true, description: "The key's id." }) },
    resolve: (_root, args, ctx) => ctx.services.accounts.revokeApiKey(args.id, ctx.actor),
  }),
}));
