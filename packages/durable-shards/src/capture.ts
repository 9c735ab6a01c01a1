/**
 * Change capture on a move's source, so its slots are copied while it keeps serving them.
 *
 * While a move copies, SQLite triggers on the slot tables record the primary key of every row
 * written in the moving slots (`_ds_dirty`, in order). The directory then replays those keys
 * onto the target in pages ("catching up"): each key's current row is sent, or its deletion.
 * The triggers exist only while some move tracks this shard's slots, so writes outside a move
 * pay nothing. They are stored with the schema, so capture survives eviction.
 *
 * Capture needs slot tables with a declared primary key of text or number columns (a row's
 * identity on both shards); a keyspace without one is moved with its slots refused for the copy.
 */
import { ShardError } from "./errors.js";
import { rowBytes, rowSizeExpression } from "./row-size.js";
import { rangesContain, type SlotRange } from "./shard-map.js";

/** Tables of the capture state; created by the shard's migrations. */
export const CAPTURE_TABLES = `CREATE TABLE _ds_tracked (version INTEGER NOT NULL, start INTEGER NOT NULL, stop INTEGER NOT NULL, PRIMARY KEY (version, start));
  CREATE TABLE _ds_dirty (seq INTEGER PRIMARY KEY AUTOINCREMENT, version INTEGER NOT NULL, slot INTEGER NOT NULL, tbl TEXT NOT NULL, pk TEXT NOT NULL);
  CREATE INDEX _ds_dirty_version ON _ds_dirty (version, seq)`;

/** Captured changes, as one page carries them: current rows, and keys of deleted rows. */
export interface ChangesPage {
  upserts: Record<string, Record<string, SqlStorageValue>[]>;
  deletes: Record<string, SqlStorageValue[][]>;
  /** The last captured change in this page; passed back as `acked` on the next call. */
  upTo: number | null;
  /** Captured changes after this page. */
  left: number;
}

/** The primary-key columns of `table`, in key order; empty when it has none. */
export function keyColumns(sql: SqlStorage, table: string): string[] {
  return sql
    .exec<{ name: string; pk: number }>(`PRAGMA table_info(${table})`)
    .toArray()
    .filter((c) => c.pk > 0)
    .sort((a, b) => a.pk - b.pk)
    .map((c) => c.name);
}

/**
 * Whether writes to `table` can be recorded: it declares a primary key whose columns have text or
 * numeric types (a key goes into JSON, which cannot hold blobs).
 */
export function capturable(sql: SqlStorage, table: string): boolean {
  const key = sql
    .exec<{ type: string; pk: number }>(`PRAGMA table_info(${table})`)
    .toArray()
    .filter((c) => c.pk > 0);
  return key.length > 0 && key.every((c) => /INT|CHAR|CLOB|TEXT|REAL|FLOA|DOUB|NUM|DEC|BOOL|DATE/i.test(c.type));
}

/** Starts recording writes to `ranges` of `tables` for the move at `version`. Idempotent. */
export function startCapture(sql: SqlStorage, tables: readonly string[], version: number, ranges: readonly SlotRange[]): void {
  for (const [start, stop] of ranges) {
    sql.exec("INSERT OR IGNORE INTO _ds_tracked (version, start, stop) VALUES (?, ?, ?)", version, start, stop);
  }
  for (const table of tables) createTriggers(sql, table, keyColumns(sql, table));
}

/** Whether writes to `ranges` are being recorded for `version`. */
export function capturing(sql: SqlStorage, version: number, ranges: readonly SlotRange[]): boolean {
  const tracked = sql.exec<{ start: number; stop: number }>("SELECT start, stop FROM _ds_tracked WHERE version = ?", version).toArray();
  return tracked.length > 0 && ranges.every(([start, stop]) => tracked.some((t) => t.start <= start && stop <= t.stop));
}

/** Stops recording for `version` and forgets its changes; drops the triggers when nothing is tracked. */
export function stopCapture(sql: SqlStorage, tables: readonly string[], version: number): void {
  sql.exec("DELETE FROM _ds_tracked WHERE version = ?", version);
  sql.exec("DELETE FROM _ds_dirty WHERE version = ?", version);
  if (sql.exec("SELECT 1 FROM _ds_tracked LIMIT 1").toArray().length > 0) return;
  for (const table of tables) for (const kind of ["ins", "upd", "del"]) sql.exec(`DROP TRIGGER IF EXISTS _ds_capture_${table}_${kind}`);
}

/**
 * Forgets changes up to `acked` (the previous page, now applied on the target), then returns the
 * next page of changes of `version` in `ranges`: about `maxBytes` of rows at most. Only the
 * changes recorded in `ranges` are read and forgotten: a source may run several moves of one
 * change, each replaying its own slots' writes.
 */
