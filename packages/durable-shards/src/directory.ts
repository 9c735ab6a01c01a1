/**
 * The directory: the one Durable Object that owns every keyspace's shard map.
 *
 * It creates keyspaces, records shards, plans and applies changes, and serves maps to routers.
 * It is not on the request path: routers fetch a map once and come back only when a shard fences
 * them off or their refresh interval passes.
 *
 * A change is applied in resumable steps. The plan is stored as pending first; then, per move,
 * the source releases the slots (and stops serving them) and hands their rows to the target,
 * which acquires them; then the new map is committed in one transaction; then sources drop the
 * rows they gave away. Every step is idempotent, so an interrupted change is finished by
 * {@link ShardDirectory.resumePending} (also run from the directory's alarm).
 *
 * Call it through {@link directoryClient}: its errors then arrive typed, and expected ones (an
 * unknown keyspace, a change in progress, rejected input) are not counted as failed invocations.
 * The methods can also be called on a raw stub; they throw then, as plain `Error`s.
 */
import { DurableObject } from "cloudflare:workers";
import { z } from "zod";
import { ShardError } from "./errors.js";
import { fanOut, valuesOf } from "./fan-out.js";
import { settle, unwrap, type Failure } from "./result.js";
import { migrate, type Migration } from "./migrations.js";
import { initialMap, planChange, type Plan, type ShardChange, type SlotMove } from "./planner.js";
import {
  DEFAULT_SLOT_COUNT,
  keySchema,
  keyspaceNameSchema,
  mapVersionSchema,
  parse,
  placementSchema,
  shardIdSchema,
  shardSpecsSchema,
  slotCountSchema,
  type ShardSpec,
} from "./schema.js";
import { ShardMap, countSlots, type ShardInfo, type ShardMapSnapshot } from "./shard-map.js";
import type { Ownership, SlotData, SlotTransfer } from "./sharded-object.js";
import { Timers } from "./timers.js";

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

/** The outcome of a change. */
export interface ChangeResult {
  keyspace: string;
  version: number;
  movedSlots: number;
  /**
   * Each move, with `pauseMs`: how long its slots were refused, from the source's release to the
   * target's acquire (an upper bound: it includes both calls' latency). Routers reach the target
   * from then on, before the whole change commits.
   */
  moves: { from: string; to: string; slots: number; pauseMs: number }[];
}

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
];

/** A stored pending change: the next map and the moves leading to it. */
interface StoredPlan {
  map: ShardMapSnapshot;
  moves: SlotMove[];
  /** Shards that get a first grant without moves (a new keyspace). */
  grants: string[];
}

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
] as const;
export type DirectoryMethod = (typeof DIRECTORY_METHODS)[number];
const directoryMethods: ReadonlySet<string> = new Set(DIRECTORY_METHODS);
const invokeArgsSchema = z.array(z.unknown()).max(8, "at most 8 arguments");

/** The shard protocol the directory drives; results are unwrapped, so failures throw here. */
interface ShardProtocol {
  dsAcquire(transfer: SlotTransfer, data: SlotData | null): Promise<Ownership | Failure>;
  dsRelease(transfer: SlotTransfer): Promise<SlotData | Failure>;
  dsDrop(transfer: SlotTransfer): Promise<void | Failure>;
}

const RESUME_TIMER = "resume-pending";
/** Time for all moves of one change; a change that takes longer pauses and resumes from the alarm. */
const MOVE_DEADLINE_MS = 60_000;
const RESUME_DELAY_MS = 5_000;

