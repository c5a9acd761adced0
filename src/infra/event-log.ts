// The event log: subscription events that are never lost (the transactional outbox).
//
// Writing: appendEvents(tx, stream, payloads) inside the transaction of the change the events
// report. It bumps the stream's counter row (EventStream.seq) and inserts the events with the numbers
// it got, so a rolled-back change leaves no event and no gap: numbers run 1, 2, 3 … per stream, and
// since the counter's row lock is held until commit, in commit order. Then call kick().
//
// Reading: each process reads each stream once (a feed, started by its first subscriber) and hands
// every event, in order, to its subscribers, each through its own bounded buffer. A subscriber may
// start after a cursor (`after`): it reads what it missed from PostgreSQL at its own pace, then joins
// the feed with no gap and no duplicate (both sides are numbered). The rows stay for `retentionMs`
// (the resume window); a cursor whose next event is gone gets RESUME_WINDOW_EXCEEDED.
//
// With Redis (several API nodes): a relay in every process writes committed events to one Redis
// Stream per stream (XADD with the explicit id `<seq>-0`: a second relay, or a retry after a crash,
// cannot add one twice or out of order; MAXLEN ~ bounds it) and records how far it got in
// EventRelay. Feeds read with XREAD BLOCK. A feed that sees a gap (Redis restarted and lost entries),
// or that made no progress for a poll interval while PostgreSQL has newer events (Redis down, relay
// stalled), reads them from PostgreSQL: delivery goes on, in order, while Redis is down, and writers
// never touch Redis at all. Without Redis, feeds read PostgreSQL when kicked (writers in this process)
// and every pollMs (writers elsewhere, e.g. scripts).
import { Redis } from "ioredis";
import type { Logger } from "pino";
import type { Prisma, PrismaClient } from "../generated/prisma/client.ts";
import { badInput, resumeWindowExceeded } from "../errors.ts";
import { boundedStream, SUBSCRIBER_BUFFER_LIMIT, type BoundedStream } from "./bounded-stream.ts";
import { logger } from "./logger.ts";
import type { Metrics } from "./metrics.ts";
import type { NotificationEvent, PriceTick } from "./pubsub-types.ts";
import { tracer } from "./tracer.ts";

/** The payload of each stream's events. */
export interface EventStreams {
  /** Price and availability changes of offers (priceTicks, offerAvailabilityChanged). */
  market: PriceTick;
  /** Notifications of every user (each subscriber keeps its own). */
  notification: NotificationEvent;
}
export type EventStreamName = keyof EventStreams;

/**
 * Every stream, in the order a transaction takes their counter rows: the last step of the lock order
 * (src/services/alerts.ts, ALERT_LOCK_KEY). Alert evaluation appends notifications before an import
 * appends its ticks.
 */
export const EVENT_STREAMS: readonly EventStreamName[] = ["notification", "market"];

/** One event as stored: its number in the stream and what it reports. */
export interface LoggedEvent<T> { seq: number; payload: T }

export const DEFAULT_RETENTION_MS = 60 * 60_000;
/** A committed event that waited this long for a node's feed means delivery is stalled there (/ready says so). */
export const EVENT_STALL_MS = 30_000;
const DEFAULT_POLL_MS = 1000;
const DEFAULT_STREAM_MAXLEN = 100_000;
const PAGE = 500;
const PRUNE_EVERY_MS = 60_000;
const XREAD_BLOCK_MS = 5000;

/**
 * Writes the events in the caller's transaction, numbered after the stream's last; returns the first
 * number (0 when there are none). One statement; the stream's counter row stays locked until commit.
 */
export async function appendEvents<S extends EventStreamName>(tx: Prisma.TransactionClient, stream: S, payloads: readonly EventStreams[S][]): Promise<number> {
  if (!payloads.length) return 0;
  const [row] = await tx.$queryRaw<[{ first: bigint }]>`
    WITH bumped AS (
      UPDATE "EventStream" SET seq = seq + ${payloads.length}::int WHERE name = ${stream} RETURNING seq - ${payloads.length}::int AS before
    ), added AS (
      INSERT INTO "OutboxEvent" (stream, seq, payload)
      SELECT ${stream}, bumped.before + e.ord, e.value FROM bumped, jsonb_array_elements(${JSON.stringify(payloads)}::jsonb) WITH ORDINALITY AS e(value, ord)
    )
    SELECT before + 1 AS first FROM bumped`;
  if (!row) throw new Error(`event stream "${stream}" is missing (its EventStream row is made by the outbox migration)`);
  return Number(row.first);
}

