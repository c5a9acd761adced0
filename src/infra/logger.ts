import pino from "pino";

/** The one logger. JSON lines in production; level from LOG_LEVEL (tests default to silent). */
export const logger = pino({
  level: process.env.LOG_LEVEL ?? (process.env.VITEST ? "silent" : "info"),
  base: { service: "gpubroker" },
  redact: ["req.headers.authorization", "*.password", "*.token"],
});
export type { Logger } from "pino";
