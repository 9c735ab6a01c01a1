/**
 * Per-shard measurement: what each shard counts about the calls it serves, cheaply.
 *
 * A call costs a few in-memory increments: its method's counters and latency histogram, its
 * slot's call count, and its key's count in an exact tally of the interval (`KeyTally`, typed
 * arrays keyed by the key's hash). The tally folds into a space-saving sketch (`hot-keys.ts`:
 * every count within total / capacity of the truth) when it fills and at each flush. Nothing
 * touches storage on the call path. A timer flushes the counts to SQLite (`flush`); an eviction
 * loses at most the counts since the last flush.
 *
 * Load is a rate: each slot keeps an exponentially decayed call count (time constant
 * `loadWindowMs`), so a steady r calls/s settles at r × window, and older traffic fades. Counts
 * are stored scaled to a reference time, so a flush only adds to them; the reference moves
 * forward (rescaling every row) before the scale could overflow.
 */
import { HotKeys, KeyTally, type HotKeysSnapshot } from "./hot-keys.js";
import { Histogram, type HistogramSnapshot } from "./histogram.js";
import type { Migration } from "./migrations.js";

/** How a keyspace's shards measure themselves; see `ShardedObject.measurement()`. */
export interface MeasurementOptions {
  /** Count calls at all. Default true; off, a shard reports only storage. */
  enabled?: boolean;
  /** How often counts go to storage (an eviction loses at most this much). Default 10 s. */
  flushIntervalMs?: number;
  /** Time constant of load rates: traffic older than a few of these has faded. Default 60 s. */
  loadWindowMs?: number;
  /** Counters of the hot-key sketch; a reported count exceeds the truth by at most calls / this. Default 64. */
  hotKeys?: number;
}

/** One method's counts: calls that ran, those that failed, and refusals (wrong shard). */
export interface MethodCounts {
  calls: number;
  errors: number;
  refusals: number;
  /** Latency of the calls that ran, in seconds. */
  latency: HistogramSnapshot;
}

/** What a shard reports about itself (`dsMeasure`). */
export interface ShardReport {
  keyspace: string;
  shard: string;
  /** The shard's map version and slots. */
  version: number;
  slots: number;
  at: number;
  /** When this shard started measuring (counts are cumulative since). */
  since: number;
  methods: Record<string, MethodCounts>;
  /** Calls per second, over the load window, of each slot it recorded (owned now or not). */
  slotLoads: [slot: number, callsPerSecond: number][];
  /** Calls per second, over the load window, of the slots it owns. */
  load: number;
  hotKeys: HotKeysSnapshot;
  /** Bytes of the whole object's database, and rows and bytes (`row-size.ts`) per slot table. */
  storage: { bytes: number; tables: Record<string, { rows: number; bytes: number }> };
}

export const DEFAULT_MEASUREMENT = { enabled: true, flushIntervalMs: 10_000, loadWindowMs: 60_000, hotKeys: 64 } as const;

/** The shard's tables of measurement (a migration of the shard's own history). */
export const MEASUREMENT_TABLES: Migration["up"] = `
  CREATE TABLE _ds_metric_methods (method TEXT PRIMARY KEY, calls INTEGER NOT NULL, errors INTEGER NOT NULL,
    refusals INTEGER NOT NULL, latency TEXT NOT NULL);
  CREATE TABLE _ds_slot_load (block INTEGER PRIMARY KEY, scaled BLOB NOT NULL);
  CREATE TABLE _ds_metric_state (id INTEGER PRIMARY KEY CHECK (id = 1), since INTEGER NOT NULL,
    reference INTEGER NOT NULL, hot_keys TEXT NOT NULL)`;

/** Scaled counts grow by e per load window; the reference moves before e^40. */
const REBASE_AFTER = 40;
/**
 * Slots per stored row of load: a flush rewrites one row per block it touched (a Float64Array of
 * scaled counts), not one per slot, so flushing costs a few writes however many slots took calls.
 */
const BLOCK = 256;

