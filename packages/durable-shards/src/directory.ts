/**
 * The directory: the one Durable Object that owns every keyspace's shard map.
 *
 * It creates keyspaces, records shards, plans and applies changes, and serves maps to routers.
 * It is not on the request path: routers fetch a map once and come back only when a shard fences
 * them off or their refresh interval passes.
 *
 * A change is applied in resumable steps (`moves.ts`). The plan is stored as pending first; then,
 * per move, the source releases the slots (and stops serving them) and hands their rows to the
 * target, which acquires them; then the new map is committed in one transaction; then sources
 * drop the rows they gave away. Every step is idempotent, so an interrupted change is finished by
 * {@link ShardDirectory.resumePending} (also run from the directory's alarm). A change that has
 * not committed can be rolled back ({@link ShardDirectory.abortChange}), and rolls itself back
 * after {@link MAX_FAILED_ATTEMPTS} failed runs. Its phase and progress are kept durably
 * ({@link ShardDirectory.getChange}, {@link ShardDirectory.diagnose}).
 *
 * Call it through {@link directoryClient}: its errors then arrive typed, and expected ones (an
 * unknown keyspace, a change in progress, rejected input) are not counted as failed invocations.
 * The methods can also be called on a raw stub; they throw then, as plain `Error`s.
 */
import { DurableObject } from "cloudflare:workers";
import { z } from "zod";
import { ShardError } from "./errors.js";
import { settle } from "./result.js";
import { MAX_FAILED_ATTEMPTS, diagnosisOf, statusOf, type ChangeRecord, type ChangeStatus, type Diagnosis } from "./change-status.js";
import { cleanUp, rollBackMoves, runMoves, type ChangeContext, type MoveStep, type ShardProtocol, type StoredPlan } from "./moves.js";
import { migrate, type Migration } from "./migrations.js";
import { initialMap, planChange, type Plan, type ShardChange } from "./planner.js";
import {
  DEFAULT_SLOT_COUNT,
  backupIdSchema,
  keySchema,
  keyspaceNameSchema,
  mapVersionSchema,
  parse,
  placementSchema,
  shardIdsSchema,
  shardSpecsSchema,
  slotCountSchema,
  type ShardSpec,
} from "./schema.js";
import { ShardMap, countSlots, type ShardInfo, type ShardMapSnapshot, type SlotRange } from "./shard-map.js";
import type { SlotTransfer } from "./sharded-object.js";
import { Timers } from "./timers.js";
import { ChangeStore } from "./change-store.js";
import { KeyspaceStore } from "./keyspace-store.js";
import { changeOptionsSchema, rebalanceOptionsSchema, type ChangeOptions, type ChangeResult, type RebalanceOptions } from "./change-options.js";
import type { Alert } from "./alerts.js";
import type { AutoscalerAction } from "./autoscaler.js";
import { metricsFamilies, type KeyspaceMetrics } from "./keyspace-metrics.js";
import { OBSERVATION_TABLES, Observer, type KeyspaceSettings, type ObserverHost } from "./observer.js";
import { BACKUP_TABLES, Backups, type BackupHost, type BackupJob } from "./backups.js";
import { LOAD_HISTORY_TABLES, type LoadHistory } from "./load-history.js";
import { renderPrometheus } from "./prometheus.js";

/** Name of the directory object unless a router or app says otherwise. */
export const DEFAULT_DIRECTORY_NAME = "durable-shards-directory";

export const createKeyspaceSchema = z.strictObject({
  name: keyspaceNameSchema,
  /** Name of the Durable Object namespace binding (in the directory's env) that serves it. */
  binding: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, "binding must be an env binding name"),
  placement: placementSchema.default("hash"),
  slotCount: slotCountSchema.default(DEFAULT_SLOT_COUNT),
  /** Initial shards (hash placement only). Default 1. */
  shards: shardSpecsSchema.optional(),
});
export type CreateKeyspaceInput = z.input<typeof createKeyspaceSchema>;

/** A keyspace as the directory describes it. */
export interface KeyspaceInfo {
  name: string;
  binding: string;
  placement: "hash" | "entity";
  slotCount: number;
  version: number;
  shards: (ShardInfo & { slots: number })[];
  /** Version of a change that started and has not committed yet. */
  pendingVersion?: number;
}

/** What routers need to route: a map, or the fact that the keyspace uses entity placement. */
export type RoutingInfo =
  | ({ placement: "hash" } & ShardMapSnapshot)
  | { placement: "entity"; keyspace: string; version: number };

const MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: "maps",
    up: `CREATE TABLE keyspaces (
           name TEXT PRIMARY KEY, binding TEXT NOT NULL, placement TEXT NOT NULL,
           slot_count INTEGER NOT NULL, version INTEGER NOT NULL, created_at INTEGER NOT NULL,
           next_shard INTEGER NOT NULL DEFAULT 0);
         CREATE TABLE shards (
           keyspace TEXT NOT NULL, id TEXT NOT NULL, position INTEGER NOT NULL, location_hint TEXT,
           PRIMARY KEY (keyspace, id));
         CREATE TABLE slot_runs (
           keyspace TEXT NOT NULL, start INTEGER NOT NULL, shard_id TEXT NOT NULL,
           PRIMARY KEY (keyspace, start));
         CREATE TABLE changes (
           keyspace TEXT NOT NULL, version INTEGER NOT NULL, status TEXT NOT NULL,
           plan TEXT NOT NULL, created_at INTEGER NOT NULL, committed_at INTEGER,
           PRIMARY KEY (keyspace, version))`,
  },
  {
    // Each change's phase and progress (change-status.ts); statuses now also 'rolled-back'.
    version: 2,
    name: "change-records",
    up: `ALTER TABLE changes ADD COLUMN record TEXT;
         ALTER TABLE changes ADD COLUMN phase TEXT`,
  },
  // Settings, alerts, the autoscaler's state and decisions, move pauses (observer.ts).
  { version: 3, name: "observations", up: OBSERVATION_TABLES },
  // Backup and restore jobs (backups.ts).
  { version: 4, name: "backups", up: BACKUP_TABLES },
  // Load per slot range at each evaluation, the dashboard's heatmap (load-history.ts).
  { version: 5, name: "load-history", up: LOAD_HISTORY_TABLES },
];

