// GraphiQL works offline: the page and everything it loads come from this server under a policy that names
// no other origin; its subscriptions (Server-Sent Events over GET, with the CSRF header its options add) work;
// its tabs are README examples. Where Debian's Chromium is installed, a real browser loads it and runs a tab.
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import type { GraphiQLOptions } from "graphql-yoga";
import { createApp } from "../../src/yoga.ts";
import { startServer, type RunningServer } from "../../src/server.ts";
import { GRAPHIQL_ASSETS_PATH, GRAPHIQL_CSP } from "../../src/graphql/http-edge.ts";
import { createEventLog, type EventLog } from "../../src/infra/event-log.ts";
import type { Database } from "../../src/infra/db.ts";
import type { OfferChange } from "../../src/domain/catalog/types.ts";
import { openTestDatabase } from "../support/db.ts";
import { seedMarket } from "../support/market.ts";
import { liveSubscribers, writeChanges, writeNotifications } from "../support/events.ts";
import { until } from "../support/subscribe.ts";
import { relaxedRateLimiter } from "../support/app.ts";

type App = ReturnType<typeof createApp>;

let db: Database;
beforeAll(async () => {
  db = await openTestDatabase();
  await seedMarket(db.prisma, 8);
});
afterAll(async () => { await db?.close(); });

const getPage = (app: App) => app.fetch("http://localhost/graphql", { headers: { accept: "text/html" } });

/** What the page loads: <script src>, <link href>, and the workers start.js names (Monaco's editor, JSON and GraphQL workers). */
function pageAssets(html: string, startJs: string) {
  const scripts = [...html.matchAll(/<script\b[^>]*\bsrc="([^"]+)"/g)].map((m) => m[1]!);
  const styles = [...html.matchAll(/<link\b[^>]*rel="stylesheet"[^>]*href="([^"]+)"/g)].map((m) => m[1]!);
  const icons = [...html.matchAll(/<link\b[^>]*rel="icon"[^>]*href="([^"]+)"/g)].map((m) => m[1]!);
  const workers = [...startJs.matchAll(/"([\w-]+\.worker\.js)"/g)].map((m) => `${GRAPHIQL_ASSETS_PATH}${m[1]}`);
  return { scripts, styles, icons, workers };
}

/** The options the page hands to GraphiQL (its JSON data block). */
const pageOptions = (html: string): GraphiQLOptions => JSON.parse(/<script type="application\/json" id="graphiql-options">([\s\S]*?)<\/script>/.exec(html)![1]!) as GraphiQLOptions;

const directivesOf = (csp: string) => Object.fromEntries(csp.split(/;\s*/).map((d) => { const [name, ...sources] = d.split(" "); return [name!, sources]; }));

