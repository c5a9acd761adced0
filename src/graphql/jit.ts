// Compiled execution (graphql-jit) for queries and mutations: the resolvers are called from code generated
// once per document (the result is serialised by JSON.stringify: graphql-jit's fast-json-stringify serialiser
// refuses custom scalars such as Money). Subscriptions keep graphql-js
// (shared streams, shared-subscriptions.ts). graphql-jit coerces variables with its own messages and no code;
// when that fails, graphql-js's errors replace them: a bad variable keeps graphql-js's message ("Variable "$n"
// got invalid value …" with the scalar's reason) and BAD_USER_INPUT, whichever executor runs.
import { useGraphQlJit } from "@envelop/graphql-jit";
import {
  getNamedType, getOperationAST, GraphQLError, isInputObjectType, isInputType, Kind, typeFromAST, valueFromAST,
  type DocumentNode, type FieldNode, type FragmentDefinitionNode, type GraphQLInputType, type GraphQLSchema,
  type OperationDefinitionNode, type SelectionSetNode,
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

/** The field node at a result path (aliases, fragments and inline fragments followed), or undefined. */
function fieldAt(document: DocumentNode, operation: OperationDefinitionNode, path: readonly (string | number)[]): FieldNode | undefined {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const d of document.definitions) if (d.kind === Kind.FRAGMENT_DEFINITION) fragments.set(d.name.value, d);
  const find = (set: SelectionSetNode | undefined, key: string): FieldNode | undefined => {
    for (const s of set?.selections ?? []) {
      const found = s.kind === Kind.FIELD ? ((s.alias ?? s.name).value === key ? s : undefined)
        : find(s.kind === Kind.INLINE_FRAGMENT ? s.selectionSet : fragments.get(s.name.value)?.selectionSet, key);
      if (found) return found;
    }
    return undefined;
  };
  let field: FieldNode | undefined;
  let set: SelectionSetNode | undefined = operation.selectionSet;
  for (const key of path) {
    if (typeof key === "number") continue;
    field = find(set, key);
    if (!field) return undefined;
    set = field.selectionSet;
  }
  return field;
}

/**
 * graphql-jit's field errors carry `locations` but no AST nodes, and Yoga rebuilds every error from its nodes
 * when it serialises them: without this the `locations` graphql-js gives would be lost. Errors only: free otherwise.
 */
function useErrorNodes(): Plugin {
  return {
    onExecute: ({ args }) => ({
      onExecuteDone: ({ result, setResult }) => {
        if (!("errors" in result) || !result.errors?.some((e) => !e.nodes && e.path)) return;
        const operation = operationOf(args.document, args.operationName);
        if (!operation) return;
        setResult({
          ...result,
          errors: result.errors.map((e) => {
            const node = !e.nodes && e.path ? fieldAt(args.document, operation, e.path) : undefined;
            return node ? new GraphQLError(e.message, { nodes: [node], path: e.path, originalError: e.originalError, extensions: e.extensions }) : e;
          }),
        });
      },
    }),
  };
}

export function useCompiledExecution(): Plugin[] {
  return [
    useErrorNodes(),
    useVariableErrors(),
    // Operations whose variables have input fields with defaults run on graphql-js (one check per parsed document).
    useGraphQlJit({}, { enableIf: (args) => compiles(args) }) as Plugin,
  ];
}
