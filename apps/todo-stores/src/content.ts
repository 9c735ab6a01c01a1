/**
 * The store content TinyBase's remote persister loads and saves: `[tables, values]`, tables being
 * `{tableId: {rowId: {cellId: cell}}}`. Cells and values are JSON scalars, arrays or objects.
 */
import { z } from "zod";

const id = z.string().min(1, "ids must not be empty").max(256, "ids must be at most 256 characters");
const cell = z.union([z.string(), z.number(), z.boolean(), z.null(), z.array(z.unknown()), z.record(z.string(), z.unknown())]);
// TinyBase drops empty rows and tables (a save holding one would be ignored), so they are refused.
const row = z.record(id, cell).refine((r) => Object.keys(r).length > 0, "rows must not be empty");
const table = z.record(id, row).refine((t) => Object.keys(t).length > 0, "tables must not be empty");

export const contentSchema = z.tuple([z.record(id, table), z.record(id, cell)], { error: "content must be [tables, values]" });
export type StoreContent = z.infer<typeof contentSchema>;

/** Largest save body, in bytes; a store's persisted form (with its clocks) is about twice that. */
export const MAX_SAVE_BYTES = 512 * 1024;

/** Rows in all tables of `content`: the per-user count the migration's verify step compares. */
export function rowCount([tables]: StoreContent): number {
  return Object.values(tables).reduce((n, rows) => n + Object.keys(rows).length, 0);
}
