// A local SomaAgent for tests, speaking its JSON protocol: `POST /v1/llm/invoke` with
// `{ messages: [{ role, content }], session_id, tenant? }` answers `{ content }` or `{ reply }` (with `usage`
// when scripted); `GET /v1/health`, `GET /v1/tools` and `GET /v1/sessions/{id}/history?limit=` answer JSON.
// What an invoke answers is scripted per request (text, HTTP errors, non-JSON, huge bodies, delays, a stall,
// a dropped connection); every request is recorded with its parsed body and whether the client went away.
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { once } from "node:events";
import type { AddressInfo, Socket } from "node:net";

export interface SomaInvokeBody {
  messages: { role: string; content: string }[];
  session_id: string;
  tenant?: string;
  [k: string]: unknown;
}

export type SomaReply =
  /** 200 with `{ content }` (or `{ reply }` when key is "reply"), and `usage` when given. */
  | { kind: "text"; text: string; key?: "content" | "reply"; usage?: { prompt_tokens: number; completion_tokens: number }; delayMs?: number }
  /** 200 with this JSON body as is. */
  | { kind: "json"; body: unknown; delayMs?: number }
  /** This status with this body (JSON-encoded unless a string). */
  | { kind: "status"; status: number; body?: unknown }
  /** 200 with a body that is not JSON. */
  | { kind: "raw"; body: string; contentType?: string }
  /** 200 with a valid `{ content }` body of `bytes` bytes (declared in Content-Length unless chunked). */
  | { kind: "huge"; bytes: number; chunked?: boolean }
  /** Never answers; keeps the connection open until the client leaves. */
  | { kind: "stall" }
  /** Destroys the connection before any response, or after the headers and part of the body. */
  | { kind: "drop"; after?: "request" | "headers" };

export interface SomaRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingMessage["headers"];
  /** The parsed JSON body (null when there was none or it was not JSON). */
  body: SomaInvokeBody | null;
  /** How the exchange ended: the whole answer was written, or the client closed the connection first. */
  ended: Promise<"completed" | "aborted">;
}

export type SomaScript = (request: SomaRequest, index: number) => SomaReply | Promise<SomaReply>;

export interface FakeSoma {
  /** The base URL (what SOMA_AGENT_BASE takes). */
  url: string;
  port: number;
  /** Every request, in order. */
  requests: SomaRequest[];
  /** The invoke requests, in order. */
  invokes: SomaRequest[];
  /** The invoke script; setting it restarts the index at 0. */
  script: SomaScript;
  /** What GET /v1/health answers (status and JSON body). */
  health: { status: number; body: unknown };
  /** What GET /v1/sessions/{id}/history answers, by session id; unknown sessions get an empty history. */
  history: Map<string, { status?: number; body: unknown }>;
  close(): Promise<void>;
}

export const SOMA_TOOLS = { tools: [{ name: "web_search", description: "Searches the web." }, { name: "memory", description: "Session memory." }] };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const json = (res: ServerResponse, status: number, body: unknown) =>
  res.writeHead(status, { "content-type": "application/json" }).end(typeof body === "string" ? body : JSON.stringify(body));

export async function startFakeSoma(opts: { script?: SomaScript } = {}): Promise<FakeSoma> {
  const requests: SomaRequest[] = [];
  const invokes: SomaRequest[] = [];
  const sockets = new Set<Socket>();
  let script: SomaScript = opts.script ?? (() => ({ kind: "text", text: "Hello from the fake SomaAgent." }));
  let index = 0;

  async function invoke(request: SomaRequest, req: IncomingMessage, res: ServerResponse, finish: () => void) {
    const reply = await script(request, index++);
    const gone = () => res.destroyed || req.socket.destroyed;
    if ("delayMs" in reply && reply.delayMs) await sleep(reply.delayMs);
    if (gone()) return;
    switch (reply.kind) {
      case "text": {
        const body: Record<string, unknown> = { [reply.key ?? "content"]: reply.text };
        if (reply.usage) body.usage = reply.usage;
        finish();
        json(res, 200, body);
        return;
      }
      case "json": finish(); json(res, 200, reply.body); return;
      case "status": finish(); json(res, reply.status, reply.body ?? { error: { message: `status ${reply.status}` } }); return;
      case "raw": finish(); res.writeHead(200, { "content-type": reply.contentType ?? "text/html" }).end(reply.body); return;
      case "huge": {
        const head = "{\"content\": \"";
        const tail = "\"}";
        const filler = "x".repeat(Math.max(0, reply.bytes - head.length - tail.length));
        res.writeHead(200, { "content-type": "application/json", ...(reply.chunked ? {} : { "content-length": String(head.length + filler.length + tail.length) }) });
        res.write(head);
        for (let i = 0; i < filler.length; i += 16_384) {
          if (gone()) return;
          if (!res.write(filler.slice(i, i + 16_384))) await Promise.race([once(res, "drain"), once(res, "close")]);
        }
        if (gone()) return;
        finish();
        res.end(tail);
        return;
      }
      case "stall": await once(res, "close"); return;
      case "drop":
        if (reply.after === "headers") {
          res.writeHead(200, { "content-type": "application/json" });
          res.write("{\"content\": \"Partly");
          await sleep(20);
        }
        req.socket.destroy();
        return;
    }
  }

  const server = createServer((req, res) => {
    res.on("error", () => { /* the client went away mid-write: recorded by `ended` */ });
    const url = new URL(req.url ?? "/", "http://fake");
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const raw = Buffer.concat(chunks).toString("utf8");
      let body: SomaInvokeBody | null = null;
      try { body = raw ? JSON.parse(raw) : null; } catch { /* recorded as null */ }
      let settle!: (how: "completed" | "aborted") => void;
      const ended = new Promise<"completed" | "aborted">((r) => { settle = r; });
      let finished = false;
      res.on("close", () => settle(finished ? "completed" : "aborted"));
      const request: SomaRequest = { method: req.method ?? "GET", path: url.pathname, query: url.searchParams, headers: req.headers, body, ended };
      requests.push(request);
      const finish = () => { finished = true; };
      const history = /^\/v1\/sessions\/([^/]+)\/history$/.exec(url.pathname);
      if (req.method === "POST" && url.pathname === "/v1/llm/invoke") {
        invokes.push(request);
        invoke(request, req, res, finish).catch(() => res.destroy());
      } else if (req.method === "GET" && url.pathname === "/v1/health") {
        finish();
        json(res, fake.health.status, fake.health.body);
      } else if (req.method === "GET" && url.pathname === "/v1/tools") {
        finish();
        json(res, 200, SOMA_TOOLS);
      } else if (req.method === "GET" && history) {
        const id = decodeURIComponent(history[1]!);
        const limit = Number(url.searchParams.get("limit") ?? 50);
        const stored = fake.history.get(id) ?? { body: { items: [], session_id: id, count: 0 } };
        const answer = stored.body as { items?: unknown[] } | null;
        finish();
        json(res, stored.status ?? 200, answer && Array.isArray(answer.items) ? { ...answer, items: answer.items.slice(-limit) } : stored.body);
      } else {
        finish();
        json(res, 404, { detail: "Not Found" });
      }
    });
  });
  server.on("connection", (s) => { sockets.add(s); s.on("close", () => sockets.delete(s)); });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const port = (server.address() as AddressInfo).port;
  const fake: FakeSoma = {
    url: `http://127.0.0.1:${port}`, port, requests, invokes,
    get script() { return script; },
    set script(s: SomaScript) { script = s; index = 0; },
    health: { status: 200, body: { status: "ok", version: "fake" } },
    history: new Map(),
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
  return fake;
}
