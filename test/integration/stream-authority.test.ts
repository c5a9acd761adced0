// Authority ends → the stream ends: a subscription opened with an access token or an API key stops
// within seconds when the token expires, the session is logged out or revoked (logout,
// logoutEverywhere, refresh-token reuse, a password change), the API key is revoked or the account is
// deleted. Over graphql-ws the connection closes with 4403; over SSE the last result is a coded
// UNAUTHENTICATED error, then the stream completes. Across nodes the revocation travels over Redis (the
// pub/sub; notifications and ticks travel through the event log); a node that misses it ends the
// stream at its periodic re-check. Other callers' streams go on, and a
// reconnect with a fresh token works (a chat answer resumed with afterSeq loses nothing).
import { randomUUID } from "node:crypto";
import { decodeJwt } from "jose";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { openTestDatabase } from "../support/db.ts";
import { relaxedRateLimiter } from "../support/app.ts";
import { subscribeSse, subscribeWs, until } from "../support/subscribe.ts";
import { liveSubscribers, writeNotifications, writeTicks } from "../support/events.ts";
import { paced, startFakeOpenAI, type FakeOpenAI } from "../support/fake-openai.ts";
import { createApp, JWT_AUDIENCE, JWT_ISSUER } from "../../src/yoga.ts";
import { startServer, type RunningServer } from "../../src/server.ts";
import { createTokenSigner, loadKeys, type TokenSigner } from "../../src/infra/auth/tokens.ts";
import { createPubSub } from "../../src/infra/pubsub.ts";
import { createEventLog, type EventLog, type EventStreamName } from "../../src/infra/event-log.ts";
import type { PriceTick, PubSub, Topic } from "../../src/infra/pubsub-types.ts";
import type { Database } from "../../src/infra/db.ts";

const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const PASSWORD = "a long and lovely passphrase";
const NOTIFICATIONS = "subscription { notifications { title } }";
const PRICE_TICKS = "subscription { priceTicks { provider } }";
/** How long a revocation may take to end a stream (it usually takes milliseconds). */
const PROMPTLY_MS = 3_000;

const SESSION_ENDED = { message: "This session has ended. Sign in again.", extensions: { code: "UNAUTHENTICATED" } };
const KEY_REVOKED = { message: "This API key is no longer valid.", extensions: { code: "UNAUTHENTICATED" } };
const TOKEN_EXPIRED = { message: "The access token has expired. Refresh it with refreshToken.", extensions: { code: "UNAUTHENTICATED" } };

let db: Database;
let tokens: TokenSigner;
/** Signs with the same key, for 2 seconds (exp is in whole seconds: 1 to 2 s). */
let shortTokens: TokenSigner;

interface Node { server: RunningServer; pubsub: PubSub; events: EventLog; stop(): Promise<void> }
async function startNode(opts: { pubsub?: PubSub; events?: EventLog; authorityRecheckMs?: number; assistant?: Parameters<typeof createApp>[0]["assistant"] } = {}): Promise<Node> {
  const pubsub = opts.pubsub ?? createPubSub({});
  const events = opts.events ?? createEventLog({ prisma: db.prisma });
  // The re-check is slow unless a test is about it: the ends below come from the pub/sub or the expiry timer.
  const app = createApp({ db, pubsub, events, tokens, rateLimiter: relaxedRateLimiter(), authorityRecheckMs: opts.authorityRecheckMs ?? 600_000, assistant: opts.assistant });
  const server = await startServer(app, { port: 0, host: "127.0.0.1" });
  return { server, pubsub, events, stop: async () => { await server.stop(); await app.dispose(); await events.close(); await pubsub.close(); } };
}

