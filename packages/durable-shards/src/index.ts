/**
 * durable-shards: spread a Durable Object app's keys over many objects through fixed slots and a
 * versioned, fenced slot → shard map, and change that spread while it runs.
 */
export { ShardError, WrongShardError, OverloadedError, invalidArgument, type ShardErrorCode } from "./errors.js";
export { hashKey, slotForKey, slotOfHash } from "./hash.js";
export {
  DEFAULT_SLOT_COUNT,
  MAX_SLOT_COUNT,
  MAX_KEY_LENGTH,
  LOCATION_HINTS,
  type LocationHint,
  parse,
  type ShardSpec,
} from "./schema.js";
export {
  ShardMap,
  countSlots,
  normalizeRanges,
  rangesContain,
  subtractRanges,
  type ShardInfo,
  type ShardMapSnapshot,
  type SlotRange,
  type SlotRun,
} from "./shard-map.js";
export { initialMap, planChange, type Plan, type ShardChange, type SlotMove } from "./planner.js";
export {
  ShardDirectory,
  DEFAULT_DIRECTORY_NAME,
  type ChangeResult,
  type CreateKeyspaceInput,
  type KeyspaceInfo,
  type RoutingInfo,
} from "./directory.js";
export { ShardedObject, type Ownership, type SlotData, type SlotTransfer } from "./sharded-object.js";
export { ShardRouter, MapCache, defaultMapCache, type KeyClient, type ShardClient, type RouterOptions } from "./router.js";
export { fanOut, valuesOf, errorsOf, type FanOutOptions, type FanOutOutcome, type FanOutResult } from "./fan-out.js";
export { withRetry, isRetryable, isOverloaded, backoffDelay, sleep, type RetryOptions } from "./retry.js";
export { errorResponse } from "./http.js";
export { Timers, type TimerHandlers } from "./timers.js";
export { migrate, type Migration } from "./migrations.js";
export type { KeyFence, ShardFence, RoutedReply } from "./fence.js";