describe("the GraphiQL page (development)", () => {
  let app: App;
  let html: string;
  let csp: string;
  beforeAll(async () => {
    app = createApp({ db, development: true });
    const res = await getPage(app);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/html/);
    csp = res.headers.get("content-security-policy")!;
    html = await res.text();
  });

  it("loads nothing from another host and runs no inline script", () => {
    expect(html).not.toMatch(/\b(src|href)="(https?:)?\/\//);
    expect(html).not.toMatch(/unpkg|jsdelivr|cdn\./i);
    // Every <script> either has a src on this server or is the options' JSON data block (never executed).
    const scriptTags = [...html.matchAll(/<script\b([^>]*)>/g)].map((m) => m[1]!.trim());
    expect(scriptTags).toEqual([`type="application/json" id="graphiql-options"`, `src="${GRAPHIQL_ASSETS_PATH}start.js"`, `src="${GRAPHIQL_ASSETS_PATH}graphiql.js"`]);
  });

  it("has a policy that allows this server only, with no inline or eval'd script", () => {
    expect(csp).toBe(GRAPHIQL_CSP);
    const directives = directivesOf(csp);
    expect(directives["default-src"]).toEqual(["'none'"]);
    expect(directives["script-src"]).toEqual(["'self'"]);
    expect(directives["worker-src"]).toEqual(["'self'"]);
    expect(directives["connect-src"]).toEqual(["'self'"]);
    expect(directives["frame-ancestors"]).toEqual(["'none'"]);
    expect(csp).not.toMatch(/https?:|unsafe-eval|\*|blob:/);
  });

  it("serves every asset the page references, with its content type, allowed by the page's policy", async () => {
    const start = await app.fetch(`http://localhost${GRAPHIQL_ASSETS_PATH}start.js`);
    const { scripts, styles, icons, workers } = pageAssets(html, await start.text());
    expect([scripts.length, styles.length, icons.length, workers.length]).toEqual([2, 1, 1, 3]);
    const directives = directivesOf(csp);
    const kinds = [
      ...scripts.map((url) => ({ url, directive: "script-src", type: /^text\/javascript/ })),
      ...workers.map((url) => ({ url, directive: "worker-src", type: /^text\/javascript/ })),
      ...styles.map((url) => ({ url, directive: "style-src", type: /^text\/css/ })),
      ...icons.map((url) => ({ url, directive: "img-src", type: /^image\/x-icon$/ })),
    ];
    for (const { url, directive, type } of kinds) {
      // same origin as the page, which is exactly what 'self' allows
      expect(new URL(url, "http://localhost/graphql").origin, url).toBe("http://localhost");
      expect(directives[directive], `${directive} for ${url}`).toContain("'self'");
      const res = await app.fetch(`http://localhost${url}`);
      expect(res.status, url).toBe(200);
      expect(res.headers.get("content-type"), url).toMatch(type);
      expect(res.headers.get("x-content-type-options")).toBe("nosniff");
      expect((await res.arrayBuffer()).byteLength, url).toBeGreaterThan(100);
    }
  });

  it("has a stylesheet whose fonts and images are inlined (data:), not fetched", async () => {
    const css = await (await app.fetch(`http://localhost${GRAPHIQL_ASSETS_PATH}graphiql.css`)).text();
    const urls = [...css.matchAll(/url\(\s*["']?([^"')]+)/g)].map((m) => m[1]!);
    expect(urls.length).toBeGreaterThan(0);
    expect(urls.filter((u) => !u.startsWith("data:"))).toEqual([]);
    expect(css).not.toMatch(/@import/);
  });

  it("revalidates assets by ETag, reads them with GET or HEAD only, and answers 404 for unknown ones", async () => {
    const first = await app.fetch(`http://localhost${GRAPHIQL_ASSETS_PATH}graphiql.js`);
    const etag = first.headers.get("etag")!;
    expect(etag).toMatch(/^"[\w-]+"$/);
    expect(first.headers.get("cache-control")).toBe("no-cache");
    await first.arrayBuffer();
    const again = await app.fetch(`http://localhost${GRAPHIQL_ASSETS_PATH}graphiql.js`, { headers: { "if-none-match": etag } });
    expect([again.status, await again.text()]).toEqual([304, ""]);
    const head = await app.fetch(`http://localhost${GRAPHIQL_ASSETS_PATH}graphiql.css`, { method: "HEAD" });
    expect([head.status, head.headers.get("content-type")]).toEqual([200, "text/css; charset=utf-8"]);
    const post = await app.fetch(`http://localhost${GRAPHIQL_ASSETS_PATH}graphiql.js`, { method: "POST" });
    expect([post.status, post.headers.get("allow")]).toEqual([405, "GET, HEAD"]);
    const missing = await app.fetch(`http://localhost${GRAPHIQL_ASSETS_PATH}../../package.json`);
    expect(missing.status).toBe(404);
    const unknown = await app.fetch(`http://localhost${GRAPHIQL_ASSETS_PATH}secrets.js`);
    expect([unknown.status, (await unknown.json() as { errors: { extensions: { code: string } }[] }).errors[0]!.extensions.code]).toEqual([404, "NOT_FOUND"]);
  });

  it("opens with README examples as its tabs, verbatim", () => {
    const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
    const blocks = [...readme.matchAll(/^```graphql\n([\s\S]*?)^```$/gm)].map((m) => m[1]!);
    const tabs = pageOptions(html).defaultTabs ?? [];
    expect(tabs.length).toBeGreaterThanOrEqual(5);
    for (const tab of tabs) {
      expect(blocks, tab.query ?? "").toContain(tab.query);
      // a tab's headers are the ones its README block names on its `# Headers:` line
      const named = /^# Headers: (.*)$/m.exec(tab.query ?? "")?.[1];
      expect(tab.headers ?? undefined).toBe(named);
    }
    expect(tabs.map((t) => /^(query|mutation|subscription)/m.exec(t.query ?? "")?.[1])).toEqual(expect.arrayContaining(["query", "mutation", "subscription"]));
  });
});

describe("GraphiQL off", () => {
  it("in production neither the page nor its assets are served", async () => {
    const app = createApp({ db });
    expect((await getPage(app)).headers.get("content-type") ?? "").not.toMatch(/^text\/html/);
    expect((await app.fetch(`http://localhost${GRAPHIQL_ASSETS_PATH}graphiql.js`)).status).toBe(404);
  });
});

/** A price change of offer 1 (an H100 of the seeded market), as the catalog sync records it. */
async function h100Change(): Promise<OfferChange> {
  const offer = await db.prisma.gpuOffer.findFirstOrThrow({ where: { gpuModel: { name: "H100-SXM-80GB" } }, orderBy: { id: "asc" } });
  return {
    offerId: offer.id, providerId: offer.providerId, gpuModelId: offer.gpuModelId, kind: "changed", region: offer.region, gpuCount: offer.gpuCount,
    pricePerGpuHour: "1.0000", oldOnDemandPrice: offer.onDemandPrice.toFixed(4), newOnDemandPrice: (offer.gpuCount * 1).toFixed(4),
    oldSpotPrice: null, newSpotPrice: null, oldAvailability: "AVAILABLE", newAvailability: "AVAILABLE",
  };
}

describe("subscriptions the way the GraphiQL page runs them", () => {
  let events: EventLog;
  let app: App;
  let server: RunningServer;
  let options: GraphiQLOptions;
  beforeAll(async () => {
    events = createEventLog({ prisma: db.prisma });
    app = createApp({ db, development: true, events, rateLimiter: relaxedRateLimiter() });
    server = await startServer(app, { port: 0, host: "127.0.0.1" });
    options = pageOptions(await (await fetch(`http://127.0.0.1:${server.port}/graphql`, { headers: { accept: "text/html" } })).text());
  });
  afterAll(async () => {
    await server?.stop(0);
    await app?.dispose();
    await events?.close();
  });

  /**
   * GraphiQL's fetcher for a subscription under `subscriptionsProtocol: "SSE"`: GET on its endpoint with the
   * document, variables and (emptied) extensions in the query string, `accept: text/event-stream`, the page's
   * additionalHeaders and the Headers tab's.
   */
  function subscribeAsThePage(query: string, tabHeaders: Record<string, string> = {}, extraHeaders = options.additionalHeaders ?? {}) {
    const url = new URL(options.endpoint ?? "/graphql", `http://127.0.0.1:${server.port}`);
    url.searchParams.set("query", query);
    url.searchParams.set("extensions", "{}");
    const abort = new AbortController();
    const received = { status: 0, events: [] as unknown[], text: "" };
    const reading = (async () => {
      const res = await fetch(url, { signal: abort.signal, headers: { accept: "text/event-stream", ...extraHeaders, ...tabHeaders } });
      received.status = res.status;
      const decoder = new TextDecoder();
      for await (const chunk of res.body!) {
        received.text += decoder.decode(chunk as Uint8Array, { stream: true });
        received.events = [...received.text.matchAll(/event: next\ndata: (.*)\n/g)].map((m) => JSON.parse(m[1]!));
      }
    })().catch((err: Error) => { if (err.name !== "AbortError") throw err; });
    return Object.assign(received, { close: async () => { abort.abort(); await reading; } });
  }

  it("uses Server-Sent Events on this server's endpoint and adds the CSRF header", () => {
    expect(options.subscriptionsProtocol).toBe("SSE");
    expect(options.endpoint).toBe("/graphql");
    expect(options.additionalHeaders).toEqual({ "x-graphql-csrf": "1" });
  });

  it("a public subscription from a tab receives ticks; without the page's CSRF header the same GET is refused", async () => {
    const tab = options.defaultTabs!.find((t) => t.query?.startsWith("subscription"))!;
    const refused = subscribeAsThePage(tab.query!, {}, {});
    await until(() => refused.events.length > 0, "the refusal");
    expect(refused.status).toBe(403);
    expect(refused.events).toEqual([{ errors: [expect.objectContaining({ extensions: { code: "CSRF_HEADER_REQUIRED" } })] }]);
    await refused.close();

    const sub = subscribeAsThePage(tab.query!);
    try {
      await liveSubscribers(events, "market", 1);
      await writeChanges(db.prisma, events, [await h100Change()], new Date());
      await until(() => sub.events.length >= 1, "a tick in GraphiQL's stream");
      expect(sub.status).toBe(200);
      expect(sub.events[0]).toMatchObject({ data: { priceTicks: { newOnDemandPrice: expect.any(String), cursor: expect.any(String) } } });
    } finally {
      await sub.close();
    }
    await liveSubscribers(events, "market", 0);
  });

  it("a signed-in subscription carries the Headers tab's Authorization", async () => {
    const registered = await fetch(`http://127.0.0.1:${server.port}/graphql`, {
      method: "POST", headers: { "content-type": "application/json", ...options.additionalHeaders },
      body: JSON.stringify({ query: `mutation { register(email: "grace@example.com", password: "a long and lovely passphrase", name: "Grace") { accessToken user { id } } }` }),
    });
    const { accessToken } = (await registered.json() as { data: { register: { accessToken: string } } }).data.register;
    const grace = await db.prisma.user.findUniqueOrThrow({ where: { email: "grace@example.com" } });
    const sub = subscribeAsThePage("subscription MyNotifications { notifications { id title } }", { authorization: `Bearer ${accessToken}` });
    try {
      await liveSubscribers(events, "notification", 1);
      await writeNotifications(db.prisma, events, [{ id: 7, userId: grace.id, alertId: null, kind: "PRICE_ALERT", title: "H100 under $1", body: "", data: {}, createdAt: new Date().toISOString() }]);
      await until(() => sub.events.length >= 1, "Grace's notification");
      expect(sub.events[0]).toMatchObject({ data: { notifications: { title: "H100 under $1" } } });
    } finally {
      await sub.close();
    }
  });
});

// A real browser, with no network but this server's: the page renders, loads only same-origin (and data:) URLs,
// violates no policy, and a subscription tab shows a tick. Runs where Debian's chromium is installed.
const CHROMIUM = "/usr/bin/chromium";
describe.skipIf(!existsSync(CHROMIUM))("GraphiQL in headless Chromium", () => {
  let events: EventLog;
  let app: App;
  let server: RunningServer;
  let browser: Awaited<ReturnType<typeof openBrowser>>;
  beforeAll(async () => {
    events = createEventLog({ prisma: db.prisma });
    app = createApp({ db, development: true, events, rateLimiter: relaxedRateLimiter() });
    server = await startServer(app, { port: 0, host: "127.0.0.1" });
    browser = await openBrowser();
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await server?.stop(0);
    await app?.dispose();
    await events?.close();
  });

  it("renders from this server alone and streams a tick into the FollowTicks tab", async () => {
    const origin = `http://127.0.0.1:${server.port}`;
    await browser.goto(`${origin}/graphql`);
    await until(async () => (await browser.evaluate("document.querySelectorAll('.graphiql-tab-button').length")) as number > 0 && (await browser.evaluate("document.querySelectorAll('.monaco-editor').length")) as number > 0, "GraphiQL to render", 30_000);
    const tabs = await browser.evaluate("[...document.querySelectorAll('.graphiql-tab-button')].map((b) => b.textContent.trim())") as string[];
    expect(tabs).toEqual(expect.arrayContaining(["CheapH100Boxes", "FollowTicks", "Register", "Me"]));
    // the schema arrived (introspection over POST with the page's headers)
    await until(() => browser.requests.some((r) => r.method === "POST" && r.status === 200), "introspection");

    expect(await browser.evaluate("(() => { const b = [...document.querySelectorAll('.graphiql-tab-button')].find((b) => b.textContent.trim() === 'FollowTicks'); b.click(); return true; })()")).toBe(true);
    await until(async () => String(await browser.evaluate("document.querySelector('.graphiql-query-editor')?.innerText ?? ''")).includes("FollowTicks"), "the FollowTicks tab");
    // Run it (clicked again until GraphiQL, still settling on the tab, sends the subscription)
    const subscribing = () => browser.requests.some((r) => r.url.includes("/graphql?query=subscription"));
    await until(async () => {
      if (!subscribing()) await browser.evaluate("document.querySelector('.graphiql-execute-button').click()");
      await new Promise((r) => setTimeout(r, 500));
      return subscribing();
    }, "GraphiQL to subscribe", 30_000);
    await liveSubscribers(events, "market", 1, 30_000);
    await writeChanges(db.prisma, events, [await h100Change()], new Date());
    await until(async () => String(await browser.evaluate("document.querySelector('.result-window')?.innerText ?? ''")).includes("priceTicks"), "the tick in the result pane", 30_000);

    const subscription = browser.requests.find((r) => r.url.includes("/graphql?query=subscription"))!;
    expect(subscription).toMatchObject({ method: "GET", status: 200 });
    expect(subscription.headers).toMatchObject({ accept: "text/event-stream", "x-graphql-csrf": "1" });
    const elsewhere = browser.requests.filter((r) => !r.url.startsWith(`${origin}/`) && !r.url.startsWith("data:") && !r.url.startsWith("blob:"));
    expect(elsewhere.map((r) => r.url)).toEqual([]);
    expect(browser.requests.filter((r) => r.failed && !r.url.includes("/graphql?query=subscription")).map((r) => `${r.url} ${r.failed}`)).toEqual([]);
    // Monaco's three workers started from this server
    expect(new Set(browser.workers)).toEqual(new Set(["editor.worker.js", "json.worker.js", "graphql.worker.js"].map((w) => `${origin}${GRAPHIQL_ASSETS_PATH}${w}`)));
    expect(browser.problems.filter((p) => /Content Security Policy|Refused|exception/i.test(p))).toEqual([]);
  }, 120_000);
});

/** Headless Chromium driven over the DevTools protocol: one page, its requests, workers, console and policy messages. */
async function openBrowser() {
  const profile = mkdtempSync(join(tmpdir(), "graphiql-chromium-"));
  // the flags the machine's notes give for a closed network (no background connections, no component updates)
  const chrome = spawn(CHROMIUM, ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", `--user-data-dir=${profile}`, "--remote-debugging-port=0", "about:blank"], { stdio: ["ignore", "ignore", "pipe"], detached: true });
  const endpoint = await new Promise<string>((resolve, reject) => {
    let err = "";
    chrome.stderr!.on("data", (d) => { err += d; const m = /DevTools listening on (ws:\S+)/.exec(err); if (m) resolve(m[1]!); });
    chrome.once("exit", (code) => reject(new Error(`chromium exited ${code}: ${err}`)));
  });
  const socket = new WebSocket(endpoint);
  await new Promise((resolve) => socket.once("open", resolve));
  let nextId = 0;
  const pending = new Map<number, (message: any) => void>();
  const requests: { id: string; url: string; method: string; headers: Record<string, string>; status?: number; failed?: string }[] = [];
  const workers: string[] = [];
  const problems: string[] = [];
  const send = (method: string, params: object = {}, sessionId?: string) => new Promise<any>((resolve) => {
    const id = ++nextId;
    pending.set(id, resolve);
    socket.send(JSON.stringify({ id, method, params, sessionId }));
  });
  socket.on("message", (raw) => {
    const message = JSON.parse(String(raw));
    if (message.id) { pending.get(message.id)?.(message); pending.delete(message.id); return; }
    const p = message.params;
    if (message.method === "Network.requestWillBeSent") requests.push({ id: p.requestId, url: p.request.url, method: p.request.method, headers: Object.fromEntries(Object.entries(p.request.headers as Record<string, string>).map(([k, v]) => [k.toLowerCase(), v])) });
    if (message.method === "Network.responseReceived") { const r = requests.find((x) => x.id === p.requestId); if (r) r.status = p.response.status; }
    if (message.method === "Network.loadingFailed") { const r = requests.find((x) => x.id === p.requestId); if (r) r.failed = `${p.errorText} ${p.blockedReason ?? ""}`; }
    if (message.method === "Log.entryAdded") problems.push(`${p.entry.level}: ${p.entry.text}`);
    if (message.method === "Runtime.exceptionThrown") problems.push(`exception: ${p.exceptionDetails.exception?.description ?? p.exceptionDetails.text}`);
    if (message.method === "Target.attachedToTarget") {
      if (p.targetInfo.type === "worker") workers.push(p.targetInfo.url);
      const worker = p.sessionId as string;
      void Promise.all(["Runtime.enable", "Log.enable"].map((m) => send(m, {}, worker))).then(() => send("Runtime.runIfWaitingForDebugger", {}, worker));
    }
  });
  const { result: { targetId } } = await send("Target.createTarget", { url: "about:blank" });
  const { result: { sessionId } } = await send("Target.attachToTarget", { targetId, flatten: true });
  for (const method of ["Network.enable", "Runtime.enable", "Log.enable", "Page.enable"]) await send(method, {}, sessionId);
  await send("Target.setAutoAttach", { autoAttach: true, waitForDebuggerOnStart: false, flatten: true }, sessionId);
  return {
    requests, workers, problems,
    goto: (url: string) => send("Page.navigate", { url }, sessionId),
    evaluate: async (expression: string): Promise<unknown> => (await send("Runtime.evaluate", { expression, returnByValue: true, awaitPromise: true }, sessionId)).result?.result?.value,
    close: async () => {
      if (chrome.exitCode === null) {
        const exited = new Promise((resolve) => chrome.once("exit", resolve));
        await Promise.race([send("Browser.close"), new Promise((r) => setTimeout(r, 5_000))]);
        await exited;
      }
      socket.close();
      // its helper processes (its own process group) may outlive it for a moment, writing to the profile
      try { process.kill(-chrome.pid!, "SIGKILL"); } catch { /* all gone */ }
      rmSync(profile, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
    },
  };
}
