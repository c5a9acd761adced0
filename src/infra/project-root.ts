// Where the installed project's files are (package.json, prisma/migrations, data/): the nearest folder
// above this module with a package.json — the same folder whether it runs from source (src/infra) or
// from the build (dist/src/infra).
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

function findProjectRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, "package.json"))) return dir;
    if (dirname(dir) === dir) throw new Error(`no package.json above ${from}`);
  }
}

export const PROJECT_ROOT = findProjectRoot(dirname(fileURLToPath(import.meta.url)));

/** A path inside the project, e.g. projectPath("prisma", "migrations"). */
export const projectPath = (...parts: string[]): string => join(PROJECT_ROOT, ...parts);
