// One process per embedded database folder. PGlite is PostgreSQL in this process's memory with the folder
// as its disk: two processes on one folder would each run their own server over the same files and split
// (or corrupt) the data. The lock is a file in the folder naming its holder (pid, host, process start time);
// it is created atomically, removed on close and at exit, and a lock whose holder is gone (killed, crashed,
// or its pid now belongs to another process) is taken over.
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { hostname } from "node:os";
import { join, resolve } from "node:path";

export const LOCK_FILE = "gpubroker.lock";

interface Holder { pid: number; host: string; started: string | null }

/** Another live process holds the folder. The message says which and what to do, in one line. */
export class DataDirLockedError extends Error {
  override readonly name = "DataDirLockedError";
  constructor(readonly dir: string, readonly holder: Holder) {
    super(
      `The embedded database in ${dir} is in use by another GPUBroker process (pid ${holder.pid}${holder.host === hostname() ? "" : ` on ${holder.host}`}). ` +
      "Stop that process first, give this one its own PGLITE_DATA_DIR, or set DATABASE_URL to share a PostgreSQL server between processes.",
    );
  }
}

/** When a process started (Linux: /proc/<pid>/stat field 22), so a reused pid is not mistaken for the holder; null elsewhere. */
function startTimeOf(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) is in parentheses and may hold spaces: count fields after its closing one.
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19] ?? null;
  } catch {
    return null;
  }
}

function alive(holder: Holder): boolean {
  if (holder.host !== hostname()) return true; // cannot tell: another machine's process is presumed alive
  try {
    process.kill(holder.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EPERM") return false; // ESRCH: no such process
  }
  const started = startTimeOf(holder.pid);
  return !(holder.started && started && holder.started !== started); // the pid was reused by a newer process
}

function readHolder(file: string): Holder | null {
  try {
    const parsed = JSON.parse(readFileSync(file, "utf8")) as Partial<Holder>;
    if (typeof parsed.pid !== "number" || typeof parsed.host !== "string") return null;
    return { pid: parsed.pid, host: parsed.host, started: typeof parsed.started === "string" ? parsed.started : null };
  } catch {
    return null; // unreadable or half-written: treated as stale below
  }
}

/**
 * Takes the folder's lock or throws DataDirLockedError. `release` removes the lock (also done at process exit).
 * A stale lock is taken over; of two processes taking one over at once, the atomic create lets only one win.
 */
export function lockDataDir(dir: string): { release(): void } {
  const abs = resolve(dir);
  mkdirSync(abs, { recursive: true });
  const file = join(abs, LOCK_FILE);
  const me: Holder = { pid: process.pid, host: hostname(), started: startTimeOf(process.pid) };
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(file, "wx", 0o644);
      try { writeSync(fd, JSON.stringify(me)); } finally { closeSync(fd); }
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        process.off("exit", release);
        const holder = readHolder(file);
        if (holder && holder.pid === me.pid && holder.host === me.host) rmSync(file, { force: true });
      };
      process.on("exit", release);
      return { release };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
    const holder = readHolder(file);
    if (holder && alive(holder)) throw new DataDirLockedError(abs, holder);
    // Stale: its holder is gone. Remove it only if it is still the one just read, then try to create ours again.
    const again = readHolder(file);
    if (JSON.stringify(again) === JSON.stringify(holder)) rmSync(file, { force: true });
  }
  const holder = readHolder(file);
  throw new DataDirLockedError(abs, holder ?? { pid: -1, host: "unknown", started: null });
}
