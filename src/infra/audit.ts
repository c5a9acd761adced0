// Append-only, hash-chained audit log: hash = sha256(prevHash ‖ canonical JSON of the entry), so
// editing, deleting, reordering or forging a row breaks the chain that verifyAuditLog walks.
// Limitation: the table alone cannot reveal a truncated tail (deleting the newest rows leaves a
// valid shorter chain), nor a chain rewritten wholesale by someone with write access; callers
// that need that record { headId, headHash } elsewhere and pass it back as `anchor`.
import { createHash } from "node:crypto";
import type { Prisma } from "../generated/prisma/client.ts";
import type { DbClient } from "./db.ts";

export type AuditAction =
  | "user.register" | "user.login" | "user.login_failed"
  | "session.refresh" | "session.refresh_reuse" | "session.logout" | "session.logout_all"
  | "user.password_change" | "user.update" | "user.role_change"
  | "api_key.create" | "api_key.revoke"
  | "integration.create" | "integration.replace_key" | "integration.test" | "integration.delete" | "integration.rewrap"
  | "provider.enable" | "provider.disable" | "provider.refresh"
  | "audit.verify";

/** `details` is context for a human reader: callers never pass passwords, tokens or keys. */
export interface AuditEvent {
  action: AuditAction;
  actorUserId?: number | null;
  targetType?: string | null;
  targetId?: string | number | null;
  ip?: string | null;
  details?: Record<string, unknown>;
}

export interface AuditVerification {
  ok: boolean;
  /** Entries verified before the first break (all of them when ok). */
  entries: number;
  /** Last verified entry: store it outside the database to detect a truncated tail later. */
  headId: string | null;
  headHash: string;
  firstBroken?: {
    id: string;
    reason: "hash_mismatch" | "prev_hash_mismatch" | "anchor_mismatch";
    expected: string;
    actual: string;
  };
}

export const GENESIS_HASH = "0".repeat(64);
// "gpubaudt" as a 64-bit key: every append in the cluster queues on this one advisory lock.
const AUDIT_LOCK_KEY = "7453586448700499060";
// Defence in depth: keys that look like secrets never reach the log, whatever a caller passes.
const SECRET_KEY = /passw|passphrase|secret|token|apikey|authorization|cookie|credential|privatekey/;

type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

/** Stable serialisation: keys sorted recursively, no whitespace, bigint → string, Date → ISO. */
export function canonicalJson(value: unknown): string {
  if (typeof value === "bigint") return JSON.stringify(value.toString());
  if (value instanceof Date) return JSON.stringify(value.toISOString());
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "null";
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  const record = value as Record<string, unknown>;
  return `{${Object.keys(record).filter((k) => record[k] !== undefined).sort()
    .map((k) => `${JSON.stringify(k)}:${canonicalJson(record[k])}`).join(",")}}`;
}

interface HashedEntry {
  id: bigint; at: Date; action: string; actorUserId: number | null;
  targetType: string | null; targetId: string | null; ip: string | null; details: unknown;
}

export function hashEntry(prevHash: string, e: HashedEntry): string {
  const { id, at, action, actorUserId, targetType, targetId, ip, details } = e;
  const content = canonicalJson({ id, at, action, actorUserId, targetType, targetId, ip, details });
  return createHash("sha256").update(prevHash + content).digest("hex");
}

// PostgreSQL stores neither NUL nor lone surrogates (the driver would turn them into U+FFFD),
// so clean them first: what we hash must be exactly what comes back.
function cleanString(s: string): string {
  return s.replace(/\u0000/g, "").replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, "\ufffd");
}

// Reduce details to the plain JSON that a JSONB column round-trips unchanged.
function toJson(value: unknown, depth = 0): Json | undefined {
  if (value === null) return null;
  switch (typeof value) {
    case "string": return cleanString(value);
    case "number": return Number.isFinite(value) ? value : null;
    case "boolean": return value;
    case "bigint": return value.toString();
    case "object": break;
    default: return undefined;
  }
  if (depth > 16) return "[too deep]";
  const toJSON = (value as { toJSON?: unknown }).toJSON;
  if (typeof toJSON === "function") return toJson(toJSON.call(value), depth + 1); // Date, Decimal
  if (Array.isArray(value)) return value.map((v) => toJson(v, depth + 1) ?? null);
  const out: { [key: string]: Json } = {};
  for (const [key, v] of Object.entries(value)) {
    if (SECRET_KEY.test(key.toLowerCase().replace(/[^a-z]/g, ""))) continue;
    const json = toJson(v, depth + 1);
    if (json !== undefined) out[cleanString(key)] = json;
  }
  return out;
}

