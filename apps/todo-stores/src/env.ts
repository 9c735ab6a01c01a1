import type { Directory } from "./index.js";
import type { LegacyStore } from "./legacy-store.js";
import type { MigrationControl } from "./control.js";
import type { StoreShard } from "./store-shard.js";

/** The Worker's bindings and settings (wrangler.jsonc; secrets in .dev.vars locally). */
export interface Env {
  DIRECTORY: DurableObjectNamespace<Directory>;
  STORES: DurableObjectNamespace<StoreShard>;
  LEGACY: DurableObjectNamespace<LegacyStore>;
  CONTROL: DurableObjectNamespace<MigrationControl>;
  DB: D1Database;
  BACKUPS: R2Bucket;
  /** Signs and checks the bearer tokens (`npm run token`). */
  TOKEN_SECRET: string;
  /** Bearer token of the admin API, dashboard and migration endpoints; unset: they refuse all. */
  ADMIN_TOKEN?: string;
  /** `hashed` (default: users hashed over STORE_SHARDS shards) or `entity` (one object per user, or per org and user). */
  PLACEMENT?: string;
  /** Shards of the hashed placement when it is first created. Default 4. */
  STORE_SHARDS?: string;
  /** Requests and socket messages per store per minute. Default 600. */
  RATE_LIMIT_PER_MINUTE?: string;
  /** Where stores are served until an operator switches: `on` (sharded) or `off` (legacy; default). */
  FEATURE_SHARDING?: string;
  /**
   * Names an independent instance of the app in one account: its legacy object, control object
   * and keyspaces get this suffix. Default none (tests give each case its own).
   */
  INSTANCE?: string;
  /** How long a Worker isolate trusts the flag it read. Default 1000 ms. */
  FLAG_CACHE_MS?: string;
}
