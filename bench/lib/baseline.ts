// The baseline: a bare node:http server that reads the request body and answers whatever
// `answer(body)` returns with JSON.stringify. No framework, no GraphQL, no ORM.
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";

export interface BaselineServer { url: string; stop(): Promise<void> }

export async function startBaselineServer(answer: (body: string) => Promise<unknown>): Promise<BaselineServer> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      answer(Buffer.concat(chunks).toString("utf8")).then(
        (value) => {
          const json = JSON.stringify(value);
          res.writeHead(200, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(json) }).end(json);
        },
        (err: Error) => res.writeHead(500, { "content-type": "text/plain" }).end(err.message),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    stop: async () => {
      server.closeIdleConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