async function appendInTransaction(tx: Prisma.TransactionClient, event: AuditEvent) {
  const [lock] = await tx.$queryRawUnsafe<{ isolation: string }[]>(
    `SELECT current_setting('transaction_isolation') AS isolation FROM pg_advisory_xact_lock(${AUDIT_LOCK_KEY})`);
  // A snapshot older than the lock (REPEATABLE READ and up) could miss the newest head and fork the chain.
  if (lock?.isolation !== "read committed") {
    throw new Error(`appendAudit needs a READ COMMITTED transaction, not ${lock?.isolation}`);
  }
  // Separate statement: only a snapshot taken after the lock sees the head committed before it.
  const [next] = await tx.$queryRawUnsafe<{ id: string; prevHash: string | null }[]>(
    `SELECT nextval(pg_get_serial_sequence('"AuditLogEntry"', 'id'))::text AS id,
            (SELECT hash FROM "AuditLogEntry" ORDER BY id DESC LIMIT 1) AS "prevHash"`);
  const entry: HashedEntry = {
    id: BigInt(next!.id), // taken under the lock, so id order is chain order
    at: new Date(),
    action: event.action,
    actorUserId: event.actorUserId ?? null,
    targetType: event.targetType == null ? null : cleanString(event.targetType),
    targetId: event.targetId == null ? null : cleanString(String(event.targetId)),
    ip: event.ip == null ? null : cleanString(event.ip),
    details: toJson(event.details ?? {}),
  };
  const prevHash = next!.prevHash ?? GENESIS_HASH;
  const hash = hashEntry(prevHash, entry);
  // Raw insert: Prisma's Json writer rounds doubles to 16 digits (changing the hash); a timestamp
  // column ignores the ISO string's Z, so `at` is stored in UTC as Prisma stores it.
  await tx.$executeRaw`INSERT INTO "AuditLogEntry"
    (id, at, action, "actorUserId", "targetType", "targetId", ip, details, "prevHash", hash)
    VALUES (${entry.id.toString()}::bigint, ${entry.at.toISOString()}::timestamp, ${entry.action},
      ${entry.actorUserId}::int, ${entry.targetType}, ${entry.targetId}, ${entry.ip},
      ${canonicalJson(entry.details)}::jsonb, ${prevHash}, ${hash})`;
  return { id: entry.id, hash };
}

/**
 * Appends one entry. Pass the caller's interactive transaction so the entry commits or rolls
 * back with the change it records (it then holds the audit lock until that commit); pass the
 * client to get a transaction of its own.
 */
export async function appendAudit(db: DbClient, event: AuditEvent): Promise<{ id: bigint; hash: string }> {
  if ("$transaction" in db) {
    return db.$transaction((tx) => appendInTransaction(tx, event), { maxWait: 10_000, timeout: 10_000 });
  }
  return appendInTransaction(db, event);
}

/**
 * Walks the chain in id order, `batchSize` rows at a time, and reports the first broken entry.
 * `anchor` is a head recorded earlier: it must still be in the chain with the same hash.
 */
export async function verifyAuditLog(
  db: DbClient,
  opts: { batchSize?: number; anchor?: { id: bigint | string; hash: string } } = {},
): Promise<AuditVerification> {
  const batchSize = opts.batchSize ?? 1000;
  const anchorId = opts.anchor === undefined ? undefined : BigInt(opts.anchor.id);
  let headHash = GENESIS_HASH;
  let headId: string | null = null;
  let entries = 0;
  let anchorSeen = false;
  const broken = (id: string, reason: NonNullable<AuditVerification["firstBroken"]>["reason"], expected: string, actual: string) =>
    ({ ok: false, entries, headId, headHash, firstBroken: { id, reason, expected, actual } });

  for (let cursor: bigint | undefined; ;) {
    const rows = await db.auditLogEntry.findMany({
      where: cursor === undefined ? {} : { id: { gt: cursor } },
      orderBy: { id: "asc" },
      take: batchSize,
    });
    for (const row of rows) {
      const id = row.id.toString();
      if (row.prevHash !== headHash) return broken(id, "prev_hash_mismatch", headHash, row.prevHash);
      const expected = hashEntry(row.prevHash, row);
      if (row.hash !== expected) return broken(id, "hash_mismatch", expected, row.hash);
      if (row.id === anchorId) {
        if (row.hash !== opts.anchor!.hash) return broken(id, "anchor_mismatch", opts.anchor!.hash, row.hash);
        anchorSeen = true;
      }
      headHash = row.hash;
      headId = id;
      entries++;
    }
    if (rows.length < batchSize) break;
    cursor = rows[rows.length - 1]!.id;
  }
  if (anchorId !== undefined && !anchorSeen) return broken(anchorId.toString(), "anchor_mismatch", opts.anchor!.hash, "missing");
  return { ok: true, entries, headId, headHash };
}
