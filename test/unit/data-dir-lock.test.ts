// One process per embedded data folder: the lock file, its holder, stale locks taken over.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { DataDirLockedError, LOCK_FILE, lockDataDir } from "../../src/infra/data-dir-lock.ts";

const dirs: string[] = [];
const folder = () => { const d = mkdtempSync(join(tmpdir(), "gpubroker-lock-")); dirs.push(d); return d; };
afterEach(() => { for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true }); });

/** A pid that no process has now: one that just exited. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" });
  return Number(child.stdout);
}

describe("lockDataDir", () => {
  it("writes the holder, refuses a second taker (even in the same process), and frees the folder on release", () => {
    const dir = folder();
    const lock = lockDataDir(dir);
    expect(JSON.parse(readFileSync(join(dir, LOCK_FILE), "utf8"))).toMatchObject({ pid: process.pid, host: hostname() });
    expect(() => lockDataDir(dir)).toThrow(DataDirLockedError);
    try { lockDataDir(dir); } catch (err) { expect((err as Error).message).toContain(`pid ${process.pid}`); }
    lock.release();
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
    lockDataDir(dir).release();
  });

  it("creates the folder when it does not exist", () => {
    const dir = join(folder(), "nested", "data");
    lockDataDir(dir).release();
    expect(existsSync(dir)).toBe(true);
  });

  it("takes over the lock of a process that is gone", () => {
    const dir = folder();
    writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid: deadPid(), host: hostname(), started: "1" }));
    const lock = lockDataDir(dir);
    expect(JSON.parse(readFileSync(join(dir, LOCK_FILE), "utf8")).pid).toBe(process.pid);
    lock.release();
  });

  it("takes over a lock whose pid now belongs to a newer process (start time differs), and an unreadable one", () => {
    const dir = folder();
    writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid: process.pid, host: hostname(), started: "not-my-start-time" }));
    const reused = lockDataDir(dir);
    reused.release();
    writeFileSync(join(dir, LOCK_FILE), "{half-writ");
    lockDataDir(dir).release();
  });

  it("presumes a holder on another machine alive and names the machine", () => {
    const dir = folder();
    writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid: 4242, host: "elsewhere.example", started: null }));
    expect(() => lockDataDir(dir)).toThrow(/pid 4242 on elsewhere\.example/);
  });

  it("release leaves a lock alone that is no longer its own", () => {
    const dir = folder();
    const lock = lockDataDir(dir);
    writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid: 4242, host: "elsewhere.example", started: null }));
    lock.release();
    expect(existsSync(join(dir, LOCK_FILE))).toBe(true);
  });
});
