// The logger's formats, redaction and the mixin hook tracing uses to put its ids on every line.
import { afterEach, describe, expect, it } from "vitest";
import { createLogger, resolveLogFormat, setLogMixin } from "../../src/infra/logger.ts";

function captured(format: "json" | "pretty") {
  const lines: string[] = [];
  const log = createLogger({ level: "debug", format, colorize: false, destination: { write: (s: string) => { lines.push(...s.split("\n").filter(Boolean)); } } });
  return { log, lines, json: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

afterEach(() => setLogMixin(null));

describe("logger", () => {
  it("JSON: one object per line with the service name; credentials redacted", () => {
    const { log, json } = captured("json");
    log.info({ req: { headers: { authorization: "Bearer abc" } }, user: { password: "hunter2", token: "t" } }, "hello");
    expect(json()).toEqual([expect.objectContaining({
      level: 30, service: "gpubroker", msg: "hello",
      req: { headers: { authorization: "[Redacted]" } }, user: { password: "[Redacted]", token: "[Redacted]" },
    })]);
  });

  it("setLogMixin adds fields to every line, children included, without overriding the line's own; null removes them", () => {
    const { log, json } = captured("json");
    let n = 0;
    setLogMixin(() => ({ traceId: `t${++n}` }));
    const child = log.child({ component: "http" });
    child.info("first");
    log.info({ traceId: "explicit" }, "second");
    log.debug("third");
    setLogMixin(null);
    log.info("fourth");
    expect(json().map((l) => [l.msg, l.traceId, l.component])).toEqual([
      ["first", "t1", "http"], ["second", "explicit", undefined], ["third", "t3", undefined], ["fourth", undefined, undefined],
    ]);
  });

  it("a mixin returning one shared object is not polluted by the lines' fields", () => {
    const { log, json } = captured("json");
    const shared = { traceId: "same" };
    setLogMixin(() => shared);
    log.info({ a: 1 }, "one");
    log.info("two");
    expect(shared).toEqual({ traceId: "same" });
    expect(json()[1]).not.toHaveProperty("a");
  });

  it("pretty: readable lines, the component as a prefix, fields compact on the same line", () => {
    const { log, lines } = captured("pretty");
    setLogMixin(() => ({ traceId: "abc" }));
    log.child({ component: "ingestion" }).info({ provider: "lambda" }, "provider polled");
    log.warn("careful");
    expect(lines).toEqual([
      expect.stringMatching(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: \[ingestion\] provider polled \{"traceId":"abc","provider":"lambda"\}$/),
      expect.stringMatching(/^\[\d\d:\d\d:\d\d\.\d{3}\] WARN: careful \{"traceId":"abc"\}$/),
    ]);
  });

  it("format: LOG_FORMAT when set, else pretty on a terminal and JSON elsewhere", () => {
    expect(resolveLogFormat(undefined, true)).toBe("pretty");
    expect(resolveLogFormat(undefined, false)).toBe("json");
    expect(resolveLogFormat("json", true)).toBe("json");
    expect(resolveLogFormat("pretty", false)).toBe("pretty");
  });
});
