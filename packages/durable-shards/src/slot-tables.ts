/**
 * The default way a shard's data moves: rows of tables with an integer `slot` column, read, written
 * and deleted by slot range (`ShardedObject`'s default export, import and delete hooks).
 */
import { z } from "zod";
import { ShardError } from "./errors.js";
import { rowBytes } from "./row-size.js";
import type { SlotRange } from "./shard-map.js";

/** Rows of slot tables, by table name; what a move carries from source to target. */
export type SlotData = Record<string, Record<string, SqlStorageValue>[]>;

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;
const pageCursorSchema = z.strictObject({ table: z.number().int().min(0), range: z.number().int().min(0), rowid: z.number().int() });

/**
 * One page of the rows of `ranges` in `tables` (rowid tables), from `cursor` (null: the first) on,
 * of about `maxBytes` (one row more when a single row is larger), and the next page's cursor.
 * `source` names the table read for each of `tables` (a backup's snapshot of it, say).
 */
export function slotRowsPage(
  sql: SqlStorage,
  tables: readonly string[],
  ranges: readonly SlotRange[],
  cursor: string | null,
  maxBytes: number,
  source: (table: string) => string = (table) => table,
): { data: SlotData; next: string | null } {
  const at = cursor === null ? { table: 0, range: 0, rowid: 0 } : parseCursor(cursor);
  const data: SlotData = {};
  let bytes = 0;
  for (let t = at.table; t < tables.length; t++) {
    const table = tables[t]!;
    const from = source(table);
    for (let r = t === at.table ? at.range : 0; r < ranges.length; r++) {
      const [start, end] = ranges[r]!;
      let after = t === at.table && r === at.range ? at.rowid : 0;
      for (;;) {
        const rows = sql.exec(`SELECT rowid AS _ds_rowid, * FROM ${from} WHERE slot >= ? AND slot < ? AND rowid > ? ORDER BY rowid LIMIT 256`, start, end, after).toArray();
        for (const row of rows) {
          after = row._ds_rowid as number;
          delete row._ds_rowid;
          (data[table] ??= []).push(row);
          bytes += rowBytes(row);
          if (bytes >= maxBytes) return { data, next: JSON.stringify({ table: t, range: r, rowid: after }) };
        }
        if (rows.length < 256) break;
      }
    }
  }
  return { data, next: null };
}

/** A page cursor as `slotRowsPage` wrote it; anything else is refused as bad input (it comes over RPC). */
function parseCursor(cursor: string): z.infer<typeof pageCursorSchema> {
  let value: unknown;
  try {
    value = JSON.parse(cursor);
  } catch {
    value = undefined;
  }
  const parsed = pageCursorSchema.safeParse(value);
  if (!parsed.success) throw new ShardError("InvalidArgument", `bad page cursor '${cursor.slice(0, 80)}'`);
  return parsed.data;
}

/** Every row of `ranges` in `tables`, in one piece. */
export function slotRows(sql: SqlStorage, tables: readonly string[], ranges: readonly SlotRange[]): SlotData {
  const data: SlotData = {};
  for (const table of tables) data[table] = ranges.flatMap(([start, end]) => sql.exec(`SELECT * FROM ${table} WHERE slot >= ? AND slot < ?`, start, end).toArray());
  return data;
}

/** Inserts (or replaces) `data`'s rows, refusing table and column names that are not identifiers. */
export function insertRows(sql: SqlStorage, data: SlotData): void {
  for (const [table, rows] of Object.entries(data)) {
    if (!IDENTIFIER.test(table)) throw new ShardError("InvalidArgument", `bad table name '${table}'`);
    for (const row of rows) {
      const columns = Object.keys(row);
      if (!columns.every((c) => IDENTIFIER.test(c))) throw new ShardError("InvalidArgument", `bad column in '${table}'`);
      sql.exec(`INSERT OR REPLACE INTO ${table} (${columns.join(", ")}) VALUES (${columns.map(() => "?").join(", ")})`, ...columns.map((c) => row[c]));
    }
  }
}

/** Whether any of `tables` holds a row of `ranges` (one index seek per table and range, given an index on `slot`). */
export function hasSlotRows(sql: SqlStorage, tables: readonly string[], ranges: readonly SlotRange[]): boolean {
  return tables.some((table) => ranges.some(([start, end]) => sql.exec(`SELECT 1 FROM ${table} WHERE slot >= ? AND slot < ? LIMIT 1`, start, end).toArray().length > 0));
}

/** Deletes the rows of `ranges` from `tables`. */
export function deleteSlotRows(sql: SqlStorage, tables: readonly string[], ranges: readonly SlotRange[]): void {
  for (const table of tables) for (const [start, end] of ranges) sql.exec(`DELETE FROM ${table} WHERE slot >= ? AND slot < ?`, start, end);
}

/** Whether `name` can be used as a table name in SQL as is. */
export function isIdentifier(name: string): boolean {
  return IDENTIFIER.test(name);
}
