// Accounts and admin services called directly, as an assistant tool or a script would: no GraphQL,
// the caller passed as an actor. Each guard answers with the same codes the API gives.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openTestDatabase } from "../support/db.ts";
import { rejection } from "../support/errors.ts";
import { testServices, userActor } from "../support/app.ts";
import type { Database } from "../../src/infra/db.ts";
import { anonymous, systemActor, type Actor } from "../../src/services/actor.ts";
import type { IngestionControl } from "../../src/services/admin.ts";

const PASSWORD = "a long and lovely passphrase";


describe("accounts service", () => {
  let db: Database;
  let services: ReturnType<typeof testServices>;
  beforeAll(async () => {
    db = await openTestDatabase();
    services = testServices(db);
  });
  afterAll(async () => { await db?.close(); });

  it("registers, authenticates the access token into an actor, and answers me and apiKeys for it", async () => {
    const pair = await services.accounts.register({ email: " Grace@Example.com", password: PASSWORD, name: "Grace" }, anonymous({ ip: "192.0.2.1" }));
    expect(pair.user).toMatchObject({ email: "grace@example.com", role: "USER" });
    const actor = await services.accounts.authenticate(`Bearer ${pair.accessToken}`, { ip: "192.0.2.1" });
    expect(actor).toMatchObject({ kind: "user", id: pair.user.id, via: "jwt", role: "USER", meta: { ip: "192.0.2.1" } });
    expect((await services.accounts.me(actor)).email).toBe("grace@example.com");
    expect(await services.accounts.apiKeys(actor)).toEqual([]);
    expect(await services.accounts.authenticate(null, {})).toEqual({ kind: "anonymous", meta: {} });
  });

  it("API keys act within their scopes; keys cannot manage credentials; anonymous callers are asked to sign in", async () => {
    const pair = await services.accounts.login({ email: "grace@example.com", password: PASSWORD }, anonymous());
    const session = await services.accounts.authenticate(`Bearer ${pair.accessToken}`);
    const { secret } = await services.accounts.createApiKey({ name: "ci", scopes: ["catalog:read"] }, session);
    const key = await services.accounts.authenticate(`Bearer ${secret}`);
    expect(key).toMatchObject({ kind: "user", via: "api_key", scopes: ["catalog:read"] });

    expect(await rejection(services.accounts.me(key))).toMatchObject({ code: "FORBIDDEN", message: "You are not allowed to do this." });
    expect((await rejection(services.accounts.createApiKey({ name: "x", scopes: [] }, key))).code).toBe("FORBIDDEN");
    expect((await rejection(services.accounts.logout(key))).message).toMatch(/revoke the key instead/);
    expect(await rejection(services.accounts.me(anonymous()))).toMatchObject({ code: "UNAUTHENTICATED", message: expect.stringMatching(/^Sign in first/) });
    expect((await rejection(services.accounts.me(systemActor("script")))).code).toBe("FORBIDDEN");
    expect((await rejection(services.accounts.authenticate("Bearer gpb_not-a-key"))).code).toBe("UNAUTHENTICATED");
  });

  it("rotates refresh tokens, renames, changes the password (ending other sessions) and logs out everywhere", async () => {
    const first = await services.accounts.login({ email: "grace@example.com", password: PASSWORD }, anonymous());
    const other = await services.accounts.login({ email: "grace@example.com", password: PASSWORD }, anonymous());
    const rotated = await services.accounts.refresh(first.refreshToken, anonymous());
    expect(rotated.refreshToken).not.toBe(first.refreshToken);
    expect((await rejection(services.accounts.refresh(first.refreshToken, anonymous()))).message).toMatch(/already used/);
    const session = await services.accounts.authenticate(`Bearer ${other.accessToken}`);
    expect((await services.accounts.updateMe({ name: " Grace H. " }, session)).name).toBe("Grace H.");
    expect((await rejection(services.accounts.updateMe({ name: " " }, session))).code).toBe("BAD_USER_INPUT");
    expect((await rejection(services.accounts.changePassword({ currentPassword: "wrong wrong wrong", newPassword: `${PASSWORD}!` }, session))).code).toBe("UNAUTHENTICATED");
    expect(await services.accounts.changePassword({ currentPassword: PASSWORD, newPassword: `${PASSWORD}!` }, session)).toBeGreaterThan(0);
    expect((await rejection(services.accounts.authenticate(`Bearer ${rotated.accessToken}`))).message).toMatch(/session has ended/);
    expect(await services.accounts.logoutEverywhere(session)).toBe(1);
    expect((await rejection(services.accounts.authenticate(`Bearer ${other.accessToken}`))).code).toBe("UNAUTHENTICATED");
    expect((await rejection(services.accounts.logoutEverywhere(anonymous()))).code).toBe("UNAUTHENTICATED");
    await services.accounts.changePassword({ currentPassword: `${PASSWORD}!`, newPassword: PASSWORD }, await services.accounts.authenticate(`Bearer ${(await services.accounts.login({ email: "grace@example.com", password: `${PASSWORD}!` }, anonymous())).accessToken}`));
  });

  it("revokeApiKey treats ids outside the integer range, and other users' keys, as not found", async () => {
    const other = await services.accounts.register({ email: "eve@example.com", password: PASSWORD, name: "Eve" }, anonymous());
    const eve = await services.accounts.authenticate(`Bearer ${other.accessToken}`);
    const grace = await services.accounts.authenticate(`Bearer ${(await services.accounts.login({ email: "grace@example.com", password: PASSWORD }, anonymous())).accessToken}`);
    const [graceKey] = await services.accounts.apiKeys(grace);
    for (const id of [graceKey!.id, "2147483648", "9".repeat(40), "-1", "abc"]) {
      expect(await rejection(services.accounts.revokeApiKey(id, eve))).toMatchObject({ code: "NOT_FOUND", message: "You have no API key with this ID." });
    }
    expect((await services.accounts.revokeApiKey(graceKey!.id, grace)).revokedAt).toBeInstanceOf(Date);
  });
});

