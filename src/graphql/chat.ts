// Conversations with the assistant: the caller's sessions and their messages, rename and delete.
// Every field resolves through services/chat.ts, which checks the caller (chat:write) and ownership.
import { builder } from "./builder.ts";
import { documentedEnum } from "./enums.ts";
import { CHAT_TITLE_MAX, chatTitleRule } from "../services/chat.ts";
import { PAGE_SIZE } from "../services/paging.ts";

// ---------------------------------------------------------------- Types

const ChatRoleEnum = documentedEnum("ChatRole", "Who wrote a chat message.", {
  USER: { description: "The signed-in user." },
  ASSISTANT: { description: "The assistant's answer." },
});

const ChatMessageStatusEnum = documentedEnum("ChatMessageStatus", "Where a chat message stands.", {
  PENDING: { description: "Saved; the answer has not started yet." },
  STREAMING: { description: "The answer is being written." },
  COMPLETE: { description: "Done (every user message is complete)." },
  FAILED: { description: "The answer failed; `error` says why." },
  CANCELLED: { description: "Stopped by the user before it was complete." },
});

const ChatErrorRef = builder.simpleObject("ChatError", {
  description: "Why an answer failed.",
  fields: (t) => ({
    code: t.string({ description: "A stable code, e.g. ASSISTANT_UNAVAILABLE, ASSISTANT_TIMEOUT, UPSTREAM_ERROR." }),
    message: t.string({ description: "The reason in words." }),
  }),
});

// Not Relay nodes on purpose: `node(id:)` would bypass the owner check.
builder.prismaObject("ChatMessage", {
  description: "One turn of a conversation: the user's message, or the assistant's answer with its usage and timings.",
  fields: (t) => ({
    id: t.exposeID("id", { description: "Message number." }),
    role: t.expose("role", { type: ChatRoleEnum, description: "USER or ASSISTANT." }),
    content: t.exposeString("content", { description: "The text (for an answer being written: what has been written so far)." }),
    status: t.expose("status", { type: ChatMessageStatusEnum, description: "Pending, streaming, complete, failed or cancelled." }),
    backend: t.exposeString("backend", { nullable: true, description: "Answers: the assistant backend that wrote it (builtin, openai, soma)." }),
    model: t.exposeString("model", { nullable: true, description: "Answers: the model that wrote it, when the backend names one." }),
    promptTokens: t.exposeInt("promptTokens", { nullable: true, description: "Answers: prompt tokens the backend reported." }),
    completionTokens: t.exposeInt("completionTokens", { nullable: true, description: "Answers: generated tokens the backend reported." }),
    error: t.field({
      type: ChatErrorRef, nullable: true, description: "Failed answers: why.",
      resolve: (m) => {
        const e = m.error as { code?: unknown; message?: unknown } | null;
        return e && typeof e.code === "string" && typeof e.message === "string" ? { code: e.code, message: e.message } : null;
      },
    }),
    createdAt: t.expose("createdAt", { type: "DateTime", description: "When it was saved." }),
    finishedAt: t.expose("finishedAt", { type: "DateTime", nullable: true, description: "Answers: when it completed, failed or was cancelled." }),
    elapsedMs: t.exposeInt("elapsedMs", { nullable: true, description: "Answers: milliseconds from start to finish." }),
  }),
});

const ChatSessionRef = builder.prismaObject("ChatSession", {
  description: "A conversation with the assistant. Only its owner can read it.",
  fields: (t) => ({
    id: t.exposeID("id", { description: "Session number (for chatSession, renameChatSession, deleteChatSession)." }),
    title: t.exposeString("title", { description: "The session's title." }),
    createdAt: t.expose("createdAt", { type: "DateTime", description: "When it started." }),
    updatedAt: t.expose("updatedAt", { type: "DateTime", description: "When it last changed (a new message, a rename)." }),
    messages: t.relatedConnection("messages", {
      cursor: "id",
      defaultSize: PAGE_SIZE.default,
      maxSize: PAGE_SIZE.max,
      description: `The messages, oldest first. Relay connection (default ${PAGE_SIZE.default}, max ${PAGE_SIZE.max} per page).`,
      query: () => ({ orderBy: { id: "asc" } }),
    }, { name: "ChatMessageConnection", description: "A page of chat messages." }, { name: "ChatMessageEdge", description: "A chat message and its cursor." }),
  }),
});

// ---------------------------------------------------------------- Queries

builder.queryFields((t) => ({
  chatSessions: t.prismaConnection(
    {
      type: ChatSessionRef,
      cursor: "id",
      defaultSize: PAGE_SIZE.default,
      maxSize: PAGE_SIZE.max,
      description: `Your conversations with the assistant, most recently active first (a signed-in user, or an API key with CHAT_WRITE). Relay connection (default ${PAGE_SIZE.default}, max ${PAGE_SIZE.max} per page).`,
      resolve: (query, _root, args, ctx) => ctx.services.chat.chatSessions({ ...args, page: query }, ctx.actor),
    },
    { name: "ChatSessionConnection", description: "A page of chat sessions." },
    { name: "ChatSessionEdge", description: "A chat session and its cursor." },
  ),
  chatSession: t.prismaField({
    type: ChatSessionRef,
    description: "One of your conversations by id, with its messages. Another user's session is NOT_FOUND, as is a missing one.",
    args: { id: t.arg.id({ required: true, description: "The session's id." }) },
    resolve: (_query, _root, args, ctx) => ctx.services.chat.chatSession(args, ctx.actor),
  }),
}));

// ---------------------------------------------------------------- Mutations

builder.mutationFields((t) => ({
  renameChatSession: t.prismaField({
    type: ChatSessionRef,
    description: `Gives one of your conversations a new title (1–${CHAT_TITLE_MAX} characters).`,
    args: {
      id: t.arg.id({ required: true, description: "The session's id." }),
      title: t.arg.string({ required: true, description: "The new title.", validate: chatTitleRule }),
    },
    resolve: (_query, _root, args, ctx) => ctx.services.chat.renameChatSession(args, ctx.actor),
  }),
  deleteChatSession: t.id({
    description: "Deletes one of your conversations with all its messages and returns its id.",
    args: { id: t.arg.id({ required: true, description: "The session's id." }) },
    resolve: (_root, args, ctx) => ctx.services.chat.deleteChatSession(args, ctx.actor),
  }),
}));
