// A schema-driven fuzz test: it walks schema.graphql and calls every query, mutation and subscription
// field — as an anonymous caller, a user and an admin — with valid-shaped and hostile arguments (NUL and
// lone surrogates, ids past the integer range, forged cursors, 1e308, impossible dates, huge strings,
// wrong enum values), sent as variables so they reach the scalars and the services. Every response must
// be a coded answer: no 5xx, no INTERNAL_SERVER_ERROR, no stack, path, SQL or driver text; and a
// mutation that is refused leaves no row behind. Fixed seed, bounded runs; FUZZ_RUNS=… for a long run
// (FUZZ_SEED to replay one).
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import {
  buildSchema, getNamedType, isEnumType, isInputObjectType, isInterfaceType, isLeafType, isListType, isNonNullType,
  isObjectType, isScalarType, isUnionType, type GraphQLArgument, type GraphQLField, type GraphQLInputType, type GraphQLOutputType,
} from "graphql";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openTestDatabase } from "../support/db.ts";
import { testClient } from "../support/app.ts";
import { globalId, seedMarket } from "../support/market.ts";
import type { Database } from "../../src/infra/db.ts";
import { createRateLimiter } from "../../src/infra/rate-limit.ts";

const schema = buildSchema(readFileSync(join(import.meta.dirname, "..", "..", "schema.graphql"), "utf8"));
const RUNS = Number(process.env.FUZZ_RUNS ?? 600);
const SEED = Number(process.env.FUZZ_SEED ?? 20261206);
const PASSWORD = "a long and lovely passphrase";

/** Text that must never reach a client: stack frames, file paths, SQL, driver and ORM messages, addresses. */
const LEAK = /\bat [\w$.<>]+ \(|\/work\/|node_modules|\.ts:\d+|\bprisma\b|PrismaClient|DriverAdapter|PGlite|\bSELECT\b.+\bFROM\b|\bINSERT INTO\b|syntax error at or near|violates .* constraint|duplicate key value|invalid input syntax|out of range for type|ECONNREFUSED|127\.0\.0\.1:\d+/i;

type Actor = "anonymous" | "user" | "admin";
interface Op { kind: "query" | "mutation" | "subscription"; field: GraphQLField<unknown, unknown> }

const ops: Op[] = [
  ...Object.values(schema.getQueryType()!.getFields()).map((field) => ({ kind: "query" as const, field })),
  ...Object.values(schema.getMutationType()!.getFields()).map((field) => ({ kind: "mutation" as const, field })),
  ...Object.values(schema.getSubscriptionType()!.getFields()).map((field) => ({ kind: "subscription" as const, field })),
];

/** Ids and cursors the fuzzer mixes in: real ones (filled in at setup) and forged ones. */
const pools = {
  ids: [
    globalId("GpuOffer", 1), globalId("GpuOffer", 2147483648), globalId("GpuOffer", -1), globalId("GpuOffer", 1e21), globalId("Provider", 1),
    globalId("PriceAlert", 2147483648), globalId("ChatMessage", 99999999999), globalId("Notification", 0), globalId("ApiKey", 1.5),
    "1", "0", "-1", "2147483648", "99999999999999999999", "1e3", "", "%%%", "\u0000", "\uD800", Buffer.from("GpuOffer:\u0000").toString("base64"),
  ] as string[],
  cursors: [
    "not-a-cursor", "WzEsMiwzXQ", Buffer.from('["PRICE_PER_GPU","1e308",1]').toString("base64url"), Buffer.from('["PRICE_PER_GPU","1.5",2147483648]').toString("base64url"),
    Buffer.from('["LAST_SEEN","+275760-09-13T00:00:00.000Z",1]').toString("base64url"), Buffer.from('{"id":"\\u0000"}').toString("base64url"), "", "\u0000",
  ] as string[],
};

const hostileString = fc.constantFrom("", "\u0000", "a\u0000b", "\uD800", "x\uDFFFy", "é".repeat(5000), "a".repeat(100_001), "'; DROP TABLE \"User\"; --", "${{7*7}}", "../../etc/passwd", "\u202Eabc", " ");
const plausibleString = fc.constantFrom(
  "H100", "H100-SXM-80GB", "A100", "RTX 4090", "runpod", "vast", "lambda", "us-east-1", "eu", "llama-3-70b", "Llama 3 8B", "sdxl",
  "ada@example.com", "admin@example.com", "nobody@example.com", PASSWORD, "What is the cheapest H100 in the US?", "Ada", "my key",
);
const strings = fc.oneof({ weight: 3, arbitrary: plausibleString }, { weight: 2, arbitrary: hostileString }, { weight: 1, arbitrary: fc.string({ maxLength: 40 }) }, { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 20 }) });
const money = fc.constantFrom("2.49", "0", "1", "-1", "0.00001", "1e308", "1E3", "NaN", "Infinity", "abc", "9".repeat(400), "1.2.3", " 5 ", "\u0000");
const dates = fc.constantFrom("2026-01-01T00:00:00Z", "2025-06-01T12:00:00.000Z", "0000-01-01T00:00:00Z", "+275760-09-13T00:00:00Z", "-000001-01-01T00:00:00Z", "2026-13-45T99:00:00Z", "yesterday", "", "\u0000", "1e308");
const floats = fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e6, max: 1e6 }), fc.constantFrom(0, -0, 1, 0.5, 1e308, -1e308, 5e-324, Number.MAX_SAFE_INTEGER));
const ints = fc.oneof(fc.integer({ min: -3, max: 120 }), fc.constantFrom(0, 1, 2147483647, -2147483648, 100_000));

