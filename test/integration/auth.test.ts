import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SignJWT, decodeJwt, decodeProtectedHeader, generateKeyPair, importJWK, jwtVerify } from "jose";
import { graphql } from "../generated/index.ts";
import { openTestDatabase } from "../support/db.ts";
import { testClient } from "../support/app.ts";
import type { Database } from "../../src/infra/db.ts";
import { verifyAuditLog } from "../../src/infra/audit.ts";
import { createRateLimiter } from "../../src/infra/rate-limit.ts";

const Register = graphql(`
  mutation Register($email: String!, $password: String!, $name: String!) {
    register(email: $email, password: $password, name: $name) { accessToken refreshToken tokenType user { id email name role } }
  }
`);
const Login = graphql(`
  mutation Login($email: String!, $password: String!) { login(email: $email, password: $password) { accessToken refreshToken user { email } } }
`);
const Refresh = graphql(`mutation Refresh($token: String!) { refreshToken(refreshToken: $token) { accessToken refreshToken } }`);
const Me = graphql(`query Me { me { email name role } }`);

const PASSWORD = "a long and lovely passphrase";

describe("accounts and tokens", () => {
  let db: Database;
  let client: ReturnType<typeof testClient>;
  let request: ReturnType<typeof testClient>["request"];
  beforeAll(async () => {
    db = await openTestDatabase();
    client = testClient(db);
    request = client.request;
  });
  afterAll(async () => { await db?.close(); });

  const as = (token: string) => ({ authorization: `Bearer ${token}` });

  async function register(email: string, name = "Ada") {
    const res = await request(Register, { email, password: PASSWORD, name });
    expect(res.errors).toBeUndefined();
    return res.data!.register;
  }

  it("registers with a normalised e-mail, signs in, and answers me", async () => {
    const reg = await register("  Ada@Example.COM ");
    expect(reg.user).toMatchObject({ email: "ada@example.com", name: "Ada", role: "USER" });
    expect(reg.tokenType).toBe("Bearer");
    const claims = decodeJwt(reg.accessToken);
    expect(decodeProtectedHeader(reg.accessToken).alg).toBe("RS256");
    expect(claims).toMatchObject({ sub: reg.user.id, iss: expect.any(String), aud: expect.any(String), jti: expect.any(String) });
    expect(claims.exp! - claims.iat!).toBe(15 * 60);
    const me = await request(Me, undefined, as(reg.accessToken));
    expect(me.data).toEqual({ me: { email: "ada@example.com", name: "Ada", role: "USER" } });
    const login = await request(Login, { email: "ADA@example.com", password: PASSWORD });
    expect(login.data!.login.user.email).toBe("ada@example.com");
  });

  it("refuses a duplicate e-mail in any case, and weak passwords with every reason", async () => {
    const dup = await request(Register, { email: "ADA@EXAMPLE.COM", password: PASSWORD, name: "Other" });
    expect(dup.errors![0]).toMatchObject({ message: expect.stringMatching(/already exists/), extensions: { code: "BAD_USER_INPUT" } });
    const weak = await request(Register, { email: "bob@example.com", password: "short", name: "Bob" });
    expect(weak.errors![0]!.extensions).toMatchObject({ code: "BAD_USER_INPUT", problems: ["Use at least 12 characters."] });
    const common = await request(Register, { email: "bob@example.com", password: "password1234", name: "Bob" });
    expect(common.errors![0]!.message).toMatch(/too common/);
    const mine = await request(Register, { email: "bobby@example.com", password: "bobby@example.com", name: "Bob" });
    expect(mine.errors![0]!.message).toMatch(/must not contain your e-mail/);
    expect(await db.prisma.user.count({ where: { email: { startsWith: "bob" } } })).toBe(0);
  });

  it("gives a wrong password and an unknown e-mail the same answer", async () => {
    const wrong = await request(Login, { email: "ada@example.com", password: "not the password at all" });
    const unknown = await request(Login, { email: "nobody@example.com", password: "not the password at all" });
    expect(wrong.errors![0]).toMatchObject({ message: "Wrong e-mail or password.", extensions: { code: "UNAUTHENTICATED" } });
    expect(unknown.errors).toEqual(wrong.errors);
  });

  it("rotates refresh tokens, and reuse of an old one ends the whole family", async () => {
    const reg = await register("carol@example.com", "Carol");
    const first = await request(Refresh, { token: reg.refreshToken });
    expect(first.errors).toBeUndefined();
    const second = await request(Refresh, { token: first.data!.refreshToken.refreshToken });
    expect(second.errors).toBeUndefined();
    // the first refresh token again: reuse
    const reuse = await request(Refresh, { token: reg.refreshToken });
    expect(reuse.errors![0]).toMatchObject({ message: expect.stringMatching(/already used/), extensions: { code: "UNAUTHENTICATED" } });
    // every token of that family is dead now, access tokens included
    const after = await request(Refresh, { token: second.data!.refreshToken.refreshToken });
    expect(after.errors![0]!.extensions?.code).toBe("UNAUTHENTICATED");
    const me = await request(Me, undefined, as(second.data!.refreshToken.accessToken));
    expect(me.errors![0]).toMatchObject({ message: expect.stringMatching(/session has ended/), extensions: { code: "UNAUTHENTICATED" } });
    expect(await db.prisma.auditLogEntry.count({ where: { action: "session.refresh_reuse" } })).toBe(1);
  });

  it("logout ends this session only; changePassword ends the others; logoutEverywhere ends all", async () => {
    const a = await register("dave@example.com", "Dave");
    const b = (await request(Login, { email: "dave@example.com", password: PASSWORD })).data!.login;
    const c = (await request(Login, { email: "dave@example.com", password: PASSWORD })).data!.login;
    expect((await request(`mutation { logout }`, undefined, as(a.accessToken))).data).toEqual({ logout: true });
    expect((await request(Me, undefined, as(a.accessToken))).errors![0]!.extensions?.code).toBe("UNAUTHENTICATED");
    expect((await request(Me, undefined, as(b.accessToken))).data?.me.email).toBe("dave@example.com");

    const changed = await request(`mutation($c: String!, $n: String!) { changePassword(currentPassword: $c, newPassword: $n) }`,
      { c: PASSWORD, n: "an even longer new passphrase" }, as(b.accessToken));
    expect(changed.errors).toBeUndefined();
    expect(changed.data.changePassword).toBeGreaterThanOrEqual(1);
    expect((await request(Me, undefined, as(b.accessToken))).data?.me.email).toBe("dave@example.com");
    expect((await request(Me, undefined, as(c.accessToken))).errors![0]!.extensions?.code).toBe("UNAUTHENTICATED");
    expect((await request(Login, { email: "dave@example.com", password: PASSWORD })).errors![0]!.extensions?.code).toBe("UNAUTHENTICATED");

    const all = await request(`mutation { logoutEverywhere }`, undefined, as(b.accessToken));
    expect(all.data.logoutEverywhere).toBeGreaterThanOrEqual(1);
    expect((await request(Me, undefined, as(b.accessToken))).errors![0]!.extensions?.code).toBe("UNAUTHENTICATED");
  });

  it("rejects malformed, foreign, unsigned and expired tokens with UNAUTHENTICATED", async () => {
    const reg = await register("erin@example.com", "Erin");
    const claims = decodeJwt(reg.accessToken);
    const other = await generateKeyPair("RS256");
    const foreign = await new SignJWT({ role: "ADMIN", sid: "x" }).setProtectedHeader({ alg: "RS256" })
      .setIssuer(claims.iss!).setAudience(claims.aud as string).setSubject(claims.sub!).setJti("j").setExpirationTime("5m").sign(other.privateKey);
    const b64 = (v: object) => Buffer.from(JSON.stringify(v)).toString("base64url");
    const unsigned = `${b64({ alg: "none", typ: "JWT" })}.${b64({ ...claims, role: "ADMIN" })}.`;
    const hs256 = await new SignJWT({ role: "ADMIN", sid: "x" }).setProtectedHeader({ alg: "HS256" })
      .setIssuer(claims.iss!).setAudience(claims.aud as string).setSubject(claims.sub!).setJti("j").setExpirationTime("5m")
      .sign(new TextEncoder().encode("a shared secret that is long enough"));
    const [h, , s] = reg.accessToken.split(".");
    const expiredPayload = `${h}.${b64({ ...claims, exp: Math.floor(Date.now() / 1000) - 3600 })}.${s}`;
    for (const [token, message] of [
      ["not-a-jwt", /not valid/], [foreign, /not valid/], [unsigned, /not valid/], [hs256, /not valid/], [expiredPayload, /not valid/],
    ] as const) {
      const res = await request(Me, undefined, as(token));
      expect(res.status).toBeLessThan(500);
      expect(res.errors![0]).toMatchObject({ message: expect.stringMatching(message), extensions: { code: "UNAUTHENTICATED" } });
    }
    const basic = await request(Me, undefined, { authorization: "Basic abc" });
    expect(basic.errors![0]!.extensions?.code).toBe("UNAUTHENTICATED");
    const anonymous = await request(Me);
    expect(anonymous.errors![0]).toMatchObject({ message: expect.stringMatching(/Sign in first/), extensions: { code: "UNAUTHENTICATED" } });
  });

  it("publishes the public key at /.well-known/jwks.json and tokens verify against it", async () => {
    const reg = await register("frank@example.com", "Frank");
    const res = await client.yoga.fetch("http://localhost/.well-known/jwks.json");
    expect(res.status).toBe(200);
    const jwks = await res.json();
    expect(jwks.keys).toHaveLength(1);
    expect(jwks.keys[0]).toMatchObject({ kty: "RSA", alg: "RS256", use: "sig", kid: decodeProtectedHeader(reg.accessToken).kid });
    expect(JSON.stringify(jwks)).not.toMatch(/"d"|"p"|"q"/); // no private parts
    const { payload } = await jwtVerify(reg.accessToken, await importJWK(jwks.keys[0], "RS256"), { algorithms: ["RS256"] });
    expect(payload.sub).toBe(reg.user.id);
  });

  it("API keys: shown once, stored hashed, listed without the secret, scoped, revocable", async () => {
    const reg = await register("grace@example.com", "Grace");
    const created = await request(`mutation { createApiKey(name: "ci", scopes: [ACCOUNT_READ]) { secret apiKey { id name prefix scopes revokedAt } } }`, undefined, as(reg.accessToken));
    expect(created.errors).toBeUndefined();
    const { secret, apiKey } = created.data.createApiKey;
    expect(secret).toMatch(/^gpb_[A-Za-z0-9_-]{40,}$/);
    expect(apiKey).toMatchObject({ name: "ci", prefix: secret.slice(0, 12), scopes: ["ACCOUNT_READ"], revokedAt: null });
    const stored = await db.prisma.apiKey.findUniqueOrThrow({ where: { id: Number(apiKey.id) } });
    expect(JSON.stringify(stored)).not.toContain(secret);

    expect((await request(Me, undefined, as(secret))).data?.me.email).toBe("grace@example.com");
    // a key may not manage keys or sessions
    const forbidden = await request(`{ apiKeys { id } }`, undefined, as(secret));
    expect(forbidden.errors![0]!.extensions?.code).toBe("FORBIDDEN");
    const listed = await request(`{ apiKeys { id name prefix } }`, undefined, as(reg.accessToken));
    expect(JSON.stringify(listed.data)).not.toContain(secret);

    const narrow = await request(`mutation { createApiKey(name: "no account", scopes: [CATALOG_READ]) { secret } }`, undefined, as(reg.accessToken));
    expect((await request(Me, undefined, as(narrow.data.createApiKey.secret))).errors![0]!.extensions?.code).toBe("FORBIDDEN");

    const revoked = await request(`mutation($id: ID!) { revokeApiKey(id: $id) { revokedAt } }`, { id: apiKey.id }, as(reg.accessToken));
    expect(revoked.data.revokeApiKey.revokedAt).not.toBeNull();
    expect((await request(Me, undefined, as(secret))).errors![0]).toMatchObject({ message: "This API key is not valid.", extensions: { code: "UNAUTHENTICATED" } });
  });

  it("a user can never read or change another user's data", async () => {
    const heidi = await register("heidi@example.com", "Heidi");
    const ivan = await register("ivan@example.com", "Ivan");
    const key = await request(`mutation { createApiKey(name: "heidi's", scopes: [ACCOUNT_READ]) { apiKey { id } } }`, undefined, as(heidi.accessToken));
    const id = key.data.createApiKey.apiKey.id;
    const steal = await request(`mutation($id: ID!) { revokeApiKey(id: $id) { id } }`, { id }, as(ivan.accessToken));
    expect(steal.errors![0]).toMatchObject({ extensions: { code: "NOT_FOUND" } });
    expect((await db.prisma.apiKey.findUniqueOrThrow({ where: { id: Number(id) } })).revokedAt).toBeNull();
    const list = await request(`{ apiKeys { id } }`, undefined, as(ivan.accessToken));
    expect(list.data.apiKeys).toEqual([]);
    const me = await request(Me, undefined, as(ivan.accessToken));
    expect(me.data!.me.email).toBe("ivan@example.com");
    const renamed = await request(`mutation { updateMe(name: "Not Heidi") { name email } }`, undefined, as(ivan.accessToken));
    expect(renamed.data.updateMe).toEqual({ name: "Not Heidi", email: "ivan@example.com" });
    expect((await db.prisma.user.findUniqueOrThrow({ where: { email: "heidi@example.com" } })).name).toBe("Heidi");
  });

  it("audits every security event in a chain that verifies", async () => {
    const actions = (await db.prisma.auditLogEntry.findMany({ select: { action: true } })).map((a) => a.action);
    for (const action of ["user.register", "user.login", "user.login_failed", "session.refresh", "session.refresh_reuse", "session.logout",
      "session.logout_all", "user.password_change", "user.update", "api_key.create", "api_key.revoke"]) {
      expect(actions).toContain(action);
    }
    expect((await verifyAuditLog(db.prisma)).ok).toBe(true);
    const secrets = await db.prisma.$queryRawUnsafe<{ n: number }[]>(`SELECT count(*)::int AS n FROM "AuditLogEntry" WHERE details::text ~* '(gpb_|gpr_|passphrase|eyJ)'`);
    expect(secrets[0]!.n).toBe(0);
  });

  it("oversized input is refused before any work", async () => {
    const huge = "x".repeat(5000);
    const res = await request(Login, { email: `${huge}@example.com`, password: huge });
    expect(res.status).toBeLessThan(500);
    expect(res.errors![0]!.extensions?.code).toBe("BAD_USER_INPUT");
  });
});

