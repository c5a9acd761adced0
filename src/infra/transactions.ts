// Transactions that can lose a lock race. PostgreSQL ends one side of a deadlock (40P01) or a
// serialization conflict (40001) and expects the client to run the whole transaction again: this is
// the one place that does, a bounded number of times with a short jittered pause, and then gives up
// with a coded CONFLICT (retryable: true) instead of an unexpected error.
//
// Through Prisma's driver adapters the failure arrives in three shapes (seen on PostgreSQL and PGlite):
// P2034 (a model query hit 40001 on adapter-pg), P2010 with meta.driverAdapterError (a raw query), or a
// bare DriverAdapterError (a model query on anything else). The SQLSTATE is in its cause's `code` or
// `originalCode`; adapter-pg turns 40001 into kind "TransactionWriteConflict" with no `code`.
import type { Prisma, PrismaClient } from "../generated/prisma/client.ts";
import { conflict } from "../errors.ts";
import { logger } from "./logger.ts";

export type LockConflict = "deadlock" | "serialization";

export interface TxRetryOptions {
  /** Runs in all, the first included. Default 3. */
  attempts?: number;
  /** What the transaction does, for the log and the final error ("creating the price alert"). */
  what?: string;
  maxWait?: number;
  timeout?: number;
  isolationLevel?: Prisma.TransactionIsolationLevel;
}

export const TX_ATTEMPTS = 3;
// First pause; doubled per retry, with full jitter (so two losers do not collide again in step).
const BACKOFF_MS = 20;

const SQLSTATE: Record<string, LockConflict> = { "40P01": "deadlock", "40001": "serialization" };

/** "deadlock" or "serialization" when `err` is PostgreSQL ending a transaction that may be run again, else null. */
export function lockConflict(err: unknown): LockConflict | null {
  const seen = new Set<unknown>();
  const queue: unknown[] = [err];
  while (queue.length) {
    const e = queue.shift();
    if (!e || typeof e !== "object" || seen.has(e)) continue;
    seen.add(e);
    const o = e as { code?: unknown; originalCode?: unknown; kind?: unknown; cause?: unknown; meta?: { driverAdapterError?: unknown } };
    if (o.code === "P2034" || o.kind === "TransactionWriteConflict") return "serialization";
    for (const code of [o.code, o.originalCode]) if (typeof code === "string" && SQLSTATE[code]) return SQLSTATE[code]!;
    queue.push(o.cause, o.meta?.driverAdapterError);
  }
  return null;
}

/**
 * `prisma.$transaction(fn)`, run again (at most `attempts` runs) when PostgreSQL ends it with a deadlock
 * or a serialization failure; then CONFLICT. `fn` must be safe to run again: everything it does inside
 * the transaction is rolled back, but side effects outside it (publishing, HTTP) happen per run.
 */
export async function withTxRetry<T>(prisma: PrismaClient, fn: (tx: Prisma.TransactionClient) => Promise<T>, opts: TxRetryOptions = {}): Promise<T> {
  const { attempts = TX_ATTEMPTS, what = "the change", ...txOptions } = opts;
  return retryOnLockConflict(() => prisma.$transaction(fn, txOptions), { attempts, what });
}

/** Runs `work` (a transaction or one statement) again on a deadlock or serialization failure, like withTxRetry. */
export async function retryOnLockConflict<T>(work: () => Promise<T>, opts: Pick<TxRetryOptions, "attempts" | "what"> = {}): Promise<T> {
  const { attempts = TX_ATTEMPTS, what = "the change" } = opts;
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (err) {
      const kind = lockConflict(err);
      if (!kind) throw err;
      if (attempt >= attempts) {
        logger.warn({ kind, attempts, what }, "transaction gave up after lock conflicts");
        throw conflict(`${capitalise(what)} collided with concurrent changes ${attempts} times, so nothing was saved. Try again.`, { retryable: true, reason: kind });
      }
      logger.info({ kind, attempt, what }, "transaction lost a lock race; running it again");
      await new Promise((r) => setTimeout(r, Math.random() * BACKOFF_MS * 2 ** (attempt - 1)));
    }
  }
}

const capitalise = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);
