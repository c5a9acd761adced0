// Which revocations end which credential; the watch's expiry timer and revocation messages; and a
// stream cut by its authority's end while its reader waits.
import type { ExecutionResult } from "graphql";
import { describe, expect, it } from "vitest";
import { createStreamAuthority, revokes } from "../../src/services/stream-authority.ts";
import { untilAuthorityEnds } from "../../src/graphql/stream-authority.ts";
import { createPubSub } from "../../src/infra/pubsub.ts";
import { logger } from "../../src/infra/logger.ts";
import { unauthenticated, type AppError } from "../../src/errors.ts";
import type { PrismaClient } from "../../src/generated/prisma/client.ts";
import { userActor } from "../support/app.ts";
import { until } from "../support/subscribe.ts";

const session = userActor(7, "USER", { sessionFamily: "fam-a" });
const key = userActor(7, "USER", { via: "api_key", sessionFamily: undefined, apiKeyId: 3 });

describe("revokes", () => {
  it.each([
    ["the session's family", { userId: 7, sessionFamilies: ["fam-b", "fam-a"] }, true, false],
    ["another family", { userId: 7, sessionFamilies: ["fam-b"] }, false, false],
    ["the API key", { userId: 7, apiKeyId: 3 }, false, true],
    ["another API key", { userId: 7, apiKeyId: 4 }, false, false],
    ["the whole account", { userId: 7 }, true, true],
    ["another account", { userId: 8 }, false, false],
    ["another account's family of the same name", { userId: 8, sessionFamilies: ["fam-a"] }, false, false],
  ])("%s", (_what, revocation, endsSession, endsKey) => {
    expect([revokes(revocation, session), revokes(revocation, key)]).toEqual([endsSession, endsKey]);
  });
});

describe("createStreamAuthority", () => {
  it("ends at the credential's expiry and on a revocation message, once; anonymous callers and unwatched streams are left alone", async () => {
    const pubsub = createPubSub({});
    const authority = createStreamAuthority({ prisma: {} as PrismaClient, pubsub, log: logger, authorityRecheckMs: 3_600_000 });
    const ends: [string, string][] = [];
    const record = (name: string) => (reason: AppError) => ends.push([name, reason.message]);
    try {
      authority.watch(userActor(1, "USER", { expiresAt: new Date(Date.now() + 50) }), record("expiring"));
      authority.watch(userActor(1, "USER", { expiresAt: new Date(Date.now() - 1) }), record("expired"));
      authority.watch(session, record("session"));
      authority.watch(key, record("key"));
      const unwatched = authority.watch(userActor(7, "USER", { sessionFamily: "fam-a" }), record("unwatched"));
      authority.watch({ kind: "anonymous" }, record("anonymous"));
      unwatched();
      expect(ends).toEqual([["expired", "The access token has expired. Refresh it with refreshToken."]]);
      await until(() => ends.length === 2, "the expiry");
      expect(ends[1]).toEqual(["expiring", "The access token has expired. Refresh it with refreshToken."]);
      await until(() => pubsub.subscriberCount("auth.revoked") === 1, "listening for revocations");
      await pubsub.publish("auth.revoked", { userId: 7, sessionFamilies: ["fam-a"] });
      await pubsub.publish("auth.revoked", { userId: 7 });
      await until(() => ends.length === 4, "two revocations");
      expect(ends.slice(2)).toEqual([["session", "This session has ended. Sign in again."], ["key", "This API key is no longer valid."]]);
      expect(authority.watching).toBe(0);
    } finally {
      await pubsub.close();
    }
  });
});

describe("untilAuthorityEnds", () => {
  it("answers a waiting reader with the coded error, then ends, and returns the source", async () => {
    let returned = false;
    const source: AsyncIterableIterator<ExecutionResult> = {
      [Symbol.asyncIterator]() { return this; },
      next: () => new Promise(() => {}), // no event ever comes
      return: async () => { returned = true; return { value: undefined, done: true }; },
    };
    let end: ((reason: AppError) => void) | undefined;
    let watching = false;
    const stream = untilAuthorityEnds(source, (e) => { end = e; watching = true; return () => { watching = false; }; });
    const waiting = stream.next();
    end!(unauthenticated("This session has ended. Sign in again."));
    expect(await waiting).toEqual({ value: { errors: [expect.objectContaining({ message: "This session has ended. Sign in again.", extensions: { code: "UNAUTHENTICATED" } })] }, done: false });
    expect(await stream.next()).toEqual({ value: undefined, done: true });
    expect({ returned, watching }).toEqual({ returned: true, watching: false });
  });

  it("passes events through and stops watching when the source ends", async () => {
    async function* two() { yield { data: { n: 1 } }; yield { data: { n: 2 } }; }
    let watching = false;
    const stream = untilAuthorityEnds(two(), () => { watching = true; return () => { watching = false; }; });
    const got: unknown[] = [];
    for await (const r of stream) got.push(r);
    expect(got).toEqual([{ data: { n: 1 } }, { data: { n: 2 } }]);
    expect(watching).toBe(false);
  });
});
