// The one logger. JSON lines for machines (production, pipes, log shippers); readable lines
// (pino-pretty) when stdout is a terminal. LOG_FORMAT=json|pretty overrides the guess.
import pino, { type DestinationStream, type Logger } from "pino";
import { prettyFactory } from "pino-pretty";
import { bootSettings, type LogFormat, type LogLevel } from "../config.ts";

type LogFields = Record<string, unknown>;

let mixinFn: (() => LogFields) | null = null;

/**
 * Fields added to every line of every logger made here and of their children, e.g. the active
 * trace and span ids (tracing registers them). Called for each line written, so keep it cheap;
 * null removes it. The line's own fields win over the mixin's.
 */
export function setLogMixin(fn: (() => LogFields) | null): void {
  mixinFn = fn;
}

export interface LoggerSettings {
  level: LogLevel;
  format: LogFormat;
  /** Where lines go; default stdout (JSON: pino's buffered stdout, flushed at exit; pretty: synchronous writes). */
  destination?: DestinationStream;
  /** Pretty format only; default: when the terminal supports colours (NO_COLOR, FORCE_COLOR honoured). */
  colorize?: boolean;
}

/** JSON unless told otherwise, or unless a person is watching stdout. */
export function resolveLogFormat(format: LogFormat | undefined, stdoutIsTty = !!process.stdout.isTTY): LogFormat {
  return format ?? (stdoutIsTty ? "pretty" : "json");
}

/**
 * A pino logger with the service's base fields, redaction and mixin hook. The pretty format is
 * formatted in this thread (no transport worker): lines are written in order and synchronously.
 */
export function createLogger(settings: LoggerSettings): Logger {
  const options = {
    level: settings.level,
    base: { service: "gpubroker" },
    redact: ["req.headers.authorization", "*.password", "*.token"],
    // pino merges the line's fields into the object returned here: a fresh one every time.
    mixin: () => (mixinFn ? { ...mixinFn() } : {}),
  };
  if (settings.format === "pretty") {
    return pino(options, prettyStream(settings.destination ?? pino.destination({ dest: 1, sync: true }), settings.colorize));
  }
  return settings.destination ? pino(options, settings.destination) : pino(options);
}

function prettyStream(destination: DestinationStream, colorize: boolean | undefined): DestinationStream {
  const prettify = prettyFactory({
    ...(colorize === undefined ? {} : { colorize }),
    translateTime: "SYS:HH:MM:ss.l",
    ignore: "pid,hostname,service,component",
    // "[ingestion] provider polled": the component names the part of the service speaking.
    messageFormat: "{if component}[{component}] {end}{msg}",
    singleLine: true,
  });
  return { write: (line: string) => { destination.write(prettify(line)); } };
}

/** Level from LOG_LEVEL (tests default to silent; main sets the validated level); format from LOG_FORMAT or the terminal. */
export const logger = createLogger({ level: bootSettings.logLevel, format: resolveLogFormat(bootSettings.logFormat) });
export type { Logger } from "pino";
