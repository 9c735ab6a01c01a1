/**
 * durable-shards: spread a Durable Object app's keys over many objects through fixed slots and a
 * versioned, fenced slot → shard map, and change that spread while it runs.
 */
export * from "./core.js";
export {
  ShardDirectory,
  DEFAULT_DIRECTORY_NAME,
  DIRECTORY_METHODS,
  type DirectoryMethod,
  type CreateKeyspaceInput,
  type KeyspaceInfo,
  type RoutingInfo,
} from "./directory.js";
export type { ChangeOptions, ChangeResult, RebalanceOptions } from "./change-options.js";
export type { MoveStep } from "./moves.js";
export { directoryClient, type DirectoryClient, type DirectoryNamespace } from "./directory-client.js";
export { ShardedObject, type KeyspaceSchema, type Ownership, type SlotData, type SlotTransfer } from "./sharded-object.js";
export { ShardRouter, MapCache, defaultMapCache, type KeyClient, type ShardClient, type RouterOptions } from "./router.js";
export { Timers, type TimerHandlers } from "./timers.js";
export { metricsText, metricsJson, type MetricsOptions } from "./metrics-text.js";
export { adminApp, adminFetch, bearerMatches, type AdminOptions } from "./admin.js";
export { KEY_LEDGER_TABLE, KeyLedger, type KeyLedgerOptions, type KeyState } from "./key-ledger.js";
export { contentHash } from "./digest.js";
export { migrateKey, sweepKeys, type KeyMigration, type SourceEndpoint, type SweepOptions, type SweepState, type TargetEndpoint } from "./key-migration.js";
export type { BackupJob, BackupManifest, BackupSettings, JobPhase } from "./backups.js";
export type { KeyspaceSettings, KeyspaceSettingsInput, AutoscalerDecision } from "./observer.js";
export type { LoadHistory } from "./load-history.js";
export { DEFAULT_MEASUREMENT, type MeasurementOptions, type MethodCounts, type ShardReport } from "./shard-metrics.js";
export { migrate, type Migration } from "./migrations.js";
export type { KeyFence, ShardFence } from "./fence.js";
