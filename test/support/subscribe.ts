// Subscription clients for tests: graphql-ws over a WebSocket and Yoga's Server-Sent Events, each
// collecting what it receives, and `until` to wait for a condition without timing thresholds.
import { expect } from "vitest";
import WebSocket from "ws";
import { createClient } from "graphql-ws";
import type { RunningServer } from "../../src/server.ts";

/** Waits until the condition holds (polling every 10 ms); throws after `ms`. */
export async function until(condition: () => boolean | Promise<boolean>, what: string, ms = 10_000) {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A graphql-ws subscription that collects what it receives. */
export function subscribeWs(server: RunningServer, query: string, variables: Record<string, unknown> = {}, connectionParams?: Record<string, unknown>) {
  const client = createClient({ url: `ws://127.0.0.1:${server.port}/graphql`, webSocketImpl: WebSocket, retryAttempts: 0, connectionParams });
  const sub = { events: [] as any[], error: undefined as unknown, completed: false };
  client.subscribe({ query, variables }, {
    next: (v) => { sub.events.push(v); },
    error: (e) => { sub.error = e; },
    complete: () => { sub.completed = true; },
  });
  return Object.assign(sub, {
    take: async (n: number) => { await until(() => sub.events.length >= n || sub.completed || !!sub.error, `${n} events`); return sub.events; },
    ended: () => until(() => sub.completed || !!sub.error, "the subscription to end"),
    close: () => client.dispose(),
  });
}

/** A Server-Sent Events subscription (Yoga's text/event-stream) that collects the `next` payloads. */
export function subscribeSse(server: RunningServer, query: string, variables: Record<string, unknown> = {}, headers: Record<string, string> = {}) {
  const abort = new AbortController();
  const sub = { events: [] as any[], completed: false };
  const reading = (async () => {
    const res = await fetch(`http://127.0.0.1:${server.port}/graphql`, {
      method: "POST", signal: abort.signal,
      headers: { "content-type": "application/json", accept: "text/event-stream", ...headers },
      body: JSON.stringify({ query, variables }),
    });
    expect(res.headers.get("content-type")).toContain("text/event-stream");
    const decoder = new TextDecoder();
    let buffer = "";
    for await (const chunk of res.body!) {
      buffer += decoder.decode(chunk as Uint8Array, { stream: true });
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const lines = buffer.slice(0, end).split("\n");
        buffer = buffer.slice(end + 2);
        const data = lines.find((l) => l.startsWith("data:"))?.slice(5).trim();
        if (lines.includes("event: next") && data) sub.events.push(JSON.parse(data));
        if (lines.includes("event: complete")) sub.completed = true;
      }
    }
  })().catch((err: Error) => { if (err.name !== "AbortError") throw err; });
  return Object.assign(sub, {
    take: async (n: number) => { await until(() => sub.events.length >= n, `${n} SSE events`); return sub.events; },
    ended: () => until(() => sub.completed, "the SSE stream to complete"),
    close: async () => { abort.abort(); await reading; },
  });
}

