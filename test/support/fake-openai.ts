// A local OpenAI-compatible chat-completions server for tests and benches, speaking the real protocol:
// `POST /v1/chat/completions` with `stream: true` answers Server-Sent Events of `chat.completion.chunk`
// objects (`delta.content`, `delta.tool_calls` fragments, `finish_reason`), a usage chunk when the request
// asks for one (`stream_options.include_usage`), then `data: [DONE]`; `GET /v1/models` lists models.
// What it answers is scripted per request; it records every request and whether the client went away.
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { once } from "node:events";
import type { AddressInfo, Socket } from "node:net";

/** One step of a streamed reply. */
export type Step =
  | { type: "text"; delta: string }
  /** A tool call, its arguments (JSON text) sent in `fragments` pieces as real servers do. */
  | { type: "tool_call"; id?: string; name: string; arguments: string; fragments?: number }
  /** A `data:` line sent as is (e.g. malformed JSON). */
  | { type: "raw"; data: string }
  | { type: "wait"; ms: number }
  /** Sends nothing more and keeps the connection open until the client leaves. */
  | { type: "stall" }
  /** Destroys the connection mid-stream. */
  | { type: "drop" };

export type Reply =
  | { kind: "stream"; steps: Step[]; intervalMs?: number; finishReason?: string; usage?: { prompt: number; completion: number } | null }
  /** An HTTP error with a JSON body (OpenAI's shape is `{ error: { message, type, code } }`). */
  | { kind: "error"; status: number; body: unknown };

export interface ChatRequest {
  headers: IncomingMessage["headers"];
  body: { model?: string; messages: { role: string; content: unknown; tool_calls?: unknown[]; tool_call_id?: string }[]; tools?: { type: string; function: { name: string; description?: string; parameters?: unknown } }[]; stream?: boolean; stream_options?: { include_usage?: boolean }; max_tokens?: number; [k: string]: unknown } | null;
  /** How the exchange ended: the whole reply was written, or the client closed the connection first. */
  ended: Promise<"completed" | "aborted">;
}

export type Script = (request: ChatRequest, index: number) => Reply | Promise<Reply>;

export interface FakeOpenAI {
  /** The base URL, ending in /v1 (what OPENAI_BASE_URL takes). */
  url: string;
  port: number;
  /** Every request: method and path. */
  requests: { method: string; path: string; headers: IncomingMessage["headers"] }[];
  /** Every chat-completions request, in order. */
  chats: ChatRequest[];
  /** The script; setting it restarts the index at 0. */
  script: Script;
  close(): Promise<void>;
}

const DEFAULT_USAGE = { prompt: 12, completion: 5 };

/** A streamed text answer, cut into `chunks` deltas sent `intervalMs` apart. */
export function textReply(text: string, opts: { chunks?: number; intervalMs?: number; usage?: { prompt: number; completion: number } } = {}): Reply {
  return { kind: "stream", steps: splitText(text, opts.chunks ?? 3).map((delta) => ({ type: "text", delta })), intervalMs: opts.intervalMs ?? 0, usage: opts.usage ?? DEFAULT_USAGE };
}

/** A model turn that calls tools (arguments sent in fragments), finishing with `tool_calls`. */
export function toolCallReply(...calls: { name: string; arguments: unknown; id?: string }[]): Reply {
  return {
    kind: "stream", finishReason: "tool_calls", usage: DEFAULT_USAGE,
    steps: calls.map((c, i) => ({ type: "tool_call", id: c.id ?? `call_${i + 1}`, name: c.name, arguments: typeof c.arguments === "string" ? c.arguments : JSON.stringify(c.arguments), fragments: 3 })),
  };
}

/** `n` deltas "t0 ", "t1 ", … one every `intervalMs`. */
export function paced(n: number, intervalMs: number): Reply {
  return { kind: "stream", steps: Array.from({ length: n }, (_, i) => ({ type: "text", delta: `t${i} ` })), intervalMs, usage: DEFAULT_USAGE };
}

/** Replies in order, one per request (the last repeats). */
export function inOrder(...replies: Reply[]): Script {
  return (_req, i) => replies[Math.min(i, replies.length - 1)]!;
}

/** Cuts a text into at most `n` pieces that concatenate to it. */
export function splitText(text: string, n: number): string[] {
  const size = Math.max(1, Math.ceil(text.length / Math.max(1, n)));
  const out: string[] = [];
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size));
  return out.length ? out : [""];
}

