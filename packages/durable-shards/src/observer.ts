/**
 * The directory's view of its keyspaces' load: it measures every shard (`dsMeasure`), keeps each
 * keyspace's settings, evaluates alerts and the autoscaler on a timer, and keeps what it decided.
 * The directory owns the storage and the changes; this module owns what they are decided from.
 */
import { z } from "zod";
import { alertSettingsSchema, evaluateAlerts, type Alert } from "./alerts.js";
import { autoscalerSettingsSchema, decide, type AutoscalerAction, type AutoscalerSettings, type AutoscalerState } from "./autoscaler.js";
import { isRunning, type ChangeStatus } from "./change-status.js";
import { completeValuesOf, fanOut, type FanOutResult } from "./fan-out.js";
import { Histogram, type HistogramSnapshot } from "./histogram.js";
import { bucketSlotsOf, hotKeysOf, keyspaceMetrics, slotLoadsOf, type KeyspaceMetrics } from "./keyspace-metrics.js";
import { loadColumns, recordLoad, type LoadHistory } from "./load-history.js";
import { backupSettingsSchema, type BackupSettings } from "./backups.js";
import { planByWeight, type HotSlot, type WeightedPlan, type WeightedPlanOptions } from "./weighted-planner.js";
import { unwrap, type Failure } from "./result.js";
import { parse } from "./schema.js";
import { ShardError } from "./errors.js";
import type { ShardMap } from "./shard-map.js";
import type { ShardReport } from "./shard-metrics.js";

/** A keyspace's operational settings: how often it is evaluated, its alert thresholds, its autoscaler, its backups. */
export interface KeyspaceSettings {
  observeIntervalMs: number;
  alerts: z.infer<typeof alertSettingsSchema>;
  autoscaler: AutoscalerSettings;
  backups: BackupSettings;
}

/** A change to a keyspace's settings; each group is merged into what is set, and a field set to `null` goes back to its default. */
export const keyspaceSettingsInputSchema = z.strictObject({
  /** How often alerts and the autoscaler are evaluated, in ms (default 60 s). */
  observeIntervalMs: z.number().int().min(100).max(86_400_000).nullable().optional(),
  alerts: z.record(z.string(), z.unknown()).optional(),
  autoscaler: z.record(z.string(), z.unknown()).optional(),
  backups: z.record(z.string(), z.unknown()).optional(),
});
export type KeyspaceSettingsInput = z.input<typeof keyspaceSettingsInputSchema>;

/** One autoscaler decision, as logged. */
export interface AutoscalerDecision {
  at: number;
  action: AutoscalerAction["action"];
  reason: string;
  /** What came of it: the change's version, or its error. */
  outcome?: string;
}

export const OBSERVATION_TABLES = `
  CREATE TABLE keyspace_settings (keyspace TEXT PRIMARY KEY, settings TEXT NOT NULL);
  CREATE TABLE observations (keyspace TEXT PRIMARY KEY, at INTEGER NOT NULL, totals TEXT NOT NULL,
    alerts TEXT NOT NULL, autoscaler TEXT NOT NULL, move_pause TEXT NOT NULL);
  CREATE TABLE decisions (id INTEGER PRIMARY KEY AUTOINCREMENT, keyspace TEXT NOT NULL, at INTEGER NOT NULL,
    action TEXT NOT NULL, reason TEXT NOT NULL, outcome TEXT)`;

const DEFAULT_OBSERVE_INTERVAL_MS = 60_000;
const KEPT_DECISIONS = 100;
const MEASURE_DEADLINE_MS = 10_000;

/** What the observer needs from the directory. */
export interface ObserverHost {
  sql: SqlStorage;
  map(keyspace: string): ShardMap;
  stub(keyspace: string, shard: string): { dsMeasure(): Promise<ShardReport | Failure>; dsSlotSizes(): Promise<[number, number][] | Failure> };
  latestChange(keyspace: string): ChangeStatus | null;
  /** Starts the change an autoscaler decision asks for; resolves when it finished. */
  act(keyspace: string, decision: Exclude<AutoscalerAction, { action: "none" }>): Promise<{ version: number }>;
}

/** Cumulative counts per shard at the last evaluation, to measure the window since. */
type Totals = Record<string, { calls: number; errors: number; latency: HistogramSnapshot }>;

interface Observation {
  at: number;
  totals: Totals;
  alerts: Alert[];
  autoscaler: AutoscalerState;
  movePause: HistogramSnapshot;
}

export class Observer {
  constructor(private readonly host: ObserverHost) {}

