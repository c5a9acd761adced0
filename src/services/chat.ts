// Conversations with the assistant, per signed-in user (an access token, or an API key with
// chat:write): list, read, rename and delete; and the persistence of an answer's life: the turn
// started (with the per-user rate and concurrency limits), its streamed events appended in order,
// its end or its cancellation written once with its final event. A user never reaches another
// user's session: every lookup is by (id, owner). An answer's row is locked while its events and
// outcome are written, so a cancel and the answer's own end never both win.
import { z } from "zod";
import { Prisma, type ChatEvent, type ChatMessage, type ChatSession, type PrismaClient } from "../generated/prisma/client.ts";
import { toRowId } from "../domain/ids.ts";
import { storableText } from "../domain/text.ts";
import { TEXT_CONTROL_CHARACTER } from "../domain/assistant/workload-parser.ts";
import { AppError, badInput, notFound } from "../errors.ts";
import type { RateLimiter } from "../infra/rate-limit.ts";
import { requireScope, type Actor } from "./actor.ts";
import { checkPageArgs, PAGE_SIZE } from "./paging.ts";

export const CHAT_TITLE_MAX = 100;
/** A message a person sends: trimmed, 1–4,000 characters, no control characters but newline and tab. */
export const CHAT_MESSAGE_MAX = 4000;
/** A title as a person would type it: trimmed, 1–100 characters, no control characters. */
export const chatTitleRule = z.string().trim()
  .min(1, "The title must not be empty.")
  .max(CHAT_TITLE_MAX, `A title has at most ${CHAT_TITLE_MAX} characters.`)
  .refine((t) => !/\p{Cc}/u.test(t), "A title must not contain control characters.");

export const chatMessageRule = z.string().trim()
  .min(1, "The message must not be empty.")
  .refine((t) => [...t].length <= CHAT_MESSAGE_MAX, `A message has at most ${CHAT_MESSAGE_MAX} characters.`)
  .refine((t) => !TEXT_CONTROL_CHARACTER.test(t), "A message must not contain control characters.");

/** What an answer ended with: its text, what it called and cited, or why it failed. */
export interface TurnOutcome {
  status: "COMPLETE" | "FAILED" | "CANCELLED";
  content: string;
  toolCalls?: unknown[];
  sources?: unknown[];
  recommendations?: unknown[];
  promptTokens?: number | null;
  completionTokens?: number | null;
  error?: { code: string; message: string } | null;
}

/** An event as a backend streams it, before it has a place in the answer's sequence. */
export interface AnswerEventInput { type: string; payload: Prisma.InputJsonObject }
/** What the final event carries (type "completed" or "failed"); the message itself is read from its row. */
export interface FinalEventPayload {
  status: TurnOutcome["status"];
  error: { code: string; message: string } | null;
  promptTokens: number | null;
  completionTokens: number | null;
  elapsedMs: number | null;
}
/** The event types that end an answer's stream. */
export const FINAL_EVENT_TYPES: ReadonlySet<string> = new Set(["completed", "failed"]);

/** Per-user limits on answers. */
export interface ChatLimits {
  /** Answers one user may have in progress at once (across all API nodes); past it RATE_LIMITED, reason CONCURRENT_ANSWERS. */
  maxConcurrentAnswers: number;
  /**
   * An answer still STREAMING this long after it started has lost its node (the runtime's wall-time budget
   * ends every live answer well before): it no longer counts against the limit and is settled as failed when read.
   */
  staleAfterMs: number;
}
export const DEFAULT_CHAT_LIMITS: ChatLimits = { maxConcurrentAnswers: 3, staleAfterMs: 180_000 };

/** The window of sessions a GraphQL connection asks for, plus the relations to load. */
export type ChatSessionPage = Pick<Prisma.ChatSessionFindManyArgs, "take" | "skip" | "cursor" | "select" | "include">;

type Tx = Prisma.TransactionClient;
/** The advisory-lock namespace of chat turns (pg_advisory_xact_lock(space, userId)). */
const CHAT_LOCK_SPACE = 0x43686174; // "Chat"

/** A time as Prisma stores DateTime (timestamp(3) in UTC), whatever the session's time zone. */
const utc = (d: Date) => Prisma.sql`(${d.toISOString()}::timestamptz AT TIME ZONE 'UTC')`;

/** A JSON value with every string in it made storable. */
function storable<T>(value: T): T {
  return JSON.parse(storableJson(value)) as T;
}
/** The JSON of a value with every string in it made storable. */
const storableJson = (value: unknown) => JSON.stringify(value, (_k, v: unknown) => (typeof v === "string" ? storableText(v) : v));