function valueFor(type: GraphQLInputType, depth = 0, allowNull = true): fc.Arbitrary<unknown> {
  if (isNonNullType(type)) return valueFor(type.ofType, depth, false);
  const nullable = (a: fc.Arbitrary<unknown>) => (allowNull ? fc.oneof({ weight: 6, arbitrary: a }, { weight: 1, arbitrary: fc.constant(null) }) : a);
  if (isListType(type)) {
    return nullable(fc.oneof({ weight: 5, arbitrary: fc.array(valueFor(type.ofType, depth + 1), { maxLength: 3 }) }, { weight: 1, arbitrary: fc.array(valueFor(type.ofType, depth + 1), { minLength: 50, maxLength: 120 }) }));
  }
  if (isEnumType(type)) {
    const values = type.getValues().map((v) => v.name);
    return nullable(fc.oneof({ weight: 9, arbitrary: fc.constantFrom(...values) }, { weight: 1, arbitrary: fc.constant("NOT_A_VALUE") }));
  }
  if (isInputObjectType(type)) {
    if (depth > 3) return fc.constant(null);
    const fields = Object.values(type.getFields());
    const required = Object.fromEntries(fields.filter((f) => isNonNullType(f.type)).map((f) => [f.name, valueFor(f.type, depth + 1)]));
    const optional = Object.fromEntries(fields.filter((f) => !isNonNullType(f.type)).map((f) => [f.name, valueFor(f.type, depth + 1)]));
    return nullable(fc.record({ ...required, ...optional }, { requiredKeys: Object.keys(required) }));
  }
  if (isScalarType(type)) {
    switch (type.name) {
      case "ID": return nullable(fc.oneof(fc.constantFrom(...pools.ids), strings));
      case "String": return nullable(strings);
      case "Int": return nullable(ints);
      case "Float": return nullable(floats);
      case "Boolean": return nullable(fc.boolean());
      case "Money": return nullable(money);
      case "DateTime": return nullable(dates);
      default: return nullable(fc.oneof(strings, ints, floats));
    }
  }
  return fc.constant(null);
}

/** Cursor arguments get cursor-shaped values as well as strings. */
const argValue = (arg: GraphQLArgument) =>
  (arg.name === "after" || arg.name === "before") ? fc.oneof(fc.constantFrom(...pools.cursors), fc.constant(null), strings) : valueFor(arg.type);

