// The HTTP edge as Yoga plugins: what a request must look like before GraphQL sees it (Host, GET
// parameters; the body size is Yoga's maxRequestBodySize), what every answer carries (security
// headers, CORS for listed origins only), readiness without internals, introspection off, and
// persisted operations. server.ts applies the same policy to WebSocket upgrades and messages.
import { createHash } from "node:crypto";
import { IncomingMessage } from "node:http";
import { isIP } from "node:net";
import { getNamedType, GraphQLError, isIntrospectionType, type ValidationRule } from "graphql";
import { createGraphQLError, useReadinessCheck, type FetchAPI, type GraphiQLOptions, type Plugin, type YogaServerInstance } from "graphql-yoga";
import { usePersistedOperations } from "@graphql-yoga/plugin-persisted-operations";
import type { Logger } from "pino";
import { clientIp, CSRF_HEADERS, type RequestSource } from "./limits.ts";
import { METRICS_PATH } from "./metrics.ts";

/** 1 MiB: the largest honest document is a few kB (see QUERY_LIMITS.maxTokens); variables add little more. */
export const DEFAULT_MAX_BODY_BYTES = 1_048_576;

/** JSON answers load nothing and render nowhere. */
export const API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";
export const HSTS = "max-age=31536000; includeSubDomains";

export interface EdgeOptions {
  development: boolean;
  /** Requests and WebSocket messages larger than this get 413 (HTTP) or close 1009 (WebSocket). */
  maxBodyBytes: number;
  /** Browser origins allowed to call with credentials (exact `scheme://host[:port]`); unset: localhost origins in development, none in production. */
  corsOrigins?: readonly string[] | undefined;
  /** Host names (optionally `name:port`) this server answers for; unset: any. /health, /ready and /metrics answer any Host (probes and scrapers use the pod address). */
  allowedHosts?: readonly string[] | undefined;
  /** `__schema` / `__type` queries; `__typename` always works. */
  introspection: boolean;
  /** Persisted operations: sha256 hash → document. When set, only these run (HTTP and WebSocket). */
  persistedOperations?: Readonly<Record<string, string>> | undefined;
  trustProxy: boolean | number;
  /** Components /ready reports; each must answer within READINESS_TIMEOUT_MS. */
  readiness: Readonly<Record<string, () => Promise<unknown>>>;
  log: Logger;
}

/** What server.ts needs from the same policy for WebSocket upgrades and messages. */
export interface EdgePolicy {
  maxBodyBytes: number;
  hostAllowed(host: string | null | undefined): boolean;
  originAllowed(origin: string, host: string | null | undefined): boolean;
  /** The document a WebSocket operation runs, or the error that refuses it; identity without persisted operations. */
  persistedOperation(params: { query?: string | undefined; extensions?: Record<string, unknown> | null | undefined }): { query: string } | GraphQLError;
}

const policies = new WeakMap<object, EdgePolicy>();
/** The edge policy createApp built this Yoga instance with (defaults when the instance was built otherwise). */
export function edgePolicyOf(yoga: YogaServerInstance<any, any>): EdgePolicy {
  return policies.get(yoga) ?? createEdgePolicy({ maxBodyBytes: DEFAULT_MAX_BODY_BYTES, development: false });
}
export function registerEdgePolicy(yoga: YogaServerInstance<any, any>, policy: EdgePolicy): void {
  policies.set(yoga, policy);
}

/** Over HTTP Yoga turns extensions.http into the status line and strips it; WebSocket errors get the code only. */
const edgeError = (message: string, code: string, status?: number) =>
  new GraphQLError(message, { extensions: { code, ...(status ? { http: { status } } : {}) } });

