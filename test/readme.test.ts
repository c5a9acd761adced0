// Every example in the README runs as a reader runs it, against a live server (embedded or PostgreSQL
// database seeded with the catalog snapshot): each ```graphql block is one operation, sent with the headers
// its `# Headers:` line names and the `Variables:` block after it (`<login.accessToken>` = what an earlier
// example returned), in README order; each curl command runs verbatim in a shell, only host and port changed.
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Kind, parse, validate, type OperationDefinitionNode } from "graphql";
import { schema } from "../src/graphql/index.ts";
import { createApp } from "../src/yoga.ts";
import { createSecretSealer } from "../src/infra/secret-sealer.ts";
import { createAccountChecker } from "../src/ingestion/account-checks.ts";
import { startServer, type RunningServer } from "../src/server.ts";
import { createEventLog, type EventLog, type EventStreamName } from "../src/infra/event-log.ts";
import { seedFromSnapshot } from "../src/ingestion/snapshot.ts";
import type { Database } from "../src/infra/db.ts";
import { openTestDatabase } from "./support/db.ts";
import { liveSubscribers, writeChanges, writeNotifications } from "./support/events.ts";
import { subscribeSse, until } from "./support/subscribe.ts";

const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");

interface Example {
  /** The block as written, pasted into GraphiQL's editor. */
  document: string;
  operation: OperationDefinitionNode;
  /** From the `# Headers: {…}` line: what goes in GraphiQL's Headers tab. */
  headers: Record<string, string>;
  /** From a ```json block right after it, introduced by one line "Variables…:". */
  variables: Record<string, unknown> | undefined;
  /** From a `# expect: CODE` line: the example shows this error on purpose. */
  expectedCode: string | undefined;
  line: number;
}

const fences = [...readme.matchAll(/^```(\w*)\n([\s\S]*?)^```$/gm)].map((m) => ({
  lang: m[1]!, body: m[2]!, start: m.index, end: m.index + m[0].length, line: readme.slice(0, m.index).split("\n").length,
}));

