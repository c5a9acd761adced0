// What a request may cost: graphql-armor query limits, hidden field suggestions, CSRF prevention
// and per-IP / per-user rate limits, as Yoga plugins that apply over HTTP and WebSocket alike.
import { isIP } from "node:net";
import { EnvelopArmorPlugin } from "@escape.tech/graphql-armor";
import { useCSRFPrevention } from "@graphql-yoga/plugin-csrf-prevention";
import { BREAK, GraphQLError, visit, type DocumentNode, type ValidationContext } from "graphql";
import type { Plugin } from "graphql-yoga";
import { badInput, type AppError } from "../errors.ts";
import { UNSTORABLE_TEXT } from "../domain/text.ts";
import { isRateLimited, type RateLimiter } from "../infra/rate-limit.ts";
import { toGraphQLError } from "./errors.ts";

/** Measured on schema.graphql (see test/integration/limits.test.ts for the queries). */
export const QUERY_LIMITS = {
  // Deepest useful query is 6 (offers → edges → node → provider → health → status, or provider → offers → edges →
  // node → gpuModel → name); +1 spare. The shortest cycle back (offers → … → provider → offers → edges → node → id) is 8.
  maxDepth: 7,
  // Side-by-side views alias at most a handful of offers/priceHistory calls; batches of objects go through nodes(ids:).
  maxAliases: 10,
  // The largest honest document (every offer filter, every field, facets) is 249 tokens and GraphiQL's
  // introspection 184; 1000 leaves 4× room while keeping parsing trivially cheap.
  maxTokens: 1000,
  // Only @include/@skip exist here; a client toggling optional blocks needs a few, not dozens.
  maxDirectives: 10,
  // armor's cost (objects 2, scalars 1, ×1.5 per level, × a literal first/last): one page of 100 offers with every
  // field, provider and GPU model is 26 741; two such pages in one document are not one page of a UI.
  maxCost: 30_000,
} as const;

/** Headers any of which marks a GET or form-like POST as sent on purpose (browsers can't add them cross-site without CORS). */
export const CSRF_HEADERS = ["x-graphql-csrf", "x-graphql-yoga-csrf", "apollo-require-preflight"];

export interface LimitOptions {
  /** Shows field suggestions ("Did you mean …?"), as GraphiQL does. */
  development: boolean;
  rateLimiter: RateLimiter;
  /** How many proxies in front of us append to X-Forwarded-For (true = 1); unset uses the socket address. */
  trustProxy?: boolean | number;
}

export function limitPlugins({ development, rateLimiter, trustProxy = false }: LimitOptions): Plugin[] {
  return [useRateLimits(rateLimiter, trustProxy), useCsrfPrevention(), useQueryLimits(), useStorableText(), ...(development ? [] : [useHideSuggestions()])];
}


/** Where in the variables (or the document) the first unstorable string is, or null. */
export function unstorableTextAt(value: unknown, path: string): string | null {
  if (typeof value === "string") return UNSTORABLE_TEXT.test(value) ? path : null;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const at = unstorableTextAt(value[i], `${path}[${i}]`);
      if (at) return at;
    }
  } else if (value && typeof value === "object") {
    for (const [k, v] of Object.entries(value)) {
      const at = unstorableTextAt(v, `${path}.${k}`) ?? (UNSTORABLE_TEXT.test(k) ? `${path}.${k}` : null);
      if (at) return at;
    }
  }
  return null;
}

/**
 * One rule for every text argument, over HTTP and WebSocket alike: no NUL and no unpaired surrogate, in
 * variables or in the document's string literals — BAD_USER_INPUT before anything runs.
 */
function useStorableText(): Plugin {
  // The document's verdict, once per parsed document (Yoga's parse cache hands back the same DocumentNode).
  const documents = new WeakMap<DocumentNode, boolean>();
  const documentStorable = (document: DocumentNode): boolean => {
    let ok = documents.get(document);
    if (ok === undefined) {
      ok = true;
      visit(document, {
        StringValue(node) {
          if (UNSTORABLE_TEXT.test(node.value)) { ok = false; return BREAK; }
          return undefined;
        },
      });
      documents.set(document, ok);
    }
    return ok;
  };
  const check = (document: DocumentNode, variables: Record<string, unknown> | null | undefined): GraphQLError | null => {
    let at: string | null = null;
    for (const [name, value] of Object.entries(variables ?? {})) {
      at = unstorableTextAt(value, `$${name}`);
      if (at) break;
    }
    if (!at && !documentStorable(document)) at = "a string in the document";
    return at ? toGraphQLError(badInput(`Text must not contain NUL characters or unpaired UTF-16 surrogates (${at}).`, { argument: at })) : null;
  };
  return {
    onExecute({ args, setResultAndStopExecution }) {
      const error = check(args.document, args.variableValues as Record<string, unknown> | undefined);
      if (error) setResultAndStopExecution({ errors: [error] });
    },
    onSubscribe({ args, setResultAndStopExecution }) {
      const error = check(args.document, args.variableValues as Record<string, unknown> | undefined);
      if (error) setResultAndStopExecution({ errors: [error] });
    },
  };
}

/** Where a request came from: Yoga's Fetch Request (HTTP) and/or Node's IncomingMessage (HTTP on Node, WebSocket upgrade). */
export interface RequestSource {
  request?: { headers?: { get(name: string): string | null } };
  req?: { headers?: Record<string, string | string[] | undefined>; socket?: { remoteAddress?: string } };
}