interface Pending {
  calls: number;
  errors: number;
  refusals: number;
  latency: Histogram;
}

/** The in-memory counts of one shard, and their storage. */
export class ShardMeasurement {
  readonly flushIntervalMs: number;
  readonly loadWindowMs: number;
  private readonly capacity: number;
  private methods = new Map<string, Pending>();
  private slotCalls: Uint32Array | undefined;
  private touched = false;
  private sketch: HotKeys | undefined;
  private readonly tally = new KeyTally(() => this.stored());
  /** Whether counts wait for a flush (and its timer is set). */
  dirty = false;

  constructor(
    private readonly sql: SqlStorage,
    options: MeasurementOptions,
  ) {
    this.flushIntervalMs = options.flushIntervalMs ?? DEFAULT_MEASUREMENT.flushIntervalMs;
    this.loadWindowMs = options.loadWindowMs ?? DEFAULT_MEASUREMENT.loadWindowMs;
    this.capacity = options.hotKeys ?? DEFAULT_MEASUREMENT.hotKeys;
  }

  /**
   * Counts a call of `method` that ran for `key` (of `hash`, its `hashKey`) in `slot` (slot -1:
   * no slot, e.g. a shard method; key undefined: no key).
   */
  served(method: string, slot: number, slotCount: number, key: string | undefined, hash: number, seconds: number, failed: boolean): void {
    const m = this.methods.get(method) ?? this.method(method);
    m.calls++;
    if (failed) m.errors++;
    m.latency.observe(seconds);
    if (slot >= 0) {
      const calls = (this.slotCalls ??= new Uint32Array(slotCount));
      calls[slot]!++;
      this.touched = true;
    }
    if (key !== undefined) this.tally.count(key, hash);
  }

  /** Counts a refusal of a call of `method`. */
  refused(method: string): void {
    (this.methods.get(method) ?? this.method(method)).refusals++;
  }

  /** Writes the counts since the last flush to storage, in one transaction. */
  flush(now = Date.now()): void {
    const state = this.state(now);
    let reference = state.reference;
    if ((now - reference) / this.loadWindowMs > REBASE_AFTER) {
      const factor = Math.exp(-(now - reference) / this.loadWindowMs);
      for (const [block, scaled] of this.blocks()) {
        for (let i = 0; i < scaled.length; i++) scaled[i]! *= factor;
        this.writeBlock(block, scaled);
      }
      reference = now;
    }
    // Stored and pending merged as methodCounts reports them; what changed is written back whole.
    const merged = this.methodCounts();
    for (const method of this.methods.keys()) {
      const m = merged[method]!;
      this.sql.exec(
        "INSERT OR REPLACE INTO _ds_metric_methods (method, calls, errors, refusals, latency) VALUES (?, ?, ?, ?, ?)",
        method, m.calls, m.errors, m.refusals, JSON.stringify(m.latency),
      );
    }
    const calls = this.slotCalls;
    if (calls && this.touched) {
      const weight = Math.exp((now - reference) / this.loadWindowMs);
      for (let start = 0; start < calls.length; start += BLOCK) {
        const counts = calls.subarray(start, start + BLOCK);
        if (!counts.some((n) => n > 0)) continue;
        const block = start / BLOCK;
        const row = this.sql.exec<{ scaled: ArrayBuffer }>("SELECT scaled FROM _ds_slot_load WHERE block = ?", block).toArray()[0];
        const scaled = row ? new Float64Array(row.scaled) : new Float64Array(BLOCK);
        counts.forEach((n, i) => (scaled[i]! += n * weight));
        this.writeBlock(block, scaled);
      }
      calls.fill(0);
    }
    this.sql.exec(
      "UPDATE _ds_metric_state SET reference = ?, hot_keys = ? WHERE id = 1",
      reference, JSON.stringify(this.hotKeys().snapshot()),
    );
    this.methods = new Map();
    this.touched = false;
    this.dirty = false;
  }

