/**
 * The runtime-independent part of durable-shards: hashing, shard maps, the planner, fan-out, the
 * retry policy and errors. It runs anywhere (Node, a CLI, a browser) because it does not import
 * `cloudflare:workers`.
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
  backupIdSchema,
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
export { fanOut, valuesOf, errorsOf, completeValuesOf, type FanOutOptions, type FanOutOutcome, type FanOutResult } from "./fan-out.js";
export { withRetry, isRetryable, isOverloaded, backoffDelay, sleep, type RetryOptions } from "./retry.js";
export { errorResponse, errorStatus } from "./http.js";
export {
  MAX_FAILED_ATTEMPTS,
  type ChangePhase,
  type ChangeStatus,
  type Diagnosis,
  type MovePhase,
  type MoveStatus,
} from "./change-status.js";
export { HotKeys, type HotKey, type HotKeysSnapshot } from "./hot-keys.js";
export { Histogram, LATENCY_BUCKETS, type HistogramSnapshot } from "./histogram.js";
export { OBJECT_LIMITS, alertSettingsSchema, evaluateAlerts, type Alert, type AlertName, type AlertSeverity, type AlertSettings } from "./alerts.js";
export { autoscalerSettingsSchema, decide, type AutoscalerAction, type AutoscalerSettings, type AutoscalerState } from "./autoscaler.js";
export { planByWeight, type HotSlot, type WeightedPlan, type WeightedPlanOptions } from "./weighted-planner.js";
export {
  SLOT_LOAD_BUCKETS,
  keyspaceMetrics,
  metricsFamilies,
  type KeyspaceHotKey,
  type KeyspaceMetrics,
  type ShardMetrics,
} from "./keyspace-metrics.js";
export { renderPrometheus, PROMETHEUS_CONTENT_TYPE, type Labels, type MetricFamily } from "./prometheus.js";
export { FAILURE_KEY, errorOf, failureOf, isFailure, settle, unwrap, type Failure, type FailureBody } from "./result.js";