const examples: Example[] = fences.flatMap((fence, i) => {
  if (fence.lang !== "graphql") return [];
  const next = fences[i + 1];
  const between = next ? readme.slice(fence.end, next.start).trim() : "";
  const variables = next?.lang === "json" && /^Variables\b[^\n]*:$/.test(between) ? JSON.parse(next.body) as Record<string, unknown> : undefined;
  const headerLine = /^# Headers: (.*)$/m.exec(fence.body)?.[1];
  const document = parse(fence.body);
  const operations = document.definitions.filter((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION);
  return [{
    document: fence.body, operation: operations.length === 1 ? operations[0]! : ({ operations: operations.length } as never),
    headers: headerLine ? JSON.parse(headerLine) as Record<string, string> : {},
    variables, expectedCode: /^# expect: (\w+)$/m.exec(fence.body)?.[1], line: fence.line,
  }];
});

/** curl commands: whole ```sh blocks that call curl, and inline `curl …` spans in the text. */
const curlExamples = [
  ...fences.filter((f) => f.lang === "sh" && /^\s*(\S+=\$\()?curl /m.test(f.body)).map((f) => ({ script: f.body, line: f.line })),
  ...[...readme.matchAll(/`(curl [^`]+)`/g)].map((m) => ({ script: m[1]!, line: readme.slice(0, m.index).split("\n").length })),
];

const title = (e: Example) => `line ${e.line}: ${e.operation.operation ?? "?"} ${e.operation.name?.value ?? "(anonymous)"}`;

describe("README examples, as written", () => {
  it("has examples", () => {
    expect(examples.length).toBeGreaterThanOrEqual(38);
    expect(curlExamples.length).toBeGreaterThanOrEqual(3);
  });

  it.each(examples.map((e) => [title(e), e] as const))("%s is one named operation, valid against the schema", (_title, e) => {
    // More than one operation in a block fails when pasted whole (GraphiQL and curl would need operationName).
    expect(e.operation.kind, "one operation per block").toBe(Kind.OPERATION_DEFINITION);
    expect(e.operation.name?.value, "named, so GraphiQL's tab and the server's logs say what it is").toBeTruthy();
    expect(validate(schema, parse(e.document)).map((err) => err.message)).toEqual([]);
    const declared = (e.operation.variableDefinitions ?? []).filter((v) => v.type.kind === Kind.NON_NULL_TYPE && !v.defaultValue).map((v) => v.variable.name.value);
    expect(Object.keys(e.variables ?? {}), "every required variable is shown").toEqual(expect.arrayContaining(declared));
  });
});

describe("README examples against a live server", () => {
  let db: Database;
  let events: EventLog;
  let app: ReturnType<typeof createApp>;
  let server: RunningServer;
  /** Each example's data by root field, for the `<field.path>` placeholders of later ones. */
  const returned: Record<string, unknown> = {};

  beforeAll(async () => {
    db = await openTestDatabase();
    await seedFromSnapshot(db.prisma);
    events = createEventLog({ prisma: db.prisma });
    app = createApp({ db, development: true, events, integrations: { sealer: createSecretSealer({ ephemeral: true }), accountChecker: createAccountChecker({ env: {} }) } });
    server = await startServer(app, { port: 0, host: "127.0.0.1" });
  }, 180_000);
  afterAll(async () => {
    await server?.stop(0);
    await app?.dispose();
    await events?.close();
    await db?.close();
  });

  /** "<login.accessToken>" → the accessToken Login returned; a placeholder nothing returned yet fails the example. */
  const fill = <T>(value: T): T => JSON.parse(JSON.stringify(value ?? null).replace(/<([A-Za-z]+(?:\.[A-Za-z]+)+)>/g, (_m, path: string) => {
    const found = path.split(".").reduce<unknown>((at, key) => (at as Record<string, unknown> | undefined)?.[key], returned);
    if (typeof found !== "string") throw new Error(`<${path}> names nothing an earlier example returned`);
    return found;
  })) as T;

  /** Makes the subscription's field emit: a price change matching the README's filters, or a notification for Ada. */
  async function provoke(field: string): Promise<void> {
    const stream: EventStreamName | null = field === "priceTicks" || field === "offerAvailabilityChanged" ? "market" : field === "notifications" ? "notification" : null;
    if (!stream) return; // chatMessageEvents replays the answer from its start
    await liveSubscribers(events, stream, 1);
    if (stream === "market") {
      // An H100 (SXM) in us-east-1 falls 20 % to $2 per GPU-hour; a RunPod offer becomes available.
      const h100 = await db.prisma.gpuOffer.findFirstOrThrow({ where: { region: "us-east-1", gpuModel: { name: "H100-SXM-80GB" } }, orderBy: { id: "asc" } });
      const runpod = await db.prisma.gpuOffer.findFirstOrThrow({ where: { provider: { slug: "runpod" } }, orderBy: { id: "asc" } });
      const price = (perGpu: number, gpus: number) => (perGpu * gpus).toFixed(4);
      await writeChanges(db.prisma, events, [
        { offerId: h100.id, providerId: h100.providerId, gpuModelId: h100.gpuModelId, kind: "changed", region: h100.region, gpuCount: h100.gpuCount,
          pricePerGpuHour: "2.0000", oldOnDemandPrice: price(2.5, h100.gpuCount), newOnDemandPrice: price(2, h100.gpuCount), oldSpotPrice: null, newSpotPrice: null,
          oldAvailability: "AVAILABLE", newAvailability: "AVAILABLE" },
        { offerId: runpod.id, providerId: runpod.providerId, gpuModelId: runpod.gpuModelId, kind: "changed", region: runpod.region, gpuCount: runpod.gpuCount,
          pricePerGpuHour: runpod.pricePerGpuHour.toFixed(4), oldOnDemandPrice: runpod.onDemandPrice.toFixed(4), newOnDemandPrice: runpod.onDemandPrice.toFixed(4),
          oldSpotPrice: null, newSpotPrice: null, oldAvailability: "UNAVAILABLE", newAvailability: "AVAILABLE" },
      ], new Date());
    } else {
      const ada = await db.prisma.user.findUniqueOrThrow({ where: { email: "ada@example.com" } });
      await writeNotifications(db.prisma, events, [{
        id: 1, userId: ada.id, alertId: null, kind: "PRICE_ALERT", title: "Cheap H100 in the US", body: "H100 at $2.00 per GPU-hour", data: {}, createdAt: new Date().toISOString(),
      }]);
    }
  }

  // In README order: later examples use what earlier ones returned (tokens, ids) and changed (the password).
  it.each(examples.map((e) => [title(e), e] as const))("%s runs as pasted", async (_title, e) => {
    const headers = fill(e.headers);
    const variables = fill(e.variables);
    if (e.operation.operation === "subscription") {
      // GraphiQL's way: Server-Sent Events (see test/integration/graphiql.test.ts for its GET with the CSRF header)
      const sub = subscribeSse(server, e.document, variables ?? {}, headers);
      try {
        await provoke(fieldOf(e.operation));
        const [first] = await sub.take(1);
        expect(first.errors).toBeUndefined();
        expect(first.data?.[fieldOf(e.operation)]).toBeTruthy();
      } finally {
        await sub.close();
      }
      // gone from the server too, so the next example's provoke() waits for its own subscriber
      for (const stream of ["market", "notification"] as const) await liveSubscribers(events, stream, 0);
      return;
    }
    const res = await fetch(server.url.replace("localhost", "127.0.0.1"), {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/graphql-response+json", ...headers },
      body: JSON.stringify({ query: e.document, variables }),
    });
    const body = await res.json() as { data?: Record<string, unknown> | null; errors?: { message: string; extensions?: { code?: string } }[] };
    if (e.expectedCode) {
      expect(body.errors?.map((err) => err.extensions?.code)).toEqual([e.expectedCode]);
      return;
    }
    expect(body.errors, JSON.stringify(body.errors)).toBeUndefined();
    expect(res.status).toBe(200);
    expect(body.data).toBeTruthy();
    Object.assign(returned, body.data);
  }, 60_000);

  it.each(curlExamples.map((c) => [`line ${c.line}: ${c.script.split("\n").find((l) => l.includes("curl"))!.trim().slice(0, 70)}`, c] as const))("%s works verbatim", async (_title, c) => {
    const script = c.script.replaceAll("localhost:4000", `127.0.0.1:${server.port}`);
    // A stream (curl -N) runs until stopped: it passes with its first event; for priceTicks one is provoked once it is live.
    const streams = /curl -N/.test(script);
    const run = shell(script);
    const provoking = /priceTicks/.test(script) ? provoke("priceTicks") : Promise.resolve();
    try {
      await until(() => run.done() || (streams && run.stdout().includes("event: next")), streams ? "an event from the stream" : "curl to finish", 30_000);
      await provoking;
      const out = run.stdout();
      expect(run.stderr()).not.toMatch(/curl: \(\d+\)|jq: error|command not found/);
      expect(out).toContain('"data"');
      expect(out).not.toContain('"errors"');
      if (!streams) expect(JSON.parse(out).data).toBeTruthy();
    } finally {
      run.stop();
    }
  }, 60_000);
});

const fieldOf = (operation: OperationDefinitionNode) => {
  const selection = operation.selectionSet.selections[0]!;
  return selection.kind === Kind.FIELD ? selection.name.value : "";
};

/** `sh -c script`, in a process group of its own so stop() ends curl too. */
function shell(script: string) {
  const child = spawn("sh", ["-c", script], { detached: true, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  let exited = false;
  child.stdout.on("data", (d) => { stdout += d; });
  child.stderr.on("data", (d) => { stderr += d; });
  child.on("exit", () => { exited = true; });
  return {
    stdout: () => stdout, stderr: () => stderr, done: () => exited,
    stop: () => { if (!exited) try { process.kill(-child.pid!, "SIGTERM"); } catch { /* already gone */ } },
  };
}
