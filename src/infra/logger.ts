import pino from "pino";

const LEVELS = new Set(["fatal", "error", "warn", "info", "debug", "trace", "silent"]);
// An invalid LOG_LEVEL must not crash the import: config validation reports it properly.
const fromEnv = process.env.LOG_LEVEL && LEVELS.has(process.env.LOG_LEVEL) ? process.env.LOG_LEVEL : undefined;

/** The one logger: JSON lines; level from LOG_LEVEL (tests default to silent). */
export const logger = pino({
  level: fromEnv ?? (process.env.VITEST ? "silent" : "info"),
  base: { service: "gpubroker" },
  redact: ["req.headers.authorization", "*.password", "*.token"],
});
export type { Logger } from "pino";
