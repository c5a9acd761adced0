// Conversations with the assistant, per signed-in user (an access token, or an API key with
// chat:write): list, read, rename and delete. Messages are written by the assistant's answering
// (sendChatMessage); a user never reaches another user's session: every lookup is by (id, owner).
import { z } from "zod";
import type { ChatSession, Prisma, PrismaClient } from "../generated/prisma/client.ts";
import { toRowId } from "../domain/ids.ts";
import { badInput, notFound } from "../errors.ts";
import { requireScope, type Actor } from "./actor.ts";
import { checkPageArgs, PAGE_SIZE } from "./paging.ts";

export const CHAT_TITLE_MAX = 100;
/** A title as a person would type it: trimmed, 1–100 characters, no control characters. */
export const chatTitleRule = z.string().trim()
  .min(1, "The title must not be empty.")
  .max(CHAT_TITLE_MAX, `A title has at most ${CHAT_TITLE_MAX} characters.`)
  .refine((t) => !/\p{Cc}/u.test(t), "A title must not contain control characters.");

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
