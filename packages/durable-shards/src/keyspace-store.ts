/**
 * The directory's tables of keyspaces, their shards and their committed maps (`keyspaces`,
 * `shards`, `slot_runs`), with the committed maps cached per object.
 */
import { ShardError } from "./errors.js";
import type { ShardSpec } from "./schema.js";
import { ShardMap, type ShardInfo, type ShardMapSnapshot } from "./shard-map.js";

/** A keyspace's row. `version` 0: still being created. */
export interface KeyspaceRow {
  name: string;
  binding: string;
  placement: "hash" | "entity";
  slot_count: number;
  version: number;
}

export class KeyspaceStore {
  private readonly maps = new Map<string, ShardMap>();

  constructor(private readonly sql: SqlStorage) {}

  row(name: string): KeyspaceRow | undefined {
    return this.sql
      .exec<{ name: string; binding: string; placement: "hash" | "entity"; slot_count: number; version: number }>(
        "SELECT name, binding, placement, slot_count, version FROM keyspaces WHERE name = ?",
        name,
      )
      .toArray()[0];
  }

  /** The keyspace's row; `UnknownKeyspace` when there is none. */
  requireRow(name: string): KeyspaceRow {
    const row = this.row(name);
    if (!row) throw new ShardError("UnknownKeyspace", `keyspace '${name}' does not exist`);
    return row;
  }

  /** Names of every keyspace. */
  names(): string[] {
    return this.sql.exec<{ name: string }>("SELECT name FROM keyspaces ORDER BY name").toArray().map((r) => r.name);
  }

  /** Names of the hash-placed keyspaces that finished being created. */
  hashKeyspaces(): string[] {
    return this.sql
      .exec<{ name: string }>("SELECT name FROM keyspaces WHERE placement = 'hash' AND version > 0 ORDER BY name")
      .toArray()
      .map((r) => r.name);
  }

  insert(name: string, binding: string, placement: "hash" | "entity", slotCount: number): void {
    this.sql.exec(
      "INSERT INTO keyspaces (name, binding, placement, slot_count, version, created_at) VALUES (?, ?, ?, ?, ?, ?)",
      name,
      binding,
      placement,
      slotCount,
      placement === "entity" ? 1 : 0,
      Date.now(),
    );
  }

  /** The keyspace's committed map (hash placement). */
  committedMap(keyspace: string): ShardMap {
    const row = this.requireRow(keyspace);
    if (row.placement !== "hash") throw new ShardError("InvalidArgument", `keyspace '${keyspace}' uses entity placement and has no map`);
    const cached = this.maps.get(keyspace);
    if (cached && cached.version === row.version) return cached;
    if (row.version === 0) throw new ShardError("NotInitialized", `keyspace '${keyspace}' is still being created; retry shortly`, { retryable: true });
    const shards = this.sql
      .exec<{ id: string; location_hint: string | null }>("SELECT id, location_hint FROM shards WHERE keyspace = ? ORDER BY position", keyspace)
      .toArray()
      .map((r): ShardInfo => (r.location_hint ? { id: r.id, locationHint: r.location_hint as ShardInfo["locationHint"] } : { id: r.id }));
    const index = new Map(shards.map((s, i) => [s.id, i]));
    const runs = this.sql
      .exec<{ start: number; shard_id: string }>("SELECT start, shard_id FROM slot_runs WHERE keyspace = ? ORDER BY start", keyspace)
      .toArray()
      .map((r): [number, number] => [r.start, index.get(r.shard_id)!]);
    const map = ShardMap.fromSnapshot({ keyspace, version: row.version, slotCount: row.slot_count, shards, runs });
    this.maps.set(keyspace, map);
    return map;
  }

  /** Stores `map` as its keyspace's committed map (call it inside the commit's transaction). */
  saveMap(map: ShardMapSnapshot): void {
    const sql = this.sql;
    sql.exec("DELETE FROM shards WHERE keyspace = ?", map.keyspace);
    sql.exec("DELETE FROM slot_runs WHERE keyspace = ?", map.keyspace);
    map.shards.forEach((s, i) =>
      sql.exec("INSERT INTO shards (keyspace, id, position, location_hint) VALUES (?, ?, ?, ?)", map.keyspace, s.id, i, s.locationHint ?? null),
    );
    for (const [start, shard] of map.runs) {
      sql.exec("INSERT INTO slot_runs (keyspace, start, shard_id) VALUES (?, ?, ?)", map.keyspace, start, map.shards[shard]!.id);
    }
    sql.exec("UPDATE keyspaces SET version = ? WHERE name = ?", map.version, map.keyspace);
    this.maps.set(map.keyspace, ShardMap.fromSnapshot(map));
  }

  /** Ids (given or generated) for new shards; a dry run does not use up generated ids. */
  newShards(keyspace: string, specs: number | ShardSpec[], taken: Set<string>, dryRun = false): ShardInfo[] {
    const list: ShardSpec[] = typeof specs === "number" ? Array.from({ length: specs }, () => ({})) : specs;
    const used = new Set(taken);
    for (const s of list) if (s.id) used.add(s.id);
    // Generated ids are never reused, so a removed shard's object is never mistaken for a new one.
    let counter = this.sql.exec<{ n: number | null }>("SELECT next_shard AS n FROM keyspaces WHERE name = ?", keyspace).toArray()[0]?.n ?? 0;
    return list.map((spec) => {
      let id = spec.id;
      while (!id) {
        const candidate = `s${counter++}`;
        if (!used.has(candidate)) id = candidate;
      }
      used.add(id);
      if (!dryRun) this.sql.exec("UPDATE keyspaces SET next_shard = ? WHERE name = ?", counter, keyspace);
      return spec.locationHint ? { id, locationHint: spec.locationHint } : { id };
    });
  }
}