export function createEdgePolicy(opts: Pick<EdgeOptions, "maxBodyBytes" | "development" | "corsOrigins" | "allowedHosts" | "persistedOperations">): EdgePolicy {
  const listed = new Set((opts.corsOrigins ?? []).map(normalOrigin));
  const localhostDefault = opts.corsOrigins === undefined && opts.development;
  const hosts = opts.allowedHosts?.length ? opts.allowedHosts.map((h) => h.toLowerCase()) : null;
  const persisted = opts.persistedOperations;
  return {
    maxBodyBytes: opts.maxBodyBytes,
    hostAllowed(host) {
      if (!hosts) return true;
      if (!host) return false;
      const name = hostName(host.toLowerCase());
      return hosts.some((h) => h === host.toLowerCase() || h === name);
    },
    originAllowed(origin, host) {
      if (listed.has(normalOrigin(origin))) return true;
      let url: URL;
      try { url = new URL(origin); } catch { return false; }
      if (host && url.host === host.toLowerCase()) return true; // same origin as the page GraphiQL was served from
      return localhostDefault && (url.protocol === "http:" || url.protocol === "https:") && isLoopbackHost(url.hostname);
    },
    persistedOperation(params) {
      if (!persisted) return params.query != null ? { query: params.query } : edgeError("Must provide query string.", "BAD_REQUEST");
      if (params.query) return persistedErrors.only();
      const pq = (params.extensions as { persistedQuery?: { version?: unknown; sha256Hash?: unknown } } | undefined)?.persistedQuery;
      const hash = pq?.version === 1 && typeof pq.sha256Hash === "string" ? pq.sha256Hash : null;
      if (!hash) return persistedErrors.idRequired();
      const query = Object.hasOwn(persisted, hash) ? persisted[hash] : undefined;
      return query ? { query } : persistedErrors.notFound();
    },
  };
}

const persistedErrors = {
  only: (status?: number) => edgeError("Only persisted operations run on this server: send extensions.persistedQuery { version: 1, sha256Hash } instead of a query.", "PERSISTED_QUERY_ONLY", status),
  idRequired: (status?: number) => edgeError("Send extensions.persistedQuery { version: 1, sha256Hash } naming a persisted operation.", "PERSISTED_QUERY_ID_REQUIRED", status),
  notFound: (status?: number) => edgeError("No persisted operation has this hash.", "PERSISTED_QUERY_NOT_FOUND", status),
};

/** "HTTPS://App.example.com/" → "https://app.example.com"; anything unparsable stays as written (and matches nothing real). */
function normalOrigin(origin: string): string {
  try { return new URL(origin).origin; } catch { return origin; }
}

/** "example.com:443" → "example.com", "[::1]:4000" → "::1". */
function hostName(host: string): string {
  if (host.startsWith("[")) return host.slice(1, host.indexOf("]"));
  const colon = host.lastIndexOf(":");
  return colon > 0 && host.indexOf(":") === colon ? host.slice(0, colon) : host;
}

function isLoopbackHost(hostname: string): boolean {
  const name = hostname.replace(/^\[|\]$/g, "");
  return name === "localhost" || name.endsWith(".localhost") || isLoopbackIp(name);
}

export function isLoopbackIp(ip: string | null | undefined): boolean {
  if (!ip) return false;
  if (isIP(ip) === 4) return ip.startsWith("127.");
  return ip === "::1" || (ip.startsWith("::ffff:") && isIP(ip.slice(7)) === 4 && ip.slice(7).startsWith("127."));
}

// ---------------------------------------------------------------- request body limit

const bodyTooLarge = () => createGraphQLError("Request body too large", { extensions: { http: { status: 413 }, code: "REQUEST_ENTITY_TOO_LARGE" } });
const badContentLength = () => createGraphQLError("Content-Length header is invalid.", { extensions: { http: { status: 400 }, code: "BAD_REQUEST" } });
const CONTENT_LENGTH = /^\d+$/;

/**
 * Yoga's maxRequestBodySize, minus its cost where it cannot fire: a declared Content-Length over the limit (or not one
 * non-negative integer) is refused before the body is read, with Yoga's errors; a body Node's HTTP parser frames by a
 * valid Content-Length cannot be longer than declared, so it is read as it is. Every other body (chunked, or handed
 * to yoga.fetch in-process) is counted while it is read and cut off past the limit, as Yoga does, which costs a
 * TransformStream, a pipeline and a second Request per request. createApp sets Yoga's own limit to false and adds this
 * last, where Yoga runs its own: after every other plugin's onRequestParse (rate limits and CSRF answer first).
 */
