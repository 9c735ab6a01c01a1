/**
 * What the app turns on in durable-shards for its hashed keyspace, once: the seed project's alert
 * thresholds (storage over 100 MB critical, p99 response over 1 s warning, error rate over 1 %
 * critical, over 1,000 users "plan a migration") and daily backups to R2, seven kept. Operators
 * change them through the admin API (`PATCH /_shards/api/keyspaces/<keyspace>/settings`).
 */
import { directoryClient } from "durable-shards";
import { placementOf, type Deployment } from "./deployment.js";
import type { Env } from "./env.js";

export const SEED_SETTINGS = {
  alerts: { storageLimitBytes: 100_000_000, storageShare: 1, p99Seconds: 1, errorRate: 0.01, maxKeys: 1_000, keysTable: "stores" },
  backups: { everyMs: 86_400_000, keep: 7 },
};

/** Creates the keyspace if needed and applies {@link SEED_SETTINGS}; the entity placement has no keyspace-wide metrics or backups. */
export async function setUpOperations(env: Env, d: Deployment): Promise<boolean> {
  if (d.placement === "entity") return false;
  const { keyspace, ensure } = placementOf(d);
  const directory = directoryClient(env.DIRECTORY);
  await directory.ensureKeyspace({ name: keyspace, ...ensure });
  await directory.configureKeyspace(keyspace, SEED_SETTINGS);
  return true;
}