export interface EventLogOptions {
  prisma: PrismaClient;
  /** Redis URL: events travel between processes through Redis Streams; null or absent: each process reads PostgreSQL. */
  redisUrl?: string | null;
  /** Namespaces the Redis keys (one per deployment, or per test). Default "gpubroker". */
  prefix?: string;
  /** How long events stay replayable (the resume window); default 60 minutes. */
  retentionMs?: number;
  /** How often a feed checks PostgreSQL for events it has not seen, and the relay for events not yet in Redis; default 1000 ms. */
  pollMs?: number;
  /** Approximate length each Redis Stream is trimmed to (XADD MAXLEN ~); default 100 000. */
  streamMaxLen?: number;
  /** Events that may wait per subscriber before its subscription overflows; default SUBSCRIBER_BUFFER_LIMIT. */
  bufferLimit?: number;
  metrics?: Metrics | undefined;
  log?: Logger;
}

export interface SubscribeOptions<T> {
  /** Replay from the event after this number (a cursor's), then follow live; absent: live from now. */
  after?: number | null;
  /** Drops unwanted events before they are queued, so a slow reader only buffers what it asked for. */
  keep?: (event: T) => boolean;
}

export interface EventLog {
  /** After a commit that appended events: wake this process's relay and feeds at once. */
  kick(): void;
  /**
   * The stream's events, live from now or after `after`; ends (and leaves the feed) when returned. A cursor
   * beyond the last committed event is BAD_USER_INPUT; one whose next event was pruned, RESUME_WINDOW_EXCEEDED.
   * A reader that falls the buffer limit behind gets a SUBSCRIPTION_OVERFLOW error after its queued events.
   */
  subscribe<S extends EventStreamName>(stream: S, opts?: SubscribeOptions<EventStreams[S]>): Promise<AsyncIterableIterator<LoggedEvent<EventStreams[S]>>>;
  /** The number of the stream's last committed event (0 before the first). */
  head(stream: EventStreamName): Promise<number>;
  /** This process's subscribers of the stream that follow it live (replaying ones join when caught up). */
  subscriberCount(stream: EventStreamName): number;
  /** How long the oldest committed event this process's feed has not yet handed over has waited, in ms (about; 0 when caught up or not started). */
  behindMs(stream: EventStreamName): number;
  /** How long events stay replayable, in ms. */
  readonly retentionMs: number;
  /** Ends every subscription, stops the relay and closes the Redis connections. */
  close(): Promise<void>;
}

interface Member<T> { last: number; keep: (event: T) => boolean; out: BoundedStream<LoggedEvent<T>> }

interface Feed<T> {
  name: EventStreamName;
  /** Number of the last event handed to the members. */
  last: number;
  members: Set<Member<T>>;
  /** Serialises reading (XREAD, catch-up): events are handed over one at a time, in order. */
  queue: Promise<void>;
  lastAtCheck: number;
  /** The head seen at a check while the feed was behind it, and when: delivery is late by now − since until the feed passes it. */
  waitingFor: { seq: number; since: number } | null;
  timer?: NodeJS.Timeout;
  reader?: Redis;
}

