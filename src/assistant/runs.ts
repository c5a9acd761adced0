// Answers in progress on this node, and the streams that read them on any node.
//
// An answer runs in the background: its backend's events are stored (services/chat appendAnswerEvents:
// numbered, written before they are published) and then published on the pub/sub ("chat.event"), so a
// reader on any node sees them live; the outcome and the final event are written in one transaction
// (finishTurn). A reader (`follow`) subscribes first, then reads what is stored, then follows the live
// events, skipping what it has and reading any gap (or a silent pub/sub) back from the database.
//
// Budgets per answer: tool calls and output tokens (passed to the backend) and wall time (the run's
// signal aborts). Control messages ("chat.control") reach the node writing an answer from any node:
// cancel aborts it at once; when its last reader leaves, it stops after a grace period.
import type { Logger } from "pino";
import type { ChatEvent, ChatMessage } from "../generated/prisma/client.ts";
import type { ChatControl, ChatStreamEvent, PubSub } from "../infra/pubsub-types.ts";
import type { Metrics } from "../infra/metrics.ts";
import type { Actor, Services } from "../services/index.ts";
import { FINAL_EVENT_TYPES, type AnswerEventInput, type TurnOutcome } from "../services/chat.ts";
import { AnswerFailure, type AnswerBackend, type AnswerBudget, type AnswerEvent, type AnswerRequest } from "./backend.ts";

export interface RunLimits extends AnswerBudget {
  /** Wall time of one answer; past it the answer fails with ASSISTANT_TIMEOUT and the upstream request is aborted. */
  wallTimeMs: number;
  /** How long an answer that had readers keeps going once the last one left (a reconnect within it resumes). */
  detachGraceMs: number;
  /** A reader that hears nothing live for this long reads the database (covers a pub/sub outage). */
  pollMs: number;
}

export const DEFAULT_RUN_LIMITS: RunLimits = { maxToolCalls: 6, maxOutputTokens: 1024, wallTimeMs: 120_000, detachGraceMs: 5_000, pollMs: 5_000 };

/** Why a run's signal aborted: stored as the answer's error (a cancel has already been stored by cancelAnswer). */
interface AbortReason { status: "CANCELLED" | "FAILED"; code: string; message: string }

const storedEvent = (e: ChatEvent): ChatStreamEvent => ({
  messageId: e.messageId, seq: e.seq, type: e.type, payload: e.payload as Record<string, unknown>, at: e.createdAt.toISOString(),
});

/** A backend event as it is stored and streamed (done and usage are folded into the outcome instead). */
function toStored(e: AnswerEvent): AnswerEventInput | null {
  switch (e.type) {
    case "text": return { type: "text", payload: { delta: e.delta } };
    case "tool_call": return { type: "tool_call", payload: { id: e.id, name: e.name, arguments: JSON.stringify(e.arguments ?? {}) } };
    case "tool_result": return { type: "tool_result", payload: { id: e.id, name: e.name, ok: e.ok, summary: e.summary } };
    case "recommendations": return { type: "recommendations", payload: { offers: e.offers as unknown as AnswerEventInput["payload"][] } };
    case "sources": return { type: "sources", payload: { sources: e.sources as unknown as AnswerEventInput["payload"][] } };
    default: return null;
  }
}

/** Adjacent text deltas as one; other events as they are. */
function joinTextDeltas(events: AnswerEventInput[]): AnswerEventInput[] {
  const joined: AnswerEventInput[] = [];
  for (const e of events) {
    const prev = joined.at(-1);
    if (e.type === "text" && prev?.type === "text") joined[joined.length - 1] = { type: "text", payload: { delta: `${String(prev.payload.delta)}${String(e.payload.delta)}` } };
    else joined.push(e);
  }
  return joined;
}

interface Run {
  answerId: number;
  controller: AbortController;
  readers: number;
  hadReaders: boolean;
  grace?: NodeJS.Timeout | undefined;
  finished: Promise<ChatMessage>;
}

export interface RunnerDeps {
  services: Services;
  pubsub: PubSub;
  log: Logger;
  limits: RunLimits;
  /** Latency to the first delta, tokens, tool calls and outcomes, labelled with `backendName`. */
  metrics?: Metrics | undefined;
  backendName?: string;
}

