// Conversations with the assistant, per signed-in user (an access token, or an API key with
// chat:write): list, read, rename and delete. Messages are written by the assistant's answering
// (sendChatMessage); a user never reaches another user's session: every lookup is by (id, owner).
import { z } from "zod";
import type { ChatMessage, ChatSession, Prisma, PrismaClient } from "../generated/prisma/client.ts";
import { toRowId } from "../domain/ids.ts";
import { TEXT_CONTROL_CHARACTER } from "../domain/assistant/workload-parser.ts";
import { badInput, notFound } from "../errors.ts";
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

/** The window of sessions a GraphQL connection asks for, plus the relations to load. */
export type ChatSessionPage = Pick<Prisma.ChatSessionFindManyArgs, "take" | "skip" | "cursor" | "select" | "include">;

export function createChatService({ prisma }: { prisma: PrismaClient }) {
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
      return prisma.$transaction(async (tx) => {
        const session = existing
          ? await tx.chatSession.update({ where: { id: existing.id }, data: { updatedAt: new Date() } })
          : await tx.chatSession.create({ data: { userId, title: [...message.replace(/\s+/g, " ")].slice(0, 60).join("") } });
        const userMessage = await tx.chatMessage.create({ data: { sessionId: session.id, role: "USER", content: message, context: input.context ?? undefined } });
        const answer = await tx.chatMessage.create({
          data: { sessionId: session.id, role: "ASSISTANT", status: "STREAMING", backend: input.backend, model: input.model ?? null, startedAt: new Date() },
        });
        return { session, userMessage, answer };
      });
    },

    /** Ends a turn: the answer's text, tool calls, sources and timings, or its error, written once. */
    async finishTurn(input: { answerId: number; outcome: TurnOutcome }, actor: Actor): Promise<ChatMessage> {
      const userId = requireScope(actor, "chat:write").id;
      const { outcome } = input;
      return prisma.$transaction(async (tx) => {
        const answer = await tx.chatMessage.findFirst({ where: { id: input.answerId, role: "ASSISTANT", session: { userId } } });
        if (!answer) throw notFound("You have no answer with this ID.", { argument: "answerId" });
        const finishedAt = new Date();
        return tx.chatMessage.update({
          where: { id: answer.id },
          data: {
            status: outcome.status, content: outcome.content,
            toolCalls: (outcome.toolCalls ?? []) as Prisma.InputJsonValue, sources: (outcome.sources ?? []) as Prisma.InputJsonValue,
            recommendations: (outcome.recommendations ?? []) as Prisma.InputJsonValue,
            promptTokens: outcome.promptTokens ?? null, completionTokens: outcome.completionTokens ?? null,
            error: outcome.error ?? undefined, finishedAt,
            elapsedMs: answer.startedAt ? finishedAt.getTime() - answer.startedAt.getTime() : null,
          },
        });
      });
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