export function createEventLog(opts: EventLogOptions): EventLog {
  const { prisma, redisUrl, prefix = "gpubroker", metrics } = opts;
  const retentionMs = opts.retentionMs ?? DEFAULT_RETENTION_MS;
  const pollMs = opts.pollMs ?? DEFAULT_POLL_MS;
  const maxLen = opts.streamMaxLen ?? DEFAULT_STREAM_MAXLEN;
  const bufferLimit = opts.bufferLimit ?? SUBSCRIBER_BUFFER_LIMIT;
  const log = opts.log ?? logger.child({ component: "event-log" });
  const key = (stream: EventStreamName) => `${prefix}:events:${stream}`;
  const feeds = new Map<EventStreamName, Promise<Feed<unknown>>>();
  const started = new Map<EventStreamName, Feed<unknown>>();
  let closed = false;

  // ------------------------------------------------------------ PostgreSQL

  async function head(stream: EventStreamName): Promise<number> {
    const [row] = await prisma.$queryRaw<{ seq: bigint }[]>`SELECT seq FROM "EventStream" WHERE name = ${stream}`;
    return Number(row?.seq ?? 0);
  }

  async function readAfter<T>(stream: EventStreamName, after: number, limit = PAGE): Promise<LoggedEvent<T>[]> {
    const rows = await prisma.$queryRaw<{ seq: bigint; payload: string }[]>`
      SELECT seq, payload::text AS payload FROM "OutboxEvent" WHERE stream = ${stream} AND seq > ${after}::bigint ORDER BY seq LIMIT ${limit}::int`;
    return rows.map((r) => ({ seq: Number(r.seq), payload: JSON.parse(r.payload) as T }));
  }

  // ------------------------------------------------------------ Feeds

  function deliver<T>(feed: Feed<T>, event: LoggedEvent<T>) {
    feed.last = event.seq;
    for (const m of feed.members) {
      if (event.seq <= m.last) continue;
      m.last = event.seq;
      let wanted: boolean;
      try { wanted = m.keep(event.payload); } catch (err) { log.warn({ err, stream: feed.name }, "dropped an event the filter could not read"); wanted = false; }
      if (wanted) m.out.push(event);
    }
  }

  /** Hands a batch to the members, traced as one "events.read" span (delivery to each subscriber is synchronous). */
  function deliverBatch<T>(feed: Feed<T>, events: LoggedEvent<T>[], source: "redis" | "postgres" | "gap") {
    if (!events.length) return;
    tracer().startActiveSpan("events.read", { attributes: { "gpubroker.stream": feed.name, "gpubroker.source": source, "gpubroker.events": events.length, "gpubroker.subscribers": feed.members.size } }, (span) => {
      for (const event of events) deliver(feed, event);
      span.end();
    });
    metrics?.eventsRead.inc({ stream: feed.name, source }, events.length);
  }

  /** Everything committed after the feed's position, from PostgreSQL. */
  async function catchUp<T>(feed: Feed<T>, source: "postgres" | "gap"): Promise<void> {
    for (;;) {
      const rows = await readAfter<T>(feed.name, feed.last);
      if (!rows.length) return;
      if (rows[0]!.seq !== feed.last + 1) log.error({ stream: feed.name, from: feed.last + 1, to: rows[0]!.seq - 1 }, "events were pruned before this node read them");
      deliverBatch(feed, rows, source);
      if (rows.length < PAGE) return;
    }
  }

  function enqueue<T>(feed: Feed<T>, task: () => Promise<void>): Promise<void> {
    const run = feed.queue.then(task).catch((err: unknown) => { if (!closed) log.warn({ err, stream: feed.name }, "event feed could not read"); });
    feed.queue = run;
    return run;
  }

  /** Every pollMs: is PostgreSQL ahead of the feed? Without Redis, read it; with Redis, only if the feed made no progress since the last check. */
  async function check<T>(feed: Feed<T>): Promise<void> {
    const committed = await head(feed.name);
    if (feed.waitingFor && (feed.last >= feed.waitingFor.seq || committed <= feed.last)) feed.waitingFor = null;
    if (committed > feed.last) {
      feed.waitingFor ??= { seq: committed, since: Date.now() };
      if (!redisUrl || feed.last === feed.lastAtCheck) await enqueue(feed, () => catchUp(feed, "postgres"));
    }
    feed.lastAtCheck = feed.last;
    metrics?.eventFeedBehind.set({ stream: feed.name }, Math.max(0, committed - feed.last));
  }

  async function readLoop<T>(feed: Feed<T>, url: string) {
    const reader = new Redis(url, { maxRetriesPerRequest: null, lazyConnect: true });
    feed.reader = reader;
    let down = false;
    reader.on("error", (err: Error) => { if (!down) log.warn({ err: err.message, stream: feed.name }, "event stream reader lost Redis; reading PostgreSQL meanwhile"); down = true; });
    // Back after an outage: whatever Redis lost, PostgreSQL has.
    reader.on("ready", () => { if (down) { down = false; void enqueue(feed, () => catchUp(feed, "postgres")); } });
    metrics?.observeRedis(`events_${feed.name}`, reader);
    await reader.connect().catch(() => {}); // retried by ioredis
    while (!closed) {
      try {
        const res = await reader.xread("COUNT", PAGE, "BLOCK", XREAD_BLOCK_MS, "STREAMS", key(feed.name), `${feed.last}-0`);
        const entries = res?.[0]?.[1] ?? [];
        if (entries.length) await enqueue(feed, async () => {
          let batch: LoggedEvent<T>[] = [];
          for (const [id, fields] of entries) {
            const seq = Number(id.slice(0, id.indexOf("-")));
            if (seq <= (batch.at(-1)?.seq ?? feed.last)) continue;
            if (seq > (batch.at(-1)?.seq ?? feed.last) + 1) {
              // entries Redis lost: PostgreSQL has them (this one included)
              deliverBatch(feed, batch, "redis");
              batch = [];
              await catchUp(feed, "gap");
              if (seq <= feed.last) continue;
            }
            batch.push({ seq, payload: JSON.parse(fields[1]!) as T });
          }
          deliverBatch(feed, batch, "redis");
        });
      } catch (err) {
        if (closed) return;
        log.debug({ err, stream: feed.name }, "XREAD failed");
        await new Promise((r) => setTimeout(r, pollMs));
      }
    }
  }

  async function startFeed<T>(name: EventStreamName): Promise<Feed<T>> {
    const last = await head(name);
    const feed: Feed<T> = { name, last, members: new Set(), queue: Promise.resolve(), lastAtCheck: last, waitingFor: null };
    feed.timer = setInterval(() => { void check(feed).catch((err: unknown) => { if (!closed) log.warn({ err, stream: name }, "event feed check failed"); }); }, pollMs);
    feed.timer.unref();
    if (redisUrl) void readLoop(feed, redisUrl);
    started.set(name, feed as Feed<unknown>);
    return feed;
  }

  function feedOf<S extends EventStreamName>(name: S): Promise<Feed<EventStreams[S]>> {
    let feed = feeds.get(name);
    if (!feed) {
      feed = startFeed(name);
      feeds.set(name, feed);
      feed.catch(() => feeds.delete(name));
    }
    return feed as Promise<Feed<EventStreams[S]>>;
  }

  function join<T>(feed: Feed<T>, last: number, keep: (event: T) => boolean): AsyncIterableIterator<LoggedEvent<T>> {
    const member: Member<T> = { last, keep, out: boundedStream<LoggedEvent<T>>(bufferLimit, () => { feed.members.delete(member); }) };
    feed.members.add(member);
    return member.out.iterator;
  }

  // ------------------------------------------------------------ Relay (Redis)

  const publisher = redisUrl ? new Redis(redisUrl, { maxRetriesPerRequest: 1, lazyConnect: true }) : null;
  let relayDown = false;
  publisher?.on("error", (err: Error) => { if (!relayDown) log.warn({ err: err.message }, "event relay lost Redis; events wait in PostgreSQL"); relayDown = true; });
  publisher?.on("ready", () => { if (relayDown) log.info("event relay reached Redis again"); relayDown = false; relaySoon(); });
  if (publisher) metrics?.observeRedis("events_relay", publisher);
  let relaying: Promise<void> | null = null;
  let relayAgain = false;

  async function relayStream(stream: EventStreamName, from: number, to: number): Promise<void> {
    let relayed = from;
    while (relayed < to) {
      const rows = await prisma.$queryRaw<{ seq: bigint; payload: string }[]>`
        SELECT seq, payload::text AS payload FROM "OutboxEvent" WHERE stream = ${stream} AND seq > ${relayed}::bigint ORDER BY seq LIMIT ${PAGE}::int`;
      if (!rows.length) return;
      const batch = publisher!.pipeline();
      for (const r of rows) batch.xadd(key(stream), "MAXLEN", "~", maxLen, `${r.seq}-0`, "d", r.payload);
      const results = (await batch.exec()) ?? [];
      // "equal or smaller than the target stream top item": another relay (or an earlier run of this one) added it.
      const failed = results.find(([err]) => err && !/equal or smaller/i.test(err.message));
      if (failed) throw failed[0]!;
      relayed = Number(rows.at(-1)!.seq);
      await prisma.$executeRaw`UPDATE "EventRelay" SET relayed = GREATEST(relayed, ${relayed}::bigint) WHERE stream = ${stream}`;
      metrics?.eventsRelayed.inc({ stream }, rows.length);
    }
  }

  async function relayAll(): Promise<void> {
    const rows = await prisma.$queryRaw<{ name: EventStreamName; seq: bigint; relayed: bigint }[]>`
      SELECT s.name, s.seq, r.relayed FROM "EventStream" s JOIN "EventRelay" r ON r.stream = s.name`;
    for (const r of rows) {
      metrics?.eventRelayBehind.set({ stream: r.name }, Number(r.seq - r.relayed));
      if (r.relayed < r.seq) {
        await tracer().startActiveSpan("events.relay", { attributes: { "gpubroker.stream": r.name, "gpubroker.events": Number(r.seq - r.relayed) } }, async (span) => {
          try { await relayStream(r.name, Number(r.relayed), Number(r.seq)); } finally { span.end(); }
        });
      }
    }
  }

  function relaySoon(): void {
    if (!publisher || closed) return;
    if (relaying) { relayAgain = true; return; }
    relaying = relayAll()
      .catch((err: unknown) => { if (!closed && !relayDown) log.warn({ err }, "event relay failed; retrying"); })
      .finally(() => { relaying = null; if (relayAgain) { relayAgain = false; relaySoon(); } });
  }

  // ------------------------------------------------------------ Pruning and the timer

  let lastPrune = 0;
  async function prune(): Promise<void> {
    lastPrune = Date.now();
    const cutoff = new Date(Date.now() - retentionMs);
    // Kept until relayed too (with Redis), so events written during an outage longer than the window still go out.
    const deleted = redisUrl
      ? await prisma.$executeRaw`DELETE FROM "OutboxEvent" o USING "EventRelay" r WHERE r.stream = o.stream AND o.seq <= r.relayed AND o."createdAt" < ${cutoff}`
      : await prisma.$executeRaw`DELETE FROM "OutboxEvent" WHERE "createdAt" < ${cutoff}`;
    if (deleted) log.debug({ deleted }, "pruned the event log");
  }

  const timer = setInterval(() => {
    relaySoon();
    if (Date.now() - lastPrune >= Math.min(PRUNE_EVERY_MS, retentionMs)) void prune().catch((err: unknown) => { if (!closed) log.warn({ err }, "pruning the event log failed"); });
  }, pollMs);
  timer.unref();
  if (publisher) { void publisher.connect().catch(() => {}); relaySoon(); }

  // ------------------------------------------------------------ API

  async function subscribe<S extends EventStreamName>(stream: S, { after, keep = () => true }: SubscribeOptions<EventStreams[S]> = {}) {
    type T = EventStreams[S];
    if (closed) throw new Error("the event log is closed");
    const feed = await feedOf(stream);
    if (after == null) return join(feed, feed.last, keep);
    const committed = await head(stream);
    if (after > committed) throw badInput("This cursor is ahead of every event this server has sent: it was not issued here, or the data was reset. Subscribe without `after` and read the current state.", { argument: "after" });
    const first = after < committed ? await readAfter<T>(stream, after) : [];
    if (after < committed && first[0]?.seq !== after + 1) throw resumeWindowExceeded(Math.round(retentionMs / 60_000));
    return resume(feed, after, first, keep);
  }

  /**
   * Replays from PostgreSQL page by page, at the reader's pace, then joins the feed at the event it
   * reached (checked and joined in one step, so nothing falls between). return() takes effect at once.
   */
  function resume<T>(feed: Feed<T>, after: number, firstPage: LoggedEvent<T>[], keep: (event: T) => boolean): AsyncIterableIterator<LoggedEvent<T>> {
    let last = after;
    let page = firstPage;
    let live: AsyncIterableIterator<LoggedEvent<T>> | null = null;
    let done = false;
    const finished = (): IteratorResult<LoggedEvent<T>> => ({ done: true, value: undefined });
    const iterator: AsyncIterableIterator<LoggedEvent<T>> = {
      [Symbol.asyncIterator]() { return iterator; },
      async next() {
        while (!done && !live) {
          if (closed) { done = true; break; } // close() ends replaying readers too
          const event = page.shift();
          if (event) {
            last = event.seq;
            let wanted = false;
            try { wanted = keep(event.payload); } catch { /* a filter that cannot read it does not want it */ }
            if (wanted) return { done: false, value: event };
            continue;
          }
          if (last >= feed.last) { live = join(feed, last, keep); break; }
          const rows = await readAfter<T>(feed.name, last);
          if (rows[0] && rows[0].seq !== last + 1) throw resumeWindowExceeded(Math.round(retentionMs / 60_000));
          if (!rows.length) { live = join(feed, last, keep); break; } // the feed is ahead of what PostgreSQL shows this connection: wait live
          page = rows;
        }
        if (done) return finished();
        return live!.next();
      },
      async return() {
        done = true;
        if (live) await live.return?.();
        return finished();
      },
      async throw(err: unknown) {
        done = true;
        if (live) await live.return?.();
        throw err;
      },
    };
    return iterator;
  }

  return {
    retentionMs,
    kick() {
      relaySoon();
      if (!redisUrl) for (const feed of feeds.values()) void feed.then((f) => enqueue(f, () => catchUp(f, "postgres"))).catch(() => {});
    },
    subscribe,
    head,
    subscriberCount: (stream) => started.get(stream)?.members.size ?? 0,
    behindMs(stream) {
      const feed = started.get(stream);
      return feed?.waitingFor && feed.last < feed.waitingFor.seq ? Date.now() - feed.waitingFor.since : 0;
    },
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(timer);
      for (const pending of feeds.values()) {
        const feed = await pending.catch(() => null);
        if (!feed) continue;
        clearInterval(feed.timer);
        for (const m of [...feed.members]) m.out.end();
        feed.reader?.disconnect();
      }
      await relaying;
      if (publisher) { if (publisher.status === "ready") await publisher.quit().catch(() => {}); else publisher.disconnect(); }
    },
  };
}
