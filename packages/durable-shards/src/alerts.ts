/**
 * Alerts: thresholds per keyspace, evaluated on the directory's timer from what the shards
 * measured since the previous evaluation, with hysteresis (an alert fires above its threshold
 * and clears only below `clearRatio` of it, so a value hovering at the line does not flap).
 */
import { z } from "zod";
import { Histogram } from "./histogram.js";
import { isIdentifier } from "./slot-tables.js";

/** The per-object limits load and storage are measured against. */
export const OBJECT_LIMITS = {
  /** Requests per second one Durable Object handles, about (the platform's soft limit). */
  softLimitPerSecond: 1_000,
  /** Storage of one SQLite-backed object (paid plan). */
  storageBytes: 10 * 1024 ** 3,
} as const;

export const alertSettingsSchema = z.strictObject({
  /** Per-object storage the storage alert is measured against. */
  storageLimitBytes: z.number().positive().default(OBJECT_LIMITS.storageBytes),
  /** `storage` (critical): a shard's database above this share of `storageLimitBytes`. */
  storageShare: z.number().gt(0).max(1).default(0.8),
  /** `latency_p99` (warning): the keyspace's p99 call latency above this, in seconds. */
  p99Seconds: z.number().positive().default(1),
  /** `error_rate` (critical): failed calls over calls above this share. */
  errorRate: z.number().gt(0).max(1).default(0.01),
  /** Calls an evaluation window needs before latency and error rate are judged. */
  minCalls: z.number().int().min(1).default(20),
  /** `key_count` (warning, "plan a migration"): rows of the keyspace's slot tables above this. Unset: off. */
  maxKeys: z.number().int().positive().optional(),
  /** The slot table whose rows `maxKeys` counts (one row per key, say). Unset: every slot table's rows. */
  keysTable: z.string().refine(isIdentifier, "keysTable must be a table name").optional(),
  /** Calls per second one shard is measured against (the per-object soft limit). */
  softLimitPerSecond: z.number().positive().default(OBJECT_LIMITS.softLimitPerSecond),
  /** `shard_load` (warning): a shard's load above this share of `softLimitPerSecond`. */
  loadShare: z.number().gt(0).max(10).default(0.8),
  /** `change_stuck` (warning): a running change that made no progress for this long, in ms. */
  stuckAfterMs: z.number().int().positive().default(15 * 60_000),
  /** An alert that fired clears once its value is below this share of its threshold. */
  clearRatio: z.number().gt(0).max(1).default(0.9),
  /** Where fired and cleared alerts are POSTed as JSON. Unset: nowhere. */
  webhookUrl: z.url({ protocol: /^https?$/ }).optional(),
});
export type AlertSettings = z.infer<typeof alertSettingsSchema>;

export type AlertName = "storage" | "latency_p99" | "error_rate" | "key_count" | "shard_load" | "change_stuck";
export type AlertSeverity = "warning" | "critical";

/** One alert's state: firing or not, the value measured and its threshold. */
export interface Alert {
  keyspace: string;
  name: AlertName;
  severity: AlertSeverity;
  /** The shard it is about, or "" for the whole keyspace. */
  shard: string;
  firing: boolean;
  value: number;
  threshold: number;
  /** When it last started firing (or cleared). */
  since: number;
  message: string;
}

/** What one evaluation sees of a keyspace. */
export interface AlertInput {
  keyspace: string;
  now: number;
  shards: { shard: string; load: number; storageBytes: number }[];
  /** Rows of the keyspace's slot tables. */
  rows: number;
  /** Calls, failed calls and latency over the window since the previous evaluation. */
  window: { calls: number; errors: number; latency: Histogram };
  /** A running change: when it last made progress. */
  change?: { phase: string; updatedAt: number };
}

/** Evaluates every alert of a keyspace; `previous` (by `name/shard`) gives hysteresis and `since`. */
export function evaluateAlerts(settings: AlertSettings, input: AlertInput, previous: ReadonlyMap<string, Alert>): Alert[] {
  const out: Alert[] = [];
  const judge = (name: AlertName, severity: AlertSeverity, shard: string, value: number, threshold: number, message: string) => {
    const before = previous.get(`${name}/${shard}`);
    const firing = before?.firing ? value > threshold * settings.clearRatio : value > threshold;
    const since = before && before.firing === firing ? before.since : input.now;
    out.push({ keyspace: input.keyspace, name, severity, shard, firing, value, threshold, since, message });
  };
  for (const s of input.shards) {
    const limit = settings.storageShare * settings.storageLimitBytes;
    judge("storage", "critical", s.shard, s.storageBytes, limit, `shard '${s.shard}' stores ${mib(s.storageBytes)} of the ${mib(limit)} alert line`);
    const busy = settings.loadShare * settings.softLimitPerSecond;
    judge("shard_load", "warning", s.shard, s.load, busy, `shard '${s.shard}' serves ${s.load.toFixed(1)} calls/s; the alert line is ${busy.toFixed(0)}`);
  }
  const { calls, errors, latency } = input.window;
  const judged = calls >= settings.minCalls;
  judge("latency_p99", "warning", "", judged ? latency.quantile(0.99) : 0, settings.p99Seconds, `p99 latency ${judged ? `${latency.quantile(0.99).toFixed(3)} s` : `not judged (${calls} calls)`}`);
  const rate = judged ? errors / calls : 0;
  judge("error_rate", "critical", "", rate, settings.errorRate, `${errors} of ${calls} calls failed since the last evaluation`);
  if (settings.maxKeys !== undefined) {
    judge("key_count", "warning", "", input.rows, settings.maxKeys, `${input.rows} rows against the ${settings.maxKeys} set: plan a migration`);
  }
  const stalled = input.change ? input.now - input.change.updatedAt : 0;
  judge("change_stuck", "warning", "", stalled, settings.stuckAfterMs, input.change ? `the change in phase '${input.change.phase}' made no progress for ${Math.round(stalled / 1000)} s` : "no change running");
  return out;
}

function mib(bytes: number): string {
  return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
}
