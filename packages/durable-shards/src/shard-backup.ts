/**
 * A shard's side of backups: a consistent snapshot of its slot tables inside its own storage,
 * read back in pages, and checksums per slot bucket that a restored keyspace must reproduce.
 *
 * The snapshot is one `CREATE TABLE … AS SELECT` per slot table in one synchronous invocation, so
 * it is consistent: no write lands between the tables. It holds only the rows of the slots the
 * shard owns (not rows staged for, or left by, a move). It needs free storage as large as those
 * rows, and the copy runs within one invocation's CPU limit (a few GB per shard at most).
 */
import { canonicalJson } from "./digest.js";
import { hashKey } from "./hash.js";
import { backupIdSchema, parse } from "./schema.js";
import type { SlotRange } from "./shard-map.js";
import { slotRowsPage, type SlotData } from "./slot-tables.js";
import { slotCondition } from "./capture.js";


/** Per bucket of slots (bucket = slot / bucketSlots): rows, and an order-independent digest of them. */
export type BucketChecksums = Record<string, { rows: number; digest: string }>;

/** A shard's snapshot for a backup: the map version it knew, the slots it owns, their rows and checksums. */
export interface Snapshot {
  version: number;
  ranges: SlotRange[];
  rows: number;
  checksums: BucketChecksums;
}

function snapshotTable(id: string, table: string): string {
  parse(backupIdSchema, id, "backup id");
  return `_ds_snap_${id.replace(/-/g, "_")}_${table}`;
}

/** Copies the rows of `ranges` of every slot table into snapshot tables of backup `id`. Idempotent. */
export function takeSnapshot(sql: SqlStorage, id: string, tables: readonly string[], ranges: readonly SlotRange[]): { rows: number } {
  let rows = 0;
  const [inRanges, bounds] = slotCondition(ranges);
  for (const table of tables) {
    const snap = snapshotTable(id, table);
    if (!tableExists(sql, snap)) {
      sql.exec(`CREATE TABLE ${snap} AS SELECT * FROM ${table} WHERE ${inRanges}`, ...bounds);
    }
    rows += sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM ${snap}`).one().n;
  }
  return { rows };
}

/** Whether backup `id` has a snapshot here. */
export function hasSnapshot(sql: SqlStorage, id: string, tables: readonly string[]): boolean {
  return tables.every((t) => tableExists(sql, snapshotTable(id, t)));
}

function tableExists(sql: SqlStorage, name: string): boolean {
  return sql.exec("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", name).toArray().length > 0;
}

/** A page of about `maxBytes` of backup `id`'s snapshot rows from `cursor` on, and the next cursor (null: done). */
export function snapshotPage(sql: SqlStorage, id: string, tables: readonly string[], cursor: string | null, maxBytes: number): { data: SlotData; next: string | null } {
  // Snapshots hold only owned slots' rows: every slot is in range.
  return slotRowsPage(sql, tables, [[0, 2 ** 31]], cursor, maxBytes, (table) => snapshotTable(id, table));
}

/** Drops backup `id`'s snapshot tables. */
export function dropSnapshot(sql: SqlStorage, id: string, tables: readonly string[]): void {
  for (const table of tables) sql.exec(`DROP TABLE IF EXISTS ${snapshotTable(id, table)}`);
}

/**
 * Checksums per bucket of slots of `tables` (live tables, or backup `id`'s snapshot): row counts,
 * and two sums (each mod 2³²) of two hashes of each row's canonical form. They do not depend on
 * row order or on which shard holds a row, so buckets add up across shards.
 */
export function checksums(sql: SqlStorage, tables: readonly string[], bucketSlots: number, ranges: readonly SlotRange[], id?: string): BucketChecksums {
  const sums = new Map<number, { rows: number; hi: number; lo: number }>();
  const [inRanges, bounds] = slotCondition(ranges);
  for (const table of tables) {
    const source = id === undefined ? table : snapshotTable(id, table);
    for (const row of sql.exec(`SELECT * FROM ${source} WHERE ${inRanges}`, ...bounds)) {
      const bucket = Math.floor((row.slot as number) / bucketSlots);
      const text = checksumText(table, row);
      const s = sums.get(bucket) ?? { rows: 0, hi: 0, lo: 0 };
      s.rows++;
      s.lo = (s.lo + hashKey(text)) >>> 0;
      s.hi = (s.hi + hashKey(`${text}\u0001`)) >>> 0;
      sums.set(bucket, s);
    }
  }
  return Object.fromEntries([...sums].map(([bucket, s]) => [String(bucket), { rows: s.rows, digest: hex64(s.hi, s.lo) }]));
}

/**
 * The text a row's checksum hashes: its table, then its columns in name order as `[name, value]`
 * pairs (byte arrays as `{ "b": [...] }`). Manifests of format 1 were checked against this form,
 * so it must not change while they are restorable.
 */
export function checksumText(table: string, row: Record<string, SqlStorageValue>): string {
  return `${table}\u0000${canonicalJson(Object.keys(row).sort().map((column) => [column, row[column]]))}`;
}

/** Adds `more` into `into` (checksums of other shards). */
export function addChecksums(into: BucketChecksums, more: BucketChecksums): BucketChecksums {
  for (const [bucket, c] of Object.entries(more)) {
    const known = into[bucket];
    if (!known) {
      into[bucket] = { ...c };
      continue;
    }
    // Two independent 32-bit sums, as `checksums` adds rows.
    const [ah, al] = split64(known.digest);
    const [bh, bl] = split64(c.digest);
    into[bucket] = { rows: known.rows + c.rows, digest: hex64((ah + bh) >>> 0, (al + bl) >>> 0) };
  }
  return into;
}

function hex64(hi: number, lo: number): string {
  return hi.toString(16).padStart(8, "0") + lo.toString(16).padStart(8, "0");
}

function split64(hex: string): [number, number] {
  return [parseInt(hex.slice(0, 8), 16), parseInt(hex.slice(8), 16)];
}
