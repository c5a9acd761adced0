// `npm run bench -- <name> [args]` runs bench/<name>.ts, whose `run(args)` does the work.
import { readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";

// Output piped into `head` must not end the run before it drops its database.
for (const stream of [process.stdout, process.stderr]) stream.on("error", () => {});
// The logger reads LOG_LEVEL when first imported, so set it before any benchmark loads the app.
process.env.LOG_LEVEL ??= "silent";

const dir = fileURLToPath(new URL(".", import.meta.url));
const available = readdirSync(dir).filter((f) => f.endsWith(".ts") && f !== "run.ts").map((f) => f.slice(0, -3)).sort();
const [name, ...args] = process.argv.slice(2);

if (!name || !available.includes(name)) {
  process.stderr.write(`${name ? `Unknown benchmark "${name}". ` : ""}Usage: npm run bench -- <name> [options]\nAvailable: ${available.join(", ")}\n`);
  process.exit(1);
}
const bench = (await import(`./${name}.ts`)) as { run(args: string[]): Promise<void> };
await bench.run(args);
