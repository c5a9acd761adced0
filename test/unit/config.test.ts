import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config.ts";

describe("config", () => {
  it("works with nothing set: embedded database, port 4000, development", () => {
    const config = loadConfig({});
    expect(config).toMatchObject({ PORT: 4000, NODE_ENV: "development", PGLITE_DATA_DIR: ".data/pglite", SEED_SNAPSHOT: true });
    expect(config.DATABASE_URL).toBeUndefined();
    expect(config.REDIS_URL).toBeUndefined();
  });

  it("treats empty strings as unset and parses lists and flags", () => {
    const config = loadConfig({ DATABASE_URL: "", PORT: "8080", DEMO_MARKET: "1", SEED_SNAPSHOT: "false" });
    expect(config).toMatchObject({ PORT: 8080, DEMO_MARKET: true, SEED_SNAPSHOT: false });
    expect(config.DATABASE_URL).toBeUndefined();
  });

  it("collects provider credentials and endpoints (<SLUG>_API_KEY, <SLUG>_API_URL) and nothing else", () => {
    const config = loadConfig({ RUNPOD_API_KEY: "rp-1", LAMBDA_API_URL: "http://127.0.0.1:9/", PATH: "/usr/bin", RUNPOD_API_KEY_OLD: "x", OPENAI_API_KEY: "sk-1" });
    expect(config.providerEnv).toEqual({ RUNPOD_API_KEY: "rp-1", LAMBDA_API_URL: "http://127.0.0.1:9/" });
  });

  it("reports every bad variable, one line each, without echoing secrets", () => {
    let error: unknown;
    try {
      loadConfig({ PORT: "eighty", DATABASE_URL: "mysql://u:hunter2@db/x", REDIS_URL: "localhost:6379", NODE_ENV: "staging", JWT_KEY_DIR: "" , DEMO_MARKET_INTERVAL_SECONDS: "0" });
    } catch (err) { error = err; }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems;
    expect(problems).toHaveLength(5);
    expect(problems.find((p) => p.startsWith("PORT:"))).toMatch(/expected number.*\(got "eighty"\)/);
    expect(problems.find((p) => p.startsWith("DATABASE_URL:"))).toBe("DATABASE_URL: must be a URL starting with postgres:// or postgresql://");
    expect(problems.find((p) => p.startsWith("REDIS_URL:"))).toBe("REDIS_URL: must be a URL starting with redis:// or rediss://");
    expect(problems.find((p) => p.startsWith("NODE_ENV:"))).toMatch(/development.*production.*test/);
    expect(problems.find((p) => p.startsWith("DEMO_MARKET_INTERVAL_SECONDS:"))).toMatch(/>=1.*\(got "0"\)/);
    expect((error as Error).message).not.toContain("hunter2");
  });
});

describe("tracing configuration", () => {
  it("traces every request by default; OTEL_TRACES_SAMPLER_ARG is a fraction in 0..1", () => {
    expect(loadConfig({}).OTEL_TRACES_SAMPLER_ARG).toBe(1);
    expect(loadConfig({ OTEL_TRACES_SAMPLER_ARG: "0.1" }).OTEL_TRACES_SAMPLER_ARG).toBe(0.1);
    for (const bad of ["1.5", "-0.1", "all"]) expect(() => loadConfig({ OTEL_TRACES_SAMPLER_ARG: bad })).toThrow(/OTEL_TRACES_SAMPLER_ARG/);
  });
});

describe("assistant configuration", () => {
  it("defaults to the built-in backend with the documented limits", () => {
    expect(loadConfig({})).toMatchObject({ ASSISTANT_BACKEND: "builtin", SOMA_AGENT_TIMEOUT: 30, AI_MAX_HISTORY_TURNS: 10 });
  });

  it("asks for what the chosen backend needs, one line each", () => {
    const problems = (env: Record<string, string>) => { try { loadConfig(env); return []; } catch (err) { return (err as ConfigError).problems; } };
    expect(problems({ ASSISTANT_BACKEND: "openai" })).toEqual([
      "OPENAI_BASE_URL: is required when ASSISTANT_BACKEND=openai",
      "ASSISTANT_MODEL: is required when ASSISTANT_BACKEND=openai",
    ]);
    expect(problems({ ASSISTANT_BACKEND: "soma" })).toEqual(["SOMA_AGENT_BASE: is required when ASSISTANT_BACKEND=soma"]);
    expect(problems({ ASSISTANT_BACKEND: "gpt" })[0]).toMatch(/^ASSISTANT_BACKEND: .*builtin.*openai.*soma.*\(got "gpt"\)$/);
    expect(problems({ ASSISTANT_BACKEND: "openai", OPENAI_BASE_URL: "http://127.0.0.1:8000/v1", ASSISTANT_MODEL: "llama3.1:8b", OPENAI_API_KEY: "sk-x" })).toEqual([]);
    expect(problems({ SOMA_AGENT_TIMEOUT: "0", AI_MAX_HISTORY_TURNS: "-1" })).toHaveLength(2);
  });
});

describe("config in production", () => {
  it("requires the JWT key pair, so every node signs with the same key", () => {
    expect(() => loadConfig({ NODE_ENV: "production" })).toThrow(ConfigError);
    try { loadConfig({ NODE_ENV: "production" }); } catch (err) {
      expect((err as ConfigError).problems).toEqual([
        "JWT_PRIVATE_KEY: is required when NODE_ENV=production (a PEM key shared by every node)",
        "JWT_PUBLIC_KEY: is required when NODE_ENV=production (a PEM key shared by every node)",
      ]);
    }
    const pem = (kind: string) => `-----BEGIN ${kind} KEY-----\nabc\n-----END ${kind} KEY-----`;
    expect(loadConfig({ NODE_ENV: "production", JWT_PRIVATE_KEY: pem("PRIVATE"), JWT_PUBLIC_KEY: pem("PUBLIC"), TRUST_PROXY: "1" })).toMatchObject({ TRUST_PROXY: 1 });
  });
});

describe("price history retention", () => {
  it("keeps 30 days of raw price points by default; PRICE_HISTORY_RAW_DAYS is a whole number of days in 1..3650", () => {
    expect(loadConfig({}).PRICE_HISTORY_RAW_DAYS).toBe(30);
    expect(loadConfig({ PRICE_HISTORY_RAW_DAYS: "7" }).PRICE_HISTORY_RAW_DAYS).toBe(7);
    for (const bad of ["0", "3651", "1.5", "forever"]) expect(() => loadConfig({ PRICE_HISTORY_RAW_DAYS: bad })).toThrow(/PRICE_HISTORY_RAW_DAYS/);
  });
});