describe("sign-in rate limits", () => {
  let db: Database;
  afterAll(async () => { await db?.close(); });

  it("failures for an e-mail from other addresses never lock the owner out of theirs; that pair waits, with a retry-after", async () => {
    db = await openTestDatabase();
    const { request } = testClient(db);
    await request(Register, { email: "mallory-target@example.com", password: PASSWORD, name: "Target" });
    for (let i = 0; i < 5; i++) {
      const res = await request(Login, { email: "Mallory-Target@example.com", password: `guess number ${i} is wrong` }, {}, "198.51.100.66");
      expect(res.errors![0]!.extensions?.code).toBe("UNAUTHENTICATED");
    }
    // from the attacker's address, even the right password waits now
    const waiting = await request(Login, { email: "mallory-target@example.com", password: PASSWORD }, {}, "198.51.100.66");
    expect(waiting.status).toBeLessThan(500);
    expect(waiting.errors).toEqual([{ message: "Too many failed sign-ins for this e-mail address from this address. Try again in 1 s.", locations: expect.any(Array), path: ["login"], extensions: { code: "RATE_LIMITED", retryAfterSeconds: 1 } }]);
    // an unknown e-mail gets the same answer after the same failures
    for (let i = 0; i < 5; i++) await request(Login, { email: "nobody-here@example.com", password: `guess number ${i} is wrong` }, {}, "198.51.100.66");
    expect((await request(Login, { email: "nobody-here@example.com", password: PASSWORD }, {}, "198.51.100.66")).errors).toEqual(waiting.errors);
    // the owner, from their own address, signs in at once
    expect((await request(Login, { email: "mallory-target@example.com", password: PASSWORD }, {}, "203.0.113.7")).data?.login.user.email).toBe("mallory-target@example.com");
  });

  it("a successful login clears the failure count", async () => {
    const { request } = testClient(db);
    await request(Register, { email: "forgetful@example.com", password: PASSWORD, name: "F" });
    for (let round = 0; round < 3; round++) {
      // 8 failures without the clearing would make the next attempts wait
      for (let i = 0; i < 4; i++) expect((await request(Login, { email: "forgetful@example.com", password: "wrong wrong wrong" })).errors![0]!.extensions?.code).toBe("UNAUTHENTICATED");
      expect((await request(Login, { email: "forgetful@example.com", password: PASSWORD })).errors).toBeUndefined();
    }
  });

  it("limits failed logins per address across e-mails, and register and refreshToken per address", async () => {
    const { request } = testClient(db, { rateLimiter: createRateLimiter({ prefix: `t-${Date.now()}`, limits: { "login:ip": { points: 3, durationSeconds: 60 }, "auth:ip": { points: 2, durationSeconds: 60 } } }) });
    const codes = [];
    for (let i = 0; i < 4; i++) codes.push((await request(Login, { email: `x${i}@example.com`, password: "whatever whatever" })).errors![0]!.extensions?.code);
    expect(codes).toEqual(["UNAUTHENTICATED", "UNAUTHENTICATED", "UNAUTHENTICATED", "RATE_LIMITED"]);
    expect((await request(Login, { email: "x9@example.com", password: "whatever whatever" }, {}, "203.0.113.7")).errors![0]!.extensions?.code).toBe("UNAUTHENTICATED");
    const reg = await request(Register, { email: "newcomer@example.com", password: PASSWORD, name: "New" });
    expect(reg.errors).toBeUndefined();
    expect((await request(Refresh, { token: reg.data!.register.refreshToken })).errors).toBeUndefined();
    const refresh = await request(Refresh, { token: "gpr_nothing" });
    expect(refresh.errors![0]).toMatchObject({ message: expect.stringMatching(/^Too many sign-ups, token refreshes or password changes from this address\. Try again in \d+ s\.$/), extensions: { code: "RATE_LIMITED" } });
    expect((await request(Register, { email: "second@example.com", password: PASSWORD, name: "Second" })).errors![0]!.extensions?.code).toBe("RATE_LIMITED");
  });
});

