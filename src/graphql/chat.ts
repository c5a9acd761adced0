// Conversations with the assistant: the caller's sessions and their messages, rename and delete.
// Every field resolves through services/chat.ts, which checks the caller (chat:write) and ownership.
import { z } from "zod";
import { builder } from "./builder.ts";
import type { Context } from "./context.ts";
import type { ChatStreamEvent } from "../infra/pubsub-types.ts";
import { documentedEnum } from "./enums.ts";
import { CHAT_MESSAGE_MAX, CHAT_TITLE_MAX, chatMessageRule, chatTitleRule } from "../services/chat.ts";
import { GpuOfferRef, OfferFilterInput } from "./offer.ts";
import { WorkloadInputRef } from "./workload.ts";
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

const ChatToolCallRef = builder.simpleObject("ChatToolCall", {
  description: "A tool the assistant called while answering, run as you.",
  fields: (t) => ({
      id: t.string({ description: "The call's id within the answer." }),
      name: t.string({ description: "The tool, e.g. search_offers." }),
      arguments: t.string({ description: "The arguments as JSON." }),
      ok: t.boolean({ description: "Whether the tool answered (false: it refused or failed; see summary)." }),
      summary: t.string({ description: "The result in one line, or the error as CODE: message." }),
  }),
});

const ChatSourceRef = builder.simpleObject("ChatSource", {
  description: "Where figures in an answer came from.",
  fields: (t) => ({
      kind: t.string({ description: "\"tool\": a tool result." }),
      tool: t.string({ description: "The tool whose result it is." }),
      detail: t.string({ description: "What it answered, in words." }),
  }),
});

const ChatRecommendationRef = builder.simpleObject("ChatRecommendation", {
  description: "An offer the answer recommends, with the figures it quoted (offer has its provider and today's prices).",
  fields: (t) => ({
      offerId: t.int({ description: "The offer's database id (offer(id:) takes its global ID)." }),
      gpuName: t.string({ description: "The GPU as the provider names it." }),
      gpuCount: t.int({ description: "GPUs in the instance." }),
      region: t.string({ description: "The provider's region." }),
      pricePerHour: t.field({ type: "Money", description: "On-demand price per hour of the instance." }),
      pricePerGpuHour: t.field({ type: "Money", description: "On-demand price per GPU-hour." }),
      costPerMillionTokens: t.field({ type: "Money", nullable: true, description: "$ per 1M generated tokens, when the answer is about an LLM." }),
      closeness: t.float({ nullable: true, description: "TOPSIS closeness, when the answer ranked offers." }),
  }),
}, (t) => ({
  offer: t.field({ type: GpuOfferRef, nullable: true, description: "The offer as it is now (null if it has since been removed from the catalog).", resolve: (r, _a, ctx) => ctx.loaders.offer.get(r.offerId) }),
}));

/** A stored JSON list, kept to the entries that have the fields a type needs. */
const jsonList = <T>(value: unknown, keep: (v: Record<string, unknown>) => boolean): T[] =>
  (Array.isArray(value) ? value : []).filter((v): v is Record<string, unknown> => typeof v === "object" && v !== null && keep(v)) as T[];

/** Stored sources (a message's column or an event's payload), as the ChatSource type reads them. */
const sources = (value: unknown) => jsonList<{ kind: string; tool: string; detail: string }>(value, (v) => typeof v.tool === "string" && typeof v.detail === "string")
  .map((x) => ({ kind: String(x.kind ?? "tool"), tool: x.tool, detail: x.detail }));

/** Stored recommendations, as the ChatRecommendation type reads them. */
const recommendations = (value: unknown) => jsonList<{ offerId: number; gpuName: string; gpuCount: number; region: string; pricePerHour: string; pricePerGpuHour: string; costPerMillionTokens?: string; closeness?: number }>(
  value, (v) => typeof v.offerId === "number" && typeof v.pricePerHour === "string")
  .map((r) => ({ ...r, costPerMillionTokens: r.costPerMillionTokens ?? null, closeness: r.closeness ?? null }));