  settings(keyspace: string): KeyspaceSettings {
    const row = this.host.sql.exec<{ settings: string }>("SELECT settings FROM keyspace_settings WHERE keyspace = ?", keyspace).toArray()[0];
    const stored = row ? (JSON.parse(row.settings) as Partial<KeyspaceSettings>) : {};
    return {
      observeIntervalMs: stored.observeIntervalMs ?? DEFAULT_OBSERVE_INTERVAL_MS,
      alerts: alertSettingsSchema.parse(stored.alerts ?? {}),
      autoscaler: autoscalerSettingsSchema.parse(stored.autoscaler ?? {}),
      backups: backupSettingsSchema.parse(stored.backups ?? {}),
    };
  }

  /** Merges `input` into the keyspace's settings; every field is checked, unknown ones refused. */
  configure(keyspace: string, input: unknown): KeyspaceSettings {
    const change = parse(keyspaceSettingsInputSchema, input, "settings");
    const current = this.settings(keyspace);
    const next: KeyspaceSettings = {
      observeIntervalMs: change.observeIntervalMs === null ? DEFAULT_OBSERVE_INTERVAL_MS : (change.observeIntervalMs ?? current.observeIntervalMs),
      alerts: merged(alertSettingsSchema, current.alerts, change.alerts, "alerts"),
      autoscaler: merged(autoscalerSettingsSchema, current.autoscaler, change.autoscaler, "autoscaler"),
      backups: merged(backupSettingsSchema, current.backups, change.backups, "backups"),
    };
    this.host.sql.exec(
      "INSERT INTO keyspace_settings (keyspace, settings) VALUES (?, ?) ON CONFLICT (keyspace) DO UPDATE SET settings = excluded.settings",
      keyspace,
      JSON.stringify(next),
    );
    return next;
  }

  /** Every shard's report, or the error that kept it from answering. */
  async measure(keyspace: string): Promise<{ map: ShardMap; result: FanOutResult<ShardReport> }> {
    const map = this.host.map(keyspace);
    const result = await fanOut(map.shards.map((s) => s.id), async (shard) => unwrap(await this.host.stub(keyspace, shard).dsMeasure()), {
      deadlineMs: MEASURE_DEADLINE_MS,
    });
    return { map, result };
  }

  /**
   * A plan of moves that evens out `by` (measured load, or the bytes of the slot tables), with the
   * hot slots it cannot balance and their hot keys. `Incomplete` unless every shard answered.
   */
  async planByWeight(keyspace: string, by: "load" | "storage", options: WeightedPlanOptions): Promise<{ plan: WeightedPlan; hotSlots: (HotSlot & { keys: string[] })[] }> {
    // By storage, the slots' sizes are asked for at the same time as the reports (hot keys).
    const [{ map, result }, sizes] = await Promise.all([
      this.measure(keyspace),
      by === "storage" ? this.slotSizes(keyspace) : undefined,
    ]);
    const reports = completeValuesOf(result, `cannot plan '${keyspace}' by ${by}`);
    const weights = sizes ?? slotLoadsOf(map.slotCount, reports);
    const plan = planByWeight(map, weights, options);
    const hot = hotKeysOf(map, reports, 64).keys;
    return { plan, hotSlots: plan.hotSlots.map((h) => ({ ...h, keys: hot.filter((k) => k.slot === h.slot).map((k) => k.key) })) };
  }

  /** Bytes of the slot tables per slot, over every shard; `Incomplete` unless every shard answered. */
  private async slotSizes(keyspace: string): Promise<Float64Array> {
    const map = this.host.map(keyspace);
    const sizes = await fanOut(map.shards.map((s) => s.id), async (shard) => unwrap(await this.host.stub(keyspace, shard).dsSlotSizes()));
    const weights = new Float64Array(map.slotCount);
    for (const [slot, bytes] of completeValuesOf(sizes, `cannot plan '${keyspace}' by storage`).flat()) if (slot < map.slotCount) weights[slot] = bytes;
    return weights;
  }

  /** The keyspace's metrics, measured now; alerts as last evaluated. */
  metrics(keyspace: string): Promise<KeyspaceMetrics> {
    return this.measured(keyspace, this.observation(keyspace), this.settings(keyspace), this.host.latestChange(keyspace));
  }

  /** The keyspace's load per slot range at each of its last evaluations (the heatmap's past). */
  loadHistory(keyspace: string): LoadHistory {
    return { keyspace, bucketSlots: bucketSlotsOf(this.host.map(keyspace).slotCount), columns: loadColumns(this.host.sql, keyspace) };
  }

  /** The alerts of the keyspace's last evaluation. */
  alerts(keyspace: string): Alert[] {
    return this.observation(keyspace).alerts;
  }