describe("admin", () => {
  let db: Database;
  afterAll(async () => { await db?.close(); });

  it("only admins can disable providers, change roles and verify the audit log; all of it is audited", async () => {
    db = await openTestDatabase();
    const { request } = testClient(db);
    await db.prisma.provider.create({ data: { slug: "acme", name: "Acme", kind: "NEOCLOUD" } });
    const admin = (await request(Register, { email: "root@example.com", password: PASSWORD, name: "Root" })).data!.register;
    const user = (await request(Register, { email: "user@example.com", password: PASSWORD, name: "User" })).data!.register;
    await db.prisma.user.update({ where: { email: "root@example.com" }, data: { role: "ADMIN" } });
    const as = (t: string) => ({ authorization: `Bearer ${t}` });
    const disable = `mutation { setProviderEnabled(slug: "acme", enabled: false) { slug enabled } }`;

    expect((await request(disable)).errors![0]!.extensions?.code).toBe("UNAUTHENTICATED");
    expect((await request(disable, undefined, as(user.accessToken))).errors![0]!.extensions?.code).toBe("FORBIDDEN");
    expect((await request(`mutation { verifyAuditLog { ok } }`, undefined, as(user.accessToken))).errors![0]!.extensions?.code).toBe("FORBIDDEN");
    expect((await db.prisma.provider.findUniqueOrThrow({ where: { slug: "acme" } })).enabled).toBe(true);

    expect((await request(disable, undefined, as(admin.accessToken))).data).toEqual({ setProviderEnabled: { slug: "acme", enabled: false } });
    const promoted = await request(`mutation { setUserRole(email: "USER@example.com", role: ADMIN) { email role } }`, undefined, as(admin.accessToken));
    expect(promoted.data).toEqual({ setUserRole: { email: "user@example.com", role: "ADMIN" } });
    // roles are read per request: the promoted user's existing token is admin now, and demotion is immediate too
    expect((await request(`mutation { verifyAuditLog { ok } }`, undefined, as(user.accessToken))).data).toEqual({ verifyAuditLog: { ok: true } });
    await request(`mutation { setUserRole(email: "user@example.com", role: USER) { role } }`, undefined, as(admin.accessToken));
    expect((await request(`mutation { verifyAuditLog { ok } }`, undefined, as(user.accessToken))).errors![0]!.extensions?.code).toBe("FORBIDDEN");
    const unknown = await request(`mutation { setProviderEnabled(slug: "nope", enabled: true) { slug } }`, undefined, as(admin.accessToken));
    expect(unknown.errors![0]!.extensions?.code).toBe("NOT_FOUND");

    const verified = await request(`mutation { verifyAuditLog { ok entries headHash firstBroken { id } } }`, undefined, as(admin.accessToken));
    expect(verified.data.verifyAuditLog).toMatchObject({ ok: true, firstBroken: null, headHash: expect.stringMatching(/^[0-9a-f]{64}$/) });
    const actions = (await db.prisma.auditLogEntry.findMany({ orderBy: { id: "asc" }, select: { action: true } })).map((a) => a.action);
    expect(actions).toEqual(expect.arrayContaining(["provider.disable", "user.role_change", "audit.verify"]));

    // tamper with one entry: the admin check finds it
    const victim = await db.prisma.auditLogEntry.findFirstOrThrow({ where: { action: "provider.disable" } });
    await db.prisma.$executeRawUnsafe(`UPDATE "AuditLogEntry" SET "actorUserId" = NULL WHERE id = ${victim.id}`);
    const broken = await request(`mutation { verifyAuditLog { ok firstBroken { id reason } } }`, undefined, as(admin.accessToken));
    expect(broken.data.verifyAuditLog).toEqual({ ok: false, firstBroken: { id: String(victim.id), reason: "hash_mismatch" } });
  });
});
