// The todo-stores Worker: per-user TinyBase stores on durable-shards, migrated off one legacy
// `default-store` object. See README.md.
import { ShardDirectory } from "durable-shards";
import { createApp } from "./app.js";
import type { Env } from "./env.js";

export { LegacyStore } from "./legacy-store.js";
export { MigrationControl } from "./control.js";
export { StoreShard } from "./store-shard.js";

/** Holds the store keyspaces' maps (durable-shards). */
export class Directory extends ShardDirectory<Env> {}

const app = createApp();

export default { fetch: app.fetch } satisfies ExportedHandler<Env>;
