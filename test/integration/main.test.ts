// The zero-setup promise, end to end: a fresh data folder, `src/main.ts`, real HTTP, SIGTERM.
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { startMain } from "../support/main-process.ts";

const dataDir = mkdtempSync(join(tmpdir(), "gpubroker-main-"));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

const start = (env: Record<string, string>) => startMain(dataDir, env);

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
  }, 180_000); // two cold starts of src/main.ts (tsx, migrations, seed): ~25 s idle, past 60 s on a loaded 2-core machine

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
  }, 180_000);
});
