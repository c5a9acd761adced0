// Expected failures, with a stable code, for every layer: services, ingestion, infra and the API
// throw these; the GraphQL layer maps them to `extensions.code` in one place (src/yoga.ts maskError)
// and masks everything else. No GraphQL import here.

export type ErrorCode =
  | "BAD_USER_INPUT"
  | "NOT_FOUND"
  | "UNAUTHENTICATED"
  | "FORBIDDEN"
  | "RATE_LIMITED"
  | "CONFLICT"
  | "SERVICE_UNAVAILABLE"
  | "SUBSCRIPTION_OVERFLOW"
  | "RESUME_WINDOW_EXCEEDED";

export class AppError extends Error {
  /** `code` plus the details, as clients see them in `extensions` (graphql-js copies this property). */
  readonly extensions: { code: ErrorCode } & Record<string, unknown>;

  constructor(readonly code: ErrorCode, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = "AppError";
    this.extensions = { code, ...details };
  }
}

export const isAppError = (err: unknown, code?: ErrorCode): err is AppError => err instanceof AppError && (code === undefined || err.code === code);

type Details = Record<string, unknown>;
export const badInput = (message: string, details?: Details) => new AppError("BAD_USER_INPUT", message, details);
export const notFound = (message: string, details?: Details) => new AppError("NOT_FOUND", message, details);
export const unauthenticated = (message: string, details?: Details) => new AppError("UNAUTHENTICATED", message, details);
export const forbidden = (message: string, details?: Details) => new AppError("FORBIDDEN", message, details);
export const conflict = (message: string, details?: Details) => new AppError("CONFLICT", message, details);
export const unavailable = (message: string, details?: Details) => new AppError("SERVICE_UNAVAILABLE", message, details);
/** A subscription's `after` cursor names an event older than the resume window: what followed it is gone. */
export const resumeWindowExceeded = (windowMinutes: number) => new AppError(
  "RESUME_WINDOW_EXCEEDED",
  `The events after this cursor are no longer kept (the server keeps about ${windowMinutes} minutes of events). Read the current state again (a query), then subscribe without \`after\`.`,
  { windowMinutes },
);
/** A subscriber fell too far behind its stream: the subscription ends with this, and the client subscribes again. */
export const subscriptionOverflow = (limit: number) => new AppError(
  "SUBSCRIPTION_OVERFLOW",
  `This subscription fell more than ${limit} events behind, so the server ended it after the events already queued. Subscribe again, with the cursor of the last event you received as \`after\` where the subscription takes one, to continue where you stopped.`,
  { limit },
);
