/**
 * Base class of the Durable Objects that serve a keyspace.
 *
 * A shard keeps the slots it owns and the map version that gave them, in SQLite. Every routed call
 * passes through {@link ShardedObject.routedCall} or {@link ShardedObject.shardCall}, which check
 * ownership before any user code runs and answer a refusal (`WrongShard`) otherwise. Ownership
 * changes only when the directory calls the `ds*` methods during a map change.
 *
 * Subclass methods are the keyspace's API. Methods called per key take the key as their first
 * parameter; methods called per shard (fan-out) are named by {@link ShardedObject.shardMethods}
 * and take whatever they like. Each kind is dispatched only by its own entry point, so a shard
 * call can never run a per-key method for a key whose slot this shard does not own.
 *
 * Refusals and other {@link ShardError}s are returned as failure values (`result.ts`), never
 * thrown across RPC: they are expected, and a thrown RPC counts as a failed invocation.
 */
import { DurableObject } from "cloudflare:workers";
import { z } from "zod";
import { ShardError, WrongShardError } from "./errors.js";
import { failureOf, failureOrThrow, isThenable, settle, type Failure } from "./result.js";
import { argsSchema, FENCE_HEADER, methodNameSchema, parseFenceHeader, parseKeyFence, parseShardFence, REFUSED_HEADER, type KeyFence } from "./fence.js";
import { hashKey, slotOfHash } from "./hash.js";
import { migrate, type Migration } from "./migrations.js";
import { MAX_ARGS, backupIdSchema, isKey, isMapVersion, keysSchema, keyspaceNameSchema, mapVersionSchema, parse, shardIdSchema, slotCountSchema } from "./schema.js";
import { countSlots, normalizeRanges, rangesContain, subtractRanges, type SlotRange } from "./shard-map.js";
import { Timers, type TimerHandlers } from "./timers.js";
import { deleteSlotRows, hasSlotRows, insertRows, isIdentifier, slotRows, slotRowsPage, type SlotData } from "./slot-tables.js";
import { checksums, dropSnapshot, hasSnapshot, snapshotPage, takeSnapshot, type BucketChecksums, type Snapshot } from "./shard-backup.js";
import { MEASUREMENT_TABLES, ShardMeasurement, type MeasurementOptions, type ShardReport } from "./shard-metrics.js";
import { CAPTURE_TABLES, applyDeletes, capturable, capturing, changesPage, slotSizes, slotsSize, startCapture, stopCapture, type ChangesPage } from "./capture.js";

/** What a shard knows about its place in the keyspace. */
export interface Ownership {
  keyspace: string;
  shard: string;
  slotCount: number;
  version: number;
  ranges: SlotRange[];
}

const rangesSchema = z
  .array(z.tuple([z.number().int().min(0), z.number().int().min(1)]).refine(([s, e]) => e > s, "range end must exceed start"))
  .max(65_536);

export const transferSchema = z.strictObject({
  keyspace: keyspaceNameSchema,
  shard: shardIdSchema,
  slotCount: slotCountSchema,
  version: mapVersionSchema,
  ranges: rangesSchema,
  /** On a release: the shard that acquires the ranges. */
  to: shardIdSchema.optional(),
});
/** A directory instruction naming slots of one shard at one map version. */
export type SlotTransfer = z.infer<typeof transferSchema>;

/** A keyspace's own tables: their migrations, and which of them hold data by slot. */
export interface KeyspaceSchema {
  /** Migration history name, separate from the library's own. */
  scope: string;
  migrations: Migration[];
  /** Tables with an integer `slot` column; moves copy, import and drop their rows by slot. */
  slotTables?: string[];
}

export type { SlotData };

/**
 * Rows per move RPC, in bytes: a page holds about this much (one row more when a single row is
 * larger; SQLite rows are at most 2 MB), far below the 32 MiB RPC message limit.
 */
export const PAGE_BYTES = 4 * 1024 * 1024;




const MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: "ownership",
    up: `CREATE TABLE _ds_ownership (
           id INTEGER PRIMARY KEY CHECK (id = 1), keyspace TEXT NOT NULL, shard TEXT NOT NULL,
           slot_count INTEGER NOT NULL, version INTEGER NOT NULL, ranges TEXT NOT NULL);
         CREATE TABLE _ds_released (version INTEGER NOT NULL, ranges TEXT NOT NULL, PRIMARY KEY (version))`,
  },
  {
    // Released ranges now name their new owner, so refusals can send callers there before the
    // directory commits. The old table was only ever written, so nothing of it is needed.
    version: 2,
    name: "released-to",
    up: `DROP TABLE _ds_released;
         CREATE TABLE _ds_released (version INTEGER NOT NULL, ranges TEXT NOT NULL, to_shard TEXT,
           PRIMARY KEY (version, ranges))`,
  },
  {
    // Map versions of changes rolled back on this shard: it never acquires slots for them again,
    // so an acquire delivered late (after the rollback) cannot take slots back from their source.
    version: 3,
    name: "revoked",
    up: `CREATE TABLE _ds_revoked (version INTEGER NOT NULL, ranges TEXT NOT NULL, PRIMARY KEY (version, ranges))`,
  },
  // Change capture while a move copies slots that are still served (capture.ts).
  { version: 4, name: "capture", up: CAPTURE_TABLES },
  // Counts of calls, load per slot and hot keys, flushed on a timer (shard-metrics.ts).
  { version: 5, name: "measurement", up: MEASUREMENT_TABLES },
];

/** The timer that flushes a shard's counts. */
const FLUSH_TIMER = "durable-shards/flush-measurement";

/** Names that are never dispatched by a routed call. */
const RESERVED = new Set(["constructor", "fetch", "alarm", "webSocketMessage", "webSocketClose", "webSocketError"]);

