// argon2id with the OWASP parameters (m = 19 MiB, t = 2, p = 1), via @node-rs/argon2 (prebuilt, no download).
import { hash, verify } from "@node-rs/argon2";

const ARGON2ID = 2; // Algorithm.Argon2id (a const enum, not importable under isolatedModules)
const OPTIONS = { algorithm: ARGON2ID, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

export const hashPassword = (password: string) => hash(password, OPTIONS);

// Verified against when the e-mail is unknown, so both failures cost the same time.
let dummy: Promise<string> | undefined;

/** True when the password matches; with no hash (unknown account) it still does the work and returns false. */
export async function verifyPassword(passwordHash: string | null | undefined, password: string): Promise<boolean> {
  if (!passwordHash) {
    await verify(await (dummy ??= hashPassword("dummy password for timing")), password).catch(() => false);
    return false;
  }
  return verify(passwordHash, password).catch(() => false);
}