/**
 * Locks an answer's row and reads it with its last event number: the one gate for ending an answer. Two
 * statements on purpose: under READ COMMITTED a statement that waited for the lock still reads other tables as
 * of its start, so the last number is read by a second statement, once the lock is held.
 */
async function lockAnswer(tx: Tx, answerId: number): Promise<{ answer: ChatMessage; lastSeq: number } | null> {
  const [answer] = await tx.$queryRaw<ChatMessage[]>`SELECT * FROM "ChatMessage" WHERE id = ${answerId} FOR UPDATE`;
  if (!answer) return null;
  const [last] = await tx.$queryRaw<{ lastSeq: number }[]>`SELECT COALESCE(MAX(seq), 0)::int AS "lastSeq" FROM "ChatEvent" WHERE "messageId" = ${answerId}`;
  return { answer, lastSeq: last!.lastSeq };
}

/** A JSON value for a jsonb parameter, or SQL NULL. */
const jsonOrNull = (value: unknown) => (value == null ? null : JSON.stringify(storable(value)));

export function createChatService({ prisma, rateLimiter, chatLimits }: { prisma: PrismaClient; rateLimiter: RateLimiter; chatLimits?: Partial<ChatLimits> | undefined }) {
  const limits: ChatLimits = { ...DEFAULT_CHAT_LIMITS, ...chatLimits };

  /** The caller's answer (an ASSISTANT message in one of their sessions), or NOT_FOUND. */
  async function ownAnswer(id: string | number, userId: number, argument = "id"): Promise<ChatMessage> {
    const answerId = toRowId(id);
    const [answer] = answerId === null ? [] : await prisma.$queryRaw<ChatMessage[]>`
      SELECT m.* FROM "ChatMessage" m JOIN "ChatSession" s ON s.id = m."sessionId"
      WHERE m.id = ${answerId} AND m.role = 'ASSISTANT' AND s."userId" = ${userId}`;
    if (!answer) throw notFound(`You have no answer with the ID "${id}".`, { argument });
    return answer;
  }

  /** Ends a STREAMING answer with its outcome and final event, in one transaction; null when it had already ended. */
  async function settle(answerId: number, outcome: TurnOutcome): Promise<{ answer: ChatMessage; event: ChatEvent } | null> {
    return prisma.$transaction(async (tx) => {
      const locked = await lockAnswer(tx, answerId);
      if (!locked || locked.answer.status !== "STREAMING") return null;
      const finishedAt = new Date();
      const startedAt = locked.answer.startedAt;
      const elapsedMs = startedAt ? finishedAt.getTime() - startedAt.getTime() : null;
      const payload: FinalEventPayload = {
        status: outcome.status, error: outcome.error ?? null,
        promptTokens: outcome.promptTokens ?? null, completionTokens: outcome.completionTokens ?? null, elapsedMs,
      };
      const event = { messageId: answerId, seq: locked.lastSeq + 1, type: outcome.status === "COMPLETE" ? "completed" : "failed", payload: storable(payload) as unknown as Prisma.JsonValue, createdAt: finishedAt };
      // A cancelled or failed answer keeps what was streamed; a complete one stores the backend's whole text.
      const [answer] = await tx.$queryRaw<ChatMessage[]>`
        WITH final AS (
          INSERT INTO "ChatEvent" ("messageId", seq, type, payload, "createdAt")
          VALUES (${answerId}, ${event.seq}, ${event.type}, ${JSON.stringify(event.payload)}::jsonb, ${utc(finishedAt)})
        )
        UPDATE "ChatMessage" SET
          status = ${outcome.status}::"ChatMessageStatus",
          content = CASE WHEN ${outcome.status === "COMPLETE"} THEN ${storableText(outcome.content)} ELSE content END,
          "toolCalls" = COALESCE(${jsonOrNull(outcome.toolCalls)}::jsonb, "toolCalls"),
          sources = COALESCE(${jsonOrNull(outcome.sources)}::jsonb, sources),
          recommendations = COALESCE(${jsonOrNull(outcome.recommendations)}::jsonb, recommendations),
          "promptTokens" = ${outcome.promptTokens ?? null}::int, "completionTokens" = ${outcome.completionTokens ?? null}::int,
          error = ${jsonOrNull(outcome.error)}::jsonb, "finishedAt" = ${utc(finishedAt)}, "elapsedMs" = ${elapsedMs}::int
        WHERE id = ${answerId}
        RETURNING *`;
      return { answer: answer!, event };
    });
  }

  /** The caller's session, or NOT_FOUND: another user's session is indistinguishable from a missing one. */
  async function ownSession(id: string | number, userId: number): Promise<ChatSession> {
    const sessionId = toRowId(id);
    const session = sessionId === null ? null : await prisma.chatSession.findFirst({ where: { id: sessionId, userId } });
    if (!session) throw notFound(`You have no chat session with the ID "${id}".`, { argument: "id" });
    return session;
  }

  return {
    /** The caller's sessions, most recently active first: the connection's `page`, or else the newest `first` (default 20). */
    async chatSessions(input: { first?: number | null; last?: number | null; page?: ChatSessionPage }, actor: Actor): Promise<ChatSession[]> {
      const userId = requireScope(actor, "chat:write").id;
      checkPageArgs(input, { bothAllowed: true });
      return prisma.chatSession.findMany({
        ...(input.page ?? { take: input.first ?? PAGE_SIZE.default }),
        where: { userId },
        orderBy: [{ updatedAt: "desc" }, { id: "desc" }],
      });
    },

    /** One of the caller's sessions. */
    async chatSession(input: { id: string | number }, actor: Actor): Promise<ChatSession> {
      return ownSession(input.id, requireScope(actor, "chat:write").id);
    },

    /**
     * Starts a turn: the user's message (with the context it came with) and the pending answer, written
     * together, in the caller's session (or a new one titled after the message).
     */
    async startTurn(
      input: { sessionId?: string | number | null; message: string; context?: Prisma.InputJsonValue | null; backend: string; model?: string | null },
      actor: Actor,
    ): Promise<{ session: ChatSession; userMessage: ChatMessage; answer: ChatMessage }> {
      const userId = requireScope(actor, "chat:write").id;
      const parsed = chatMessageRule.safeParse(input.message);
      if (!parsed.success) throw badInput(parsed.error.issues[0]!.message, { argument: "message" });
      const message = parsed.data;
      const existing = input.sessionId == null ? null : await ownSession(input.sessionId, userId);
      await rateLimiter.consume("chat:user", String(userId));
      const title = [...message.replace(/\s+/g, " ")].slice(0, 60).join("");
      const context = input.context == null ? null : JSON.stringify(storable(input.context));
      const now = new Date();
      const since = new Date(now.getTime() - limits.staleAfterMs);
      // Raw SQL, three statements in all: this runs for every question asked, and each ORM statement costs more
      // CPU than the database spends on it.
      return prisma.$transaction(async (tx) => {
        // One user's turns start one at a time (a transaction-scoped advisory lock: no row lock to deadlock with),
        // so the count of answers in progress is exact across API nodes. The count is read by the next statement,
        // taken once the lock is held.
        await tx.$executeRaw`SELECT pg_advisory_xact_lock(${CHAT_LOCK_SPACE}::int, ${userId}::int)`;
        const [row] = await tx.$queryRaw<(ChatSession & { live: number })[]>`
          WITH live AS (
            SELECT count(*)::int AS n FROM "ChatMessage" m JOIN "ChatSession" s ON s.id = m."sessionId"
            WHERE s."userId" = ${userId} AND m.role = 'ASSISTANT' AND m.status = 'STREAMING' AND m."startedAt" > ${utc(since)}
          ), created AS (
            INSERT INTO "ChatSession" ("userId", title, "createdAt", "updatedAt")
            SELECT ${userId}, ${title}, ${utc(now)}, ${utc(now)} FROM live WHERE live.n < ${limits.maxConcurrentAnswers} AND ${existing?.id ?? null}::int IS NULL
            RETURNING *
          ), touched AS (
            UPDATE "ChatSession" SET "updatedAt" = ${utc(now)}
            WHERE id = ${existing?.id ?? null}::int AND "userId" = ${userId} AND (SELECT n FROM live) < ${limits.maxConcurrentAnswers}
            RETURNING *
          )
          SELECT live.n AS live, x.id, x."userId", x.title, x."createdAt", x."updatedAt"
          FROM live LEFT JOIN (SELECT * FROM created UNION ALL SELECT * FROM touched) x ON true`;
        const live = row!.live;
        if (live >= limits.maxConcurrentAnswers) {
          throw new AppError("RATE_LIMITED", `You have ${live} answers in progress; wait for one to finish or cancel it (at most ${limits.maxConcurrentAnswers} at once).`, { reason: "CONCURRENT_ANSWERS", limit: limits.maxConcurrentAnswers });
        }
        if (row!.id === null) throw notFound(`You have no chat session with the ID "${input.sessionId}".`, { argument: "id" }); // deleted meanwhile
        const { live: _live, ...session } = row!;
        const messages = await tx.$queryRaw<ChatMessage[]>`
          INSERT INTO "ChatMessage" ("sessionId", role, content, status, context, backend, model, "startedAt", "createdAt")
          VALUES (${session.id}, 'USER', ${message}, 'COMPLETE', ${context}::jsonb, NULL, NULL, NULL, ${utc(now)}),
                 (${session.id}, 'ASSISTANT', '', 'STREAMING', NULL, ${input.backend}, ${input.model ?? null}, ${utc(now)}, ${utc(now)})
          RETURNING *`;
        const userMessage = messages.find((m) => m.role === "USER")!;
        const answer = messages.find((m) => m.role === "ASSISTANT")!;
        return { session, userMessage, answer };
      });
    },

    /**
     * Appends streamed events to one of the caller's answers, numbered after the last, and the text deltas
     * to its content, in one transaction. Null when the answer has ended (cancelled, failed): the writer stops.
     */
    async appendAnswerEvents(input: { answerId: number; events: AnswerEventInput[] }, actor: Actor): Promise<ChatEvent[] | null> {
      const userId = requireScope(actor, "chat:write").id;
      const answerId = toRowId(input.answerId);
      if (answerId === null) throw notFound(`You have no answer with the ID "${input.answerId}".`, { argument: "answerId" });
      // One serialisation per batch: the storable JSON goes to SQL, its parse is what the caller publishes.
      const json = storableJson(input.events.map((e) => ({ type: e.type, payload: e.payload })));
      const events = JSON.parse(json) as AnswerEventInput[];
      const text = events.filter((e) => e.type === "text").map((e) => String(e.payload.delta ?? "")).join("");
      // The time is set here, not by the column default, so the live event and its stored replay carry the same `at`.
      const createdAt = new Date();
      // One statement (this runs for every batch of deltas of every answer): lock the caller's answer, number the
      // events after its last, store them and append the text — only while it is STREAMING. The last number may be
      // read as of before a wait for the lock; that is safe because the only other writer of events (lockAnswer,
      // ending the answer) also ends its STREAMING status, which the locked row is re-read for.
      const [target] = await prisma.$queryRaw<{ streaming: boolean; last: number }[]>`
        WITH target AS (
          SELECT m.id, m.status = 'STREAMING' AS streaming,
                 COALESCE((SELECT MAX(e.seq) FROM "ChatEvent" e WHERE e."messageId" = m.id), 0) AS last
          FROM "ChatMessage" m JOIN "ChatSession" s ON s.id = m."sessionId"
          WHERE m.id = ${answerId} AND m.role = 'ASSISTANT' AND s."userId" = ${userId}
          FOR UPDATE OF m
        ), stored AS (
          INSERT INTO "ChatEvent" ("messageId", seq, type, payload, "createdAt")
          SELECT t.id, t.last + x.n, x.e->>'type', x.e->'payload', ${utc(createdAt)}
          FROM target t, jsonb_array_elements(${json}::jsonb) WITH ORDINALITY AS x(e, n)
          WHERE t.streaming
        ), appended AS (
          UPDATE "ChatMessage" m SET content = m.content || ${text} FROM target t WHERE m.id = t.id AND t.streaming AND ${text} <> ''
        )
        SELECT streaming, last::int AS last FROM target`;
      if (!target) throw notFound(`You have no answer with the ID "${input.answerId}".`, { argument: "answerId" });
      if (!target.streaming) return null;
      return events.map((e, i) => ({ messageId: answerId, seq: target.last + 1 + i, type: e.type, payload: e.payload as Prisma.JsonValue, createdAt }));
    },

    /**
     * Ends one of the caller's answers: its text, tool calls, sources and timings, or its error, with the final
     * event, written once. `event` is null when the answer had already ended (e.g. cancelled first): nothing changes.
     */
    async finishTurn(input: { answerId: number; outcome: TurnOutcome }, actor: Actor): Promise<{ answer: ChatMessage; event: ChatEvent | null }> {
      const userId = requireScope(actor, "chat:write").id;
      const answer = await ownAnswer(input.answerId, userId, "answerId");
      const settled = await settle(answer.id, input.outcome);
      return settled ?? { answer: await ownAnswer(answer.id, userId, "answerId"), event: null };
    },

    /**
     * Cancels one of the caller's answers in progress: it ends CANCELLED with what was streamed so far and a final
     * event. `event` is null when it had already ended (then nothing changes; cancelling twice is harmless).
     */
    async cancelAnswer(input: { id: string | number }, actor: Actor): Promise<{ answer: ChatMessage; event: ChatEvent | null }> {
      const userId = requireScope(actor, "chat:write").id;
      const answer = await ownAnswer(input.id, userId);
      const settled = await settle(answer.id, { status: "CANCELLED", content: "", error: { code: "CANCELLED", message: "Stopped by the user." } });
      return settled ?? { answer: await ownAnswer(answer.id, userId), event: null };
    },

    /**
     * One of the caller's answers with its stored events after `afterSeq` (all by default), in order. An answer
     * still STREAMING past `staleAfterMs` lost the node writing it: it is settled as failed (ASSISTANT_TIMEOUT) first.
     */
    async answerEvents(input: { id: string | number; afterSeq?: number | null }, actor: Actor): Promise<{ answer: ChatMessage; events: ChatEvent[] }> {
      let answer = await ownAnswer(input.id, requireScope(actor, "chat:write").id);
      const afterSeq = input.afterSeq ?? 0;
      if (!Number.isSafeInteger(afterSeq) || afterSeq < 0) throw badInput("afterSeq must be a whole number ≥ 0.", { argument: "afterSeq" });
      if (answer.status === "STREAMING" && answer.startedAt && Date.now() - answer.startedAt.getTime() > limits.staleAfterMs) {
        answer = (await settle(answer.id, { status: "FAILED", content: "", error: { code: "ASSISTANT_TIMEOUT", message: "The answer stopped before it was complete (the server writing it went away)." } }))?.answer ?? answer;
      }
      const events = await prisma.$queryRaw<ChatEvent[]>`SELECT * FROM "ChatEvent" WHERE "messageId" = ${answer.id} AND seq > ${afterSeq} ORDER BY seq`;
      return { answer, events };
    },

    /**
     * The conversation before one of the caller's answers, as a model is shown it: the last `turns` complete
     * question–answer pairs, oldest first (failed and cancelled answers and their questions left out).
     */
    async history(input: { answerId: number; turns: number }, actor: Actor): Promise<{ role: "user" | "assistant"; content: string }[]> {
      const answer = await ownAnswer(input.answerId, requireScope(actor, "chat:write").id, "answerId");
      if (input.turns <= 0) return [];
      const earlier = await prisma.chatMessage.findMany({
        where: { sessionId: answer.sessionId, id: { lt: answer.id } }, orderBy: { id: "desc" }, take: input.turns * 2 + 2,
        select: { role: true, content: true, status: true },
      });
      earlier.reverse();
      const pairs: { role: "user" | "assistant"; content: string }[][] = [];
      for (let i = 0; i + 1 < earlier.length; i++) {
        const [q, a] = [earlier[i]!, earlier[i + 1]!];
        if (q.role === "USER" && a.role === "ASSISTANT" && a.status === "COMPLETE") {
          pairs.push([{ role: "user", content: q.content }, { role: "assistant", content: a.content }]);
          i++;
        }
      }
      return pairs.slice(-input.turns).flat();
    },

    /** Gives one of the caller's sessions a new title. */
    async renameChatSession(input: { id: string | number; title: string }, actor: Actor): Promise<ChatSession> {
      const userId = requireScope(actor, "chat:write").id;
      const parsed = chatTitleRule.safeParse(input.title);
      if (!parsed.success) throw badInput(parsed.error.issues[0]!.message, { argument: "title" });
      const session = await ownSession(input.id, userId);
      return prisma.chatSession.update({ where: { id: session.id }, data: { title: parsed.data } });
    },

    /** Deletes one of the caller's sessions with all its messages; returns the id given. */
    async deleteChatSession(input: { id: string | number }, actor: Actor): Promise<string> {
      const userId = requireScope(actor, "chat:write").id;
      const sessionId = toRowId(input.id);
      const { count } = sessionId === null ? { count: 0 } : await prisma.chatSession.deleteMany({ where: { id: sessionId, userId } });
      if (!count) throw notFound(`You have no chat session with the ID "${input.id}".`, { argument: "id" });
      return String(input.id);
    },
  };
}
