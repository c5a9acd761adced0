// CPU time of the processes a benchmark talks to, for "where does the time go" columns: this Node
// process (process.cpuUsage), PostgreSQL's processes (/proc/<pid>/stat, Linux only) and Redis (INFO cpu).
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import type pg from "pg";
import type { Redis } from "ioredis";

const CLOCK_TICKS = (() => {
  try { return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100; } catch { return 100; }
})();

/** utime + stime of a process in ms (the name field of /proc/<pid>/stat may contain spaces); null when unreadable. */
export function procCpuMs(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS) * 1000;
  } catch {
    return null;
  }
}

/**
 * PostgreSQL's CPU time in ms for this database's sessions plus the server's background processes
 * (WAL writer, checkpointer, autovacuum, …), by pid; other databases' sessions are left out. Null
 * entries: not readable (PostgreSQL on another host or another PID namespace).
 */
export async function postgresCpu(pool: pg.Pool): Promise<Map<number, number | null>> {
  const { rows } = await pool.query<{ pid: number }>(
    `SELECT pid FROM pg_stat_activity WHERE datname = current_database() OR backend_type <> 'client backend'`);
  return new Map(rows.map((r) => [r.pid, procCpuMs(r.pid)]));
}

/** ms of CPU between two postgresCpu snapshots: processes that started in between count from 0; null when nothing was readable. */
export function postgresCpuDelta(before: Map<number, number | null>, after: Map<number, number | null>): number | null {
  let total = 0;
  let readable = false;
  for (const [pid, ms] of after) {
    if (ms == null) continue;
    readable = true;
    total += ms - (before.get(pid) ?? 0);
  }
  return readable ? total : null;
}

/** Redis's CPU time in ms (used_cpu_user + used_cpu_sys of INFO cpu: the whole server, main thread and others). */
export async function redisCpuMs(redis: Redis): Promise<number> {
  const info = await redis.info("cpu");
  const get = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, "m").exec(info)?.[1] ?? 0);
  return (get("used_cpu_user") + get("used_cpu_sys")) * 1000;
}
