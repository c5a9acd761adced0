// The layering rules of .dependency-cruiser.cjs hold on src/, and they do catch a forbidden import.
import { execFile } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const CONFIG = join(ROOT, ".dependency-cruiser.cjs");
const DEPCRUISE = join(ROOT, "node_modules", ".bin", "depcruise");
const run = promisify(execFile);

async function cruise(cwd: string): Promise<{ code: number; out: string }> {
  try {
    const { stdout } = await run(DEPCRUISE, ["src", "--config", CONFIG, "--output-type", "err"], { cwd });
    return { code: 0, out: stdout };
  } catch (err) {
    const e = err as { code: number; stdout: string };
    return { code: e.code, out: e.stdout };
  }
}

describe("import rules (dependency-cruiser)", () => {
  const scratch = mkdtempSync(join(tmpdir(), "gpubroker-layers-"));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it("src/ has no forbidden import", async () => {
    const { code, out } = await cruise(ROOT);
    expect(out).not.toMatch(/error /);
    expect(code).toBe(0);
  }, 60_000);

  it("fails on an import that runs against the arrows", async () => {
    const files: Record<string, string> = {
      "src/graphql/offer.ts": "export const GpuOfferRef = 1;\n",
      "src/domain/math/topsis.ts": 'import { GpuOfferRef } from "../../graphql/offer.ts";\nexport const x = GpuOfferRef;\n',
      "src/services/offers.ts": 'import { GpuOfferRef } from "../graphql/offer.ts";\nexport const y = GpuOfferRef;\n',
      "src/infra/db.ts": 'import { y } from "../services/offers.ts";\nexport const z = y;\n',
      "src/ingestion/scheduler.ts": 'import { z } from "../infra/db.ts";\nexport const ok = z;\n',
    };
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(dirname(join(scratch, path)), { recursive: true });
      writeFileSync(join(scratch, path), text);
    }
    cpSync(join(ROOT, "tsconfig.json"), join(scratch, "tsconfig.json"));
    const { code, out } = await cruise(scratch);
    expect(code).not.toBe(0);
    expect(out).toMatch(/domain-is-pure: src\/domain\/math\/topsis\.ts → src\/graphql\/offer\.ts/);
    expect(out).toMatch(/services-below-the-api: src\/services\/offers\.ts → src\/graphql\/offer\.ts/);
    expect(out).toMatch(/infra-implements-only: src\/infra\/db\.ts → src\/services\/offers\.ts/);
    expect(out).not.toMatch(/src\/ingestion\/scheduler\.ts →/); // ingestion → infra is allowed
  }, 60_000);
});