/** The caller's address: the socket peer, or with `trustProxy` the X-Forwarded-For entry our nearest proxy vouches for. */
export function clientIp(source: RequestSource, trustProxy: boolean | number = false): string | null {
  const socket = unmapIpv4(source.req?.socket?.remoteAddress);
  const hops = trustProxy === true ? 1 : Number(trustProxy) || 0;
  if (!hops) return socket;
  const header = source.request?.headers?.get?.("x-forwarded-for") ?? source.req?.headers?.["x-forwarded-for"];
  const chain = (Array.isArray(header) ? header.join(",") : header ?? "").split(",").map((s) => s.trim()).filter(Boolean);
  // Our proxies appended the last `hops` entries; anything left of those was written by the client.
  const forwarded = unmapIpv4(chain[Math.max(0, chain.length - hops)]);
  return forwarded && isIP(forwarded) ? forwarded : socket;
}

const unmapIpv4 = (ip: string | undefined) => (ip?.startsWith("::ffff:") && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip) ?? null;

/** Per IP before the body is parsed (HTTP), per IP for WebSocket operations, per signed-in user for every operation. */
function useRateLimits(rateLimiter: RateLimiter, trustProxy: boolean | number): Plugin {
  // Over HTTP Yoga turns extensions.http into the status and headers and strips it from the body.
  const overHttp = (err: AppError) => toGraphQLError(err, {
    extensions: { http: { status: 429, headers: { "Retry-After": String(err.extensions.retryAfterSeconds) } } },
  });

  /**
   * The operation's own budgets: the address's for WebSocket operations (no Fetch request: they never passed
   * onRequestParse), the user's for signed-in ones. Undefined, not a promise, when neither applies (an anonymous
   * HTTP request), so such a request does not wait on this hook.
   */
  function limitOperation(context: RequestSource & { actor?: { kind: string; id?: unknown } }): Promise<GraphQLError | null> | undefined {
    const ip = context.request ? null : clientIp(context, trustProxy);
    const userId = context.actor?.kind === "user" ? context.actor.id : undefined;
    if (!ip && typeof userId !== "number") return undefined;
    return (async () => {
      try {
        if (ip) await rateLimiter.consume("request:ip", ip);
        if (typeof userId === "number") await rateLimiter.consume("request:user", String(userId));
        return null;
      } catch (err) {
        if (!isRateLimited(err)) throw err;
        return context.request ? overHttp(err) : toGraphQLError(err);
      }
    })();
  }
  const stopOnError = ({ args, setResultAndStopExecution }: { args: { contextValue: unknown }; setResultAndStopExecution: (result: { errors: GraphQLError[] }) => void }) =>
    limitOperation(args.contextValue as RequestSource)?.then((error) => { if (error) setResultAndStopExecution({ errors: [error] }); });

  return {
    async onRequestParse({ request, serverContext }) {
      // In-process calls (yoga.fetch in tests and scripts) have no peer address and nobody to limit.
      const ip = clientIp({ request, ...(serverContext as RequestSource) }, trustProxy);
      if (!ip) return;
      try {
        await rateLimiter.consume("request:ip", ip);
      } catch (err) {
        throw isRateLimited(err) ? overHttp(err) : err;
      }
    },
    onExecute: stopOnError,
    onSubscribe: stopOnError,
  };
}

/** Yoga's CSRF check, with an error that has a code and says what to send. */
function useCsrfPrevention(): Plugin {
  const csrf = useCSRFPrevention({ requestHeaders: CSRF_HEADERS });
  return {
    onRequestParse(payload) {
      try {
        return csrf.onRequestParse?.(payload);
      } catch {
        throw new GraphQLError(
          `Refused as a possible cross-site request: POST with "content-type: application/json", or send a "${CSRF_HEADERS[0]}" header (any value) with GET and form posts.`,
          { extensions: { code: "CSRF_HEADER_REQUIRED", http: { status: 403 } } },
        );
      }
    },
  };
}

function useQueryLimits(): Plugin {
  // Report as a validation error (400, GRAPHQL_VALIDATION_FAILED) instead of throwing out of validate; the
  // token limit fires in the parser, which has no validation context, so it throws (400, GRAPHQL_PARSE_FAILED).
  const reject = (ctx: ValidationContext | null, error: GraphQLError) => {
    const clean = new GraphQLError(error.message.replace(/^Syntax Error: /, ""));
    if (ctx) ctx.reportError(clean); else throw clean;
  };
  const onRejection = { onReject: [reject], propagateOnRejection: false };
  return EnvelopArmorPlugin({
    maxDepth: { n: QUERY_LIMITS.maxDepth, flattenFragments: true, ...onRejection },
    maxAliases: { n: QUERY_LIMITS.maxAliases, ...onRejection },
    maxTokens: { n: QUERY_LIMITS.maxTokens, ...onRejection },
    maxDirectives: { n: QUERY_LIMITS.maxDirectives, ...onRejection },
    costLimit: { maxCost: QUERY_LIMITS.maxCost, flattenFragments: true, ...onRejection },
    // armor's version misses "Did you mean the enum value …?" and variable errors; useHideSuggestions covers all.
    blockFieldSuggestion: { enabled: false },
  }) as Plugin;
}

/** Strips "Did you mean …?" (fields, arguments, types, enum values) from validation and variable errors: it maps the schema for a prober. */
function useHideSuggestions(): Plugin {
  const hide = (errors: readonly Error[]) => {
    // Masking may answer with the original error (a variable's enum error wraps graphql's), so clean the whole chain.
    for (const error of errors) {
      for (let e: Error | undefined = error; e; e = (e as GraphQLError).originalError) {
        const message = e.message.replace(/\s*Did you mean .+\?$/s, "");
        if (message !== e.message) e.message = message; // only where needed: graphql-jit's errors are read-only
      }
    }
  };
  return {
    onValidate: () => ({ valid, result }) => { if (!valid) hide(result); },
    onExecute: () => ({
      onExecuteDone: ({ result }) => { if ("errors" in result && result.errors) hide(result.errors); },
    }),
  };
}
