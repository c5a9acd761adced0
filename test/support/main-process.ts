// `src/main.ts` from source (as `npm run dev` runs it; `npm start` runs the same code from the build, covered by test/production/layout.sh),
// JSON logs unless LOG_FORMAT says otherwise). The parent's DATABASE_URL, LOG_FORMAT and
// OTEL_EXPORTER_OTLP_ENDPOINT are not passed on: each test says what the process gets.
import { spawn } from "node:child_process";
import { join } from "node:path";

const root = join(import.meta.dirname, "..", "..");

/** Starts the API on a free port with an embedded database in `dataDir`; `env` overrides the defaults. */
export function startMain(dataDir: string, env: Record<string, string> = {}) {
  const { DATABASE_URL: _db, LOG_FORMAT: _format, OTEL_EXPORTER_OTLP_ENDPOINT: _otel, ...parent } = process.env;
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
  /** The GraphQL URL once "ready at …" is logged; rejects with the output if the process exits first. */
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