/** The directory methods callable through {@link ShardDirectory.dsInvoke}. */
export const DIRECTORY_METHODS = [
  "createKeyspace",
  "ensureKeyspace",
  "getKeyspace",
  "listKeyspaces",
  "getMap",
  "resolve",
  "addShards",
  "removeShards",
  "rebalance",
  "resumePending",
  "getChange",
  "abortChange",
  "diagnose",
  "metrics",
  "metricsText",
  "loadHistory",
  "alerts",
  "observe",
  "configureKeyspace",
  "getSettings",
  "autoscaler",
  "pauseAutoscaler",
  "resumeAutoscaler",
  "backup",
  "listBackups",
  "getBackupJob",
  "restore",
  "deleteBackup",
] as const;
export type DirectoryMethod = (typeof DIRECTORY_METHODS)[number];
const directoryMethods: ReadonlySet<string> = new Set(DIRECTORY_METHODS);
const invokeArgsSchema = z.array(z.unknown()).max(8, "at most 8 arguments");

const RESUME_TIMER = "resume-pending";
/** Timers that evaluate a keyspace's alerts and autoscaler: `observe:<keyspace>`. */
const OBSERVE_PREFIX = "observe:";
/** Timers of scheduled backups (`backup:<keyspace>`), and the one that runs queued backup jobs. */
const BACKUP_PREFIX = "backup:";
const BACKUP_JOBS_TIMER = "backup-jobs";
const jobOptionsSchema = z.strictObject({ wait: z.boolean().optional() });
const restoreOptionsSchema = jobOptionsSchema.extend({ into: keyspaceNameSchema.optional() });
const ABORTED = "aborted (abortChange)";
/** Delay before the alarm runs a change again after a failed (or interrupted) run. */
const RESUME_DELAY_MS = 5_000;

