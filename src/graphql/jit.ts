// Compiled execution (graphql-jit) for queries and mutations: the resolvers are called from code generated
// once per document and the result is serialised by a generated stringifier. Subscriptions keep graphql-js
// (shared streams, shared-subscriptions.ts). graphql-jit coerces variables with its own messages and no code;
// when that fails, graphql-js's errors replace them: a bad variable keeps graphql-js's message ("Variable "$n"
// got invalid value …" with the scalar's reason) and BAD_USER_INPUT, whichever executor runs.
import { useGraphQlJit } from "@envelop/graphql-jit";
import { getOperationAST, GraphQLError, type DocumentNode, type GraphQLSchema } from "graphql";
import { getVariableValues } from "graphql/execution/values.js";
import type { Plugin } from "graphql-yoga";

function operationOf(document: DocumentNode, operationName?: string | null) {
  return getOperationAST(document, operationName) ?? undefined;
}

/**
 * A compiled query that failed on its variables (no data) answers with graphql-js's errors for them, coded
 * BAD_USER_INPUT: checked only then, so valid variables are coerced once.
 */
function useVariableErrors(): Plugin {
  return {
    onExecute: ({ args }) => {
      const operation = operationOf(args.document, args.operationName);
      if (!operation?.variableDefinitions?.length || operation.operation === "subscription") return;
      return {
        onExecuteDone: ({ result, setResult }) => {
          if (!("errors" in result) || !result.errors?.length || result.data != null) return;
          const coerced = getVariableValues(args.schema as GraphQLSchema, operation.variableDefinitions!, (args.variableValues ?? {}) as Record<string, unknown>, { maxErrors: 50 });
          if (!coerced.errors) return;
          setResult({
            errors: coerced.errors.map((e) => new GraphQLError(e.message, { nodes: e.nodes, extensions: { code: "BAD_USER_INPUT" } })),
          });
        },
      };
    },
  };
}

export function useCompiledExecution(): Plugin[] {
  return [
    useVariableErrors(),
    useGraphQlJit({}, { enableIf: ({ document, operationName }) => operationOf(document, operationName)?.operation !== "subscription" }) as Plugin,
  ];
}
