// Where a provider's API key comes from: the environment (`RUNPOD_API_KEY`, `PRIMEINTELLECT_API_KEY`, …)
// or Vault KV v2 at `gpubroker/providers/<slug>`, key `api_key`. The environment wins when both have one,
// so an operator can override a key on one node without touching Vault.
import { VaultError, type Vault } from "../infra/vault.ts";

export const VAULT_PROVIDER_PATH = (slug: string) => `gpubroker/providers/${slug}`;

/** "runpod" → "RUNPOD_API_KEY"; anything not a letter or digit becomes "_" ("my-cloud" → "MY_CLOUD_API_KEY"). */
export const apiKeyEnvName = (slug: string) => `${slug.toUpperCase().replace(/[^A-Z0-9]/g, "_")}_API_KEY`;

/**
 * The provider's API key, or null when neither source has one (a missing Vault path or key is null too).
 * Vault failures other than "not found" (sealed, permission denied, unreachable) are thrown, so a poll
 * fails visibly instead of running unauthenticated.
 */
export async function providerApiKey(slug: string, sources: { env: Record<string, string | undefined>; vault?: Vault | null }): Promise<string | null> {
  const fromEnv = sources.env[apiKeyEnvName(slug)]?.trim();
  if (fromEnv) return fromEnv;
  if (!sources.vault) return null;
  try {
    const secret = await sources.vault.read(VAULT_PROVIDER_PATH(slug));
    return secret.api_key?.trim() || null;
  } catch (err) {
    if (err instanceof VaultError && err.code === "VAULT_NOT_FOUND") return null;
    throw err;
  }
}
