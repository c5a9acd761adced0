// Local HTTP servers that stand in for provider APIs in adapter tests: every request is recorded,
// and a fault function can answer the n-th one instead (errors, slowness, rate limits).
import { createServer, type IncomingHttpHeaders, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach } from "vitest";

export interface Seen { method: string; path: string; headers: IncomingHttpHeaders; body: string }
export type Api = (req: Seen, res: ServerResponse) => void;
/** Returns a fault for the n-th request (1-based), or undefined to let the provider answer. */
export type Fault = (n: number) => ((res: ServerResponse) => void) | undefined;

const servers: { close(): Promise<void> }[] = [];
afterEach(async () => { await Promise.all(servers.splice(0).map((s) => s.close())); });

export async function serve(api: Api, fault?: Fault) {
  const requests: Seen[] = [];
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (chunk: Buffer) => { body += chunk.toString(); });
    req.on("end", () => {
      const seen = { method: req.method!, path: req.url!, headers: req.headers, body };
      requests.push(seen);
      const faulty = fault?.(requests.length);
      if (faulty) faulty(res);
      else api(seen, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const handle = {
    origin,
    requests,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
  servers.push(handle);
  return handle;
}

export function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(JSON.stringify(body));
}