  /**
   * Evaluates the keyspace now: measures its shards, updates its alerts (POSTing those that fired
   * or cleared to the webhook, if set), and lets the autoscaler decide and act.
   */
  async observe(keyspace: string, now = Date.now()): Promise<{ metrics: KeyspaceMetrics; decision: AutoscalerDecision }> {
    const settings = this.settings(keyspace);
    const before = this.observation(keyspace);
    const change = this.host.latestChange(keyspace);
    const running = change !== null && isRunning(change.phase);
    const metrics = await this.measured(keyspace, before, settings, change);
    const { totals, window } = windowSince(before.totals, metrics.shards);
    const alerts = evaluateAlerts(
      settings.alerts,
      {
        keyspace,
        now,
        shards: metrics.shards.filter((s) => s.up).map((s) => ({ shard: s.shard, load: s.load, storageBytes: s.storageBytes })),
        rows: metrics.shards.reduce((n, s) => n + Object.entries(s.tables).reduce((r, [name, t]) => (settings.alerts.keysTable === undefined || name === settings.alerts.keysTable ? r + t.rows : r), 0), 0),
        window,
        ...(running ? { change: { phase: change.phase, updatedAt: change.updatedAt } } : {}),
      },
      new Map(before.alerts.map((a) => [`${a.name}/${a.shard}`, a])),
    );
    const { decision, state } = decide(settings.autoscaler, before.autoscaler, {
      now,
      loads: metrics.shards.map((s) => ({ shard: s.shard, load: s.load })),
      changeRunning: running,
      ...(change?.finishedAt !== undefined ? { lastChangeAt: change.finishedAt } : {}),
    });
    this.save(keyspace, { ...before, at: now, totals, alerts, autoscaler: state });
    // With a shard down its slots would read as idle; the heatmap leaves that time blank instead.
    if (metrics.shards.every((s) => s.up)) recordLoad(this.host.sql, keyspace, now, metrics.slotLoad.buckets);
    await this.notify(settings.alerts.webhookUrl, before.alerts, alerts);
    const logged: AutoscalerDecision = { at: now, action: decision.action, reason: decision.reason };
    if (decision.action !== "none") {
      try {
        logged.outcome = `change to map version ${(await this.host.act(keyspace, decision)).version}`;
      } catch (error) {
        logged.outcome = `failed: ${error instanceof Error ? error.message : String(error)}`;
      }
      this.log(keyspace, logged);
    }
    return { metrics: { ...metrics, alerts, autoscaler: { settings: settings.autoscaler, state } }, decision: logged };
  }

  /** The autoscaler's settings, state, and its latest decisions (newest first). */
  autoscaler(keyspace: string): { settings: AutoscalerSettings; state: AutoscalerState; decisions: AutoscalerDecision[] } {
    const decisions = this.host.sql
      .exec<{ at: number; action: AutoscalerDecision["action"]; reason: string; outcome: string | null }>(
        "SELECT at, action, reason, outcome FROM decisions WHERE keyspace = ? ORDER BY id DESC LIMIT ?",
        keyspace,
        KEPT_DECISIONS,
      )
      .toArray()
      .map((d) => ({ at: d.at, action: d.action, reason: d.reason, ...(d.outcome === null ? {} : { outcome: d.outcome }) }));
    return { settings: this.settings(keyspace).autoscaler, state: this.observation(keyspace).autoscaler, decisions };
  }

  /** Pauses or resumes the keyspace's autoscaler (it keeps watching while paused). */
  setPaused(keyspace: string, paused: boolean): AutoscalerState {
    const observation = this.observation(keyspace);
    const autoscaler = { ...observation.autoscaler, paused };
    this.save(keyspace, { ...observation, autoscaler });
    this.log(keyspace, { at: Date.now(), action: "none", reason: paused ? "paused by an operator" : "resumed by an operator" });
    return autoscaler;
  }

  /** Records how long a finished change's moves refused their slots. */
  recordPauses(keyspace: string, pausesMs: readonly number[]): void {
    const observation = this.observation(keyspace);
    const pause = new Histogram();
    pause.merge(observation.movePause);
    for (const ms of pausesMs) pause.observe(ms / 1000);
    this.save(keyspace, { ...observation, movePause: pause.snapshot() });
  }

  private async measured(keyspace: string, observation: Observation, settings: KeyspaceSettings, change: ChangeStatus | null): Promise<KeyspaceMetrics> {
    const { map, result } = await this.measure(keyspace);
    const outcomes = result.results.map((r) => (r.ok ? { shard: r.shard, report: r.value } : { shard: r.shard, error: r.error.message }));
    return keyspaceMetrics(map, outcomes, {
      change: change !== null && isRunning(change.phase) ? { running: true, phase: change.phase, version: change.version } : { running: false },
      movePause: observation.movePause,
      alerts: observation.alerts,
      autoscaler: { settings: settings.autoscaler, state: observation.autoscaler },
    });
  }