describe("admin service", () => {
  let db: Database;
  beforeAll(async () => {
    db = await openTestDatabase();
    await db.prisma.provider.create({ data: { slug: "lambda", name: "Lambda", kind: "NEOCLOUD" } });
  });
  afterAll(async () => { await db?.close(); });

  it("admins and the system may act; users, API keys and anonymous callers may not; every change is audited", async () => {
    const refreshed: string[] = [];
    const ingestion: IngestionControl = {
      hasAdapter: (slug) => slug === "lambda",
      refreshNow: async (slug) => { refreshed.push(slug); return { ok: true, healthStatus: "HEALTHY", latencyMs: 5, changes: 0, notifications: 0, error: null }; },
    };
    const services = testServices(db, { ingestion });
    const admin = await db.prisma.user.create({ data: { email: "root@example.com", name: "Root", passwordHash: "x", role: "ADMIN" } });
    const denied: [Actor, string][] = [
      [userActor(admin.id, "USER"), "FORBIDDEN"],
      [userActor(admin.id, "ADMIN", { via: "api_key", scopes: ["catalog:read", "account:read", "alerts:write", "chat:write"] }), "FORBIDDEN"],
      [anonymous(), "UNAUTHENTICATED"],
    ];
    for (const [actor, code] of denied) {
      expect((await rejection(services.admin.setProviderEnabled({ slug: "lambda", enabled: false }, actor))).code).toBe(code);
      expect((await rejection(services.admin.refreshProvider({ slug: "lambda" }, actor))).code).toBe(code);
    }
    expect(refreshed).toEqual([]);
    expect(await db.prisma.auditLogEntry.count()).toBe(0);

    expect((await services.admin.setProviderEnabled({ slug: "lambda", enabled: false }, userActor(admin.id, "ADMIN"))).enabled).toBe(false);
    expect((await services.admin.refreshProvider({ slug: " LAMBDA " }, systemActor("ops-script"))).slug).toBe("lambda");
    expect(refreshed).toEqual(["lambda"]);
    expect((await rejection(services.admin.refreshProvider({ slug: "nope" }, systemActor("ops-script")))).code).toBe("NOT_FOUND");
    expect((await rejection(testServices(db).admin.refreshProvider({ slug: "lambda" }, systemActor("ops-script")))).code).toBe("SERVICE_UNAVAILABLE");

    const audit = await db.prisma.auditLogEntry.findMany({ orderBy: { id: "asc" }, select: { action: true, actorUserId: true } });
    expect(audit).toEqual([{ action: "provider.disable", actorUserId: admin.id }, { action: "provider.refresh", actorUserId: null }]);
    expect(await services.admin.verifyAuditLog(systemActor("ops-script"))).toMatchObject({ ok: true, entries: 2 });

    const user = await db.prisma.user.create({ data: { email: "ops@example.com", name: "Ops", passwordHash: "x" } });
    expect((await rejection(services.admin.setUserRole({ email: "ops@example.com", role: "ADMIN" }, userActor(user.id, "USER")))).code).toBe("FORBIDDEN");
    expect((await services.admin.setUserRole({ email: " OPS@example.com ", role: "ADMIN" }, userActor(admin.id, "ADMIN"))).role).toBe("ADMIN");
    expect((await rejection(services.admin.setUserRole({ email: "nobody@example.com", role: "ADMIN" }, userActor(admin.id, "ADMIN")))).code).toBe("NOT_FOUND");
  });
});
