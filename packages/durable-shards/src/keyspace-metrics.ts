/**
 * A keyspace's metrics: its shards' reports (`shard-metrics.ts`) put together against its map,
 * as JSON for dashboards and tools, and as Prometheus families (`metricsFamilies`).
 */
import type { Alert } from "./alerts.js";
import type { AutoscalerSettings, AutoscalerState } from "./autoscaler.js";
import type { ChangePhase } from "./change-status.js";
import { hashKey, slotOfHash } from "./hash.js";
import { LATENCY_BUCKETS, type HistogramSnapshot } from "./histogram.js";
import type { Labels, MetricFamily } from "./prometheus.js";
import type { ShardMap } from "./shard-map.js";
import type { MethodCounts, ShardReport } from "./shard-metrics.js";

/** Slot-range buckets of `slotLoad` (and of `durable_shards_slot_load`). */
export const SLOT_LOAD_BUCKETS = 64;

/** Slots per range of `slotLoad` for a keyspace of `slotCount` slots. */
export function bucketSlotsOf(slotCount: number): number {
  return Math.max(1, Math.ceil(slotCount / SLOT_LOAD_BUCKETS));
}

/** A hot key of the keyspace: its estimated calls (at most `error` above the truth). */
export interface KeyspaceHotKey {
  key: string;
  shard: string;
  slot: number;
  count: number;
  error: number;
}

/** One shard's metrics, or why it could not be measured. */
export interface ShardMetrics {
  shard: string;
  slots: number;
  up: boolean;
  error?: string;
  /** Calls per second of the slots the map gives it, over the load window. */
  load: number;
  methods: Record<string, MethodCounts>;
  storageBytes: number;
  tables: Record<string, { rows: number; bytes: number }>;
}

/** Everything measured about one keyspace, at one time. */
export interface KeyspaceMetrics {
  keyspace: string;
  version: number;
  slotCount: number;
  at: number;
  shards: ShardMetrics[];
  /** Calls per second: all shards, the heaviest, the mean, and heaviest over mean. */
  load: { total: number; max: number; mean: number; maxOverMean: number };
  /** Calls per second per run of `bucketSlots` slots (a strip of the slot space, for heatmaps). */
  slotLoad: { bucketSlots: number; buckets: number[] };
  /** The hottest keys, largest first, and the most any count exceeds the truth. */
  hotKeys: { keys: KeyspaceHotKey[]; errorBound: number };
  change: { running: boolean; phase?: ChangePhase; version?: number };
  movePause: HistogramSnapshot;
  alerts: Alert[];
  autoscaler: { settings: AutoscalerSettings; state: AutoscalerState };
}

/** Calls per second per slot, summed over every shard's record (a moved slot's history stays with its old shard). */
export function slotLoadsOf(slotCount: number, reports: readonly ShardReport[]): Float64Array {
  const loads = new Float64Array(slotCount);
  for (const r of reports) for (const [slot, rate] of r.slotLoads) if (slot < slotCount) loads[slot]! += rate;
  return loads;
}

/** The keyspace's hot keys from every shard's sketch, largest first. */
export function hotKeysOf(map: ShardMap, reports: readonly ShardReport[], n = 10): { keys: KeyspaceHotKey[]; errorBound: number } {
  const byKey = new Map<string, KeyspaceHotKey>();
  let errorBound = 0;
  for (const r of reports) {
    errorBound += r.hotKeys.total / r.hotKeys.capacity;
    for (const k of r.hotKeys.keys) {
      const known = byKey.get(k.key);
      if (known) {
        known.count += k.count;
        known.error += k.error;
        continue;
      }
      const slot = slotOfHash(hashKey(k.key), map.slotCount);
      byKey.set(k.key, { key: k.key, shard: map.shardOfSlot(slot).id, slot, count: k.count, error: k.error });
    }
  }
  const keys = [...byKey.values()].sort((a, b) => b.count - a.count || a.key.localeCompare(b.key)).slice(0, n);
  return { keys, errorBound };
}

/** A keyspace's metrics from its map and the outcome of measuring each shard. */
export function keyspaceMetrics(
  map: ShardMap,
  outcomes: readonly ({ shard: string; report: ShardReport } | { shard: string; error: string })[],
  extra: Pick<KeyspaceMetrics, "change" | "movePause" | "alerts" | "autoscaler">,
  now = Date.now(),
): KeyspaceMetrics {
  const reports = outcomes.flatMap((o) => ("report" in o ? [o.report] : []));
  const slotLoads = slotLoadsOf(map.slotCount, reports);
  const owners = map.ownerIndexes();
  const perShard = new Array<number>(map.shards.length).fill(0);
  slotLoads.forEach((rate, slot) => (perShard[owners[slot]!]! += rate));
  const counts = map.slotCounts();
  const shards = map.shards.map((s, i): ShardMetrics => {
    const outcome = outcomes.find((o) => o.shard === s.id);
    const report = outcome && "report" in outcome ? outcome.report : undefined;
    return {
      shard: s.id,
      slots: counts[i]!,
      up: report !== undefined,
      ...(outcome && "error" in outcome ? { error: outcome.error } : {}),
      load: perShard[i]!,
      methods: report?.methods ?? {},
      storageBytes: report?.storage.bytes ?? 0,
      tables: report?.storage.tables ?? {},
    };
  });
  const total = perShard.reduce((a, b) => a + b, 0);
  const max = Math.max(0, ...perShard);
  const mean = total / map.shards.length;
  const bucketSlots = bucketSlotsOf(map.slotCount);
  const buckets = new Array<number>(Math.ceil(map.slotCount / bucketSlots)).fill(0);
  slotLoads.forEach((rate, slot) => (buckets[Math.floor(slot / bucketSlots)]! += rate));
  return {
    keyspace: map.keyspace,
    version: map.version,
    slotCount: map.slotCount,
    at: now,
    shards,
    load: { total, max, mean, maxOverMean: mean > 0 ? max / mean : 1 },
    slotLoad: { bucketSlots, buckets },
    hotKeys: hotKeysOf(map, reports),
    ...extra,
  };
}