export function createRunner({ services, pubsub, log, limits, metrics, backendName = "unknown" }: RunnerDeps) {
  const runs = new Map<number, Run>();

  const abort = (run: Run, reason: AbortReason) => { if (!run.controller.signal.aborted) run.controller.abort(reason); };

  function onControl(message: ChatControl) {
    const run = runs.get(message.messageId);
    if (!run) return;
    if (message.action === "cancel") abort(run, { status: "CANCELLED", code: "CANCELLED", message: "Stopped by the user." });
    else if (message.action === "attach") {
      run.readers++;
      run.hadReaders = true;
      clearTimeout(run.grace);
    } else {
      run.readers = Math.max(0, run.readers - 1);
      if (run.readers === 0 && run.hadReaders) {
        clearTimeout(run.grace);
        run.grace = setTimeout(() => abort(run, { status: "CANCELLED", code: "CANCELLED", message: "Nobody was reading the answer any more." }), limits.detachGraceMs);
        run.grace.unref();
      }
    }
  }

  // One control subscription per node; it ends when the pub/sub closes.
  const controls = pubsub.subscribe("chat.control");
  void (async () => {
    try {
      for await (const message of controls) onControl(message);
    } catch (err) {
      log.error({ err }, "the assistant's control stream ended");
    }
  })();

  /**
   * Stores and publishes a run's events in order; batches whatever arrives while a write is in flight, and joins
   * the batch's adjacent text deltas into one (so a busy node sends fewer, longer deltas instead of falling behind).
   */
  function createWriter(answerId: number, actor: Actor, onEnded: () => void) {
    const queue: AnswerEventInput[] = [];
    let writing: Promise<void> | null = null;
    let ended = false;
    async function write() {
      while (queue.length && !ended) {
        const batch = joinTextDeltas(queue.splice(0));
        const stored = await services.chat.appendAnswerEvents({ answerId, events: batch }, actor);
        if (stored === null) { ended = true; onEnded(); break; } // cancelled (or settled) elsewhere: stop writing
        // Not awaited: the events are stored, so a reader catches up from the database if Redis is slow or down.
        pubsub.publish("chat.event", { messageId: answerId, events: stored.map(storedEvent) })
          .catch((err: unknown) => log.warn({ err, answerId }, "chat events stored but not published"));
      }
    }
    return {
      push(event: AnswerEventInput) {
        if (ended) return;
        queue.push(event);
        writing ??= write().finally(() => { writing = null; });
      },
      /** Waits until everything pushed is stored (or the writer failed: that error is thrown). */
      async drain() { while (writing) await writing; },
    };
  }

  async function execute(run: Run, backend: AnswerBackend, request: AnswerRequest, actor: Actor): Promise<ChatMessage> {
    const { signal } = run.controller;
    const wallTime = setTimeout(() => abort(run, { status: "FAILED", code: "ASSISTANT_TIMEOUT", message: `The answer took longer than ${limits.wallTimeMs / 1000} s.` }), limits.wallTimeMs);
    const writer = createWriter(run.answerId, actor, () => abort(run, { status: "CANCELLED", code: "CANCELLED", message: "Stopped by the user." }));
    const outcome: TurnOutcome = { status: "COMPLETE", content: "", toolCalls: [], sources: [], recommendations: [] };
    let done = false;
    const labels = { backend: backendName };
    const startedAt = performance.now();
    let firstDelta = true;
    try {
      const deps = { actor, services, log, signal, budget: { maxToolCalls: limits.maxToolCalls, maxOutputTokens: limits.maxOutputTokens } };
      for await (const event of backend(request, deps)) {
        if (signal.aborted) break;
        if (event.type === "usage") {
          outcome.promptTokens = event.promptTokens;
          outcome.completionTokens = event.completionTokens;
          if (event.promptTokens) metrics?.assistantTokens.inc({ ...labels, kind: "prompt" }, event.promptTokens);
          if (event.completionTokens) metrics?.assistantTokens.inc({ ...labels, kind: "completion" }, event.completionTokens);
          continue;
        }
        if (event.type === "text" && firstDelta) {
          firstDelta = false;
          metrics?.assistantFirstDelta.observe(labels, (performance.now() - startedAt) / 1000);
        }
        if (event.type === "tool_call") metrics?.assistantToolCalls.inc(labels);
        if (event.type === "done") { outcome.content = event.content; outcome.toolCalls = event.toolCalls; done = true; continue; }
        if (event.type === "recommendations") outcome.recommendations = event.offers;
        if (event.type === "sources") outcome.sources = event.sources;
        const stored = toStored(event);
        if (stored) writer.push(stored);
      }
      if (!signal.aborted && !done) throw new AnswerFailure("UPSTREAM_ERROR", "The backend ended its answer without finishing it.");
      await writer.drain();
    } catch (err) {
      if (!signal.aborted) {
        if (err instanceof AnswerFailure) outcome.error = { code: err.code, message: err.message };
        else {
          const errorId = crypto.randomUUID();
          log.error({ err, errorId, answerId: run.answerId }, "the assistant failed");
          outcome.error = { code: "ASSISTANT_FAILED", message: `The assistant failed. Quote this errorId when you report it: ${errorId}.` };
        }
        outcome.status = "FAILED";
      }
      await writer.drain().catch(() => undefined);
    } finally {
      clearTimeout(wallTime);
    }
    if (signal.aborted) {
      const reason = signal.reason as AbortReason;
      outcome.status = reason.status;
      outcome.error = { code: reason.code, message: reason.message };
    }
    metrics?.assistantAnswers.inc({ ...labels, status: outcome.status });
    if (outcome.status === "FAILED") metrics?.assistantFailures.inc({ ...labels, code: outcome.error?.code ?? "ASSISTANT_FAILED" });
    const { answer, event } = await services.chat.finishTurn({ answerId: run.answerId, outcome }, actor);
    if (event) await publishStored(event);
    return answer;
  }

  async function publishStored(event: ChatEvent) {
    await pubsub.publish("chat.event", { messageId: event.messageId, events: [storedEvent(event)] })
      .catch((err: unknown) => log.warn({ err, answerId: event.messageId }, "final chat event stored but not published"));
  }

  return {
    /** Starts answering in the background; the promise in the result settles with the stored answer (it never rejects). */
    start(answerId: number, backend: AnswerBackend, request: AnswerRequest, actor: Actor): { finished: Promise<ChatMessage> } {
      const run: Run = { answerId, controller: new AbortController(), readers: 0, hadReaders: false, finished: Promise.resolve(null as never) };
      runs.set(answerId, run);
      run.finished = execute(run, backend, request, actor)
        .catch(async (err: unknown) => {
          // Storing the outcome failed (the database is away): the answer stays STREAMING until answerEvents settles it as stale.
          log.error({ err, answerId }, "could not store the answer's outcome");
          return (await services.chat.answerEvents({ id: answerId, afterSeq: Number.MAX_SAFE_INTEGER }, actor).catch(() => null))?.answer ?? (null as never);
        })
        .finally(() => { clearTimeout(run.grace); runs.delete(answerId); });
      return { finished: run.finished };
    },

    /** Cancels one of the caller's answers: stored as CANCELLED with its final event, and the node writing it stops. */
    async cancel(input: { id: string | number }, actor: Actor): Promise<ChatMessage> {
      const { answer, event } = await services.chat.cancelAnswer(input, actor);
      if (event) {
        await publishStored(event);
        await pubsub.publish("chat.control", { messageId: answer.id, action: "cancel" })
          .catch((err: unknown) => log.warn({ err, answerId: answer.id }, "cancel stored but not published"));
      }
      return answer;
    },

    /**
     * The events of one of the caller's answers after `afterSeq` (from the start by default), then live ones until
     * the final event. Checks run now (NOT_FOUND, scope), so a refused subscription fails before it starts.
     */
    async follow(input: { id: string | number; afterSeq?: number | null }, actor: Actor): Promise<AsyncIterableIterator<ChatStreamEvent>> {
      const live = pubsub.subscribe("chat.event", (batch) => batch.messageId === Number(input.id));
      let first: Awaited<ReturnType<Services["chat"]["answerEvents"]>>;
      try {
        first = await services.chat.answerEvents(input, actor);
      } catch (err) {
        await live.return?.();
        throw err;
      }
      return stream(first.answer, first.events, input.afterSeq ?? 0, live, actor);
    },

    /** Aborts every answer this node writes (shutdown): each is stored as failed, ASSISTANT_UNAVAILABLE. */
    async close(): Promise<void> {
      const pending = [...runs.values()];
      for (const run of pending) abort(run, { status: "FAILED", code: "ASSISTANT_UNAVAILABLE", message: "The server answering stopped; ask again." });
      await Promise.all(pending.map((r) => r.finished));
      await controls.return?.();
    },

    /** Answers in progress on this node. */
    get active() { return runs.size; },
  };

  async function* stream(answer: ChatMessage, stored: ChatEvent[], afterSeq: number, live: AsyncIterableIterator<{ events: ChatStreamEvent[] }>, actor: Actor): AsyncGenerator<ChatStreamEvent> {
    let last = afterSeq;
    let ended = false;
    const attached = answer.status === "STREAMING";
    if (attached) void pubsub.publish("chat.control", { messageId: answer.id, action: "attach" }).catch(() => undefined);
    const emit = function* (events: ChatStreamEvent[]) {
      for (const e of events) {
        if (e.seq <= last) continue;
        last = e.seq;
        ended = FINAL_EVENT_TYPES.has(e.type);
        yield e;
        if (ended) return;
      }
    };
    /** Reads what is stored after `last`; true when the answer has ended. */
    const catchUp = async function* () {
      const more = await services.chat.answerEvents({ id: answer.id, afterSeq: last }, actor);
      yield* emit(more.events.map(storedEvent));
      if (more.answer.status !== "STREAMING") ended = true;
    };
    try {
      yield* emit(stored.map(storedEvent));
      if (ended || answer.status !== "STREAMING") return;
      let next = live.next();
      while (!ended) {
        let timer: NodeJS.Timeout | undefined;
        const quiet = new Promise<"quiet">((resolve) => { timer = setTimeout(() => resolve("quiet"), limits.pollMs); });
        const result = await Promise.race([next, quiet]).finally(() => clearTimeout(timer));
        if (result === "quiet") { yield* catchUp(); continue; }
        if (result.done) return;
        next = live.next();
        const events = result.value.events;
        // A gap (events published before our subscription was live): read them from the database, where they are already.
        if (events.length && events[0]!.seq > last + 1) yield* catchUp();
        if (!ended) yield* emit(events);
      }
    } finally {
      await live.return?.();
      if (attached && !ended) void pubsub.publish("chat.control", { messageId: answer.id, action: "detach" }).catch(() => undefined);
    }
  }
}

export type Runner = ReturnType<typeof createRunner>;
