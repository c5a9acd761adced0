// A redis-server of a test's own (fault and restart tests must never stop the machine's shared one):
// started on a given port with nothing persisted, ready once it answers PING; killed with SIGKILL.
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { Redis } from "ioredis";

export function privateRedis() {
  let redis: ChildProcess | undefined;
  return {
    async start(port: number): Promise<void> {
      redis = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], { stdio: "ignore" });
      await new Promise<void>((resolve, reject) => { redis!.once("spawn", resolve).once("error", reject); });
      const ping = new Redis(port, "127.0.0.1", { maxRetriesPerRequest: null, retryStrategy: () => 20 }).on("error", () => {});
      await ping.ping();
      ping.disconnect();
    },
    running: (): boolean => !!redis && redis.exitCode === null && redis.signalCode === null,
    async stop(): Promise<void> {
      if (!redis || redis.exitCode !== null || redis.signalCode !== null) return;
      const exited = once(redis, "exit");
      redis.kill("SIGKILL");
      await exited;
    },
  };
}