/** Prometheus families of `keyspaces` (names and labels as the README lists them). */
export function metricsFamilies(keyspaces: readonly KeyspaceMetrics[]): MetricFamily[] {
  type Value = { labels: Labels; value: number };
  const gauge = (name: string, help: string, samples: Value[]): MetricFamily => ({ name, help, type: "gauge", samples });
  // Each series once, with its labels; the families pick their value from it.
  const methods = keyspaces.flatMap((k) => k.shards.flatMap((s) => Object.entries(s.methods).map(([method, m]) => ({ labels: { keyspace: k.keyspace, shard: s.shard, method }, m }))));
  const shards = keyspaces.flatMap((k) => k.shards.map((s) => ({ labels: { keyspace: k.keyspace, shard: s.shard }, s })));
  const tables = shards.flatMap(({ labels, s }) => Object.entries(s.tables).map(([table, t]) => ({ labels: { ...labels, table }, t })));
  const counter = (name: string, help: string, pick: (m: MethodCounts) => number): MetricFamily => ({
    name,
    help,
    type: "counter",
    samples: methods.map(({ labels, m }) => ({ labels, value: pick(m) })),
  });
  const perShard = (name: string, help: string, pick: (s: ShardMetrics) => number) => gauge(name, help, shards.map(({ labels, s }) => ({ labels, value: pick(s) })));
  const perKeyspace = (name: string, help: string, pick: (k: KeyspaceMetrics) => number) => gauge(name, help, keyspaces.map((k) => ({ labels: { keyspace: k.keyspace }, value: pick(k) })));
  const perTable = (name: string, help: string, pick: (t: { rows: number; bytes: number }) => number) => gauge(name, help, tables.map(({ labels, t }) => ({ labels, value: pick(t) })));
  return [
    counter("durable_shards_calls_total", "Calls a shard ran, per method.", (m) => m.calls),
    counter("durable_shards_errors_total", "Calls that failed (the method threw), per method.", (m) => m.errors),
    counter("durable_shards_refusals_total", "Calls refused because the shard does not own the key's slot (WrongShard), per method.", (m) => m.refusals),
    {
      name: "durable_shards_call_duration_seconds",
      help: "Latency of the calls a shard ran, per method (time spent in I/O; a Worker's clock stands still while code runs).",
      type: "histogram",
      bounds: LATENCY_BUCKETS,
      samples: methods.map(({ labels, m }) => ({ labels, histogram: m.latency })),
    },
    perShard("durable_shards_shard_up", "1 when the shard answered the scrape, else 0.", (s) => (s.up ? 1 : 0)),
    perShard("durable_shards_shard_load", "Calls per second of the slots the map gives the shard, over the load window.", (s) => s.load),
    perShard("durable_shards_shard_slots", "Slots the map gives the shard.", (s) => s.slots),
    perShard("durable_shards_storage_bytes", "Bytes of the shard's database.", (s) => s.storageBytes),
    perTable("durable_shards_table_rows", "Rows per slot table.", (t) => t.rows),
    perTable("durable_shards_table_bytes", "Approximate bytes of the rows per slot table (the lengths of their values).", (t) => t.bytes),
    gauge(
      "durable_shards_slot_load",
      "Calls per second per range of slots, over the load window.",
      keyspaces.flatMap((k) =>
        k.slotLoad.buckets.map((value, i) => {
          const start = i * k.slotLoad.bucketSlots;
          return { labels: { keyspace: k.keyspace, range: `${start}-${Math.min(start + k.slotLoad.bucketSlots, k.slotCount) - 1}` }, value };
        }),
      ),
    ),
    gauge(
      "durable_shards_hot_key_calls",
      "Estimated calls of the hottest keys (space-saving sketch: at most total / capacity above the truth).",
      keyspaces.flatMap((k) => k.hotKeys.keys.map((h) => ({ labels: { keyspace: k.keyspace, shard: h.shard, key: h.key }, value: h.count }))),
    ),
    perKeyspace("durable_shards_map_version", "Version of the keyspace's committed map.", (k) => k.version),
    perKeyspace("durable_shards_load_max_over_mean", "The heaviest shard's load over the mean.", (k) => k.load.maxOverMean),
    perKeyspace("durable_shards_change_in_progress", "1 while a change of the keyspace runs, else 0.", (k) => (k.change.running ? 1 : 0)),
    perKeyspace("durable_shards_autoscaler_enabled", "1 when the keyspace's autoscaler is on (and not paused), else 0.", (k) => (k.autoscaler.settings.enabled && !k.autoscaler.state.paused ? 1 : 0)),
    {
      name: "durable_shards_move_pause_seconds",
      help: "How long moves refused their slots (release to acquire), per finished move.",
      type: "histogram",
      bounds: LATENCY_BUCKETS,
      samples: keyspaces.map((k) => ({ labels: { keyspace: k.keyspace }, histogram: k.movePause })),
    },
    gauge(
      "durable_shards_alert",
      "1 while the alert fires, else 0.",
      keyspaces.flatMap((k) => k.alerts.map((a) => ({ labels: { keyspace: k.keyspace, name: a.name, severity: a.severity, shard: a.shard }, value: a.firing ? 1 : 0 }))),
    ),
  ];
}