export class ShardDirectory<Env = unknown> extends DurableObject<Env> {
  private readonly keyspaces: KeyspaceStore;
  private readonly changes: ChangeStore;
  private readonly timers: Timers;
  /** Per keyspace, the tail of the runs and rollbacks of its change, so they never interleave. */
  private readonly queues = new Map<string, Promise<unknown>>();
  /** Keyspaces whose running change was asked to stop (at its next step) and roll back. */
  private readonly abortRequests = new Set<string>();
  private readonly observer: Observer;
  private readonly backups: Backups;
  /** Keyspaces whose evaluations this instance made sure are scheduled (see armObserver). */
  private readonly armed = new Set<string>();
  /** Work started in this object's lifetime and still running (`change:<keyspace>`, `job:<id>`), so timers do not start it twice. */
  private readonly running = new Map<string, Promise<unknown>>();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    migrate(ctx.storage, "durable-shards/directory", MIGRATIONS);
    this.timers = new Timers(ctx.storage);
    this.keyspaces = new KeyspaceStore(ctx.storage.sql);
    this.changes = new ChangeStore(ctx.storage.sql);
    this.observer = new Observer({
      sql: ctx.storage.sql,
      map: (keyspace) => this.keyspaces.committedMap(keyspace),
      stub: (keyspace, shard) => this.shardStub(keyspace, shard),
      latestChange: (keyspace) => {
        const record = this.changes.latestRecord(keyspace);
        return record ? statusOf(record) : null;
      },
      act: (keyspace, decision) => this.act(keyspace, decision),
    });
    this.backups = new Backups({
      sql: ctx.storage.sql,
      map: (keyspace) => this.keyspaces.committedMap(keyspace),
      binding: (keyspace) => this.keyspaces.requireRow(keyspace).binding,
      stub: (keyspace, shard) => this.shardStub(keyspace, shard),
      bucket: (binding) => this.bucket(binding),
      exclusive: (keyspace, fn) =>
        this.serialize(keyspace, async () => {
          if (this.changes.pending(keyspace)) throw new ShardError("ChangeInProgress", `keyspace '${keyspace}' has a change in progress; back it up or restore it when the change is done`, { retryable: true });
          return fn();
        }),
      createKeyspace: async (name, binding, slotCount, shards) => void (await this.createKeyspace({ name, binding, slotCount, shards })),
      exists: (name) => this.keyspaces.row(name) !== undefined,
    });
  }

  /** Creates a keyspace and grants each initial shard its slots. */
  async createKeyspace(input: CreateKeyspaceInput): Promise<KeyspaceInfo> {
    const k = parse(createKeyspaceSchema, input, "keyspace");
    this.namespace(k.binding);
    if (this.keyspaces.row(k.name)) throw new ShardError("KeyspaceExists", `keyspace '${k.name}' already exists`);
    if (k.placement === "entity") {
      if (k.shards !== undefined) throw new ShardError("InvalidArgument", "entity keyspaces have no shards");
      this.keyspaces.insert(k.name, k.binding, "entity", k.slotCount);
      return this.getKeyspace(k.name);
    }
    this.ctx.storage.transactionSync(() => {
      this.keyspaces.insert(k.name, k.binding, "hash", k.slotCount);
      const shards = this.keyspaces.newShards(k.name, k.shards ?? 1, new Set());
      const map = initialMap(k.name, k.slotCount, shards);
      this.changes.storePending(k.name, { map: map.toSnapshot(), moves: [], grants: shards.map((s) => s.id) });
    });
    await this.apply(k.name);
    await this.armObserver(k.name);
    return this.getKeyspace(k.name);
  }

  /**
   * Creates the keyspace unless it exists with the same binding, placement and slot count (then it
   * is returned as it is; a creation interrupted earlier is finished first). For apps that declare
   * their keyspaces in code. A keyspace of the same name but another definition is refused with
   * `KeyspaceExists`.
   */
  async ensureKeyspace(input: CreateKeyspaceInput): Promise<KeyspaceInfo> {
    const k = parse(createKeyspaceSchema, input, "keyspace");
    const row = this.keyspaces.row(k.name);
    if (!row) return this.createKeyspace(input);
    if (row.binding !== k.binding || row.placement !== k.placement || row.slot_count !== k.slotCount) {
      throw new ShardError(
        "KeyspaceExists",
        `keyspace '${k.name}' exists as ${row.placement} keyspace of ${row.slot_count} slots on '${row.binding}'`,
      );
    }
    if (row.version === 0) await this.apply(k.name);
    return this.getKeyspace(k.name);
  }

  /** Describes a keyspace. */
  getKeyspace(name: string): KeyspaceInfo {
    const keyspace = parse(keyspaceNameSchema, name, "keyspace");
    const row = this.keyspaces.requireRow(keyspace);
    const pending = this.changes.pending(keyspace);
    const info: KeyspaceInfo = {
      name: row.name,
      binding: row.binding,
      placement: row.placement,
      slotCount: row.slot_count,
      version: row.version,
      shards: [],
    };
    if (pending) info.pendingVersion = pending.map.version;
    if (row.placement === "hash" && row.version > 0) {
      const map = this.keyspaces.committedMap(keyspace);
      const counts = map.slotCounts();
      info.shards = map.shards.map((s, i) => ({ ...s, slots: counts[i]! }));
    }
    return info;
  }

  /** Every keyspace, by name. */
  listKeyspaces(): KeyspaceInfo[] {
    return this.keyspaces.names().map((name) => this.getKeyspace(name));
  }

  /**
   * The routing info of `keyspace`, or `null` when the caller's `knownVersion` is already current
   * (the common answer to a refresh, and cheap).
   */
  getMap(keyspace: string, knownVersion?: number): RoutingInfo | null {
    const name = parse(keyspaceNameSchema, keyspace, "keyspace");
    const known = knownVersion === undefined ? undefined : parse(mapVersionSchema, knownVersion, "knownVersion");
    const row = this.keyspaces.requireRow(name);
    if (known !== undefined && known >= row.version) return null;
    if (row.placement === "entity") return { placement: "entity", keyspace: name, version: row.version };
    if (row.version === 0) throw new ShardError("NotInitialized", `keyspace '${name}' is still being created; retry shortly`, { retryable: true });
    return { placement: "hash", ...this.keyspaces.committedMap(name).toSnapshot() };
  }

  /**
   * Id of the shard that owns `key` in the committed map. For tools and comparisons: routers never
   * ask per call, because that would make the directory a global bottleneck again.
   */
  resolve(keyspace: string, key: string): string {
    const name = parse(keyspaceNameSchema, keyspace, "keyspace");
    const k = parse(keySchema, key, "key");
    return this.keyspaces.committedMap(name).shardOfKey(k).id;
  }

  /** Adds shards (a count, or specs with ids and location hints) and moves them their share. */
  async addShards(keyspace: string, shards: number | ShardSpec[], options?: ChangeOptions): Promise<ChangeResult> {
    const name = parse(keyspaceNameSchema, keyspace, "keyspace");
    const specs = parse(shardSpecsSchema, shards, "shards");
    const limits = parse(changeOptionsSchema, options ?? {}, "options");
    const map = this.keyspaces.committedMap(name);
    const add = this.keyspaces.newShards(name, specs, new Set(map.shards.map((s) => s.id)), limits.dryRun === true);
    return this.change(name, { add }, limits);
  }

  /** Removes shards (any of them, not only the last) after moving their slots to the others. */
  async removeShards(keyspace: string, shardIds: string[], options?: ChangeOptions): Promise<ChangeResult> {
    const name = parse(keyspaceNameSchema, keyspace, "keyspace");
    const ids = parse(shardIdsSchema, shardIds, "shardIds");
    return this.change(name, { remove: ids }, parse(changeOptionsSchema, options ?? {}, "options"));
  }

  /**
   * Evens out slot counts (`by: "slots"`, the default), or the shards' measured load or storage
   * (`by: "load"`, `"storage"`), moving whole slots within `maxSlots`; moves nothing when already
   * balanced. A slot too heavy to balance is left alone and reported in `hotSlots`, with its hot
   * keys. With `dryRun`, returns the plan and the predicted balance only.
   */
  async rebalance(keyspace: string, options?: RebalanceOptions): Promise<ChangeResult> {
    const name = parse(keyspaceNameSchema, keyspace, "keyspace");
    const { by, maxSlots, tolerance, ...limits } = parse(rebalanceOptionsSchema, options ?? {}, "options");
    if (by === "slots") return this.change(name, {}, limits);
    const { plan, hotSlots } = await this.observer.planByWeight(name, by, { ...(maxSlots ? { maxSlots } : {}), ...(tolerance !== undefined ? { tolerance } : {}) });
    const result = await this.change(name, plan, limits);
    return { ...result, predicted: { by, before: plan.before, after: plan.after }, hotSlots };
  }

  /** Every keyspace's metrics (or `keyspace`'s), measured now from its shards; see `keyspace-metrics.ts`. */
  async metrics(keyspace?: string): Promise<KeyspaceMetrics[]> {
    const names = keyspace === undefined ? this.keyspaces.hashKeyspaces() : [parse(keyspaceNameSchema, keyspace, "keyspace")];
    const out: KeyspaceMetrics[] = [];
    for (const name of names) {
      await this.armObserver(name);
      out.push(await this.observer.metrics(name));
    }
    return out;
  }

  /** {@link metrics} as Prometheus text (version 0.0.4). */
  async metricsText(keyspace?: string): Promise<string> {
    return renderPrometheus(metricsFamilies(await this.metrics(keyspace)));
  }

  /**
   * `keyspace`'s load per slot range at each of its last 120 evaluations (`load-history.ts`) (every
   * `observeIntervalMs`) that every shard answered, oldest first: the past of the dashboard's heatmap.
   */
  loadHistory(keyspace: string): LoadHistory {
    return this.observer.loadHistory(parse(keyspaceNameSchema, keyspace, "keyspace"));
  }

  /** The alerts of every keyspace (or `keyspace`'s) as last evaluated; `firing` ones only unless `all`. */
  alerts(keyspace?: string, all = false): Alert[] {
    const names = keyspace === undefined ? this.keyspaces.hashKeyspaces() : [parse(keyspaceNameSchema, keyspace, "keyspace")];
    return names.flatMap((name) => this.observer.alerts(name)).filter((a) => all || a.firing);
  }

  /** Evaluates `keyspace`'s alerts and autoscaler now (the timer does it every `observeIntervalMs`). */
  async observe(keyspace: string): Promise<{ alerts: Alert[]; decision: { at: number; action: string; reason: string; outcome?: string } }> {
    const name = parse(keyspaceNameSchema, keyspace, "keyspace");
    this.keyspaces.committedMap(name);
    const { metrics, decision } = await this.observer.observe(name);
    return { alerts: metrics.alerts, decision };
  }

  /** Changes `keyspace`'s alert thresholds, autoscaler settings or evaluation interval (merged into what is set). */
  async configureKeyspace(keyspace: string, settings: unknown): Promise<KeyspaceSettings> {
    const name = parse(keyspaceNameSchema, keyspace, "keyspace");
    this.keyspaces.committedMap(name);
    const next = this.observer.configure(name, settings);
    await this.timers.after(`${OBSERVE_PREFIX}${name}`, next.observeIntervalMs);
    if (!next.backups.everyMs) await this.timers.cancel(`${BACKUP_PREFIX}${name}`);
    else await this.timers.after(`${BACKUP_PREFIX}${name}`, next.backups.everyMs);
    return next;
  }

  /** `keyspace`'s settings, defaults filled in. */
  getSettings(keyspace: string): KeyspaceSettings {
    const name = parse(keyspaceNameSchema, keyspace, "keyspace");
    this.keyspaces.requireRow(name);
    return this.observer.settings(name);
  }

  /** `keyspace`'s autoscaler: settings, state, and its latest decisions, newest first. */
  autoscaler(keyspace: string): ReturnType<Observer["autoscaler"]> {
    const name = parse(keyspaceNameSchema, keyspace, "keyspace");
    this.keyspaces.requireRow(name);
    return this.observer.autoscaler(name);
  }

  /** Stops the autoscaler of `keyspace` from deciding (it keeps measuring). */
  pauseAutoscaler(keyspace: string): ReturnType<Observer["setPaused"]> {
    const name = parse(keyspaceNameSchema, keyspace, "keyspace");
    this.keyspaces.requireRow(name);
    return this.observer.setPaused(name, true);
  }

  /** Lets the autoscaler of `keyspace` decide again. */
  resumeAutoscaler(keyspace: string): ReturnType<Observer["setPaused"]> {
    const name = parse(keyspaceNameSchema, keyspace, "keyspace");
    this.keyspaces.requireRow(name);
    return this.observer.setPaused(name, false);
  }

  /**
   * Finishes every change that started and did not commit (or rolls it back, when it was rolling
   * back or has failed too often). Returns the keyspaces it ran.
   */
  async resumePending(): Promise<string[]> {
    return this.resume(true);
  }

  /** Runs every unfinished change; one already running in the background is waited for (`waitForRunning`) or left to itself. */
  private async resume(waitForRunning: boolean): Promise<string[]> {
    const names = this.changes.unfinished();
    let failure: unknown;
    for (const name of names) {
      const running = this.running.get(`change:${name}`);
      if (running && !waitForRunning) continue;
      await (running ?? this.apply(name)).catch((error: unknown) => (failure ??= error));
    }
    if (failure !== undefined) throw failure;
    return names;
  }

  /** The latest change of `keyspace` (running or finished), with its phase and progress; null if it never changed. */
  getChange(keyspace: string): ChangeStatus | null {
    const name = parse(keyspaceNameSchema, keyspace, "keyspace");
    this.keyspaces.requireRow(name);
    const record = this.changes.latestRecord(name);
    return record ? statusOf(record) : null;
  }

  /**
   * Rolls back the change of `keyspace` that has not committed: every slot ends on its source with
   * every write made meanwhile, and the old map is committed at the change's version. Waits for a
   * run of the change in progress to stop first. A committed change is undone by the reverse
   * change (`addShards` / `removeShards`).
   */
  async abortChange(keyspace: string): Promise<ChangeStatus> {
    const name = parse(keyspaceNameSchema, keyspace, "keyspace");
    this.keyspaces.requireRow(name);
    const requestedAt = Date.now();
    const plan = this.changes.pending(name);
    if (plan && plan.grants.length > 0) {
      throw new ShardError("ChangeInProgress", `keyspace '${name}' is still being created; creation finishes by itself and is not rolled back`);
    }
    // A run in progress stops at its next step (a page, a release, an acquire) and rolls back.
    this.abortRequests.add(name);
    try {
      return await this.serialize(name, async () => {
        const pending = this.changes.pending(name);
        if (!pending) {
          const latest = this.changes.latestRecord(name);
          if (latest?.phase === "rolled back" && (latest.finishedAt ?? 0) >= requestedAt) return statusOf(latest);
          throw new ShardError("NoChange", `keyspace '${name}' has no change in progress to roll back`);
        }
        const ctx = this.changeContext(name, pending);
        await this.rollBack(ctx, ABORTED);
        return statusOf(ctx.record);
      });
    } finally {
      this.abortRequests.delete(name);
    }
  }

  /** What is wrong with the change of `keyspace`, if anything, and how to get out of it. */
  diagnose(keyspace: string): Diagnosis {
    const name = parse(keyspaceNameSchema, keyspace, "keyspace");
    this.keyspaces.requireRow(name);
    const record = this.changes.latestRecord(name);
    return diagnosisOf(name, record ? statusOf(record) : null, RESUME_DELAY_MS);
  }

  /**
   * Backs `keyspace` up to its R2 bucket (settings `backups.bucket`, default binding `BACKUPS`):
   * consistent per shard, at one map version, with a manifest and checksums (`backups.ts`). Returns
   * the job; with `wait: false` it runs in the background (`getBackupJob` follows it).
   */
  async backup(keyspace: string, options?: { wait?: boolean }): Promise<BackupJob> {
    const name = parse(keyspaceNameSchema, keyspace, "keyspace");
    const { wait } = parse(jobOptionsSchema, options ?? {}, "options");
    const bucket = this.backupSettings(name).bucket;
    this.bucket(bucket);
    return this.startJob(this.backups.queueBackup(name), bucket, wait !== false);
  }

  /** The finished backups of `keyspace`, newest first (from their manifests in R2). */
  async listBackups(keyspace: string): Promise<Awaited<ReturnType<Backups["list"]>>> {
    const name = parse(keyspaceNameSchema, keyspace, "keyspace");
    return this.backups.list(name, this.backupSettings(name).bucket);
  }

  /** A backup or restore job, running or finished. */
  getBackupJob(id: string): BackupJob {
    const jobId = parse(backupIdSchema, id, "id");
    const job = this.backups.job(jobId);
    if (!job) throw new ShardError("UnknownBackup", `no backup or restore job '${jobId}'`);
    return job;
  }

  /**
   * Restores backup `backupId` of `keyspace`: into `keyspace` itself (replacing its rows; writes
   * made meanwhile may be lost) or into a new keyspace `into` (created like the backed-up one).
   * Every page is checked against its SHA-256 first, and the restored rows against the manifest's
   * checksums; a mismatch fails the job.
   */
  async restore(keyspace: string, backupId: string, options?: { into?: string; wait?: boolean }): Promise<BackupJob> {
    const name = parse(keyspaceNameSchema, keyspace, "keyspace");
    const id = parse(backupIdSchema, backupId, "backupId");
    const { into, wait } = parse(restoreOptionsSchema, options ?? {}, "options");
    const bucket = this.backupSettings(name).bucket;
    await this.backups.manifest(this.bucket(bucket), name, id);
    if (into !== undefined && into !== name && this.keyspaces.row(into)) throw new ShardError("KeyspaceExists", `keyspace '${into}' exists; restore into a new keyspace, or into '${name}' itself`);
    return this.startJob(this.backups.queueRestore(name, id, into), bucket, wait !== false);
  }

  /** Deletes backup `backupId` of `keyspace` from R2. */
  async deleteBackup(keyspace: string, backupId: string): Promise<{ deleted: string }> {
    const name = parse(keyspaceNameSchema, keyspace, "keyspace");
    const id = parse(backupIdSchema, backupId, "backupId");
    await this.backups.delete(name, id, this.backupSettings(name).bucket);
    return { deleted: id };
  }

  /**
   * Runs directory method `method(...args)` and returns its result, or the {@link ShardError} it
   * failed with as a failure value. {@link directoryClient} calls the directory through this.
   */
  dsInvoke(method: unknown, args: unknown): unknown {
    return settle(() => {
      const name = parse(z.string().refine((m) => directoryMethods.has(m), "not a directory method"), method, "method");
      const list = parse(invokeArgsSchema, args, "args");
      return (this[name as DirectoryMethod] as (...a: unknown[]) => unknown).apply(this, list);
    });
  }

  override async alarm(): Promise<void> {
    // Every attempt of `apply` re-arms the resume timer first, so a change that fails again is
    // tried again later. Resuming is idempotent, so an early or repeated alarm is harmless.
    const handlers: Record<string, () => Promise<void> | undefined> = { [RESUME_TIMER]: () => undefined };
    for (const name of this.timers.names()) {
      if (name.startsWith(OBSERVE_PREFIX)) handlers[name] = () => this.observeOnTimer(name.slice(OBSERVE_PREFIX.length));
      if (name.startsWith(BACKUP_PREFIX)) handlers[name] = () => this.backupOnTimer(name.slice(BACKUP_PREFIX.length));
    }
    handlers[BACKUP_JOBS_TIMER] = () => this.runJobs();
    await this.timers.run(handlers);
    try {
      // A change running in the background goes on by itself: the alarm does not wait for it.
      await this.resume(false);
    } catch (error) {
      // A change that cannot finish yet is expected (its timer is re-armed); say so once, not as
      // a failed alarm, which the platform would also retry on its own schedule.
      if (!(error instanceof ShardError)) throw error;
      console.warn(`durable-shards directory: ${error.message}`);
    }
  }

  // ---- internals ------------------------------------------------------------------------------

  /** Plans `change` (or takes `planned`) and, unless a dry run, stores and runs it. */
  private async change(keyspace: string, change: ShardChange | Plan, options: ChangeOptions): Promise<ChangeResult> {
    const row = this.keyspaces.requireRow(keyspace);
    if (row.placement !== "hash") throw new ShardError("InvalidArgument", `keyspace '${keyspace}' uses entity placement and has no shards`);
    const { dryRun, wait, ...limits } = options;
    if (this.changes.pending(keyspace) && !dryRun) {
      throw new ShardError("ChangeInProgress", `keyspace '${keyspace}' has a change in progress; retry when it commits`, { retryable: true });
    }
    const current = this.keyspaces.committedMap(keyspace);
    const plan: Plan = "moves" in change ? change : planChange(current, change);
    const reshaped = "moves" in change ? false : Boolean(change.add?.length || change.remove?.length);
    const predicted = { by: "slots" as const, before: slotBalance(current.slotCounts()), after: slotBalance(plan.map.slotCounts()) };
    const planned = plan.moves.map((m) => ({ from: m.from, to: m.to, slots: countSlots(m.ranges), pauseMs: 0 }));
    if (dryRun) return { keyspace, version: plan.map.version, movedSlots: plan.movedSlots, moves: planned, dryRun: true, predicted };
    if (plan.movedSlots === 0 && !reshaped) {
      return { keyspace, version: row.version, movedSlots: 0, moves: [], predicted };
    }
    this.changes.storePending(keyspace, { map: plan.map.toSnapshot(), moves: plan.moves, grants: [], ...limits });
    if (wait === false) {
      // Runs on after this call returns; `getChange` follows it. Should the object be evicted
      // meanwhile, the resume timer (which every run sets first) goes on with it.
      this.detach(`change:${keyspace}`, () => this.apply(keyspace));
      return { keyspace, version: plan.map.version, movedSlots: plan.movedSlots, moves: planned, started: true, predicted };
    }
    const record = await this.apply(keyspace);
    return {
      keyspace,
      version: plan.map.version,
      movedSlots: plan.movedSlots,
      moves: plan.moves.map((m, i) => ({ from: m.from, to: m.to, slots: countSlots(m.ranges), pauseMs: record?.moves[i]?.pauseMs ?? 0 })),
      predicted,
    };
  }

  /** What an autoscaler decision asks for, run as any change is. */
  private async act(keyspace: string, decision: Exclude<AutoscalerAction, { action: "none" }>): Promise<{ version: number }> {
    // Started in the background: the evaluation (and the alarm) does not wait for the change.
    if (decision.action === "add") return this.addShards(keyspace, decision.shards, { wait: false });
    if (decision.action === "remove") return this.removeShards(keyspace, [decision.shard], { wait: false });
    return this.rebalance(keyspace, { by: "load", wait: false });
  }

  /** The timer's evaluation of `keyspace`, re-armed first; a keyspace gone since stops it. */
  private async observeOnTimer(keyspace: string): Promise<void> {
    if (!this.keyspaces.row(keyspace)) return;
    await this.timers.after(`${OBSERVE_PREFIX}${keyspace}`, this.observer.settings(keyspace).observeIntervalMs);
    try {
      await this.observer.observe(keyspace);
    } catch (error) {
      // A keyspace not measurable right now (being created, a shard down) is tried again next time.
      if (!(error instanceof ShardError)) throw error;
      console.warn(`durable-shards directory: evaluating '${keyspace}': ${error.message}`);
    }
  }

  /** Runs `job` now (`wait`), or in the background (the jobs timer goes on with it after an eviction). */
  private async startJob(job: BackupJob, bucket: string, wait: boolean): Promise<BackupJob> {
    await this.timers.after(BACKUP_JOBS_TIMER, RESUME_DELAY_MS);
    const rate = this.backupSettings(job.keyspace).bytesPerSecond;
    if (wait) return this.backups.run(job.id, bucket, rate);
    this.detach(`job:${job.id}`, () => this.backups.run(job.id, bucket, rate));
    return job;
  }

  /** Starts every queued or interrupted backup job not running (each re-runs from its start; its steps are idempotent). */
  private async runJobs(): Promise<void> {
    const left = this.backups.unfinished();
    if (left.length === 0) return;
    await this.timers.after(BACKUP_JOBS_TIMER, RESUME_DELAY_MS);
    for (const job of left) {
      const settings = this.backupSettings(job.keyspace);
      this.detach(`job:${job.id}`, () => this.backups.run(job.id, settings.bucket, settings.bytesPerSecond));
    }
  }

  /**
   * Runs `work` after the current call returns, once per `key` at a time. Timers do not wait for
   * it, so one long change or backup does not hold up the others' timers.
   */
  private detach(key: string, work: () => Promise<unknown>): void {
    if (this.running.has(key)) return;
    const run = work()
      .catch((error: unknown) => {
        if (!(error instanceof ShardError)) console.error(`durable-shards directory: ${key}:`, error);
      })
      .finally(() => this.running.delete(key));
    this.running.set(key, run);
    this.ctx.waitUntil(run);
  }

  /** A scheduled backup of `keyspace`, then retention; re-armed first. */
  private async backupOnTimer(keyspace: string): Promise<void> {
    if (!this.keyspaces.row(keyspace)) return;
    const settings = this.backupSettings(keyspace);
    if (!settings.everyMs) return;
    await this.timers.after(`${BACKUP_PREFIX}${keyspace}`, settings.everyMs);
    // One scheduled backup at a time: one still running (or queued) skips this turn.
    if (this.backups.unfinished().some((j) => j.keyspace === keyspace && j.scheduled)) return;
    const job = this.backups.queueBackup(keyspace, true);
    await this.timers.after(BACKUP_JOBS_TIMER, RESUME_DELAY_MS);
    this.detach(`job:${job.id}`, async () => {
      const done = await this.backups.run(job.id, settings.bucket, settings.bytesPerSecond);
      if (done.phase === "done") await this.backups.prune(keyspace, settings.bucket, settings.keep);
      else console.warn(`durable-shards directory: scheduled backup of '${keyspace}' failed: ${done.error}`);
    });
  }

  private backupSettings(keyspace: string) {
    this.keyspaces.requireRow(keyspace);
    return this.observer.settings(keyspace).backups;
  }

  private bucket(binding: string): R2Bucket {
    const candidate = (this.env as Record<string, unknown>)[binding] as R2Bucket | undefined;
    if (!candidate || typeof candidate.put !== "function" || typeof candidate.list !== "function") {
      throw new ShardError("InvalidArgument", `binding '${binding}' is not an R2 bucket in the directory's env; add it, or set the keyspace's backups.bucket`);
    }
    return candidate;
  }

  /**
   * Makes sure the keyspace's evaluations are scheduled (a keyspace from before they existed gets
   * them on its first scrape). Once per keyspace per instance: scrapes and the dashboard call it.
   * Only a hash keyspace that exists is remembered, so a scrape before `createKeyspace` does not
   * keep its evaluations from being armed at creation.
   */
  private async armObserver(keyspace: string): Promise<void> {
    if (this.armed.has(keyspace) || this.keyspaces.row(keyspace)?.placement !== "hash") return;
    await this.timers.ensure(`${OBSERVE_PREFIX}${keyspace}`, this.observer.settings(keyspace).observeIntervalMs);
    this.armed.add(keyspace);
  }

  private shardStub(keyspace: string, shard: string) {
    const namespace = this.namespace(this.keyspaces.requireRow(keyspace).binding);
    return namespace.getByName(`${keyspace}:${shard}`) as unknown as ShardProtocol & ReturnType<ObserverHost["stub"]> & ReturnType<BackupHost["stub"]>;
  }


  /**
   * Runs (or re-runs) the pending change of `keyspace` to completion, finishes the clean-up of a
   * committed one, or goes on rolling one back. Returns its record.
   */
  private apply(keyspace: string): Promise<ChangeRecord | undefined> {
    return this.serialize(keyspace, async () => {
      const plan = this.changes.pending(keyspace);
      if (!plan) return this.finishCleanUp(keyspace);
      // Should this invocation die part-way, the alarm goes on with the change.
      await this.timers.after(RESUME_TIMER, RESUME_DELAY_MS);
      const ctx = this.changeContext(keyspace, plan);
      const { record } = ctx;
      if (record.phase === "rolling back" || record.phase === "failed") {
        await this.rollBack(ctx, record.rollbackReason ?? "resumed");
        return record;
      }
      record.phase = "copying";
      ctx.save();
      const next = ShardMap.fromSnapshot(plan.map);
      try {
        await runMoves(ctx, Object.fromEntries(plan.grants.map((shard) => [shard, next.rangesOf(shard)])));
      } catch (error) {
        if (!(error instanceof ShardError)) throw error;
        if (this.abortRequests.has(keyspace)) {
          await this.rollBack(ctx, ABORTED);
          throw new ShardError("RolledBack", `the change to map version ${record.version} of '${keyspace}' was aborted and rolled back`);
        }
        record.failedAttempts++;
        record.lastError = error.detail;
        ctx.save();
        const creating = plan.grants.length > 0;
        const ordinal = `failed attempt ${record.failedAttempts}${creating ? "" : ` of ${MAX_FAILED_ATTEMPTS}`}`;
        if (!creating && record.failedAttempts >= MAX_FAILED_ATTEMPTS) {
          await this.rollBack(ctx, `rolled back after ${ordinal}: ${error.detail}`);
          throw new ShardError("RolledBack", `the change to map version ${record.version} of '${keyspace}' was rolled back after ${ordinal}: ${error.detail}`);
        }
        const then = creating ? "" : `, and rolls it back after ${MAX_FAILED_ATTEMPTS} failed attempts`;
        throw new ShardError(
          "ChangeInProgress",
          `the change to map version ${record.version} of '${keyspace}' paused after ${ordinal}: ${error.detail}; the directory runs it again in ${RESUME_DELAY_MS / 1000} s${then}`,
          { retryable: true, cause: error },
        );
      }
      this.commit(keyspace, plan.map, "committed");
      record.phase = "cleaning up";
      ctx.save();
      return this.cleanUpAndFinish(ctx);
    });
  }

  /**
   * Drops the rows the sources gave away; the change is done once every drop succeeded. Until
   * then it stays `cleaning up` and the resume timer (armed by the caller) tries again: a source holding rows it gave
   * away refuses whole-shard calls (they would count those rows twice).
   */
  private async cleanUpAndFinish(ctx: ChangeContext): Promise<ChangeRecord> {
    await cleanUp(ctx);
    if (ctx.record.moves.some((m) => m.phase !== "done")) return ctx.record;
    return this.finish(ctx, "done");
  }

  /** Rolls the change of `ctx` back and commits the old map at its version; see `rollBackMoves`. */
  private async rollBack(ctx: ChangeContext, reason: string): Promise<void> {
    const { record } = ctx;
    record.phase = "rolling back";
    record.rollbackReason ??= reason;
    ctx.save();
    try {
      await rollBackMoves(ctx);
    } catch (error) {
      if (!(error instanceof ShardError)) throw error;
      record.phase = "failed";
      record.lastError = error.detail;
      ctx.save();
      throw new ShardError(
        "ChangeInProgress",
        `the rollback of the change to map version ${record.version} of '${record.keyspace}' paused: ${error.detail}; the directory runs it again in ${RESUME_DELAY_MS / 1000} s`,
        { retryable: true, cause: error },
      );
    }
    // The old assignment, committed at the change's version: routers refresh to it, and the next
    // change gets a newer version than anything the rolled-back one wrote on shards.
    this.commit(record.keyspace, { ...this.keyspaces.committedMap(record.keyspace).toSnapshot(), version: record.version }, "rolled-back");
    this.finish(ctx, "rolled back");
  }

  /** A committed change whose clean-up was interrupted: drop the rows its sources gave away. */
  private async finishCleanUp(keyspace: string): Promise<ChangeRecord | undefined> {
    const record = this.changes.latestRecord(keyspace);
    const plan = record && this.changes.planOf(keyspace, record.version);
    if (!record || !plan || record.phase !== "cleaning up") return undefined;
    // As `apply` does for a pending change: should this fail again, the alarm tries once more.
    await this.timers.after(RESUME_TIMER, RESUME_DELAY_MS);
    return this.cleanUpAndFinish(this.changeContext(keyspace, plan, record));
  }

  private finish(ctx: ChangeContext, phase: "done" | "rolled back"): ChangeRecord {
    ctx.record.phase = phase;
    ctx.record.finishedAt = Date.now();
    ctx.save();
    if (phase === "done") this.observer.recordPauses(ctx.record.keyspace, ctx.record.moves.flatMap((m) => (m.pauseMs === undefined ? [] : [m.pauseMs])));
    if (this.changes.unfinished().length === 0) {
      void this.timers.cancel(RESUME_TIMER);
    }
    return ctx.record;
  }

  /** Stores `map` as the committed map of `keyspace` and marks its change `status`. */
  private commit(keyspace: string, map: ShardMapSnapshot, status: "committed" | "rolled-back"): void {
    this.ctx.storage.transactionSync(() => {
      this.keyspaces.saveMap({ ...map, keyspace });
      this.changes.markCommitted(keyspace, map.version, status);
    });
  }

  /** What moves.ts needs to run the change `plan` of `keyspace`. */
  private changeContext(keyspace: string, plan: StoredPlan, stored?: ChangeRecord): ChangeContext {
    const row = this.keyspaces.requireRow(keyspace);
    const namespace = this.namespace(row.binding);
    const record = stored ?? this.changes.recordOf(keyspace, plan);
    const checkAborted = () => {
      if (this.abortRequests.has(keyspace) && record.phase !== "rolling back") {
        throw new ShardError("RolledBack", `the change to map version ${record.version} of '${keyspace}' stopped: it is being aborted`);
      }
    };
    return {
      plan,
      record,
      stub: (shard) => namespace.getByName(`${keyspace}:${shard}`) as unknown as ShardProtocol,
      transfer: (shard: string, ranges: SlotRange[]): SlotTransfer => ({ keyspace, shard, slotCount: row.slot_count, version: plan.map.version, ranges }),
      save: () => {
        record.updatedAt = Date.now();
        this.changes.saveRecord(record);
      },
      checkAborted,
      stepped: async (step, move) => {
        await this.onMoveStep(step, { keyspace, version: record.version, from: move.from, to: move.to });
        checkAborted();
      },
    };
  }

  /**
   * Called after each step of a move, once its progress is stored (see `MoveStep`). Does nothing;
   * a subclass may override it to observe moves or, in fault tests, to crash at a step.
   */
  protected onMoveStep(_step: MoveStep, _move: { keyspace: string; version: number; from: string; to: string }): void | Promise<void> {}




  /** Runs `run` after every earlier run for `keyspace` settled. */
  private serialize<T>(keyspace: string, run: () => Promise<T>): Promise<T> {
    const result = (this.queues.get(keyspace) ?? Promise.resolve()).then(run, run);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.queues.set(keyspace, tail);
    void tail.then(() => {
      if (this.queues.get(keyspace) === tail) this.queues.delete(keyspace);
    });
    return result;
  }







  private namespace(binding: string): DurableObjectNamespace {
    const candidate = (this.env as Record<string, unknown>)[binding];
    if (!candidate || typeof (candidate as DurableObjectNamespace).getByName !== "function") {
      throw new ShardError("InvalidArgument", `binding '${binding}' is not a Durable Object namespace in the directory's env`);
    }
    return candidate as DurableObjectNamespace;
  }
}

/** The most slots any shard holds over the mean. */
function slotBalance(counts: readonly number[]): number {
  const mean = counts.reduce((a, b) => a + b, 0) / counts.length;
  return mean > 0 ? Math.max(...counts) / mean : 1;
}