  /** Method counts, stored and pending together. */
  methodCounts(): Record<string, MethodCounts> {
    const out: Record<string, MethodCounts> = {};
    for (const row of this.sql.exec<{ method: string; calls: number; errors: number; refusals: number; latency: string }>(
      "SELECT method, calls, errors, refusals, latency FROM _ds_metric_methods",
    )) {
      out[row.method] = { calls: row.calls, errors: row.errors, refusals: row.refusals, latency: JSON.parse(row.latency) as HistogramSnapshot };
    }
    for (const [method, m] of this.methods) {
      const stored = out[method];
      const latency = new Histogram();
      if (stored) latency.merge(stored.latency);
      latency.merge(m.latency.snapshot());
      out[method] = {
        calls: (stored?.calls ?? 0) + m.calls,
        errors: (stored?.errors ?? 0) + m.errors,
        refusals: (stored?.refusals ?? 0) + m.refusals,
        latency: latency.snapshot(),
      };
    }
    return out;
  }

  /**
   * Calls per second of every slot recorded, over the load window: the decayed count divided by
   * the window (or by the time measured so far, while that is shorter).
   */
  slotLoads(now = Date.now()): [number, number][] {
    const state = this.state(now);
    const decay = Math.exp(-(now - state.reference) / this.loadWindowMs);
    const age = Math.max(now - state.since, 1_000);
    const seconds = (this.loadWindowMs / 1000) * (1 - Math.exp(-age / this.loadWindowMs));
    const counts = new Map<number, number>();
    for (const [block, scaled] of this.blocks()) scaled.forEach((c, i) => c > 0 && counts.set(block * BLOCK + i, c * decay));
    const pending = this.slotCalls;
    if (pending && this.touched) pending.forEach((n, slot) => n > 0 && counts.set(slot, (counts.get(slot) ?? 0) + n));
    return [...counts].filter(([, c]) => c > 1e-9).map(([slot, c]) => [slot, c / seconds]);
  }

  /** The hot-key sketch: as last flushed (loaded once per object lifetime), plus what was counted since. */
  hotKeys(): HotKeys {
    this.tally.fold();
    return this.stored();
  }

  /** When this shard started measuring. */
  since(now = Date.now()): number {
    return this.state(now).since;
  }

  /** The sketch without the tally folded in. */
  private stored(): HotKeys {
    if (!this.sketch) {
      const row = this.sql.exec<{ hot_keys: string }>("SELECT hot_keys FROM _ds_metric_state").toArray()[0];
      const snapshot = row ? (JSON.parse(row.hot_keys) as HotKeysSnapshot) : undefined;
      this.sketch = snapshot && snapshot.capacity === this.capacity ? HotKeys.from(snapshot) : new HotKeys(this.capacity);
    }
    return this.sketch;
  }

  private blocks(): [number, Float64Array][] {
    return this.sql
      .exec<{ block: number; scaled: ArrayBuffer }>("SELECT block, scaled FROM _ds_slot_load")
      .toArray()
      .map((r) => [r.block, new Float64Array(r.scaled)]);
  }

  private writeBlock(block: number, scaled: Float64Array): void {
    this.sql.exec(
      "INSERT INTO _ds_slot_load (block, scaled) VALUES (?, ?) ON CONFLICT (block) DO UPDATE SET scaled = excluded.scaled",
      block,
      scaled.buffer.slice(scaled.byteOffset, scaled.byteOffset + scaled.byteLength),
    );
  }

  private method(name: string): Pending {
    const m = { calls: 0, errors: 0, refusals: 0, latency: new Histogram() };
    this.methods.set(name, m);
    return m;
  }

  private state(now: number): { since: number; reference: number } {
    const row = this.sql.exec<{ since: number; reference: number }>("SELECT since, reference FROM _ds_metric_state").toArray()[0];
    if (row) return row;
    this.sql.exec("INSERT INTO _ds_metric_state (id, since, reference, hot_keys) VALUES (1, ?, ?, ?)", now, now, JSON.stringify(new HotKeys(this.capacity).snapshot()));
    return { since: now, reference: now };
  }
}
