// The SecretError a call fails with, after checking that none of `forbidden` (secrets, tokens, master keys in
// every encoding they are written in) shows in its message, stack, JSON or inspection.
import { inspect } from "node:util";
import { expect } from "vitest";
import { SecretError, type SecretErrorCode } from "../../src/infra/secret-sealer.ts";

export async function secretFailure(call: Promise<unknown>, code: SecretErrorCode, forbidden: readonly string[]): Promise<SecretError> {
  const error = await call.then(() => null, (e: unknown) => e);
  expect(error).toBeInstanceOf(SecretError);
  expect((error as SecretError).code).toBe(code);
  const shown = [(error as Error).message, (error as Error).stack, JSON.stringify(error), inspect(error)].join("\n");
  for (const secret of forbidden) expect(shown).not.toContain(secret);
  return error as SecretError;
}