/** Leaf fields of the returned type, and one level into objects (connections reach edges { node }). */
function selection(type: GraphQLOutputType, depth = 0): string {
  const named = getNamedType(type);
  if (isLeafType(named)) return "";
  if (isUnionType(named)) return "{ __typename }";
  if (!isObjectType(named) && !isInterfaceType(named)) return "{ __typename }";
  const parts = ["__typename"];
  for (const f of Object.values(named.getFields())) {
    if (f.args.some((a) => isNonNullType(a.type))) continue;
    const inner = getNamedType(f.type);
    if (isLeafType(inner)) parts.push(f.name);
    else if (depth < 2) parts.push(`${f.name} ${selection(f.type, depth + 1)}`);
  }
  return `{ ${parts.join(" ")} }`;
}

function documentFor(op: Op): string {
  const vars = op.field.args.map((a) => `$${a.name}: ${a.type.toString()}`);
  const args = op.field.args.map((a) => `${a.name}: $${a.name}`);
  return `${op.kind} Fuzz${vars.length ? `(${vars.join(", ")})` : ""} { ${op.field.name}${args.length ? `(${args.join(", ")})` : ""} ${selection(op.field.type)} }`;
}

describe("schema-driven fuzz: every field, hostile arguments, three callers", () => {
  let db: Database;
  let client: ReturnType<typeof testClient>;
  const tokens: Record<Actor, string | null> = { anonymous: null, user: null, admin: null };
  const stats = { cases: 0, byKind: { query: 0, mutation: 0, subscription: 0 }, codes: new Map<string, number>() };

  async function signIn() {
    const login = async (email: string) => {
      const res = await client.request(`mutation ($e: String!, $p: String!) { login(email: $e, password: $p) { accessToken } }`, { e: email, p: PASSWORD });
      return res.data?.login?.accessToken as string;
    };
    for (const [email, role] of [["fuzz-user@example.com", "USER"], ["fuzz-admin@example.com", "ADMIN"]] as const) {
      // The fuzzer may have changed the account (role, password, name): put it back as the run expects it.
      const existing = await db.prisma.user.findUnique({ where: { email } });
      if (!existing) await client.request(`mutation ($e: String!, $p: String!) { register(email: $e, password: $p, name: "Fuzz") { accessToken } }`, { e: email, p: PASSWORD });
      await db.prisma.user.update({ where: { email }, data: { role } }).catch(() => undefined);
    }
    tokens.user = await login("fuzz-user@example.com");
    tokens.admin = await login("fuzz-admin@example.com");
  }

  /** Rows a refused mutation must not have written. */
  const footprint = async () => {
    const [row] = await db.prisma.$queryRaw<Record<string, number>[]>`SELECT
      (SELECT count(*)::int FROM "User") AS users, (SELECT count(*)::int FROM "PriceAlert") AS alerts,
      (SELECT count(*)::int FROM "ApiKey") AS keys, (SELECT count(*)::int FROM "ChatSession") AS sessions,
      (SELECT count(*)::int FROM "ChatMessage") AS messages, (SELECT count(*)::int FROM "Notification") AS notifications`;
    return row!;
  };

  async function call(op: Op, variables: Record<string, unknown>, actor: Actor): Promise<{ status: number; text: string; body: any }> {
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (tokens[actor]) headers.authorization = `Bearer ${tokens[actor]}`;
    const query = documentFor(op);
    if (op.kind !== "subscription") {
      const res = await client.yoga.fetch("http://localhost/graphql", { method: "POST", headers: { ...headers, accept: "application/graphql-response+json" }, body: JSON.stringify({ query, variables }) });
      const text = await res.text();
      return { status: res.status, text, body: safeJson(text) };
    }
    // Subscriptions over SSE: the first event (or the refusal), then the stream is dropped.
    const abort = new AbortController();
    const res = await client.yoga.fetch("http://localhost/graphql", { method: "POST", headers: { ...headers, accept: "text/event-stream" }, body: JSON.stringify({ query, variables }), signal: abort.signal });
    let text = "";
    if (res.body) {
      const reader = res.body.getReader();
      const timer = setTimeout(() => abort.abort(), 150);
      try {
        while (!/\n\n/.test(text)) {
          const { done, value } = await reader.read();
          if (done) break;
          text += new TextDecoder().decode(value);
        }
      } catch { /* aborted: no event within the window */ } finally {
        clearTimeout(timer);
        abort.abort();
      }
    }
    const data = /^data: (.*)$/m.exec(text)?.[1];
    return { status: res.status, text, body: data ? safeJson(data) : null };
  }

  beforeAll(async () => {
    db = await openTestDatabase();
    await seedMarket(db.prisma, 30);
    // Limits out of the way, so cases reach the services (the limits have tests of their own).
    const high = { points: 1e9, durationSeconds: 60 };
    client = testClient(db, { rateLimiter: createRateLimiter({ prefix: `fuzz-${randomUUID()}`, limits: { "request:ip": high, "request:user": high, "auth:ip": high, "login:ip": high, "login:pair": high, "chat:user": high } }) });
    await signIn();
    const page = await client.request(`{ offers(first: 2) { edges { cursor node { id } } } providers { id } }`);
    for (const e of page.data.offers.edges) { pools.ids.push(e.node.id); pools.cursors.push(e.cursor); }
    pools.ids.push(page.data.providers[0].id);
  });
  afterAll(async () => {
    // The figures a long run reports (FUZZ_RUNS=…): cases run and the codes they ended with.
    console.info(`fuzz: ${stats.cases} cases (${JSON.stringify(stats.byKind)}), seed ${SEED}; codes ${JSON.stringify(Object.fromEntries(stats.codes))}`);
    await db?.close();
  });

  it("answers every case with a coded result: no 5xx, no internal error, no leak, no write left by a refused mutation", { timeout: 600_000 }, async () => {
    const opArb = fc.constantFrom(...ops.map((op) => Object.assign(op, { toString: () => `${op.kind} ${op.field.name}` }))).chain((op) =>
      fc.tuple(fc.constant(op), fc.record(Object.fromEntries(op.field.args.map((a) => [a.name, argValue(a)]))), fc.constantFrom<Actor>("anonymous", "user", "admin")));
    await fc.assert(
      fc.asyncProperty(opArb, async ([op, variables, actor]) => {
        const before = op.kind === "mutation" ? await footprint() : null;
        const { status, text, body } = await call(op, variables, actor);
        stats.cases++;
        stats.byKind[op.kind]++;
        const label = `${op.kind} ${op.field.name} as ${actor} with ${JSON.stringify(variables).slice(0, 400)}`;
        expect(status, `${label}: HTTP ${status} ${text.slice(0, 300)}`).toBeLessThan(500);
        expect(text, `${label}: leaks ${LEAK.exec(text)?.[0]}`).not.toMatch(LEAK);
        const errors: { extensions?: { code?: string } }[] = body?.errors ?? [];
        for (const e of errors) {
          const code = e.extensions?.code ?? "(none)";
          stats.codes.set(code, (stats.codes.get(code) ?? 0) + 1);
          expect(code, `${label}: ${JSON.stringify(e).slice(0, 600)}`).not.toBe("INTERNAL_SERVER_ERROR");
          expect(code, `${label}: an error without a code: ${JSON.stringify(e).slice(0, 600)}`).not.toBe("(none)");
        }
        if (before && errors.length && (body?.data == null || body.data[op.field.name] == null)) {
          expect(await footprint(), `${label}: a refused mutation left rows behind`).toEqual(before);
        }
        // Mutations that end or change the fuzzer's own sessions: sign in again as the run expects.
        if (op.kind === "mutation" && ["logout", "logoutEverywhere", "changePassword", "setUserRole", "refreshToken", "updateMe"].includes(op.field.name)) await signIn();
      }),
      { numRuns: RUNS, seed: SEED, endOnFailure: true },
    );
  });
});

function safeJson(text: string): any {
  try { return JSON.parse(text); } catch { return null; }
}
