// The zero-setup promise, end to end: a fresh data folder, `src/main.ts`, real HTTP, SIGTERM.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const root = join(import.meta.dirname, "..", "..");
const dataDir = mkdtempSync(join(tmpdir(), "gpubroker-main-"));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

function start(env: Record<string, string>) {
  const { DATABASE_URL: _ignored, ...parent } = process.env;
  const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
    cwd: root,
    env: { ...parent, NODE_ENV: "development", LOG_LEVEL: "info", HOST: "127.0.0.1", PORT: "0", PGLITE_DATA_DIR: dataDir, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d) => { stdout += d; });
  child.stderr!.on("data", (d) => { stderr += d; });
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  const ready = new Promise<string>((resolve, reject) => {
    child.stdout!.on("data", () => {
      const m = /ready at (http:\/\/[^\s"]+)/.exec(stdout);
      if (m) resolve(m[1]!.replace("localhost", "127.0.0.1"));
    });
    void exited.then((code) => reject(new Error(`exited ${code}: ${stderr || stdout}`)));
  });
  ready.catch(() => {}); // awaited by the tests that expect a start
  return { child, ready, exited, output: () => ({ stdout, stderr }) };
}

async function query(url: string, q: string) {
  const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ query: q }) });
  return (await res.json()) as { data: any; errors?: unknown };
}

const stopped = (p: ChildProcess, exited: Promise<number | null>) => { p.kill("SIGTERM"); return exited; };

describe("npm start with nothing configured", () => {
  it("migrates an embedded database, seeds the snapshot once, serves it, and stops cleanly on SIGTERM", async () => {
    const first = start({});
    const url = await first.ready;
    const body = await query(url, "{ offers { totalCount } providers { slug } gpuModels { name } }");
    expect(body.errors).toBeUndefined();
    expect(body.data.offers.totalCount).toBeGreaterThanOrEqual(300);
    expect(body.data.providers.length).toBeGreaterThanOrEqual(6);
    expect(first.output().stdout).toContain("seeded the catalog snapshot");
    expect(await stopped(first.child, first.exited)).toBe(0);
    expect(first.output().stdout).toContain("shutting down");

    const second = start({});
    const again = await query(await second.ready, "{ offers { totalCount } }");
    expect(again.data.offers.totalCount).toBe(body.data.offers.totalCount);
    expect(second.output().stdout).not.toContain("seeded the catalog snapshot");
    expect(await stopped(second.child, second.exited)).toBe(0);
  });

  it("refuses to start on bad configuration, one line per problem, exit code 1", async () => {
    const bad = start({ PORT: "eighty", DATABASE_URL: "mysql://localhost/x", LOG_LEVEL: "loud" });
    expect(await bad.exited).toBe(1);
    const lines = bad.output().stderr.trim().split("\n");
    expect(lines[0]).toBe("Invalid configuration:");
    expect(lines.slice(1).sort()).toEqual([
      "  - DATABASE_URL: must be a URL starting with postgres:// or postgresql://",
      expect.stringMatching(/^ {2}- LOG_LEVEL: .*\(got "loud"\)$/),
      expect.stringMatching(/^ {2}- PORT: .*\(got "eighty"\)$/),
    ]);
  });

  it("a second process on the same data folder stops at start with one clear line; after a SIGKILL the next start takes the lock over", async () => {
    const first = start({});
    await first.ready;
    const second = start({});
    expect(await second.exited).toBe(1);
    const { stderr, stdout } = second.output();
    expect(stderr.trim().split("\n")).toEqual([expect.stringMatching(new RegExp(`^The embedded database in .+ is in use by another GPUBroker process \\(pid ${first.child.pid}\\)\\.`))]);
    expect(stderr + stdout).not.toMatch(/\n\s+at /); // no stack trace
    // The first one still serves.
    expect((await query(await first.ready, "{ offers { totalCount } }")).errors).toBeUndefined();

    first.child.kill("SIGKILL"); // leaves its lock behind
    await first.exited;
    const third = start({});
    const body = await query(await third.ready, "{ offers { totalCount } }");
    expect(body.data.offers.totalCount).toBeGreaterThan(0);
    expect(await stopped(third.child, third.exited)).toBe(0);
  });
});