export abstract class ShardedObject<Env = unknown> extends DurableObject<Env> {
  /** Named timers on this object's alarm; see {@link timerHandlers}. */
  protected readonly timers: Timers;
  private ownership: Ownership | undefined;
  /** Calls in flight per slot, so a release waits for them before handing data over. */
  private readonly inflight = new Map<number, number>();
  /**
   * Whether this shard holds rows of slots it does not serve ({@link holdsRowsOf}), asked once and
   * kept until a move changes its rows or its slots (then forgotten).
   */
  #foreignRows: boolean | undefined;
  private drained: (() => void)[] = [];
  /** Per-key methods (callable through {@link routedCall}) and shard methods (through {@link shardCall}). */
  private readonly methods: ReadonlySet<string>;
  private readonly shardLevel: ReadonlySet<string>;
  /** This shard's counts; undefined when the keyspace turned measurement off. */
  readonly #measure: ShardMeasurement | undefined;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    // The prototype chain is complete before any constructor body runs.
    const routable = routableMethods(this);
    this.shardLevel = new Set(this.shardMethods());
    for (const name of this.shardLevel) {
      if (!routable.has(name)) throw new ShardError("InvalidArgument", `shardMethods() names '${name}', which is not a public method of this class`);
    }
    this.methods = new Set([...routable].filter((name) => !this.shardLevel.has(name)));
    migrate(ctx.storage, "durable-shards/shard", MIGRATIONS);
    const schema = this.schema();
    if (schema) migrate(ctx.storage, schema.scope, schema.migrations);
    this.timers = new Timers(ctx.storage);
    const measurement = this.measurement();
    this.#measure = measurement.enabled === false ? undefined : new ShardMeasurement(ctx.storage.sql, measurement);
    const row = ctx.storage.sql
      .exec<{ keyspace: string; shard: string; slot_count: number; version: number; ranges: string }>(
        "SELECT keyspace, shard, slot_count, version, ranges FROM _ds_ownership",
      )
      .toArray()[0];
    if (row) {
      this.ownership = {
        keyspace: row.keyspace,
        shard: row.shard,
        slotCount: row.slot_count,
        version: row.version,
        ranges: JSON.parse(row.ranges) as SlotRange[],
      };
    }
  }

  // ---- hooks for subclasses -------------------------------------------------------------------

  /**
   * The keyspace's tables, applied by the constructor (so subclasses need none). Warning: it runs
   * before subclass fields are initialised; return a constant.
   */
  protected schema(): KeyspaceSchema | undefined {
    return undefined;
  }

  /**
   * Names of the methods called per shard (through `router.shard(id)`, `all` and `some`); every
   * other public method is called per key. Warning: like {@link schema}, it runs before subclass
   * fields are initialised; return a constant.
   */
  protected shardMethods(): readonly string[] {
    return [];
  }

  /**
   * How this keyspace's shards measure the calls they serve (on by default; see
   * `shard-metrics.ts`). Warning: like {@link schema}, it runs before subclass fields are
   * initialised; return a constant.
   */
  protected measurement(): MeasurementOptions {
    return {};
  }

  /**
   * Tables holding this keyspace's data (default: the schema's `slotTables`). Each must have an
   * integer `slot` column; the default export/import/delete hooks move their rows by slot.
   * Override the hooks instead when data is not in such tables.
   */
  protected slotTables(): string[] {
    return this.schema()?.slotTables ?? [];
  }

  /**
   * One page of the rows of `ranges`, from `cursor` (null: the first page) on, of about
   * `maxBytes` at most (one row more when a single row is larger), and the cursor of the next
   * page (null: no more). Only called for slots this shard no longer serves, so pages are
   * consistent. The default pages through the slot tables by rowid (they must be rowid tables);
   * a subclass that overrides only {@link exportSlots} has its rows sent in one page.
   */
  protected exportSlotsPage(ranges: readonly SlotRange[], cursor: string | null, maxBytes: number): { data: SlotData; next: string | null } {
    if (this.exportSlots !== ShardedObject.prototype.exportSlots) return { data: cursor === null ? this.exportSlots(ranges) : {}, next: null };
    return slotRowsPage(this.ctx.storage.sql, this.checkedSlotTables(), ranges, cursor, maxBytes);
  }

  /** Rows of `ranges`, in one piece; see {@link exportSlotsPage}, which moves use. */
  protected exportSlots(ranges: readonly SlotRange[]): SlotData {
    return slotRows(this.ctx.storage.sql, this.checkedSlotTables(), ranges);
  }

  /** Stores rows received for newly owned slots. */
  protected importSlots(_ranges: readonly SlotRange[], data: SlotData): void {
    insertRows(this.ctx.storage.sql, data);
  }

  /** Deletes the rows of slots this shard gave away, once the directory committed the move. */
  protected deleteSlots(ranges: readonly SlotRange[]): void {
    deleteSlotRows(this.ctx.storage.sql, this.checkedSlotTables(), ranges);
  }

  /**
   * Whether this shard holds rows of `ranges`, slots it does not serve: rows a move is copying
   * here, or rows it gave away and has not dropped yet. Whole-shard calls are refused meanwhile,
   * since a whole-shard method would count them too. The default looks in the slot tables; a
   * subclass that overrides the data hooks answers for its own data.
   */
  protected holdsRowsOf(ranges: readonly SlotRange[]): boolean {
    return hasSlotRows(this.ctx.storage.sql, this.checkedSlotTables(), ranges);
  }

  /**
   * Called when this shard stopped serving `ranges` (a move released them), before their rows are
   * copied away and dropped. Override it to let go of what holds those keys outside storage: close
   * their WebSockets (clients reconnect to the new owner), drop their caches. It must not write
   * slot data; it cannot undo the release.
   */
  protected released(_ranges: readonly SlotRange[]): void {}

  /** Handlers for {@link timers}, run by the default `alarm()`. */
  protected timerHandlers(): TimerHandlers {
    return {};
  }

  override async alarm(): Promise<void> {
    await this.timers.run({ ...this.timerHandlers(), [FLUSH_TIMER]: () => this.#flushMeasurement() });
  }

  // ---- helpers for subclasses -----------------------------------------------------------------

  /** The slot of `key` in this shard's keyspace (0 for entity objects, which have no slots). */
  protected slotOf(key: string): number {
    return this.ownership ? slotOfHash(hashKey(key), this.ownership.slotCount) : 0;
  }

  /** This shard's ownership, or `undefined` before the directory first granted it slots. */
  describeOwnership(): Ownership | undefined {
    return this.ownership && { ...this.ownership, ranges: this.ownership.ranges.map(([s, e]) => [s, e]) };
  }

  // ---- routed calls ---------------------------------------------------------------------------

  /**
   * Runs `method(key, ...args)` if this object owns the key's slot (hash placement; `shard` names
   * this shard) or is the key's entity object (entity placement; `shard` is null). Otherwise it
   * returns a `WrongShard` failure without running user code. A {@link ShardError} the method
   * throws is returned as a failure too.
   */
  routedCall(keyspace: unknown, shard: unknown, key: unknown, version: unknown, method: unknown, ...args: unknown[]): unknown {
    // Fast path, taken by every well-formed call: the identity equals this shard's own (validated
    // when the directory granted it), key, version and arity pass the predicates that mirror their
    // schemas, and the method is in the table of routable methods. Each step is paid on every call
    // (bench:router measures it), so the cheapest tests come first and nothing is allocated.
    const own = this.ownership;
    if (
      own !== undefined &&
      keyspace === own.keyspace &&
      shard === own.shard &&
      isKey(key) &&
      isMapVersion(version) &&
      args.length <= MAX_ARGS &&
      typeof method === "string" &&
      this.methods.has(method)
    ) {
      const hash = hashKey(key);
      const slot = slotOfHash(hash, own.slotCount);
      if (!rangesContain(own.ranges, slot)) return this.#refuse(method, this.slotRefusal(own, slot));
      return this.run(slot, own.slotCount, method, this.callable(method), key, hash, args);
    }
    try {
      return this.routedCallChecked(keyspace, shard, key, version, method, args);
    } catch (error) {
      return failureOrThrow(error);
    }
  }

  /**
   * Whether this object serves `key` now: it is the key's entity object, or owns the key's slot.
   * Check it synchronously right before writing a key's data outside a routed call (a WebSocket
   * message, say): a move's release cannot interleave with synchronous code, and writes made before
   * it are carried to the slot's next owner.
   */
  protected servesKey(key: string): boolean {
    const own = this.ownership;
    if (own) return rangesContain(own.ranges, slotOfHash(hashKey(key), own.slotCount));
    // An entity object's name is `<keyspace>:<key>`, and keyspace names hold no colon.
    const name = this.ctx.id.name;
    return name !== undefined && name.slice(name.indexOf(":") + 1) === key;
  }

  /**
   * Counts work for `key` done outside a routed call (a forwarded request, a WebSocket message) in
   * this shard's measurement, as a call of `method` taking `seconds`: its load, hot keys and
   * latency then show in metrics and count for `rebalance by load` like routed calls do.
   */
  protected countServed(method: string, key: string, seconds: number, failed = false): void {
    const measure = this.#measure;
    const own = this.ownership;
    if (!measure) return;
    const hash = hashKey(key);
    this.#served(measure, method, own ? slotOfHash(hash, own.slotCount) : -1, own?.slotCount ?? 0, key, hash, seconds, failed);
  }

  /**
   * For a request `ShardRouter.fetch` forwarded: its key, when this object serves it; otherwise a
   * 421 response carrying the refusal (the router refreshes its map and forwards again) or a 400
   * for a request without a valid fence. Like {@link servesKey}, check again before a write that
   * follows an `await`.
   */
  protected fencedRequest(request: Request): { key: string } | { refused: Response } {
    let f: KeyFence;
    try {
      f = parseFenceHeader(request.headers.get(FENCE_HEADER));
    } catch (error) {
      return { refused: Response.json(failureOrThrow(error), { status: 400 }) };
    }
    const checked = this.#checkKeyFence(f);
    if (checked instanceof WrongShardError) return { refused: Response.json(this.#refuse("fetch", checked), { status: 421, headers: { [REFUSED_HEADER]: "1" } }) };
    return { key: f.key };
  }

  /**
   * Whether this object serves the key `f` names: the key's slot and hash (slot -1 for an entity
   * object), or the refusal to answer with. The checks of every key-fenced entry but the fast path.
   */
  #checkKeyFence(f: KeyFence): { slot: number; slotCount: number; hash: number } | WrongShardError {
    const hash = hashKey(f.key);
    if (f.shard === null) {
      const expected = `${f.keyspace}:${f.key}`;
      if (this.ctx.id.name !== undefined && this.ctx.id.name !== expected) return refusal(0, `object '${this.ctx.id.name}' is not the entity '${expected}'`);
      return { slot: -1, slotCount: 0, hash };
    }
    const own = ownershipAs(this.ownership, f.keyspace, f.shard);
    if (own instanceof WrongShardError) return own;
    const slot = slotOfHash(hash, own.slotCount);
    if (!rangesContain(own.ranges, slot)) return this.slotRefusal(own, slot);
    return { slot, slotCount: own.slotCount, hash };
  }

  /** The slow path of {@link routedCall}: full validation with precise errors, and entities. */
  private routedCallChecked(keyspace: unknown, shard: unknown, key: unknown, version: unknown, method: unknown, args: unknown[]): unknown {
    const f = parseKeyFence(keyspace, shard, key, version);
    const fn = this.method(method, this.methods, this.shardLevel);
    parse(argsSchema, args, "args");
    const name = method as string;
    const checked = this.#checkKeyFence(f);
    if (checked instanceof WrongShardError) return this.#refuse(name, checked);
    return this.run(checked.slot, checked.slotCount, name, fn, f.key, checked.hash, args);
  }

  /**
   * Runs a routed method; a {@link ShardError} it throws becomes a failure value. A synchronous
   * method cannot interleave with a release, so only a method that returns a promise is tracked;
   * it is registered in the same turn it started.
   */
  private run(slot: number, slotCount: number, method: string, fn: (...args: unknown[]) => unknown, key: string | undefined, hash: number, args: unknown[]): unknown {
    const measure = this.#measure;
    let result: unknown;
    try {
      result = args.length === 0 ? fn.call(this, key) : fn.call(this, key, ...args);
    } catch (error) {
      if (measure) this.#served(measure, method, slot, slotCount, key, hash, 0, true);
      return failureOrThrow(error);
    }
    // The clock of a Worker stands still while code runs, so a synchronous call's latency is 0
    // without reading it; an async call's is the time its I/O took.
    if (!isThenable(result)) {
      if (measure) this.#served(measure, method, slot, slotCount, key, hash, 0, false);
      return result;
    }
    const started = measure ? Date.now() : 0;
    if (slot >= 0) this.enter(slot);
    return Promise.resolve(result)
      .then(
        (value) => {
          if (measure) this.#served(measure, method, slot, slotCount, key, hash, (Date.now() - started) / 1000, false);
          return value;
        },
        (error: unknown) => {
          if (measure) this.#served(measure, method, slot, slotCount, key, hash, (Date.now() - started) / 1000, true);
          return failureOrThrow(error);
        },
      )
      .finally(() => slot >= 0 && this.leave(slot));
  }

  /** Counts a call and makes sure a flush is due. */
  #served(measure: ShardMeasurement, method: string, slot: number, slotCount: number, key: string | undefined, hash: number, seconds: number, failed: boolean): void {
    measure.served(method, slot, slotCount, key, hash, seconds, failed);
    if (!measure.dirty) this.#armFlush(measure);
  }

  /** A refusal of a call of `method`, counted. */
  #refuse(method: string, error: WrongShardError): Failure {
    const measure = this.#measure;
    if (measure) {
      measure.refused(method);
      if (!measure.dirty) this.#armFlush(measure);
    }
    return failureOf(error);
  }

  #armFlush(measure: ShardMeasurement): void {
    measure.dirty = true;
    // Not awaited: the call does not wait for its bookkeeping. Should setting the timer fail, the
    // next call tries again.
    this.timers.ensure(FLUSH_TIMER, measure.flushIntervalMs).catch(() => (measure.dirty = false));
  }

  #flushMeasurement(): void {
    this.#measure?.flush();
  }

  /**
   * Runs shard method `method(...args)` for a whole shard (fan-out), if this object is that shard,
   * its slots did not change after the caller's map version, and it holds no rows of slots it does
   * not serve ({@link holdsRowsOf}); else the caller would count moving rows twice or not at all.
   * Otherwise it returns a `WrongShard` failure. Per-key methods are refused (`InvalidArgument`):
   * they would run without the key's slot being checked.
   */
  shardCall(keyspace: unknown, shard: unknown, version: unknown, method: unknown, ...args: unknown[]): unknown {
    return settle(() => {
      const f = parseShardFence(keyspace, shard, version);
      const fn = this.method(method, this.shardLevel, this.methods);
      if (args.length > MAX_ARGS) parse(argsSchema, args, "args");
      const name = method as string;
      const own = ownershipAs(this.ownership, f.keyspace, f.shard);
      if (own instanceof WrongShardError) return this.#refuse(name, own);
      if (own.version > f.version) {
        return this.#refuse(name, refusal(own.version, `shard '${own.shard}' changed at map version ${own.version}, after the caller's ${f.version}`));
      }
      this.#foreignRows ??= this.holdsRowsOf(subtractRanges([[0, own.slotCount]], own.ranges));
      if (this.#foreignRows) {
        return this.#refuse(name, refusal(own.version, `shard '${own.shard}' holds rows of slots it does not serve while a change moves them`));
      }
      return this.run(-1, 0, name, (_key, ...rest) => fn.call(this, ...rest), undefined, 0, args);
    });
  }

  /**
   * Runs shard method `method(...args)` for `keys` (`router.some`), if this object is shard `shard`
   * and owns every key's slot. Otherwise nothing runs and it returns a `WrongShard` failure naming,
   * per key, who serves it as far as this shard knows ({@link WrongShardError.owners}), so the
   * router re-sends each key where it went. The check is per slot, not per map version as in
   * {@link shardCall}: while a change runs (and the directory still hands out the old map), a shard
   * that gave other slots away still serves these keys, and one that took them serves them too.
   */
  keysCall(keyspace: unknown, shard: unknown, keys: unknown, method: unknown, ...args: unknown[]): unknown {
    return settle(() => {
      const ks = parse(keyspaceNameSchema, keyspace, "keyspace");
      const id = parse(shardIdSchema, shard, "shard");
      const list = parse(keysSchema, keys, "keys");
      const fn = this.method(method, this.shardLevel, this.methods);
      if (args.length > MAX_ARGS) parse(argsSchema, args, "args");
      const name = method as string;
      const own = ownershipAs(this.ownership, ks, id);
      if (own instanceof WrongShardError) return this.#refuse(name, own);
      const slots = list.map((key) => slotOfHash(hashKey(key), own.slotCount));
      const missing = slots.filter((slot) => !rangesContain(own.ranges, slot));
      if (missing.length > 0) {
        const released = this.#releasedTo();
        const owners = slots.map((slot) => (rangesContain(own.ranges, slot) ? own.shard : (released.find((r) => rangesContain(r.ranges, slot))?.to ?? null)));
        const error = refusal(own.version, `shard '${own.shard}' of '${own.keyspace}' does not own ${missing.length} of the ${list.length} keys' slots (slot ${missing[0]})`);
        return this.#refuse(name, new WrongShardError(error.message, error.mapVersion, undefined, owners));
      }
      const result = this.run(-1, 0, name, (_key, ...rest) => fn.call(this, ...rest), undefined, 0, args);
      if (!isThenable(result)) return result;
      // As for a routed call: a release of these slots waits until the method settled, so a write
      // it makes after an await is still carried to their next owner.
      const held = [...new Set(slots)];
      for (const slot of held) this.enter(slot);
      return Promise.resolve(result).finally(() => held.forEach((slot) => this.leave(slot)));
    });
  }

  // ---- directory protocol (only the directory calls these) ------------------------------------

  /**
   * This shard's measurement: counts per method, load per slot, hot keys (those of slots it gave
   * away included, with their counts from before) and storage. Storage is counted here, by reading the slot tables, so a
   * report costs a scan of them: it is for scrapes and planning, not for every call.
   */
  dsMeasure(): Promise<ShardReport | Failure> {
    return settle(async () => {
      const own = this.ownership;
      if (!own) throw new ShardError("InvalidArgument", "this object was never granted slots");
      const now = Date.now();
      const measure = this.#measure;
      const slotLoads = measure?.slotLoads(now) ?? [];
      const hot = measure?.hotKeys().snapshot() ?? { capacity: 1, total: 0, keys: [] };
      const tables: ShardReport["storage"]["tables"] = {};
      for (const table of this.checkedSlotTables()) tables[table] = slotsSize(this.ctx.storage.sql, [table], [[0, own.slotCount]]);
      return {
        keyspace: own.keyspace,
        shard: own.shard,
        version: own.version,
        slots: countSlots(own.ranges),
        at: now,
        since: measure?.since(now) ?? now,
        methods: measure?.methodCounts() ?? {},
        slotLoads,
        load: slotLoads.reduce((sum, [slot, rate]) => (rangesContain(own.ranges, slot) ? sum + rate : sum), 0),
        // Keys of slots it gave away too: their counts from before the move belong to the keyspace's totals.
        hotKeys: hot,
        storage: { bytes: this.ctx.storage.sql.databaseSize, tables },
      };
    });
  }

  // ---- backups (shard-backup.ts) --------------------------------------------------------------

  /**
   * Snapshots the rows of the slots this shard owns, for backup `id`, in one invocation (so they are
   * consistent), with their checksums per bucket of `bucketSlots` slots. Idempotent: a snapshot
   * taken before is kept.
   */
  dsSnapshot(keyspace: unknown, id: unknown, bucketSlots: unknown): Promise<Snapshot | Failure> {
    return settle(async () => {
      const own = this.#backupOwner(keyspace);
      const backup = parse(backupIdSchema, id, "id");
      const bucket = parse(z.number().int().min(1).max(65_536), bucketSlots, "bucketSlots");
      const tables = this.checkedSlotTables();
      const { rows } = takeSnapshot(this.ctx.storage.sql, backup, tables, own.ranges);
      return { version: own.version, ranges: own.ranges, rows, checksums: checksums(this.ctx.storage.sql, tables, bucket, [[0, own.slotCount]], backup) };
    });
  }

  /** A page (about `maxBytes`, at most {@link PAGE_BYTES}) of backup `id`'s snapshot, from `cursor` on. */
  dsSnapshotPage(keyspace: unknown, id: unknown, cursor: unknown, maxBytes?: unknown): Promise<{ data: SlotData; next: string | null } | Failure> {
    return settle(async () => {
      this.#backupOwner(keyspace);
      const backup = parse(backupIdSchema, id, "id");
      const from = parse(z.string().max(64).nullable(), cursor, "cursor");
      const size = parse(z.number().int().min(1024).max(PAGE_BYTES).optional(), maxBytes, "maxBytes") ?? PAGE_BYTES;
      const tables = this.checkedSlotTables();
      if (!hasSnapshot(this.ctx.storage.sql, backup, tables)) throw new ShardError("InvalidArgument", `no snapshot of backup '${backup}' on this shard`);
      return snapshotPage(this.ctx.storage.sql, backup, tables, from, size);
    });
  }

  /** Drops backup `id`'s snapshot. Idempotent. */
  dsSnapshotDrop(keyspace: unknown, id: unknown): Promise<void | Failure> {
    return settle(async () => {
      this.#backupOwner(keyspace);
      dropSnapshot(this.ctx.storage.sql, parse(backupIdSchema, id, "id"), this.checkedSlotTables());
    });
  }

  /**
   * Restore: with `clear`, first deletes every row of the slots this shard owns; then stores
   * `data`, rows of those slots only (a row of another slot is refused, storing nothing).
   */
  dsRestorePage(keyspace: unknown, data: unknown, clear: unknown): Promise<{ rows: number } | Failure> {
    return settle(async () => {
      const own = this.#backupOwner(keyspace);
      const rows = this.checkData(data);
      const wipe = parse(z.boolean(), clear, "clear");
      for (const [table, list] of Object.entries(rows)) {
        const stray = list.find((r) => typeof r.slot !== "number" || !rangesContain(own.ranges, r.slot));
        if (stray) throw new ShardError("InvalidArgument", `a row of '${table}' in slot ${String(stray.slot)} does not belong on shard '${own.shard}'`);
      }
      this.ctx.storage.transactionSync(() => {
        if (wipe) this.deleteSlots(own.ranges);
        this.importSlots(own.ranges, rows);
      });
      return { rows: Object.values(rows).reduce((n, r) => n + r.length, 0) };
    });
  }

  /** Checksums per bucket of `bucketSlots` slots of the rows of the slots this shard owns (see `shard-backup.ts`). */
  dsChecksums(keyspace: unknown, bucketSlots: unknown): Promise<BucketChecksums | Failure> {
    return settle(async () => {
      const own = this.#backupOwner(keyspace);
      const bucket = parse(z.number().int().min(1).max(65_536), bucketSlots, "bucketSlots");
      return checksums(this.ctx.storage.sql, this.checkedSlotTables(), bucket, own.ranges);
    });
  }

  /** This shard's ownership, for a backup or restore of `keyspace`: its slot tables with the default hooks. */
  #backupOwner(keyspace: unknown): Ownership {
    const name = parse(keyspaceNameSchema, keyspace, "keyspace");
    const own = this.ownership;
    if (!own || own.keyspace !== name) throw new ShardError("InvalidArgument", `object is not a shard of '${name}'`);
    if (this.checkedSlotTables().length === 0 || !this.#usesDefaultHooks()) {
      throw new ShardError("InvalidArgument", `keyspace '${name}' keeps its data outside slot tables (or moves it with its own hooks); backups need slot tables`);
    }
    return own;
  }

  /** Rows' bytes (`row-size.ts`) per slot this shard owns: what balancing by storage weighs. */
  dsSlotSizes(): Promise<[slot: number, bytes: number][] | Failure> {
    return settle(async () => {
      const own = this.ownership;
      if (!own) throw new ShardError("InvalidArgument", "this object was never granted slots");
      const sizes = new Map<number, number>();
      for (const table of this.checkedSlotTables()) {
        for (const [slot, bytes] of slotSizes(this.ctx.storage.sql, table)) if (rangesContain(own.ranges, slot)) sizes.set(slot, (sizes.get(slot) ?? 0) + bytes);
      }
      return [...sizes];
    });
  }

  /**
   * Starts recording writes to `ranges` (which this shard keeps serving) for the move at
   * `version`, so they can be copied while served; see `capture.ts`. `tracking` is false when the
   * keyspace's tables do not allow it (custom slot hooks, or a slot table without a primary key):
   * then the slots are refused while they are copied. Also returns the rows in `ranges` and their
   * approximate bytes (for progress; custom slot hooks report none). Idempotent.
   */
  dsTrack(transfer: unknown): Promise<{ tracking: boolean; rows?: number; bytes?: number } | Failure> {
    return settle(async () => {
      const t = parse(transferSchema, transfer, "transfer");
      this.#checkShard(t);
      if (!this.#canCapture()) return { tracking: false };
      const ranges = normalizeRanges(t.ranges);
      startCapture(this.ctx.storage.sql, this.checkedSlotTables(), t.version, ranges);
      return { tracking: true, ...slotsSize(this.ctx.storage.sql, this.checkedSlotTables(), ranges) };
    });
  }

  /**
   * Forgets the changes up to `acked` (applied on the target), then returns the next page of
   * writes recorded in `ranges` for the move at `version`: current rows and deleted keys.
   */
  dsChangesPage(transfer: unknown, acked: unknown): Promise<ChangesPage | Failure> {
    return settle(async () => {
      const t = parse(transferSchema, transfer, "transfer");
      const upTo = parse(z.number().int().min(0).nullable(), acked, "acked");
      const ranges = normalizeRanges(t.ranges);
      if (!capturing(this.ctx.storage.sql, t.version, ranges)) {
        throw new ShardError("InvalidArgument", `shard '${t.shard}' does not record writes to these slots for map version ${t.version}`);
      }
      return changesPage(this.ctx.storage.sql, this.checkedSlotTables(), t.version, ranges, upTo, PAGE_BYTES);
    });
  }

  /** Applies a page of {@link dsChangesPage} to the rows staged for `ranges` (before the acquire). */
  dsApplyChanges(transfer: unknown, upserts: unknown, deletes: unknown): Promise<{ rows: number } | Failure> {
    return settle(async () => {
      const t = parse(transferSchema, transfer, "transfer");
      this.#checkNotRevoked(t);
      const rows = this.checkData(upserts);
      const keys = parse(z.record(z.string(), z.array(z.array(z.union([z.string(), z.number(), z.null()])))), deletes, "deletes");
      const missing = subtractRanges(normalizeRanges(t.ranges), this.ownership?.ranges ?? []);
      if (missing.length === 0) return { rows: 0 }; // already acquired: a replayed page changes nothing
      let applied = 0;
      this.ctx.storage.transactionSync(() => {
        applied = applyDeletes(this.ctx.storage.sql, this.checkedSlotTables(), keys);
        this.importSlots(missing, rows);
      });
      this.#foreignRows = undefined;
      return { rows: applied + Object.values(rows).reduce((n, r) => n + r.length, 0) };
    });
  }

  /**
   * Takes ownership of `ranges` at `version`, storing `data` (small moves, first grants) or, with
   * `staged`, keeping the rows {@link dsImportPage} stored. Idempotent.
   */
  dsAcquire(transfer: unknown, data: unknown, staged?: unknown): Promise<Ownership | Failure> {
    return settle(() => this.#acquire(transfer, data, staged));
  }

  /**
   * Stops serving `ranges` (calls for them are refused from now on) and waits for calls already
   * running on them. Their rows stay until {@link dsDrop}; the target reads them with
   * {@link dsExportPage}. Idempotent.
   */
  dsRelease(transfer: unknown): Promise<{ released: true } | Failure> {
    return settle(() => this.#release(transfer));
  }

  /**
   * A page of the rows of `ranges`, which this shard released at `version` (so they no longer
   * change) or records writes to ({@link dsTrack}: what changes after a page was read is caught
   * up): about {@link PAGE_BYTES} at most, and the cursor of the next page (null: the last).
   */
  dsExportPage(transfer: unknown, cursor: unknown): Promise<{ data: SlotData; next: string | null } | Failure> {
    return settle(async () => {
      const t = parse(transferSchema, transfer, "transfer");
      const from = parse(z.string().max(1024).nullable(), cursor, "cursor");
      const ranges = normalizeRanges(t.ranges);
      if (!this.#releasedAt(t.version, ranges) && !capturing(this.ctx.storage.sql, t.version, ranges)) {
        throw new ShardError("InvalidArgument", `shard '${t.shard}' neither released nor records writes to these slots at map version ${t.version}`);
      }
      return this.exportSlotsPage(ranges, from, PAGE_BYTES);
    });
  }

  /**
   * Stores a page of rows for `ranges`, which this shard is about to acquire (`first`: the first
   * page, so rows left over from an earlier ownership of those slots go first). Nothing is served
   * from them until {@link dsAcquire} with `staged`. Idempotent per page; a copy that starts over
   * starts again from its first page.
   */
  dsImportPage(transfer: unknown, data: unknown, first: unknown): Promise<{ rows: number } | Failure> {
    return settle(async () => {
      const t = parse(transferSchema, transfer, "transfer");
      const isFirst = parse(z.boolean(), first, "first");
      this.#checkNotRevoked(t);
      const rows = this.checkData(data);
      const missing = subtractRanges(normalizeRanges(t.ranges), this.ownership?.ranges ?? []);
      if (missing.length === 0) return { rows: 0 }; // already acquired: a replayed page changes nothing
      this.ctx.storage.transactionSync(() => {
        if (isFirst) this.deleteSlots(missing);
        this.importSlots(missing, rows);
      });
      this.#foreignRows = undefined;
      return { rows: Object.values(rows).reduce((n, r) => n + r.length, 0) };
    });
  }

  /** Deletes the rows of slots released at `version`, after the directory committed. Idempotent. */
  dsDrop(transfer: unknown): Promise<void | Failure> {
    return settle(() => this.#drop(transfer));
  }

  /**
   * Rollback, on a move's target: gives back `ranges` if this shard acquired them at `version`
   * (their rows, with every write made here since, are then read with {@link dsExportPage}), and
   * refuses any later acquire at that version. Idempotent.
   */
  dsRevoke(transfer: unknown): Promise<{ acquired: boolean } | Failure> {
    return settle(() => this.#revoke(transfer));
  }

  /**
   * Rollback, on a move's source: serves again the `ranges` it released at `version`. With
   * `staged` (the target had acquired them and may have taken writes), the target's rows, copied
   * here with {@link dsImportPage}, are kept; without, this shard's own rows (never dropped) are.
   * Idempotent: ranges already served again are left alone.
   */
  dsReclaim(transfer: unknown, staged: unknown): Promise<Ownership | Failure> {
    return settle(() => this.#reclaim(transfer, staged));
  }

  // ---- internals ------------------------------------------------------------------------------

  async #acquire(transfer: unknown, data: unknown, staged: unknown): Promise<Ownership> {
    const t = parse(transferSchema, transfer, "transfer");
    const keep = parse(z.boolean().optional(), staged, "staged") === true;
    const incoming = normalizeRanges(t.ranges);
    const own = this.ownership;
    if (own && (own.keyspace !== t.keyspace || own.shard !== t.shard || own.slotCount !== t.slotCount)) {
      throw new ShardError("InvalidArgument", `object is shard '${own.shard}' of '${own.keyspace}', not '${t.shard}' of '${t.keyspace}'`);
    }
    this.#checkNotRevoked(t);
    const rows = data === null || data === undefined ? undefined : this.checkData(data);
    const current = own?.ranges ?? [];
    const missing = subtractRanges(incoming, current);
    this.ctx.storage.transactionSync(() => {
      // Ranges already owned were imported by an earlier delivery of this same instruction and may
      // have taken writes since, so only missing ranges are imported. Rows left in a missing range
      // are stale (a drop that never ran after this shard gave the range away) and would resurrect
      // deleted keys, so they go first.
      if (missing.length > 0 && !keep) this.deleteSlots(missing);
      if (missing.length > 0 && rows) this.importSlots(missing, rows);
      this.save({
        keyspace: t.keyspace,
        shard: t.shard,
        slotCount: t.slotCount,
        version: Math.max(own?.version ?? 0, t.version),
        ranges: normalizeRanges([...current, ...incoming]),
      });
    });
    return this.describeOwnership()!;
  }

  async #release(transfer: unknown): Promise<{ released: true }> {
    const t = parse(transferSchema, transfer, "transfer");
    const own = this.#checkShard(t);
    const ranges = normalizeRanges(t.ranges);
    this.ctx.storage.transactionSync(() => {
      this.save({ ...own, version: Math.max(own.version, t.version), ranges: subtractRanges(own.ranges, ranges) });
      this.ctx.storage.sql.exec(
        "INSERT OR REPLACE INTO _ds_released (version, ranges, to_shard) VALUES (?, ?, ?)",
        t.version,
        JSON.stringify(ranges),
        t.to ?? null,
      );
    });
    this.#notifyReleased(ranges);
    await this.drain(ranges);
    return { released: true };
  }

  #notifyReleased(ranges: readonly SlotRange[]): void {
    try {
      this.released(ranges);
    } catch (error) {
      // The release stands whatever the hook does; a broken hook must not undo a move.
      console.warn(`released() hook failed: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  async #revoke(transfer: unknown): Promise<{ acquired: boolean }> {
    const t = parse(transferSchema, transfer, "transfer");
    const own = this.ownership;
    const ranges = normalizeRanges(t.ranges);
    const owned = own !== undefined && own.keyspace === t.keyspace && own.shard === t.shard;
    this.ctx.storage.transactionSync(() => {
      this.ctx.storage.sql.exec("INSERT OR IGNORE INTO _ds_revoked (version, ranges) VALUES (?, ?)", t.version, JSON.stringify(ranges));
      // Acquires are whole, so the ranges are either all held (acquired) or none.
      if (owned && subtractRanges(ranges, own.ranges).length === 0) {
        this.save({ ...own, ranges: subtractRanges(own.ranges, ranges) });
        this.ctx.storage.sql.exec(
          "INSERT OR REPLACE INTO _ds_released (version, ranges, to_shard) VALUES (?, ?, ?)",
          t.version,
          JSON.stringify(ranges),
          t.to ?? null,
        );
      }
    });
    if (!this.#releasedAt(t.version, ranges)) return { acquired: false };
    this.#notifyReleased(ranges);
    await this.drain(ranges);
    return { acquired: true };
  }

  async #reclaim(transfer: unknown, staged: unknown): Promise<Ownership> {
    const t = parse(transferSchema, transfer, "transfer");
    const own = this.#checkShard(t);
    const ranges = normalizeRanges(t.ranges);
    const missing = subtractRanges(ranges, own.ranges);
    // Whatever the move got to, this shard serves these slots from now on: no more recording.
    if (this.#canCapture()) stopCapture(this.ctx.storage.sql, this.checkedSlotTables(), t.version);
    if (missing.length === 0) return this.describeOwnership()!;
    if (!this.#releasedAt(t.version, ranges)) {
      throw new ShardError("InvalidArgument", `shard '${t.shard}' did not release these slots at map version ${t.version}`);
    }
    parse(z.boolean(), staged, "staged");
    this.ctx.storage.transactionSync(() => {
      this.save({ ...own, version: Math.max(own.version, t.version), ranges: normalizeRanges([...own.ranges, ...missing]) });
      this.ctx.storage.sql.exec("DELETE FROM _ds_released WHERE version = ? AND ranges = ?", t.version, JSON.stringify(ranges));
    });
    return this.describeOwnership()!;
  }

  /** Whether this shard released exactly `ranges` at `version` (and has not dropped them). */
  /** This object's ownership; throws unless it is shard `t.shard` of `t.keyspace`. */
  #checkShard(t: SlotTransfer): Ownership {
    const own = this.ownership;
    if (!own || own.keyspace !== t.keyspace || own.shard !== t.shard) {
      throw new ShardError("InvalidArgument", `object is not shard '${t.shard}' of '${t.keyspace}'`);
    }
    return own;
  }

  /** Whether this keyspace's slots can be copied while served: slot tables with primary keys, default hooks. */
  #canCapture(): boolean {
    if (!this.#usesDefaultHooks() || this.exportSlotsPage !== ShardedObject.prototype.exportSlotsPage) return false;
    const tables = this.checkedSlotTables();
    return tables.length > 0 && tables.every((table) => capturable(this.ctx.storage.sql, table));
  }

  /** Whether the keyspace moves its data with the default hooks (rows of its slot tables). */
  #usesDefaultHooks(): boolean {
    const proto = ShardedObject.prototype;
    return this.exportSlots === proto.exportSlots && this.importSlots === proto.importSlots && this.deleteSlots === proto.deleteSlots;
  }

  /** Refuses slots of a change this shard rolled back them for: a late delivery must not take them. */
  #checkNotRevoked(t: SlotTransfer): void {
    const ranges = normalizeRanges(t.ranges);
    const revoked = this.ctx.storage.sql
      .exec<{ ranges: string }>("SELECT ranges FROM _ds_revoked WHERE version >= ?", t.version)
      .toArray()
      .some((r) => countSlots(subtractRanges(ranges, JSON.parse(r.ranges) as SlotRange[])) < countSlots(ranges));
    if (revoked) {
      throw new ShardError("InvalidArgument", `the change to map version ${t.version} was rolled back on shard '${t.shard}'; it acquires nothing for it`);
    }
  }

  #releasedAt(version: number, ranges: readonly SlotRange[]): boolean {
    return (
      this.ctx.storage.sql.exec("SELECT 1 FROM _ds_released WHERE version = ? AND ranges = ?", version, JSON.stringify(ranges)).toArray().length > 0
    );
  }

  async #drop(transfer: unknown): Promise<void> {
    const t = parse(transferSchema, transfer, "transfer");
    const own = this.ownership;
    // An object never granted anything may still hold rows staged for a move that was rolled back.
    if (own && (own.keyspace !== t.keyspace || own.shard !== t.shard)) return;
    const given = normalizeRanges(t.ranges);
    const ranges = subtractRanges(given, own?.ranges ?? []);
    this.ctx.storage.transactionSync(() => {
      if (this.#canCapture()) stopCapture(this.ctx.storage.sql, this.checkedSlotTables(), t.version);
      this.deleteSlots(ranges);
      // Only this move's record: the shard may have released other slots at the same version.
      this.ctx.storage.sql.exec("DELETE FROM _ds_released WHERE version = ? AND ranges = ?", t.version, JSON.stringify(given));
    });
    this.#foreignRows = undefined;
  }

  /**
   * The refusal of a call for `slot`, which this shard does not own. When this shard released the
   * slot in a change not yet dropped, the refusal names the shard that took it: that shard serves
   * it from its acquire on, while the directory still hands out the old map until it commits.
   */
  private slotRefusal(own: Ownership, slot: number): WrongShardError {
    const to = this.#releasedTo().find((r) => rangesContain(r.ranges, slot))?.to;
    const where = to === undefined ? "" : `; moved to '${to}'`;
    return refusal(own.version, `shard '${own.shard}' of '${own.keyspace}' does not own slot ${slot}${where}`, to);
  }

  /** The slots this shard released and has not dropped yet, newest first, with the shard that took them. */
  #releasedTo(): { to: string; ranges: SlotRange[] }[] {
    // Read here, not kept in memory: refusals are rare, and the table changes with every move.
    return this.ctx.storage.sql
      .exec<{ to_shard: string; ranges: string }>("SELECT to_shard, ranges FROM _ds_released WHERE to_shard IS NOT NULL ORDER BY version DESC")
      .toArray()
      .map((r) => ({ to: r.to_shard, ranges: JSON.parse(r.ranges) as SlotRange[] }));
  }

  private save(next: Ownership): void {
    this.ctx.storage.sql.exec(
      "INSERT OR REPLACE INTO _ds_ownership (id, keyspace, shard, slot_count, version, ranges) VALUES (1, ?, ?, ?, ?, ?)",
      next.keyspace,
      next.shard,
      next.slotCount,
      next.version,
      JSON.stringify(next.ranges),
    );
    this.ownership = next;
    this.#foreignRows = undefined;
  }

  /** The method `name` of the kind `allowed`; `other` is the other kind, named in the error. */
  private method(name: unknown, allowed: ReadonlySet<string>, other: ReadonlySet<string>): (...args: unknown[]) => unknown {
    // A hit in the table is itself the validation; the schema runs only to word the error.
    if (typeof name === "string" && allowed.has(name)) return this.callable(name);
    const method = parse(methodNameSchema, name, "method");
    if (other.has(method)) {
      const how = allowed === this.methods ? "a shard method: call it through router.shard(id), all or some" : "a per-key method: call it through router.get(key)";
      throw new ShardError("InvalidArgument", `'${method}' is ${how}`);
    }
    throw new ShardError("InvalidArgument", `'${method}' is not a method of this keyspace's objects`);
  }

  /** Looked up per call (not cached), so an instance may override a method, e.g. to inject faults in tests. */
  private callable(name: string): (...args: unknown[]) => unknown {
    return (this as unknown as Record<string, (...args: unknown[]) => unknown>)[name]!;
  }

  private checkedSlotTables(): string[] {
    const tables = this.slotTables();
    for (const t of tables) if (!isIdentifier(t)) throw new ShardError("InvalidArgument", `bad slot table name '${t}'`);
    return tables;
  }

  private checkData(data: unknown): SlotData {
    const rows = parse(z.record(z.string(), z.array(z.record(z.string(), z.any()))), data, "data") as SlotData;
    const tables = new Set(this.checkedSlotTables());
    for (const table of Object.keys(rows)) {
      if (!tables.has(table)) throw new ShardError("InvalidArgument", `move carries rows of unknown table '${table}'`);
    }
    return rows;
  }

  /** A call on `slot` started; a release of the slot waits until it {@link leave}s. */
  private enter(slot: number): void {
    this.inflight.set(slot, (this.inflight.get(slot) ?? 0) + 1);
  }

  private leave(slot: number): void {
    const left = (this.inflight.get(slot) ?? 1) - 1;
    if (left > 0) this.inflight.set(slot, left);
    else this.inflight.delete(slot);
    if (left === 0 && this.drained.length > 0) {
      const waiting = this.drained;
      this.drained = [];
      for (const wake of waiting) wake();
    }
  }

  private async drain(ranges: readonly SlotRange[]): Promise<void> {
    while ([...this.inflight.keys()].some((slot) => rangesContain(ranges, slot))) {
      await new Promise<void>((resolve) => this.drained.push(resolve));
    }
  }
}

/** `own` when it is shard `shard` of `keyspace`, else the refusal of a call naming that shard. */
function ownershipAs(own: Ownership | undefined, keyspace: string, shard: string): Ownership | WrongShardError {
  if (own && own.keyspace === keyspace && own.shard === shard) return own;
  return refusal(own?.version ?? 0, `object is not shard '${shard}' of '${keyspace}'`);
}

function refusal(version: number, message: string, movedTo?: string): WrongShardError {
  return new WrongShardError(`${message} (map version ${version})`, version, movedTo);
}

/** Names of the public methods declared by subclasses (not by ShardedObject or the platform). */
function routableMethods(object: object): ReadonlySet<string> {
  const names = new Set<string>();
  for (let proto = Object.getPrototypeOf(object); proto && proto !== ShardedObject.prototype; proto = Object.getPrototypeOf(proto)) {
    for (const name of Object.getOwnPropertyNames(proto)) {
      const descriptor = Object.getOwnPropertyDescriptor(proto, name);
      if (!RESERVED.has(name) && !name.startsWith("_") && typeof descriptor?.value === "function") names.add(name);
    }
  }
  // Overrides of the base class's own methods (hooks, directory protocol) are never routable.
  for (const name of Object.getOwnPropertyNames(ShardedObject.prototype)) names.delete(name);
  return names;
}
