// In-process GraphQL client over yoga.fetch: a document in, the JSON out.
import type { TypedDocumentNode } from "@graphql-typed-document-node/core";
import { print } from "graphql";
import { createApp } from "../../src/yoga.ts";
import type { Database } from "../../src/infra/db.ts";

export interface GraphQLResponse<T> {
  data?: T | null;
  errors?: Array<{ message: string; path?: (string | number)[]; extensions?: Record<string, unknown> }>;
}

export function testClient(db: Database) {
  const yoga = createApp({ db });
  async function request<T = any, V = Record<string, unknown>>(
    document: string | TypedDocumentNode<T, V>,
    variables?: V,
  ): Promise<GraphQLResponse<T> & { status: number }> {
    const res = await yoga.fetch("http://localhost/graphql", {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/graphql-response+json" },
      body: JSON.stringify({ query: typeof document === "string" ? document : print(document), variables }),
    });
    return { status: res.status, ...((await res.json()) as GraphQLResponse<T>) };
  }
  return { yoga, request };
}
