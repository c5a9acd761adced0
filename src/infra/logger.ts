import pino from "pino";
import { bootSettings } from "../config.ts";

/** The one logger: JSON lines; level from LOG_LEVEL (tests default to silent). */
export const logger = pino({
  level: bootSettings.logLevel,
  base: { service: "gpubroker" },
  redact: ["req.headers.authorization", "*.password", "*.token"],
});
export type { Logger } from "pino";
