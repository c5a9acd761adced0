// Node HTTP + WebSocket (graphql-ws) on one port around the Yoga app. Every WebSocket operation
// runs through yoga.getEnveloped, so the same plugins apply as over HTTP.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { WebSocketServer } from "ws";
import { useServer } from "graphql-ws/use/ws";
import { GraphQLError, type ExecutionArgs } from "graphql";
import type { createApp } from "./yoga.ts";
import { createSharedSubscriptions, shareKey, type SocketSubscriber } from "./graphql/shared-subscriptions.ts";
import { countSubscription, METRICS_PATH, subscriptionField } from "./graphql/metrics.ts";
import { metricsOf, scrape, type Metrics } from "./infra/metrics.ts";
import { isAsyncIterable } from "graphql-yoga";
import { closeWhenAuthorityEnds } from "./graphql/stream-authority.ts";
import { edgePolicyOf } from "./graphql/http-edge.ts";
import { logger } from "./infra/logger.ts";
import type { Context } from "./graphql/context.ts";

type App = ReturnType<typeof createApp>;
type EnvelopedRoot = { execute: (args: ExecutionArgs) => unknown; subscribe: (args: ExecutionArgs) => unknown; subscriber: SocketSubscriber };

export interface RunningServer {
  server: Server;
  port: number;
  url: string;
  /** The shared WebSocket streams live now: members and events executed (once each) per stream; for tests and diagnostics. */
  sharedStreams(): { members: number; executions: number }[];
  stop(graceMs?: number): Promise<void>;
}

/** A Server-Sent Events stream under way: Yoga answered a request that accepts them, and the answer has begun (Yoga's writeHead leaves no getHeader). */
const isEventStream = (res: ServerResponse) => res.headersSent && !!res.req.headers.accept?.includes("text/event-stream");

/** How long stop() lets in-flight requests finish before it closes their connections. */
export const STOP_GRACE_MS = 10_000;

export interface ServerOptions {
  port: number;
  host?: string;
  /** Results that may wait per member of a shared WebSocket stream; default SUBSCRIBER_BUFFER_LIMIT (see there for the overflow policy). */
  subscriberBufferLimit?: number;
  /**
   * Unsent bytes one WebSocket may hold while a shared stream writes to it; past this the socket is closed
   * with SLOW_CONSUMER_CLOSE_CODE (4413) and the client resumes with its last cursor. Default 1 MiB.
   */
  slowConsumerBytes?: number;
}

/** Yoga marks validation errors with extensions.http (status for HTTP answers); a WebSocket client gets the code only. */
function withoutHttp(error: GraphQLError): GraphQLError {
  if (!error.extensions?.http) return error;
  const { http: _http, ...extensions } = error.extensions;
  return new GraphQLError(error.message, { nodes: error.nodes, source: error.source, positions: error.positions, path: error.path, originalError: error.originalError, extensions });
}