async function gql(node: Node, query: string, variables: Record<string, unknown> = {}, token?: string) {
  const res = await fetch(node.server.url, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/graphql-response+json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  return (await res.json()) as { data?: any; errors?: { message: string; extensions?: Record<string, unknown> }[] };
}

interface Login { id: number; token: string; refreshToken: string; email: string }
async function register(node: Node, name: string): Promise<Login> {
  const email = `${name}-${randomUUID().slice(0, 8)}@example.com`;
  const res = await gql(node, `mutation ($e: String!) { register(email: $e, password: "${PASSWORD}", name: "N") { accessToken refreshToken user { id } } }`, { e: email });
  expect(res.errors).toBeUndefined();
  const r = res.data.register;
  return { id: Number(r.user.id), token: r.accessToken, refreshToken: r.refreshToken, email };
}
async function login(node: Node, who: Login): Promise<Login> {
  const res = await gql(node, `mutation ($e: String!) { login(email: $e, password: "${PASSWORD}") { accessToken refreshToken } }`, { e: who.email });
  expect(res.errors).toBeUndefined();
  return { ...who, token: res.data.login.accessToken, refreshToken: res.data.login.refreshToken };
}
/** An access token of the same session that expires in 1 to 2 seconds. */
const shortLived = async (who: Login) => (await shortTokens.issue({ id: who.id, role: "USER" }, decodeJwt(who.token).sid as string)).token;

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const ws = (node: Node, query: string, token?: string) => subscribeWs(node.server, query, {}, token ? bearer(token) : undefined);
const sse = (node: Node, query: string, token?: string) => subscribeSse(node.server, query, {}, token ? bearer(token) : {});
type WsSub = ReturnType<typeof ws>;
type SseSub = ReturnType<typeof sse>;

const TICK: PriceTick = {
  offerId: 1, providerId: 1, provider: "alpha", gpuModelId: null, gpuModel: null, region: "us-east-1", gpuCount: 1, kind: "changed",
  oldOnDemandPrice: "2.0000", newOnDemandPrice: "1.5000", oldSpotPrice: null, newSpotPrice: null, oldAvailability: "AVAILABLE", newAvailability: "AVAILABLE",
  pricePerGpuHour: "1.5000", changePercent: -25, at: new Date().toISOString(),
};

const live = (pubsub: PubSub, topic: Topic, n: number) => until(() => pubsub.subscriberCount(topic) === n, `${n} live ${topic} subscriptions`);
/** A notification event for the user, committed through this node's event log (as the alert engine writes them). */
const notify = (node: Node, userId: number, title: string) =>
  writeNotifications(db.prisma, node.events, [{ id: 1, userId, alertId: null, kind: "price_alert", title, body: "", data: {}, createdAt: new Date().toISOString() }]);

/** The graphql-ws connection closed with 4403 and this reason. */
async function expectClosed(sub: WsSub, message: string) {
  await sub.ended();
  expect(sub.error).toMatchObject({ code: 4403, reason: `Forbidden: ${message}` });
}
/** The SSE stream's last result is the coded error, then it completed. */
async function expectEnded(sub: SseSub, error: object) {
  await sub.ended();
  expect(sub.events.at(-1)).toEqual({ errors: [error] });
}
const stillOpen = (sub: { completed: boolean; error?: unknown }) => expect({ completed: sub.completed, error: sub.error }).toEqual({ completed: false, error: undefined });

beforeAll(async () => {
  db = await openTestDatabase();
  const keys = await loadKeys({});
  tokens = await createTokenSigner(keys, { issuer: JWT_ISSUER, audience: JWT_AUDIENCE });
  shortTokens = await createTokenSigner(keys, { issuer: JWT_ISSUER, audience: JWT_AUDIENCE, ttlSeconds: 2 });
});
afterAll(async () => { await db?.close(); });

describe("one node", () => {
  let node: Node;
  let open: { close(): unknown }[] = [];
  const track = <T extends { close(): unknown }>(sub: T) => { open.push(sub); return sub; };
  const streams = (stream: EventStreamName, n: number) => liveSubscribers(node.events, stream, n);
  beforeAll(async () => { node = await startNode(); });
  afterEach(async () => {
    await Promise.all(open.map((s) => s.close()));
    open = [];
    await streams("notification", 0);
    await streams("market", 0);
  });
  afterAll(async () => { await node?.stop(); });

  it("logout ends that session's streams at once (graphql-ws 4403, SSE a coded last result); the user's other session and other users go on", async () => {
    const ada = await register(node, "ada");
    const adaPhone = await login(node, ada);
    const bob = await register(node, "bob");
    const overWs = track(ws(node, NOTIFICATIONS, ada.token));
    const overSse = track(sse(node, NOTIFICATIONS, ada.token));
    const ticks = track(ws(node, PRICE_TICKS, ada.token)); // public, but opened with the token
    const phone = track(ws(node, NOTIFICATIONS, adaPhone.token));
    const bobs = track(sse(node, NOTIFICATIONS, bob.token));
    await streams("notification", 4);
    await streams("market", 1);
    await notify(node, ada.id, "before");
    await overSse.take(1);

    const started = Date.now();
    expect((await gql(node, "mutation { logout }", {}, ada.token)).data).toEqual({ logout: true });
    await expectClosed(overWs, SESSION_ENDED.message);
    await expectEnded(overSse, SESSION_ENDED);
    await expectClosed(ticks, SESSION_ENDED.message);
    expect(Date.now() - started).toBeLessThan(PROMPTLY_MS);
    expect(overSse.events).toEqual([{ data: { notifications: { title: "before" } } }, { errors: [SESSION_ENDED] }]);

    await streams("notification", 2);
    await notify(node, ada.id, "after");
    await notify(node, bob.id, "for bob");
    expect((await phone.take(2)).map((e) => e.data.notifications.title)).toEqual(["before", "after"]);
    expect((await bobs.take(1)).map((e) => e.data.notifications.title)).toEqual(["for bob"]);
    stillOpen(phone);
    stillOpen(bobs);
    await streams("market", 0);

    // Signing in again gives a working stream.
    const again = await login(node, ada);
    const resumed = track(sse(node, NOTIFICATIONS, again.token));
    await streams("notification", 3);
    await notify(node, ada.id, "welcome back");
    expect((await resumed.take(1)).map((e) => e.data.notifications.title)).toEqual(["welcome back"]);
  });

  it("logoutEverywhere ends every session's streams; anonymous public streams go on", async () => {
    const ada = await register(node, "ada");
    const other = await login(node, ada);
    const anonymous = track(ws(node, PRICE_TICKS));
    const a = track(ws(node, NOTIFICATIONS, ada.token));
    const b = track(sse(node, PRICE_TICKS, other.token));
    const shared = track(ws(node, PRICE_TICKS, other.token)); // shares the anonymous stream's execution
    await streams("notification", 1);
    await streams("market", 2); // one for the SSE stream, one shared by both graphql-ws streams
    const started = Date.now();
    expect((await gql(node, "mutation { logoutEverywhere }", {}, other.token)).data.logoutEverywhere).toBe(2);
    await expectClosed(a, SESSION_ENDED.message);
    await expectEnded(b, SESSION_ENDED);
    await expectClosed(shared, SESSION_ENDED.message);
    expect(Date.now() - started).toBeLessThan(PROMPTLY_MS);
    await streams("market", 1);
    await writeTicks(db.prisma, node.events, [TICK]);
    expect(await anonymous.take(1)).toEqual([{ data: { priceTicks: { provider: "alpha" } } }]);
    stillOpen(anonymous);
  });

  it("a password change ends the other sessions' streams, not the caller's", async () => {
    const ada = await register(node, "ada");
    const laptop = await login(node, ada);
    const mine = track(sse(node, NOTIFICATIONS, ada.token));
    const theirs = track(ws(node, NOTIFICATIONS, laptop.token));
    const theirsSse = track(sse(node, NOTIFICATIONS, laptop.token));
    await streams("notification", 3);
    const changed = await gql(node, `mutation ($c: String!, $n: String!) { changePassword(currentPassword: $c, newPassword: $n) }`,
      { c: PASSWORD, n: "an even longer new passphrase" }, ada.token);
    expect(changed.data).toEqual({ changePassword: 1 });
    await expectClosed(theirs, SESSION_ENDED.message);
    await expectEnded(theirsSse, SESSION_ENDED);
    await notify(node, ada.id, "still here");
    expect((await mine.take(1)).map((e) => e.data.notifications.title)).toEqual(["still here"]);
    stillOpen(mine);
  });

  it("reusing a refresh token ends the streams of that sign-in", async () => {
    const ada = await register(node, "ada");
    const rotated = await gql(node, `mutation ($t: String!) { refreshToken(refreshToken: $t) { accessToken } }`, { t: ada.refreshToken });
    const token = rotated.data.refreshToken.accessToken as string;
    const overWs = track(ws(node, NOTIFICATIONS, token));
    const overSse = track(sse(node, NOTIFICATIONS, token));
    await streams("notification", 2);
    const reuse = await gql(node, `mutation ($t: String!) { refreshToken(refreshToken: $t) { accessToken } }`, { t: ada.refreshToken });
    expect(reuse.errors![0]!.extensions?.code).toBe("UNAUTHENTICATED");
    await expectClosed(overWs, SESSION_ENDED.message);
    await expectEnded(overSse, SESSION_ENDED);
  });

  it("revoking an API key ends the streams opened with it; another key's go on", async () => {
    const ada = await register(node, "ada");
    const create = `mutation ($n: String!) { createApiKey(name: $n, scopes: [ALERTS_WRITE]) { secret apiKey { id } } }`;
    const doomed = (await gql(node, create, { n: "doomed" }, ada.token)).data.createApiKey;
    const kept = (await gql(node, create, { n: "kept" }, ada.token)).data.createApiKey;
    expect(doomed.secret).toMatch(/^gpb_/);
    const overWs = track(ws(node, NOTIFICATIONS, doomed.secret));
    const overSse = track(sse(node, NOTIFICATIONS, doomed.secret));
    const keptSub = track(sse(node, NOTIFICATIONS, kept.secret));
    await streams("notification", 3);
    const revoked = await gql(node, `mutation ($id: ID!) { revokeApiKey(id: $id) { id revokedAt } }`, { id: doomed.apiKey.id }, ada.token);
    expect(revoked.errors).toBeUndefined();
    await expectClosed(overWs, KEY_REVOKED.message);
    await expectEnded(overSse, KEY_REVOKED);
    await notify(node, ada.id, "for the kept key");
    expect((await keptSub.take(1)).map((e) => e.data.notifications.title)).toEqual(["for the kept key"]);
    stillOpen(keptSub);
  });

  it("an access token that expires ends its streams at its exp; a fresh token reconnects", async () => {
    const ada = await register(node, "ada");
    const short = await shortLived(ada);
    const exp = decodeJwt(short).exp! * 1000;
    const overWs = track(ws(node, NOTIFICATIONS, short));
    const overSse = track(sse(node, NOTIFICATIONS, short));
    const ticks = track(sse(node, PRICE_TICKS, short));
    const longer = track(ws(node, NOTIFICATIONS, ada.token));
    await streams("notification", 3);
    await streams("market", 1);
    await notify(node, ada.id, "while valid");
    await overSse.take(1);
    await expectClosed(overWs, TOKEN_EXPIRED.message);
    await expectEnded(overSse, TOKEN_EXPIRED);
    await expectEnded(ticks, TOKEN_EXPIRED);
    expect(Date.now()).toBeGreaterThanOrEqual(exp);
    expect(Date.now() - exp).toBeLessThan(PROMPTLY_MS);
    expect(overSse.events).toEqual([{ data: { notifications: { title: "while valid" } } }, { errors: [TOKEN_EXPIRED] }]);
    stillOpen(longer);

    const fresh = track(ws(node, NOTIFICATIONS, ada.token));
    await streams("notification", 2);
    await notify(node, ada.id, "after reconnecting");
    expect((await fresh.take(1)).map((e) => e.data.notifications.title)).toEqual(["after reconnecting"]);
  });
});

describe("two nodes on one Redis, and a node that misses the message", () => {
  const prefix = `test-${randomUUID()}`;
  let a: Node;
  let b: Node;
  /**
   * Its pub/sub reaches no other node: it only learns of revocations by re-checking (every 300 ms). (Its
   * event log reads the shared database, so it still gets every node's notifications.)
   */
  let isolated: Node;
  beforeAll(async () => {
    const node = () => startNode({ pubsub: createPubSub({ redisUrl: REDIS_URL, prefix }), events: createEventLog({ prisma: db.prisma, redisUrl: REDIS_URL, prefix }) });
    a = await node();
    b = await node();
    isolated = await startNode({ authorityRecheckMs: 300 });
  });
  afterAll(async () => {
    for (const n of [a, b, isolated]) await n?.stop();
  });

  it("logout on node B ends the stream on node A (over Redis); the isolated node ends its stream at its re-check", async () => {
    const ada = await register(b, "ada");
    const bob = await register(b, "bob");
    const onA = ws(a, NOTIFICATIONS, ada.token);
    const onASse = sse(a, NOTIFICATIONS, ada.token);
    const bobOnA = ws(a, NOTIFICATIONS, bob.token);
    const onIsolated = sse(isolated, NOTIFICATIONS, ada.token);
    try {
      await liveSubscribers(a.events, "notification", 3);
      await liveSubscribers(isolated.events, "notification", 1);
      await live(a.pubsub, "auth.revoked", 1); // node A listens for revocations while it has watched streams
      const started = Date.now();
      expect((await gql(b, "mutation { logout }", {}, ada.token)).data).toEqual({ logout: true });
      await expectClosed(onA, SESSION_ENDED.message);
      await expectEnded(onASse, SESSION_ENDED);
      await expectEnded(onIsolated, SESSION_ENDED);
      expect(Date.now() - started).toBeLessThan(PROMPTLY_MS);

      await notify(b, bob.id, "bob on A"); // written on B, delivered on A through Redis
      expect((await bobOnA.take(1)).map((e) => e.data.notifications.title)).toEqual(["bob on A"]);
      stillOpen(bobOnA);
    } finally {
      await Promise.all([onA.close(), onASse.close(), bobOnA.close(), onIsolated.close()]);
    }
  });

  it("a deleted account's streams end at the re-check (its sessions and keys are gone with it)", async () => {
    const ada = await register(isolated, "ada");
    const bob = await register(isolated, "bob");
    const key = (await gql(isolated, `mutation { createApiKey(name: "k", scopes: [ALERTS_WRITE]) { secret } }`, {}, ada.token)).data.createApiKey.secret as string;
    const bySession = ws(isolated, NOTIFICATIONS, ada.token);
    const byKey = sse(isolated, NOTIFICATIONS, key);
    const bobs = sse(isolated, NOTIFICATIONS, bob.token);
    try {
      await liveSubscribers(isolated.events, "notification", 3);
      await db.prisma.user.delete({ where: { id: ada.id } });
      await expectClosed(bySession, SESSION_ENDED.message);
      await expectEnded(byKey, KEY_REVOKED);
      await notify(isolated, bob.id, "bob stays");
      expect((await bobs.take(1)).map((e) => e.data.notifications.title)).toEqual(["bob stays"]);
      stillOpen(bobs);
    } finally {
      await Promise.all([bySession.close(), byKey.close(), bobs.close()]);
    }
  });
});

describe("an answer followed past its token's expiry", () => {
  let fake: FakeOpenAI;
  let node: Node;
  const EVENTS = `subscription ($id: ID!, $afterSeq: Int) {
    chatMessageEvents(messageId: $id, afterSeq: $afterSeq) { __typename seq ... on ChatTextDelta { delta } ... on ChatMessageCompleted { message { status } } }
  }`;
  beforeAll(async () => {
    fake = await startFakeOpenAI();
    node = await startNode({ assistant: { backend: "openai", openaiBaseUrl: fake.url, model: "fake-model" } });
  });
  afterAll(async () => {
    await node?.stop();
    await fake?.close();
  });

  it("the SSE stream ends with UNAUTHENTICATED at expiry; a fresh token with afterSeq gets the rest, nothing lost", async () => {
    fake.script = () => paced(40, 100); // about 4 s, longer than the short token lives
    const ada = await register(node, "ada");
    const sent = await gql(node, `mutation ($input: AskAssistantInput!) { sendChatMessage(input: $input) { answer { id } } }`, { input: { message: "talk slowly" } }, ada.token);
    expect(sent.errors).toBeUndefined();
    const id = sent.data.sendChatMessage.answer.id as string;
    const first = subscribeSse(node.server, EVENTS, { id }, bearer(await shortLived(ada)));
    const rest: ReturnType<typeof subscribeSse>[] = [];
    try {
      await expectEnded(first, TOKEN_EXPIRED);
      const have = first.events.slice(0, -1).map((e) => e.data.chatMessageEvents);
      expect(have.length).toBeGreaterThan(0);
      expect(have.at(-1).__typename).toBe("ChatTextDelta"); // cut off mid-answer
      rest.push(subscribeSse(node.server, EVENTS, { id, afterSeq: have.at(-1).seq }, bearer(ada.token)));
      await rest[0]!.ended();
      const all = [...have, ...rest[0]!.events.map((e) => e.data.chatMessageEvents)];
      expect(all.map((e) => e.seq)).toEqual(all.map((_, i) => i + 1));
      expect(all.filter((e) => e.__typename === "ChatTextDelta").map((e) => e.delta).join("")).toBe(Array.from({ length: 40 }, (_, i) => `t${i} `).join(""));
      expect(all.at(-1)).toEqual({ __typename: "ChatMessageCompleted", seq: all.length, message: { status: "COMPLETE" } });
    } finally {
      await Promise.all([first.close(), ...rest.map((r) => r.close())]);
    }
  });
});
