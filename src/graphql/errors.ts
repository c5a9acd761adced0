// The one place coded errors (src/errors.ts) become GraphQL errors: the code and details go to
// `extensions`, the message stays as written. No originalError: Yoga answers 500 for errors that carry
// a non-GraphQL cause, and these are expected failures. maskError (src/yoga.ts) calls it for every result.
import { GraphQLError, type ASTNode } from "graphql";
import type { AppError } from "../errors.ts";

export function toGraphQLError(error: AppError, at?: { message?: string; nodes?: readonly ASTNode[] | undefined; path?: readonly (string | number)[] | undefined; extensions?: Record<string, unknown> }): GraphQLError {
  return new GraphQLError(at?.message ?? error.message, {
    nodes: at?.nodes, path: at?.path, extensions: { ...error.extensions, ...at?.extensions },
  });
}