export function changesPage(
  sql: SqlStorage,
  tables: readonly string[],
  version: number,
  ranges: readonly SlotRange[],
  acked: number | null,
  maxBytes: number,
): ChangesPage {
  const [inRanges, bounds] = slotCondition(ranges);
  if (acked !== null) sql.exec(`DELETE FROM _ds_dirty WHERE version = ? AND seq <= ? AND (${inRanges})`, version, acked, ...bounds);
  const keys = new Map(tables.map((t) => [t, keyColumns(sql, t)]));
  const page: ChangesPage = { upserts: {}, deletes: {}, upTo: null, left: 0 };
  const seen = new Set<string>();
  let bytes = 0;
  const changes = sql.exec<{ seq: number; tbl: string; pk: string }>(
    `SELECT seq, tbl, pk FROM _ds_dirty WHERE version = ? AND (${inRanges}) ORDER BY seq LIMIT 1024`,
    version,
    ...bounds,
  );
  for (const change of changes) {
    page.upTo = change.seq;
    const id = `${change.tbl}\u0000${change.pk}`;
    if (seen.has(id)) continue;
    seen.add(id);
    const columns = keys.get(change.tbl);
    if (!columns) continue; // a table no longer among the slot tables
    const values = JSON.parse(change.pk) as SqlStorageValue[];
    const row = sql.exec(`SELECT * FROM ${change.tbl} WHERE ${columns.map((c) => `${c} IS ?`).join(" AND ")}`, ...values).toArray()[0];
    if (row && rangesContain(ranges, row.slot as number)) {
      (page.upserts[change.tbl] ??= []).push(row);
      bytes += rowBytes(row);
    } else {
      (page.deletes[change.tbl] ??= []).push(values);
    }
    if (bytes >= maxBytes) break;
  }
  page.left =
    page.upTo === null
      ? 0
      : sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM _ds_dirty WHERE version = ? AND seq > ? AND (${inRanges})`, version, page.upTo, ...bounds).one().n;
  return page;
}

/**
 * An SQL condition on `slot` matching `ranges`, and its bound values: one JSON parameter, however
 * many ranges (a load-balanced move may have thousands, and a statement binds at most 100 values).
 */
export function slotCondition(ranges: readonly SlotRange[]): [string, string[]] {
  if (ranges.length === 0) return ["0", []];
  return [
    "EXISTS (SELECT 1 FROM json_each(?) AS r WHERE slot >= json_extract(r.value, '$[0]') AND slot < json_extract(r.value, '$[1]'))",
    [JSON.stringify(ranges)],
  ];
}

/** Applies a page's deletions on the target (its current rows are imported like copied ones). */
export function applyDeletes(sql: SqlStorage, tables: readonly string[], deletes: ChangesPage["deletes"]): number {
  let applied = 0;
  for (const [table, keys] of Object.entries(deletes)) {
    if (!tables.includes(table)) throw new ShardError("InvalidArgument", `changes name unknown table '${table}'`);
    const columns = keyColumns(sql, table);
    for (const values of keys) {
      if (!Array.isArray(values) || values.length !== columns.length) {
        throw new ShardError("InvalidArgument", `a key of '${table}' must have ${columns.length} values`);
      }
      sql.exec(`DELETE FROM ${table} WHERE ${columns.map((c) => `${c} IS ?`).join(" AND ")}`, ...values);
      applied++;
    }
  }
  return applied;
}

/** Triggers recording the key of each row written in a tracked slot of `table`. */
function createTriggers(sql: SqlStorage, table: string, columns: string[]): void {
  if (columns.length === 0) throw new ShardError("InvalidArgument", `slot table '${table}' has no primary key; it cannot be copied while served`);
  const key = (row: "NEW" | "OLD") => `json_array(${columns.map((c) => `${row}.${c}`).join(", ")})`;
  const record = (row: "NEW" | "OLD") =>
    `INSERT INTO _ds_dirty (version, slot, tbl, pk) SELECT version, ${row}.slot, '${table}', ${key(row)} FROM _ds_tracked WHERE ${row}.slot >= start AND ${row}.slot < stop LIMIT 1;`;
  sql.exec(`CREATE TRIGGER IF NOT EXISTS _ds_capture_${table}_ins AFTER INSERT ON ${table} BEGIN ${record("NEW")} END`);
  sql.exec(`CREATE TRIGGER IF NOT EXISTS _ds_capture_${table}_upd AFTER UPDATE ON ${table} BEGIN ${record("OLD")} ${record("NEW")} END`);
  sql.exec(`CREATE TRIGGER IF NOT EXISTS _ds_capture_${table}_del AFTER DELETE ON ${table} BEGIN ${record("OLD")} END`);
}

/** Approximate bytes of `table`'s rows, per slot. */
export function slotSizes(sql: SqlStorage, table: string): [slot: number, bytes: number][] {
  const size = rowSizeExpression(sql, table);
  return sql.exec<{ slot: number; b: number }>(`SELECT slot, SUM(${size}) AS b FROM ${table} GROUP BY slot`).toArray().map((r) => [r.slot, r.b]);
}

/** Rows in `ranges` of `tables`, and their approximate size (as `rowBytes` counts it). */
export function slotsSize(sql: SqlStorage, tables: readonly string[], ranges: readonly SlotRange[]): { rows: number; bytes: number } {
  let rows = 0;
  let bytes = 0;
  for (const table of tables) {
    const size = rowSizeExpression(sql, table);
    for (const [start, stop] of ranges) {
      const found = sql.exec<{ n: number; b: number | null }>(`SELECT COUNT(*) AS n, SUM(${size}) AS b FROM ${table} WHERE slot >= ? AND slot < ?`, start, stop).one();
      rows += found.n;
      bytes += found.b ?? 0;
    }
  }
  return { rows, bytes };
}
