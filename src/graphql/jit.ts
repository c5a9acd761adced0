// Compiled execution (graphql-jit) for queries and mutations: the resolvers are called from code generated
// once per document and the result is serialised by a generated stringifier. Subscriptions keep graphql-js
// (shared streams, shared-subscriptions.ts). graphql-jit coerces variables with its own messages and no code;
// when that fails, graphql-js's errors replace them: a bad variable keeps graphql-js's message ("Variable "$n"
// got invalid value …" with the scalar's reason) and BAD_USER_INPUT, whichever executor runs.
import { useGraphQlJit } from "@envelop/graphql-jit";
import {
  getNamedType, getOperationAST, GraphQLError, isInputObjectType, isInputType, typeFromAST, valueFromAST,
  type DocumentNode, type GraphQLInputType, type GraphQLSchema,
} from "graphql";
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
      // graphql-jit 0.8 does not apply a variable's default when the variable is omitted (`$first: Int! = 20`
      // answers "was not provided"): apply them here, as graphql-js would.
      const given = (args.variableValues ?? {}) as Record<string, unknown>;
      let withDefaults: Record<string, unknown> | undefined;
      for (const def of operation.variableDefinitions) {
        const name = def.variable.name.value;
        if (!def.defaultValue || given[name] !== undefined) continue;
        const type = typeFromAST(args.schema as GraphQLSchema, def.type);
        const value = isInputType(type) ? valueFromAST(def.defaultValue, type) : undefined;
        if (value !== undefined) (withDefaults ??= { ...given })[name] = value;
      }
      if (withDefaults) args.variableValues = withDefaults;
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

/** Input types with a field default somewhere inside: graphql-jit 0.8 does not apply those to variables. */
function hasFieldDefault(type: GraphQLInputType, seen = new Set<string>()): boolean {
  const named = getNamedType(type);
  if (!isInputObjectType(named) || seen.has(named.name)) return false;
  seen.add(named.name);
  return Object.values(named.getFields()).some((f) => f.defaultValue !== undefined || hasFieldDefault(f.type, seen));
}

/** Whether graphql-jit runs this operation: queries and mutations whose variables it coerces as graphql-js does. */
function compiles(args: { schema: unknown; document: DocumentNode; operationName?: string | null }): boolean {
  const operation = operationOf(args.document, args.operationName);
  if (!operation || operation.operation === "subscription") return false;
  const key = `${operation.name?.value ?? ""}`;
  let byName = decided.get(args.document);
  if (!byName) decided.set(args.document, (byName = new Map()));
  let ok = byName.get(key);
  if (ok === undefined) {
    ok = (operation.variableDefinitions ?? []).every((def) => {
      const type = typeFromAST(args.schema as GraphQLSchema, def.type);
      return type !== undefined && isInputType(type) && !hasFieldDefault(type);
    });
    byName.set(key, ok);
  }
  return ok;
}
const decided = new WeakMap<DocumentNode, Map<string, boolean>>();

export function useCompiledExecution(): Plugin[] {
  return [
    useVariableErrors(),
    // Operations whose variables have input fields with defaults run on graphql-js (one check per parsed document).
    useGraphQlJit({}, { enableIf: (args) => compiles(args) }) as Plugin,
  ];
}
