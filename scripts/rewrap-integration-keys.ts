// Key rotation for users' provider keys: re-seals every stored key under the active master key of
// INTEGRATION_KEYS (or the newest version of the Vault transit key), leaving current ones alone. Run it
// after putting a new key in front (README "Key rotation"); when it reports none failed, the old key can go.
// Prints one JSON line: { backend, activeKeyId, rewrapped, current, failed: [{ id, code }] }.
// Exit status: 0 done (failed may be non-empty: keys that no configured key opens), 1 it could not run.
// Usage: npm run integrations:rewrap
import pino from "pino";
import { ConfigError, loadConfig } from "../src/config.ts";
import { openDatabase } from "../src/infra/db.ts";
import { secretSealerFromConfig } from "../src/infra/secret-sealer.ts";
import { createIntegrationService } from "../src/services/integrations.ts";
import { systemActor } from "../src/services/actor.ts";

async function main(): Promise<number> {
  let config;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) { console.error(`rewrap: ${err.problems.join("; ")}`); return 1; }
    throw err;
  }
  const sealer = secretSealerFromConfig(config);
  if (sealer.describe().backend === "none" || sealer.describe().ephemeral) {
    console.error("rewrap: set INTEGRATION_KEYS (or VAULT_ADDR): there is no lasting key to rewrap under");
    return 1;
  }
  const db = await openDatabase({ databaseUrl: config.DATABASE_URL, dataDir: config.PGLITE_DATA_DIR, migrate: !config.DATABASE_URL, poolSize: 2 });
  try {
    const service = createIntegrationService({ prisma: db.prisma, sealer, log: pino({ level: "warn" }, pino.destination(2)) });
    const result = await service.rewrapIntegrationKeys({}, systemActor("rewrap-integration-keys"));
    console.log(JSON.stringify({ ...sealer.describe(), ...result }));
    return 0;
  } catch (err) {
    console.error(`rewrap: ${(err as Error).message.split("\n")[0]}`);
    return 1;
  } finally {
    await db.close();
  }
}

process.exitCode = await main();