// Not Relay nodes on purpose: `node(id:)` would bypass the owner check.
export const ChatMessageRef = builder.prismaObject("ChatMessage", {
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
      toolCalls: t.field({
        type: [ChatToolCallRef], description: "Answers: the tools called, in order.",
        resolve: (m) => jsonList<{ id: string; name: string; arguments: unknown; ok: boolean; summary: string }>(m.toolCalls, (v) => typeof v.name === "string")
          .map((c) => ({ id: String(c.id), name: c.name, arguments: JSON.stringify(c.arguments ?? {}), ok: c.ok === true, summary: String(c.summary ?? "") })),
      }),
      sources: t.field({ type: [ChatSourceRef], description: "Answers: where its figures came from.", resolve: (m) => sources(m.sources) }),
      recommendations: t.field({ type: [ChatRecommendationRef], description: "Answers: the offers it recommends.", resolve: (m) => recommendations(m.recommendations) }),
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

const ChatContextInput = builder.inputType("ChatContextInput", {
  description: "What you are looking at, for the answer to use: the offers filter and a workload.",
  fields: (t) => ({
      filter: t.field({ type: OfferFilterInput, description: "Narrow the offers the answer considers, as in `offers`." }),
      workload: t.field({ type: WorkloadInputRef, description: "A workload to cost, as in `estimateWorkload`." }),
  }),
});

const AskAssistantInput = builder.inputType("AskAssistantInput", {
  description: "A message to the assistant.",
  fields: (t) => ({
      sessionId: t.id({ description: "Continue this conversation of yours; a new one when omitted." }),
      message: t.string({ required: true, description: `Your question (1–${CHAT_MESSAGE_MAX} characters).`, validate: chatMessageRule }),
      context: t.field({ type: ChatContextInput, description: "What you are looking at." }),
  }),
});

const SendChatMessagePayload = builder.simpleObject("SendChatMessagePayload", {
  description: "Your stored message and the answer that has just started.",
  fields: (t) => ({
      session: t.field({ type: ChatSessionRef, description: "The conversation (new when no sessionId was given)." }),
      userMessage: t.field({ type: ChatMessageRef, description: "Your message as stored." }),
      answer: t.field({ type: ChatMessageRef, description: "The answer, STREAMING: follow it with chatMessageEvents(messageId: answer.id)." }),
  }),
});

const AskAssistantPayload = builder.simpleObject("AskAssistantPayload", {
  description: "The stored answer and its conversation.",
  fields: (t) => ({
      session: t.field({ type: ChatSessionRef, description: "The conversation (new when no sessionId was given)." }),
      answer: t.field({ type: ChatMessageRef, description: "The assistant's answer, complete or failed (see status and error)." }),
  }),
});

builder.mutationFields((t) => ({
  sendChatMessage: t.field({
    type: SendChatMessagePayload,
    description: `Sends a message to the assistant and returns at once with your stored message and the answer just started (STREAMING); follow the answer with the chatMessageEvents subscription (it replays from the start, so subscribing a little later loses nothing), or read it later with chatSession. Your tools run as you. Limits: ${CHAT_MESSAGE_MAX} characters per message, a few answers in progress at once and messages per minute per account (RATE_LIMITED, with retryAfterSeconds or reason CONCURRENT_ANSWERS). A signed-in user, or an API key with CHAT_WRITE.`,
    args: { input: t.arg({ type: AskAssistantInput, required: true, description: "The message." }) },
    resolve: (_root, args, ctx) => ctx.assistant.send(args.input, ctx.actor),
  }),
  cancelChatMessage: t.field({
    type: ChatMessageRef,
    description: "Stops one of your answers while it is being written (on whichever server writes it) and aborts the request to the model. The answer is stored CANCELLED with what was written so far; the stream ends with a ChatMessageFailed event (code CANCELLED). Cancelling an answer that has ended returns it unchanged.",
    args: { id: t.arg.id({ required: true, description: "The answer's id (the answer of sendChatMessage)." }) },
    resolve: (_root, args, ctx) => ctx.assistant.cancel(args, ctx.actor),
  }),
  askAssistant: t.field({
    type: AskAssistantPayload,
    description: "Asks the assistant and waits for the whole answer (for clients that do not stream). Your message and the answer are stored in the conversation. The built-in backend answers offline from fixed rules; its tools run as you. A signed-in user, or an API key with CHAT_WRITE.",
    args: { input: t.arg({ type: AskAssistantInput, required: true, description: "The message." }) },
    resolve: (_root, args, ctx) => ctx.assistant.ask(args.input, ctx.actor),
  }),
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

// ---------------------------------------------------------------- chatMessageEvents

const ChatMessageEventRef = builder.interfaceRef<ChatStreamEvent>("ChatMessageEvent").implement({
  description: "One event of an answer being written. Events are numbered (seq) and stored: a late subscriber gets them all from the start, a reconnecting one passes afterSeq. The stream ends after ChatMessageCompleted or ChatMessageFailed.",
  fields: (t) => ({
    messageId: t.id({ description: "The answer's id.", resolve: (e) => e.messageId }),
    seq: t.exposeInt("seq", { description: "1, 2, 3 … within the answer; pass the last one you have as afterSeq to resume." }),
    at: t.field({ type: "DateTime", description: "When it was stored.", resolve: (e) => new Date(e.at) }),
  }),
  resolveType: (e) => EVENT_TYPES[e.type] ?? "ChatTextDelta",
});

const EVENT_TYPES: Record<string, string> = {
  text: "ChatTextDelta", tool_call: "ChatToolCallStarted", tool_result: "ChatToolResult", recommendations: "ChatRecommendations",
  sources: "ChatSources", completed: "ChatMessageCompleted", failed: "ChatMessageFailed",
};

const num = (v: unknown) => (typeof v === "number" && Number.isFinite(v) ? v : null);
const str = (v: unknown) => (typeof v === "string" ? v : String(v ?? ""));
/** What every event type shares: the interface, and which stored events it stands for. */
const eventOf = (name: string) => ({ interfaces: [ChatMessageEventRef], isTypeOf: (e: unknown) => EVENT_TYPES[(e as ChatStreamEvent).type] === name });
const storedMessage = (e: ChatStreamEvent, ctx: Context) => ctx.prisma.chatMessage.findUniqueOrThrow({ where: { id: e.messageId } });

builder.objectRef<ChatStreamEvent>("ChatTextDelta").implement({
  description: "A piece of the answer's text, in order; concatenated they are the answer.",
  ...eventOf("ChatTextDelta"),
  fields: (t) => ({
    delta: t.string({ description: "The text.", resolve: (e) => str(e.payload.delta) }),
  }),
});
builder.objectRef<ChatStreamEvent>("ChatToolCallStarted").implement({
  description: "The assistant called a tool (one of the API's own capabilities, run as you).",
  ...eventOf("ChatToolCallStarted"),
  fields: (t) => ({
    toolCallId: t.string({ description: "The call's id within the answer (its ChatToolResult has the same).", resolve: (e) => str(e.payload.id) }),
    name: t.string({ description: "The tool, e.g. search_offers.", resolve: (e) => str(e.payload.name) }),
    arguments: t.string({ description: "The arguments as JSON.", resolve: (e) => str(e.payload.arguments) }),
  }),
});
builder.objectRef<ChatStreamEvent>("ChatToolResult").implement({
  description: "A tool's result, summarised in one line (a refused or failed call says CODE: message).",
  ...eventOf("ChatToolResult"),
  fields: (t) => ({
    toolCallId: t.string({ description: "The call's id.", resolve: (e) => str(e.payload.id) }),
    name: t.string({ description: "The tool.", resolve: (e) => str(e.payload.name) }),
    ok: t.boolean({ description: "Whether the tool answered.", resolve: (e) => e.payload.ok === true }),
    summary: t.string({ description: "The result in one line, or the error.", resolve: (e) => str(e.payload.summary) }),
  }),
});
builder.objectRef<ChatStreamEvent>("ChatRecommendations").implement({
  description: "The offers the answer recommends, with $/h, $/Mtok and TOPSIS closeness where the answer computed them.",
  ...eventOf("ChatRecommendations"),
  fields: (t) => ({
    offers: t.field({ type: [ChatRecommendationRef], description: "The offers, best first.", resolve: (e) => recommendations(e.payload.offers) }),
  }),
});
builder.objectRef<ChatStreamEvent>("ChatSources").implement({
  description: "Where the answer's figures came from.",
  ...eventOf("ChatSources"),
  fields: (t) => ({
    sources: t.field({ type: [ChatSourceRef], description: "One per tool result the answer used.", resolve: (e) => sources(e.payload.sources) }),
  }),
});
builder.objectRef<ChatStreamEvent>("ChatMessageCompleted").implement({
  description: "The answer is complete: the stored message, usage and time. The last event.",
  ...eventOf("ChatMessageCompleted"),
  fields: (t) => ({
    message: t.field({ type: ChatMessageRef, description: "The complete answer as stored.", resolve: (e, _a, ctx) => storedMessage(e, ctx) }),
    promptTokens: t.int({ nullable: true, description: "Prompt tokens the backend reported.", resolve: (e) => num(e.payload.promptTokens) }),
    completionTokens: t.int({ nullable: true, description: "Generated tokens the backend reported.", resolve: (e) => num(e.payload.completionTokens) }),
    elapsedMs: t.int({ nullable: true, description: "Milliseconds from start to finish.", resolve: (e) => num(e.payload.elapsedMs) }),
  }),
});
builder.objectRef<ChatStreamEvent>("ChatMessageFailed").implement({
  description: "The answer failed or was cancelled: the code (ASSISTANT_UNAVAILABLE, ASSISTANT_TIMEOUT, UPSTREAM_ERROR, CANCELLED …) and the stored message with what was written. The last event.",
  ...eventOf("ChatMessageFailed"),
  fields: (t) => ({
    error: t.field({ type: ChatErrorRef, description: "Why.", resolve: (e) => {
      const err = (e.payload.error ?? {}) as { code?: unknown; message?: unknown };
      return { code: str(err.code || "ASSISTANT_FAILED"), message: str(err.message) };
    } }),
    message: t.field({ type: ChatMessageRef, description: "The answer as stored (status FAILED or CANCELLED).", resolve: (e, _a, ctx) => storedMessage(e, ctx) }),
    elapsedMs: t.int({ nullable: true, description: "Milliseconds from start to the end.", resolve: (e) => num(e.payload.elapsedMs) }),
  }),
});

builder.subscriptionField("chatMessageEvents", (t) => t.field({
  type: ChatMessageEventRef,
  description: "Follows one of your answers as it is written (graphql-ws or SSE): text deltas, tool calls and results, recommendations, sources, then ChatMessageCompleted or ChatMessageFailed, after which the stream ends. It replays every stored event first, so subscribing late (or to a finished answer) loses nothing, and it works on any API node. Closing the last subscription stops the answer after a few seconds (a reconnect within them resumes it).",
  args: {
    messageId: t.arg.id({ required: true, description: "The answer's id (sendChatMessage's answer.id)." }),
    afterSeq: t.arg.int({ description: "Resume: only events after this seq (the last one you received); from the start when omitted.", validate: z.number().int().min(0) }),
  },
  subscribe: (_root, args, ctx) => ctx.assistant.events({ id: args.messageId, afterSeq: args.afterSeq }, ctx.actor),
  resolve: (event) => event,
}));