export function useRequestBodyLimit(limit: number): Plugin {
  return {
    onRequestParse({ request, requestParser, setRequestParser, fetchAPI, serverContext }) {
      const declared = request.headers.get("content-length");
      if (declared != null) {
        if (!CONTENT_LENGTH.test(declared)) throw badContentLength();
        if (Number(declared) > limit) throw bodyTooLarge();
        const req = (serverContext as { req?: unknown }).req;
        if (req instanceof IncomingMessage && req.headers["content-length"] === declared && req.headers["transfer-encoding"] === undefined) return;
      }
      if (requestParser == null || request.body == null) return;
      setRequestParser((req) => requestParser(limitedBody(req, limit, fetchAPI)));
    },
  };
}

/** graphql-yoga's limitRequestBodySize (5.24, not exported): the body through a TransformStream that errors past `limit` bytes. */
function limitedBody(request: Request, limit: number, fetchAPI: FetchAPI): Request {
  const body = request.body;
  if (!body) return request;
  // A native ReadableStream needs the native TransformStream (graphql-yoga issue 4583).
  const Transform = (body instanceof ReadableStream ? globalThis.TransformStream : fetchAPI.TransformStream) as typeof TransformStream;
  let bytesRead = 0;
  const limited = body.pipeThrough(new Transform<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      bytesRead += chunk.byteLength;
      if (bytesRead > limit) {
        controller.error(bodyTooLarge());
        return;
      }
      controller.enqueue(chunk);
    },
  }));
  return new fetchAPI.Request(request.url, {
    method: request.method, headers: request.headers, signal: request.signal, body: limited, duplex: "half",
  } as RequestInit);
}

/** Every plugin of the edge, in the order they must run; the Yoga options the edge owns are set by createApp. */
export function edgePlugins(opts: EdgeOptions, policy: EdgePolicy, graphiqlHtml: string | null): Plugin[] {
  return [
    useAllowedHosts(policy),
    useSecurityHeaders({ graphiqlCsp: graphiqlHtml ? GRAPHIQL_CSP : null, trustProxy: opts.trustProxy }),
    ...(graphiqlHtml ? [useGraphiQLAssets()] : []),
    useGetParameterCheck(),
    ...(opts.introspection ? [] : [useNoIntrospection()]),
    ...(opts.persistedOperations ? [usePersisted(opts.persistedOperations)] : []),
    ...(opts.development ? [useLocalErrorCauses(opts.trustProxy)] : []),
    useComponentReadiness(opts.readiness, opts.log),
  ];
}

/** Yoga's CORS options per request: only listed origins get CORS headers, credentials included; others get none (the browser refuses). */
export function corsFor(policy: EdgePolicy) {
  return (request: Request) => {
    const origin = request.headers.get("origin");
    if (!origin || !policy.originAllowed(origin, request.headers.get("host"))) return false as const;
    return {
      origin,
      credentials: true,
      methods: ["GET", "POST", "OPTIONS"],
      allowedHeaders: ["accept", "authorization", "content-type", "x-request-id", ...CSRF_HEADERS],
      exposedHeaders: ["retry-after"],
      maxAge: 600,
    };
  };
}

/** 421 for a Host this server does not serve (DNS rebinding, a mis-routed proxy). */
function useAllowedHosts(policy: EdgePolicy): Plugin {
  return {
    onRequest({ request, url, endResponse, fetchAPI }) {
      if (url.pathname === "/health" || url.pathname === "/ready" || url.pathname === METRICS_PATH) return;
      const host = request.headers.get("host") ?? url.host;
      if (policy.hostAllowed(host)) return;
      endResponse(new fetchAPI.Response(JSON.stringify({ errors: [{ message: "This server does not answer for this Host.", extensions: { code: "MISDIRECTED_REQUEST" } }] }), {
        status: 421, headers: { "content-type": "application/json; charset=utf-8" },
      }));
    },
  };
}

// GraphiQL (development): the page and everything it loads come from this server (Yoga's bundled GraphiQL,
// @graphql-yoga/render-graphiql), so it works offline under a policy that names no other origin.