export async function startServer(yoga: App, opts: ServerOptions): Promise<RunningServer> {
  const server = createServer(yoga);
  const edge = edgePolicyOf(yoga);
  const wss = new WebSocketServer({
    server,
    path: yoga.graphqlEndpoint,
    // A larger message closes the socket with 1009, as HTTP answers 413.
    maxPayload: edge.maxBodyBytes,
    // CORS does not cover WebSocket: a browser page may open one only from an allowed origin (other clients send no Origin).
    verifyClient: ({ origin, req }: { origin?: string; req: { headers: { host?: string } } }) =>
      edge.hostAllowed(req.headers.host) && (!origin || edge.originAllowed(origin, req.headers.host)),
  });
  const shared = createSharedSubscriptions({ bufferLimit: opts.subscriberBufferLimit, maxBufferedBytes: opts.slowConsumerBytes });
  const metrics = metricsOf(yoga);
  const ws = useServer(
    {
      // Credentials travel in connection_init ({ authorization: "Bearer …" }); bad ones close with 4403,
      // and so does the connection when they stop being valid (expiry, logout, revocation).
      onConnect: async (ctx) => {
        if (ctx.connectionParams?.authorization == null) return true;
        const { contextFactory } = yoga.getEnveloped({ connectionParams: ctx.connectionParams, req: ctx.extra.request, socket: ctx.extra.socket });
        let context: Context;
        try {
          context = (await contextFactory()) as unknown as Context;
        } catch {
          return false;
        }
        return closeWhenAuthorityEnds(ctx.extra.socket, context);
      },
      execute: (args) => (args.rootValue as EnvelopedRoot).execute(args) as never,
      // Counted per member after sharing: a shared stream is one execution but many subscribers. A shared
      // stream serialises each event once and writes it to its members' sockets itself.
      subscribe: async (args) => {
        const root = args.rootValue as EnvelopedRoot;
        const key = shareKey(args.document, args.variableValues);
        const stream = await shared(key, () => root.subscribe(args), root.subscriber);
        // graphql-ws keeps these arguments as long as the subscription lives but reads nothing more of them for a
        // shared stream (the hub writes its frames): let the subscriber's context (loaders, logger …) go.
        if (key && isAsyncIterable(stream)) Object.assign(args, { contextValue: undefined, rootValue: undefined, variableValues: undefined });
        return (metrics && isAsyncIterable(stream) ? countSubscription(metrics, stream, subscriptionField(args.document), "ws") : stream) as never;
      },
      onSubscribe: async (ctx, id, params) => {
        const operation = edge.persistedOperation(params);
        if (operation instanceof GraphQLError) return [operation];
        const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
          ...ctx,
          req: ctx.extra.request,
          socket: ctx.extra.socket,
          connectionParams: ctx.connectionParams,
          params,
        });
        const args = {
          schema,
          operationName: params.operationName,
          document: parse(operation.query),
          variableValues: params.variables,
          contextValue: await contextFactory(),
          rootValue: { execute, subscribe, subscriber: { id, socket: ctx.extra.socket } },
        };
        const errors = validate(args.schema, args.document);
        return errors.length ? errors.map(withoutHttp) : args;
      },
    },
    wss,
  );
  // graphql-ws prints every socket error to the console with its stack; these are the client's protocol
  // violations (an oversized message, a bad frame), which ws has already answered by closing (1009, 1002 …).
  wss.on("connection", (socket) => {
    if (metrics) {
      metrics.websocketConnections.inc();
      socket.once("close", () => metrics.websocketConnections.dec());
    }
    socket.removeAllListeners("error");
    socket.on("error", (err: Error & { code?: string }) => logger.debug({ code: err.code, message: err.message }, "websocket protocol error"));
  });

  // Open responses, so stop() can end the Server-Sent Events streams (they never finish by themselves).
  const responses = new Set<ServerResponse>();
  server.on("request", (_req: IncomingMessage, res: ServerResponse) => {
    responses.add(res);
    res.once("close", () => responses.delete(res));
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    server,
    port,
    url: `http://${opts.host && opts.host !== "0.0.0.0" ? opts.host : "localhost"}:${port}${yoga.graphqlEndpoint}`,
    sharedStreams: shared.stats,
    /**
     * Stops accepting, closes the WebSocket connections (1001 "Going away"), cuts the SSE streams (clients
     * reconnect and resume with their last cursor), lets other requests finish for `graceMs`, then closes
     * what is left.
     */
    async stop(graceMs = STOP_GRACE_MS) {
      await ws.dispose();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      for (const res of responses) if (isEventStream(res)) res.socket?.destroy();
      server.closeIdleConnections();
      const grace = setTimeout(() => server.closeAllConnections(), graceMs).unref();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      clearTimeout(grace);
    },
  };
}

export interface MetricsServerOptions {
  port: number;
  host?: string;
  /** Required as `Authorization: Bearer <token>` when set (401 otherwise). */
  token?: string | undefined;
}

/** GET /metrics alone on a port of its own (METRICS_PORT), for a scraper on an internal network; every other path is 404. */
export async function startMetricsServer(metrics: Metrics, opts: MetricsServerOptions): Promise<{ server: Server; port: number; stop(): Promise<void> }> {
  const server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    const common = { "x-content-type-options": "nosniff", "cache-control": "no-store" };
    if (path !== METRICS_PATH) {
      res.writeHead(404, { ...common, "content-type": "text/plain; charset=utf-8" }).end("Not found\n");
      return;
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { ...common, allow: "GET, HEAD" }).end();
      return;
    }
    scrape(metrics, req.headers.authorization, opts.token).then(
      (answer) => res.writeHead(answer.status, { ...common, ...answer.headers }).end(req.method === "HEAD" ? undefined : answer.body),
      (err: unknown) => {
        logger.error({ err }, "metrics scrape failed");
        res.writeHead(500, { ...common, "content-type": "text/plain; charset=utf-8" }).end("Internal error\n");
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  return {
    server,
    port: (server.address() as AddressInfo).port,
    async stop() {
      server.closeIdleConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
