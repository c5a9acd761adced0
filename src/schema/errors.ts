// Expected failures carry a stable `extensions.code`; anything else is masked by Yoga.
import { GraphQLError } from "graphql";

export type ErrorCode = "BAD_USER_INPUT" | "NOT_FOUND" | "UNAUTHENTICATED" | "FORBIDDEN" | "RATE_LIMITED";

export class ApiError extends GraphQLError {
  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>) {
    super(message, { extensions: { code, ...details } });
    this.name = "ApiError";
  }
}

export const badInput = (message: string, details?: Record<string, unknown>) => new ApiError("BAD_USER_INPUT", message, details);
export const notFound = (message: string, details?: Record<string, unknown>) => new ApiError("NOT_FOUND", message, details);
