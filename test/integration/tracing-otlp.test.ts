// Tracing as an operator turns it on: `src/main.ts` with OTEL_EXPORTER_OTLP_ENDPOINT pointing at a
// local OTLP/HTTP receiver (POST /v1/traces, the JSON encoding the exporter sends). A request with a
// traceparent arrives as one trace — the caller's — whose spans reach the receiver by SIGTERM at the
// latest (the batch is flushed on shutdown). Without the variable nothing is sent.
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, request } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startMain } from "../support/main-process.ts";

const TRACE_ID = "0af7651916cd43dd8448eb211c80319c";
const PARENT_ID = "b7ad6b7169203331";

interface OtlpSpan { traceId: string; spanId: string; parentSpanId?: string; name: string; kind: number; startTimeUnixNano: string | number; endTimeUnixNano: string | number }
interface OtlpBody { resourceSpans: { resource: { attributes: { key: string; value: { stringValue?: string } }[] }; scopeSpans: { scope: { name: string }; spans: OtlpSpan[] }[] }[] }

const received: OtlpBody[] = [];
const contentTypes: string[] = [];
let receiverPort = 0;
const receiver = createServer((req, res) => {
  let body = "";
  req.on("data", (c) => { body += c; });
  req.on("end", () => {
    if (req.method === "POST" && req.url === "/v1/traces") { contentTypes.push(String(req.headers["content-type"])); received.push(JSON.parse(body) as OtlpBody); }
    res.writeHead(200, { "content-type": "application/json" }).end("{}");
  });
});
const dirs: string[] = [];

beforeAll(async () => {
  receiver.listen(0, "127.0.0.1");
  await once(receiver, "listening");
  receiverPort = (receiver.address() as AddressInfo).port;
});
afterAll(() => {
  receiver.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function start(env: Record<string, string>) {
  const dataDir = mkdtempSync(join(tmpdir(), "gpubroker-otlp-"));
  dirs.push(dataDir);
  return startMain(dataDir, { SEED_SNAPSHOT: "true", INGESTION: "false", ...env });
}

function post(url: string, body: unknown, headers: Record<string, string>) {
  return new Promise<number>((resolve, reject) => {
    const req = request(url, { method: "POST", headers: { "content-type": "application/json", ...headers } }, (res) => { res.resume(); res.on("end", () => resolve(res.statusCode!)); });
    req.on("error", reject);
    req.end(JSON.stringify(body));
  });
}

const spans = () => received.flatMap((b) => b.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans.map((span) => ({ ...span, scope: s.scope.name, service: r.resource.attributes.find((a) => a.key === "service.name")?.value.stringValue })))));

/** The trace as an indented tree of span names, for the README. */
function tree(all: ReturnType<typeof spans>): string {
  const lines: string[] = [];
  const walk = (parent: string | undefined, depth: number) => {
    for (const s of all.filter((x) => (x.parentSpanId || undefined) === parent)) {
      const ms = (Number(BigInt(s.endTimeUnixNano) - BigInt(s.startTimeUnixNano)) / 1e6).toFixed(2);
      lines.push(`${"  ".repeat(depth)}${s.name} (${s.scope}) ${ms} ms`);
      walk(s.spanId, depth + 1);
    }
  };
  walk(PARENT_ID, 0);
  return lines.join("\n");
}

describe("OTLP export from src/main.ts", () => {
  it("exports the caller's trace of an offers request to OTEL_EXPORTER_OTLP_ENDPOINT", async () => {
    const node = start({ OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${receiverPort}`, OTEL_SERVICE_NAME: "gpubroker-test" });
    const url = await node.ready;
    const status = await post(url, { query: "query CheapH100 { offers(first: 3, filter: { gpuModels: [\"H100\"] }) { totalCount edges { node { provider { name } pricePerGpuHour } } } }" }, { traceparent: `00-${TRACE_ID}-${PARENT_ID}-01` });
    expect(status).toBe(200);
    node.child.kill("SIGTERM");
    expect(await node.exited).toBe(0);
    const mine = spans().filter((s) => s.traceId === TRACE_ID);
    expect(mine.length).toBeGreaterThan(3);
    expect(contentTypes[0]).toMatch(/application\/json/);
    expect(mine.every((s) => s.service === "gpubroker-test")).toBe(true);
    const server = mine.find((s) => s.kind === 2)!; // SERVER
    expect(server.parentSpanId).toBe(PARENT_ID);
    const names = mine.map((s) => s.name);
    expect(names).toEqual(expect.arrayContaining(["query.CheapH100", "graphql.resolve", "prisma:client:operation"]));
    console.log(`one offers request, as exported:\n${tree(mine)}`);
  });

  it("sends nothing without OTEL_EXPORTER_OTLP_ENDPOINT", async () => {
    const before = received.length;
    const node = start({});
    const url = await node.ready;
    expect(await post(url, { query: "{ providers { slug } }" }, { traceparent: `00-${TRACE_ID}-${PARENT_ID}-01` })).toBe(200);
    node.child.kill("SIGTERM");
    expect(await node.exited).toBe(0);
    expect(received.length).toBe(before);
  });
});
