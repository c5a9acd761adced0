// The coded error a direct service call fails with, for tests that call services without GraphQL.
import { expect } from "vitest";
import { AppError } from "../../src/errors.ts";

/** The AppError a call rejects with; the test fails if it resolves or throws anything else. */
export async function rejection(call: Promise<unknown> | (() => unknown)): Promise<AppError> {
  const error = await Promise.resolve().then(() => (typeof call === "function" ? call() : call)).then(() => null, (err: unknown) => err);
  expect(error).toBeInstanceOf(AppError);
  return error as AppError;
}