  private log(keyspace: string, decision: AutoscalerDecision): void {
    console.log(`durable-shards autoscaler: ${keyspace}: ${decision.action}: ${decision.reason}${decision.outcome ? ` (${decision.outcome})` : ""}`);
    this.host.sql.exec("INSERT INTO decisions (keyspace, at, action, reason, outcome) VALUES (?, ?, ?, ?, ?)", keyspace, decision.at, decision.action, decision.reason, decision.outcome ?? null);
    this.host.sql.exec("DELETE FROM decisions WHERE keyspace = ? AND id NOT IN (SELECT id FROM decisions WHERE keyspace = ? ORDER BY id DESC LIMIT ?)", keyspace, keyspace, KEPT_DECISIONS);
  }

  /** POSTs each alert that fired or cleared to `url`; a webhook that fails is logged, not retried. */
  private async notify(url: string | undefined, before: readonly Alert[], after: readonly Alert[]): Promise<void> {
    if (!url) return;
    const was = new Map(before.map((a) => [`${a.name}/${a.shard}`, a.firing]));
    const changed = after.filter((a) => (was.get(`${a.name}/${a.shard}`) ?? false) !== a.firing);
    for (const alert of changed) {
      try {
        const response = await fetch(url, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ state: alert.firing ? "firing" : "resolved", ...alert }),
          signal: AbortSignal.timeout(5_000),
        });
        await response.body?.cancel();
        if (!response.ok) console.warn(`durable-shards alerts: webhook answered ${response.status}`);
      } catch (error) {
        console.warn(`durable-shards alerts: webhook failed: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
  }

  private observation(keyspace: string): Observation {
    const row = this.host.sql
      .exec<{ at: number; totals: string; alerts: string; autoscaler: string; move_pause: string }>(
        "SELECT at, totals, alerts, autoscaler, move_pause FROM observations WHERE keyspace = ?",
        keyspace,
      )
      .toArray()[0];
    if (!row) return { at: 0, totals: {}, alerts: [], autoscaler: { paused: false }, movePause: new Histogram().snapshot() };
    return {
      at: row.at,
      totals: JSON.parse(row.totals) as Totals,
      alerts: JSON.parse(row.alerts) as Alert[],
      autoscaler: JSON.parse(row.autoscaler) as AutoscalerState,
      movePause: JSON.parse(row.move_pause) as HistogramSnapshot,
    };
  }

  private save(keyspace: string, o: Observation): void {
    this.host.sql.exec(
      `INSERT INTO observations (keyspace, at, totals, alerts, autoscaler, move_pause) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (keyspace) DO UPDATE SET at = excluded.at, totals = excluded.totals, alerts = excluded.alerts,
         autoscaler = excluded.autoscaler, move_pause = excluded.move_pause`,
      keyspace, o.at, JSON.stringify(o.totals), JSON.stringify(o.alerts), JSON.stringify(o.autoscaler), JSON.stringify(o.movePause),
    );
  }
}

/**
 * `change` merged into `current`; a field set to `null` goes back to its default (JSON has no
 * undefined). A null field the group does not have is refused, as any unknown field is.
 */
function merged<S extends z.ZodObject>(schema: S, current: object, change: Record<string, unknown> = {}, group: string): z.infer<S> {
  const out: Record<string, unknown> = { ...current, ...change };
  for (const [field, value] of Object.entries(change)) {
    if (value !== null) continue;
    if (!(field in schema.shape)) throw new ShardError("InvalidArgument", `settings.${group}: unknown setting '${field}'`);
    delete out[field];
  }
  return parse(schema, out, `settings.${group}`);
}

/**
 * Each shard's cumulative totals now, and what they added since `before` (the previous
 * evaluation): the window alerts judge. A shard that did not answer keeps its old totals; one whose
 * totals shrank (counts lost to an eviction) adds nothing this time.
 */
function windowSince(before: Totals, shards: readonly KeyspaceMetrics["shards"][number][]): { totals: Totals; window: { calls: number; errors: number; latency: Histogram } } {
  const totals: Totals = {};
  const window = { calls: 0, errors: 0, latency: new Histogram() };
  for (const s of shards) {
    const last = before[s.shard];
    if (!s.up) {
      if (last) totals[s.shard] = last;
      continue;
    }
    const latency = new Histogram();
    let calls = 0;
    let errors = 0;
    for (const m of Object.values(s.methods)) {
      calls += m.calls;
      errors += m.errors;
      latency.merge(m.latency);
    }
    const now = (totals[s.shard] = { calls, errors, latency: latency.snapshot() });
    if (last && now.calls < last.calls) continue;
    window.calls += now.calls - (last?.calls ?? 0);
    window.errors += Math.max(0, now.errors - (last?.errors ?? 0));
    window.latency.merge({
      buckets: now.latency.buckets.map((n, i) => Math.max(0, n - (last?.latency.buckets[i] ?? 0))),
      sum: now.latency.sum - (last?.latency.sum ?? 0),
      count: now.latency.count - (last?.latency.count ?? 0),
    });
  }
  return { totals, window };
}