/** The messages of a chat request, as text (tool results and calls included), for assertions. */
export const messagesOf = (req: ChatRequest) => req.body?.messages ?? [];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function startFakeOpenAI(opts: { script?: Script; models?: string[] } = {}): Promise<FakeOpenAI> {
  let script: Script = opts.script ?? (() => textReply("Hello from the fake model."));
  let index = 0;
  const requests: FakeOpenAI["requests"] = [];
  const chats: ChatRequest[] = [];
  const sockets = new Set<Socket>();
  let created = 0;

  async function chat(req: IncomingMessage, res: ServerResponse) {
    const raw = await new Promise<string>((resolve, reject) => {
      let data = "";
      req.setEncoding("utf8").on("data", (c: string) => { data += c; }).on("end", () => resolve(data)).on("error", reject);
    });
    let body: ChatRequest["body"] = null;
    try { body = JSON.parse(raw); } catch { /* recorded as null */ }
    let settle!: (how: "completed" | "aborted") => void;
    const ended = new Promise<"completed" | "aborted">((r) => { settle = r; });
    const request: ChatRequest = { headers: req.headers, body, ended };
    chats.push(request);
    let finished = false;
    res.on("close", () => settle(finished ? "completed" : "aborted"));
    const gone = () => res.destroyed || res.writableEnded || req.socket.destroyed;

    const reply = await script(request, index++);
    if (reply.kind === "error") {
      finished = true;
      res.writeHead(reply.status, { "content-type": "application/json" }).end(JSON.stringify(reply.body));
      return;
    }
    const id = `chatcmpl-${++created}`;
    const model = body?.model ?? "fake-model";
    const chunk = (delta: unknown, finish: string | null = null) =>
      `data: ${JSON.stringify({ id, object: "chat.completion.chunk", created: Math.floor(Date.now() / 1000), model, choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" });
    res.flushHeaders();
    res.write(chunk({ role: "assistant", content: "" }));
    let toolIndex = 0;
    for (const [i, step] of reply.steps.entries()) {
      if (gone()) return;
      if (i > 0 && reply.intervalMs) await sleep(reply.intervalMs);
      if (gone()) return;
      switch (step.type) {
        case "text": res.write(chunk({ content: step.delta })); break;
        case "tool_call": {
          const at = toolIndex++;
          const pieces = splitText(step.arguments, step.fragments ?? 1);
          res.write(chunk({ tool_calls: [{ index: at, id: step.id ?? `call_${at + 1}`, type: "function", function: { name: step.name, arguments: "" } }] }));
          for (const piece of pieces) res.write(chunk({ tool_calls: [{ index: at, function: { arguments: piece } }] }));
          break;
        }
        case "raw": res.write(`data: ${step.data}\n\n`); break;
        case "wait": await sleep(step.ms); break;
        case "stall": await once(res, "close"); return;
        case "drop": res.socket?.destroy(); return;
      }
    }
    if (gone()) return;
    res.write(chunk({}, reply.finishReason ?? "stop"));
    const usage = reply.usage === undefined ? DEFAULT_USAGE : reply.usage;
    if (usage && body?.stream_options?.include_usage) {
      res.write(`data: ${JSON.stringify({ id, object: "chat.completion.chunk", created: Math.floor(Date.now() / 1000), model, choices: [], usage: { prompt_tokens: usage.prompt, completion_tokens: usage.completion, total_tokens: usage.prompt + usage.completion } })}\n\n`);
    }
    finished = true;
    res.end("data: [DONE]\n\n");
  }

  const server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0]!;
    requests.push({ method: req.method ?? "GET", path, headers: req.headers });
    if (req.method === "GET" && path === "/v1/models") {
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ object: "list", data: (opts.models ?? ["fake-model"]).map((m) => ({ id: m, object: "model", owned_by: "test" })) }));
      return;
    }
    if (req.method === "POST" && path === "/v1/chat/completions") {
      chat(req, res).catch(() => res.destroy());
      return;
    }
    res.writeHead(404, { "content-type": "application/json" }).end(JSON.stringify({ error: { message: "Not found", type: "invalid_request_error" } }));
  });
  server.on("connection", (s) => { sockets.add(s); s.on("close", () => sockets.delete(s)); });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/v1`, port, requests, chats,
    get script() { return script; },
    set script(s: Script) { script = s; index = 0; },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