export class ShardDirectory<Env = unknown> extends DurableObject<Env> {
  private readonly maps = new Map<string, ShardMap>();
  private readonly timers: Timers;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    migrate(ctx.storage, "durable-shards/directory", MIGRATIONS);
    this.timers = new Timers(ctx.storage);
  }

  /** Creates a keyspace and grants each initial shard its slots. */
  async createKeyspace(input: CreateKeyspaceInput): Promise<KeyspaceInfo> {
    const k = parse(createKeyspaceSchema, input, "keyspace");
    this.namespace(k.binding);
    if (this.row(k.name)) throw new ShardError("KeyspaceExists", `keyspace '${k.name}' already exists`);
    if (k.placement === "entity") {
      if (k.shards !== undefined) throw new ShardError("InvalidArgument", "entity keyspaces have no shards");
      this.ctx.storage.sql.exec(
        "INSERT INTO keyspaces (name, binding, placement, slot_count, version, created_at) VALUES (?, ?, 'entity', ?, 1, ?)",
        k.name,
        k.binding,
        k.slotCount,
        Date.now(),
      );
      return this.getKeyspace(k.name);
    }
    this.ctx.storage.transactionSync(() => {
      this.ctx.storage.sql.exec(
        "INSERT INTO keyspaces (name, binding, placement, slot_count, version, created_at) VALUES (?, ?, 'hash', ?, 0, ?)",
        k.name,
        k.binding,
        k.slotCount,
        Date.now(),
      );
      const shards = this.newShards(k.name, k.shards ?? 1, new Set());
      const map = initialMap(k.name, k.slotCount, shards);
      this.storePending(k.name, { map: map.toSnapshot(), moves: [], grants: shards.map((s) => s.id) });
    });
    await this.apply(k.name);
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
    const row = this.row(k.name);
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
    const row = this.requireRow(keyspace);
    const pending = this.pending(keyspace);
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
      const map = this.committedMap(keyspace);
      const counts = map.slotCounts();
      info.shards = map.shards.map((s, i) => ({ ...s, slots: counts[i]! }));
    }
    return info;
  }

  /** Every keyspace, by name. */
  listKeyspaces(): KeyspaceInfo[] {
    return this.ctx.storage.sql
      .exec<{ name: string }>("SELECT name FROM keyspaces ORDER BY name")
      .toArray()
      .map((r) => this.getKeyspace(r.name));
  }

  /**
   * The routing info of `keyspace`, or `null` when the caller's `knownVersion` is already current
   * (the common answer to a refresh, and cheap).
   */
  getMap(keyspace: string, knownVersion?: number): RoutingInfo | null {
    const name = parse(keyspaceNameSchema, keyspace, "keyspace");
    const known = knownVersion === undefined ? undefined : parse(mapVersionSchema, knownVersion, "knownVersion");
    const row = this.requireRow(name);
    if (known !== undefined && known >= row.version) return null;
    if (row.placement === "entity") return { placement: "entity", keyspace: name, version: row.version };
    if (row.version === 0) throw new ShardError("NotInitialized", `keyspace '${name}' is still being created; retry shortly`, { retryable: true });
    return { placement: "hash", ...this.committedMap(name).toSnapshot() };
  }

  /**
   * Id of the shard that owns `key` in the committed map. For tools and comparisons: routers never
   * ask per call, because that would make the directory a global bottleneck again.
   */
  resolve(keyspace: string, key: string): string {
    const name = parse(keyspaceNameSchema, keyspace, "keyspace");
    const k = parse(keySchema, key, "key");
    return this.committedMap(name).shardOfKey(k).id;
  }

  /** Adds shards (a count, or specs with ids and location hints) and moves them their share. */
  async addShards(keyspace: string, shards: number | ShardSpec[]): Promise<ChangeResult> {
    const name = parse(keyspaceNameSchema, keyspace, "keyspace");
    const specs = parse(shardSpecsSchema, shards, "shards");
    const map = this.committedMap(name);
    const add = this.newShards(name, specs, new Set(map.shards.map((s) => s.id)));
    return this.change(name, { add });
  }

  /** Removes shards (any of them, not only the last) after moving their slots to the others. */
  async removeShards(keyspace: string, shardIds: string[]): Promise<ChangeResult> {
    const name = parse(keyspaceNameSchema, keyspace, "keyspace");
    const ids = parse(z.array(shardIdSchema).min(1, "name at least one shard"), shardIds, "shardIds");
    return this.change(name, { remove: ids });
  }

  /** Evens out slot counts; moves nothing when the map is already balanced. */
  async rebalance(keyspace: string): Promise<ChangeResult> {
    return this.change(parse(keyspaceNameSchema, keyspace, "keyspace"), {});
  }

  /** Finishes every change that started and did not commit. Returns the keyspaces it finished. */
  async resumePending(): Promise<string[]> {
    const names = this.ctx.storage.sql
      .exec<{ keyspace: string }>("SELECT keyspace FROM changes WHERE status = 'pending' ORDER BY keyspace")
      .toArray()
      .map((r) => r.keyspace);
    for (const name of names) await this.apply(name);
    return names;
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
    await this.timers.run({ [RESUME_TIMER]: () => undefined });
    try {
      await this.resumePending();
    } catch (error) {
      // A change that cannot finish yet is expected (its timer is re-armed); say so once, not as
      // a failed alarm, which the platform would also retry on its own schedule.
      if (!(error instanceof ShardError)) throw error;
      console.warn(`durable-shards directory: ${error.message}`);
    }
  }

  // ---- internals ------------------------------------------------------------------------------

  private async change(keyspace: string, change: ShardChange): Promise<ChangeResult> {
    const row = this.requireRow(keyspace);
    if (row.placement !== "hash") throw new ShardError("InvalidArgument", `keyspace '${keyspace}' uses entity placement and has no shards`);
    if (this.pending(keyspace)) {
      throw new ShardError("ChangeInProgress", `keyspace '${keyspace}' has a change in progress; retry when it commits`, { retryable: true });
    }
    const plan: Plan = planChange(this.committedMap(keyspace), change);
    if (plan.movedSlots === 0 && !change.add?.length && !change.remove?.length) {
      return { keyspace, version: row.version, movedSlots: 0, moves: [] };
    }
    this.storePending(keyspace, { map: plan.map.toSnapshot(), moves: plan.moves, grants: [] });
    const pauses = await this.apply(keyspace);
    return {
      keyspace,
      version: plan.map.version,
      movedSlots: plan.movedSlots,
      moves: plan.moves.map((m, i) => ({ from: m.from, to: m.to, slots: countSlots(m.ranges), pauseMs: pauses[i] ?? 0 })),
    };
  }

  /** Runs (or re-runs) the pending change of `keyspace` to completion; returns each move's pause in ms. */
  private async apply(keyspace: string): Promise<number[]> {
    const plan = this.pending(keyspace);
    if (!plan) return [];
    // Should this invocation die part-way, the alarm finishes the change.
    await this.timers.after(RESUME_TIMER, RESUME_DELAY_MS);
    const row = this.requireRow(keyspace);
    const namespace = this.namespace(row.binding);
    const stub = (shard: string) => namespace.getByName(`${keyspace}:${shard}`) as unknown as ShardProtocol;
    const transfer = (shard: string, ranges: SlotTransfer["ranges"]): SlotTransfer => ({
      keyspace,
      shard,
      slotCount: row.slot_count,
      version: plan.map.version,
      ranges,
    });
    const next = ShardMap.fromSnapshot(plan.map);

    const granted = await fanOut(plan.grants, async (shard) => unwrap(await stub(shard).dsAcquire(transfer(shard, next.rangesOf(shard)), null)));
    throwIfFailed(granted.results);
    const moved = await fanOut(
      plan.moves.map((_, i) => String(i)),
      async (i) => {
        const move = plan.moves[Number(i)]!;
        const released = Date.now();
        const data = unwrap(await stub(move.from).dsRelease({ ...transfer(move.from, move.ranges), to: move.to }));
        unwrap(await stub(move.to).dsAcquire(transfer(move.to, move.ranges), data));
        return Date.now() - released;
      },
      { concurrency: 8, deadlineMs: MOVE_DEADLINE_MS },
    );
    throwIfFailed(moved.results);

    this.ctx.storage.transactionSync(() => {
      const sql = this.ctx.storage.sql;
      sql.exec("DELETE FROM shards WHERE keyspace = ?", keyspace);
      sql.exec("DELETE FROM slot_runs WHERE keyspace = ?", keyspace);
      plan.map.shards.forEach((s, i) =>
        sql.exec("INSERT INTO shards (keyspace, id, position, location_hint) VALUES (?, ?, ?, ?)", keyspace, s.id, i, s.locationHint ?? null),
      );
      for (const [start, shard] of plan.map.runs) {
        sql.exec("INSERT INTO slot_runs (keyspace, start, shard_id) VALUES (?, ?, ?)", keyspace, start, plan.map.shards[shard]!.id);
      }
      sql.exec("UPDATE keyspaces SET version = ? WHERE name = ?", plan.map.version, keyspace);
      sql.exec(
        "UPDATE changes SET status = 'committed', committed_at = ? WHERE keyspace = ? AND version = ?",
        Date.now(),
        keyspace,
        plan.map.version,
      );
    });
    this.maps.set(keyspace, next);

    // Dropping moved rows is clean-up: a failure leaves unreachable rows, never wrong answers.
    await fanOut(plan.moves.map((m) => m.from), async (shard, i) => unwrap(await stub(shard).dsDrop(transfer(shard, plan.moves[i]!.ranges))));
    if (!this.ctx.storage.sql.exec("SELECT 1 FROM changes WHERE status = 'pending' LIMIT 1").toArray().length) {
      await this.timers.cancel(RESUME_TIMER);
    }
    return valuesOf(moved);
  }

  private newShards(keyspace: string, specs: number | ShardSpec[], taken: Set<string>): ShardInfo[] {
    const list: ShardSpec[] = typeof specs === "number" ? Array.from({ length: specs }, () => ({})) : specs;
    const used = new Set(taken);
    for (const s of list) if (s.id) used.add(s.id);
    // Generated ids are never reused, so a removed shard's object is never mistaken for a new one.
    let counter = this.ctx.storage.sql
      .exec<{ n: number | null }>("SELECT next_shard AS n FROM keyspaces WHERE name = ?", keyspace)
      .toArray()[0]?.n ?? 0;
    return list.map((spec) => {
      let id = spec.id;
      while (!id) {
        const candidate = `s${counter++}`;
        if (!used.has(candidate)) id = candidate;
      }
      used.add(id);
      this.ctx.storage.sql.exec("UPDATE keyspaces SET next_shard = ? WHERE name = ?", counter, keyspace);
      return spec.locationHint ? { id, locationHint: spec.locationHint } : { id };
    });
  }

  private storePending(keyspace: string, plan: StoredPlan): void {
    this.ctx.storage.sql.exec(
      "INSERT INTO changes (keyspace, version, status, plan, created_at) VALUES (?, ?, 'pending', ?, ?)",
      keyspace,
      plan.map.version,
      JSON.stringify(plan),
      Date.now(),
    );
  }

  private pending(keyspace: string): StoredPlan | undefined {
    const row = this.ctx.storage.sql
      .exec<{ plan: string }>("SELECT plan FROM changes WHERE keyspace = ? AND status = 'pending'", keyspace)
      .toArray()[0];
    return row ? (JSON.parse(row.plan) as StoredPlan) : undefined;
  }

  private committedMap(keyspace: string): ShardMap {
    const row = this.requireRow(keyspace);
    if (row.placement !== "hash") throw new ShardError("InvalidArgument", `keyspace '${keyspace}' uses entity placement and has no map`);
    const cached = this.maps.get(keyspace);
    if (cached && cached.version === row.version) return cached;
    if (row.version === 0) throw new ShardError("NotInitialized", `keyspace '${keyspace}' is still being created; retry shortly`, { retryable: true });
    const shards = this.ctx.storage.sql
      .exec<{ id: string; location_hint: string | null }>("SELECT id, location_hint FROM shards WHERE keyspace = ? ORDER BY position", keyspace)
      .toArray()
      .map((r): ShardInfo => (r.location_hint ? { id: r.id, locationHint: r.location_hint as ShardInfo["locationHint"] } : { id: r.id }));
    const index = new Map(shards.map((s, i) => [s.id, i]));
    const runs = this.ctx.storage.sql
      .exec<{ start: number; shard_id: string }>("SELECT start, shard_id FROM slot_runs WHERE keyspace = ? ORDER BY start", keyspace)
      .toArray()
      .map((r): [number, number] => [r.start, index.get(r.shard_id)!]);
    const map = ShardMap.fromSnapshot({ keyspace, version: row.version, slotCount: row.slot_count, shards, runs });
    this.maps.set(keyspace, map);
    return map;
  }

  private row(name: string) {
    return this.ctx.storage.sql
      .exec<{ name: string; binding: string; placement: "hash" | "entity"; slot_count: number; version: number }>(
        "SELECT name, binding, placement, slot_count, version FROM keyspaces WHERE name = ?",
        name,
      )
      .toArray()[0];
  }

  private requireRow(name: string) {
    const row = this.row(name);
    if (!row) throw new ShardError("UnknownKeyspace", `keyspace '${name}' does not exist`);
    return row;
  }

  private namespace(binding: string): DurableObjectNamespace {
    const candidate = (this.env as Record<string, unknown>)[binding];
    if (!candidate || typeof (candidate as DurableObjectNamespace).getByName !== "function") {
      throw new ShardError("InvalidArgument", `binding '${binding}' is not a Durable Object namespace in the directory's env`);
    }
    return candidate as DurableObjectNamespace;
  }
}

function throwIfFailed(results: { ok: boolean; shard: string; error?: Error }[]): void {
  const failed = results.find((r) => !r.ok);
  if (failed) {
    throw new ShardError("ChangeInProgress", `change paused: shard step ${failed.shard} failed (${failed.error?.message}); it resumes automatically`, {
      retryable: true,
      cause: failed.error,
    });
  }
}