/** Where the GraphiQL page's script, stylesheet, editor workers and icon are served (same origin as the page). */
export const GRAPHIQL_ASSETS_PATH = "/graphiql/";

/**
 * The GraphiQL page's policy: scripts, stylesheet, workers and icon from this server only, no inline script; fonts
 * and images inlined in its stylesheet (data:); inline styles, because Monaco writes <style> elements at run time.
 */
export const GRAPHIQL_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "font-src data:",
  "img-src 'self' data:",
  "connect-src 'self'",
  "worker-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

/** The GraphiQL page: no inline script (its options travel as a JSON data block that start.js reads). */
export function graphiqlPage(options: GraphiQLOptions): string {
  const title = (options.title ?? "GraphiQL").replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
  // "<" escaped so no value can close the data block
  const json = JSON.stringify(options).replace(/</g, "\\u003c");
  const asset = (name: string) => `${GRAPHIQL_ASSETS_PATH}${name}`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${title}</title>
<link rel="icon" href="${asset("favicon.ico")}">
<link rel="stylesheet" href="${asset("graphiql.css")}">
</head>
<body id="body" class="no-focus-outline">
<noscript>GraphiQL needs JavaScript.</noscript>
<div id="root"></div>
<script type="application/json" id="graphiql-options">${json}</script>
<script src="${asset("start.js")}"></script>
<script src="${asset("graphiql.js")}"></script>
</body>
</html>
`;
}

/** Runs before the bundle (Monaco reads MonacoEnvironment when it loads) and renders GraphiQL once the page is parsed. */
const GRAPHIQL_START = `"use strict";
(function () {
  var base = document.currentScript.src;
  var workers = { editorWorkerService: "editor.worker.js", json: "json.worker.js", graphql: "graphql.worker.js" };
  self.MonacoEnvironment = {
    globalAPI: false,
    getWorkerUrl: function (_moduleId, label) { return new URL(workers[label] || workers.editorWorkerService, base).href; },
  };
  window.addEventListener("DOMContentLoaded", function () {
    var options = JSON.parse(document.getElementById("graphiql-options").textContent);
    YogaGraphiQL.renderYogaGraphiQL(document.getElementById("root"), options);
  });
})();
`;

interface StaticAsset { body: Uint8Array<ArrayBuffer>; type: string; etag: string }

/** The bundle (about 9 MB of text) is read on the first asset request, so a process that never shows GraphiQL never holds it. */
async function loadGraphiQLAssets(): Promise<Map<string, StaticAsset>> {
  const bundle = await import("@graphql-yoga/render-graphiql/graphiql");
  const js = "text/javascript; charset=utf-8";
  const text = (source: string, type: string) => ({ bytes: Buffer.from(source, "utf8"), type });
  const files: Record<string, { bytes: Buffer; type: string }> = {
    "start.js": text(GRAPHIQL_START, js),
    "graphiql.js": text(bundle.js, js),
    "graphiql.css": text(bundle.css, "text/css; charset=utf-8"),
    "editor.worker.js": text(bundle.editorWorkerService, js),
    "json.worker.js": text(bundle.jsonWorker, js),
    "graphql.worker.js": text(bundle.graphqlWorker, js),
    "favicon.ico": { bytes: Buffer.from(bundle.favicon.slice(bundle.favicon.indexOf(",") + 1), "base64"), type: "image/x-icon" },
  };
  return new Map(Object.entries(files).map(([name, { bytes, type }]) => [name, {
    body: new Uint8Array(bytes), type, etag: `"${createHash("sha256").update(bytes).digest("base64url").slice(0, 27)}"`,
  }]));
}

/** GET /graphiql/<asset>: the page's files, revalidated by ETag (a dependency update changes them under the same name). */
function useGraphiQLAssets(): Plugin {
  let assets: Promise<Map<string, StaticAsset>> | undefined;
  return {
    // Synchronous for every other path, so no other request waits on this hook.
    onRequest(payload) {
      return payload.url.pathname.startsWith(GRAPHIQL_ASSETS_PATH) ? serve(payload) : undefined;
    },
  };
  async function serve({ request, url, endResponse, fetchAPI }: Parameters<NonNullable<Plugin["onRequest"]>>[0]) {
    const asset = (await (assets ??= loadGraphiQLAssets())).get(url.pathname.slice(GRAPHIQL_ASSETS_PATH.length));
    const json = { "content-type": "application/json; charset=utf-8" };
    if (!asset) {
      endResponse(new fetchAPI.Response(JSON.stringify({ errors: [{ message: "No such GraphiQL asset.", extensions: { code: "NOT_FOUND" } }] }), { status: 404, headers: json }));
    } else if (request.method !== "GET" && request.method !== "HEAD") {
      endResponse(new fetchAPI.Response(JSON.stringify({ errors: [{ message: "GraphiQL assets are read with GET.", extensions: { code: "METHOD_NOT_ALLOWED" } }] }), { status: 405, headers: { ...json, allow: "GET, HEAD" } }));
    } else {
      const headers = { "content-type": asset.type, etag: asset.etag, "cache-control": "no-cache" };
      const fresh = request.headers.get("if-none-match") === asset.etag;
      endResponse(new fetchAPI.Response(fresh || request.method === "HEAD" ? null : asset.body, { status: fresh ? 304 : 200, headers }));
    }
  }
}

/** Over TLS: the socket itself, or X-Forwarded-Proto written by a proxy we trust (the entry it added, as with X-Forwarded-For). */
export function overTls(source: RequestSource & { request?: { url?: string } }, trustProxy: boolean | number): boolean {
  const req = source.req as { socket?: { encrypted?: boolean } } | undefined;
  if (req?.socket?.encrypted) return true;
  if (source.request?.url?.startsWith("https:")) return true;
  const hops = trustProxy === true ? 1 : Number(trustProxy) || 0;
  if (!hops) return false;
  const chain = (source.request?.headers?.get("x-forwarded-proto") ?? "").split(",").map((s) => s.trim().toLowerCase()).filter(Boolean);
  return chain[Math.max(0, chain.length - hops)] === "https";
}

function useSecurityHeaders({ graphiqlCsp: pageCsp, trustProxy }: { graphiqlCsp: string | null; trustProxy: boolean | number }): Plugin {
  return {
    onResponse({ request, response, serverContext }) {
      const headers = response.headers;
      const html = headers.get("content-type")?.startsWith("text/html") ?? false;
      headers.set("content-security-policy", html && pageCsp ? pageCsp : API_CSP);
      headers.set("x-content-type-options", "nosniff");
      headers.set("x-frame-options", "DENY");
      headers.set("referrer-policy", "no-referrer");
      headers.set("cross-origin-resource-policy", "same-origin");
      if (overTls({ request, ...(serverContext as RequestSource) }, trustProxy)) headers.set("strict-transport-security", HSTS);
      // The answer depends on Origin (CORS), so caches must key on it.
      const vary = headers.get("vary");
      if (!vary?.toLowerCase().split(/\s*,\s*/).includes("origin")) headers.set("vary", vary ? `${vary}, Origin` : "Origin");
      // Refused before the body was read: close rather than drain the rest of a large upload.
      if (response.status === 413) headers.set("connection", "close");
    },
  };
}

/** A GET whose `variables` or `extensions` is not JSON is the client's mistake (400, BAD_REQUEST, like a malformed POST body), not ours. */
function useGetParameterCheck(): Plugin {
  return {
    onRequestParse({ request }) {
      if (request.method !== "GET") return;
      const params = new URLSearchParams(request.url.slice(request.url.indexOf("?") + 1));
      for (const name of ["variables", "extensions"]) {
        const raw = params.get(name);
        if (!raw) continue;
        try {
          JSON.parse(raw);
        } catch {
          throw edgeError(`The "${name}" parameter is not valid JSON; it must be a JSON object.`, "BAD_REQUEST", 400);
        }
      }
      // Parsed but not an object: Yoga's parameter check answers 400 BAD_REQUEST.
    },
  };
}

/** graphql-js's NoSchemaIntrospectionCustomRule with a code of its own, once per field (not for each field inside); a validation rule covers WebSocket too. */
const noIntrospection: ValidationRule = (context) => ({
  Field(node) {
    const type = getNamedType(context.getType());
    if (!type || !isIntrospectionType(type)) return undefined;
    context.reportError(new GraphQLError(`Introspection is disabled on this server ("${node.name.value}").`, { nodes: node, extensions: { code: "INTROSPECTION_DISABLED" } }));
    return false;
  },
});

function useNoIntrospection(): Plugin {
  return { onValidate: ({ addValidationRule }) => { addValidationRule(noIntrospection); } };
}

function usePersisted(operations: Readonly<Record<string, string>>): Plugin {
  return usePersistedOperations({
    getPersistedOperation: (hash) => (Object.hasOwn(operations, hash) ? operations[hash]! : null),
    allowArbitraryOperations: false,
    customErrors: {
      persistedQueryOnly: () => persistedErrors.only(400),
      keyNotFound: () => persistedErrors.idRequired(400),
      notFound: () => persistedErrors.notFound(400),
    },
  }) as Plugin;
}

/**
 * Masked errors keep their cause here (maskError in yoga.ts); in development a request from this machine
 * (loopback, or the forwarded client behind TRUST_PROXY) sees it in extensions.cause, everyone else only the errorId.
 */
const causes = new WeakMap<GraphQLError, unknown>();
export function rememberCause(masked: GraphQLError, cause: unknown): void {
  causes.set(masked, cause);
}

function useLocalErrorCauses(trustProxy: boolean | number): Plugin {
  return {
    onResultProcess({ request, result, serverContext }) {
      if (!isLoopbackIp(clientIp({ request, ...(serverContext as RequestSource) }, trustProxy))) return;
      for (const single of Array.isArray(result) ? result : [result]) {
        if (!single || typeof single !== "object" || !("errors" in single) || !single.errors) continue;
        for (const error of single.errors) {
          const cause = error instanceof GraphQLError ? causes.get(error) : undefined;
          if (cause === undefined) continue;
          (error.extensions as Record<string, unknown>).cause = cause instanceof Error ? { message: cause.message, stack: cause.stack?.split("\n").map((l) => l.trim()) } : String(cause);
        }
      }
    },
  };
}

const READINESS_TIMEOUT_MS = 2_000;

/** /ready: 200 or 503 with each component's name and state, never an address or an error text (those go to the log). */
function useComponentReadiness(checks: Readonly<Record<string, () => Promise<unknown>>>, log: Logger): Plugin {
  const readiness = readinessCheck(checks, log);
  // Yoga's plugin answers when the URL ends with /ready, its path is /ready, or a URLPattern for /ready matches it
  // (a polyfill, the dearest of the three); each needs "/ready" somewhere in the URL, so other requests skip all three.
  const onRequest = readiness.onRequest!;
  return { ...readiness, onRequest: (payload) => (payload.request.url.includes(READY_PATH) ? onRequest(payload) : undefined) };
}

const READY_PATH = "/ready";

function readinessCheck(checks: Readonly<Record<string, () => Promise<unknown>>>, log: Logger): Plugin {
  return useReadinessCheck({
    endpoint: READY_PATH,
    check: async ({ fetchAPI }) => {
      const states = await Promise.all(Object.entries(checks).map(async ([name, check]) => {
        let timer: NodeJS.Timeout | undefined;
        try {
          await Promise.race([check(), new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`no answer in ${READINESS_TIMEOUT_MS} ms`)), READINESS_TIMEOUT_MS); })]);
          return [name, "up"] as const;
        } catch (err) {
          log.warn({ component: name, err }, "readiness check failed");
          return [name, "down"] as const;
        } finally {
          clearTimeout(timer);
        }
      }));
      const ready = states.every(([, state]) => state === "up");
      return new fetchAPI.Response(JSON.stringify({ status: ready ? "ready" : "unavailable", components: Object.fromEntries(states) }), {
        status: ready ? 200 : 503,
        headers: { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" },
      });
    },
  });
}
