/**
 * The DO → D1 hybrid: every change of a store is written to the object's outbox in the same
 * SQLite transaction as the change itself, and a drain sends the outbox to D1 in batches. D1 takes
 * each row as an upsert that only a newer version (the row's TinyBase clock) replaces, so a batch
 * sent twice (a crash after D1 took it, before the outbox forgot it) or out of order changes
 * nothing. D1 rows record when the change was made and when it arrived: the sync lag, measured.
 */
import type { Timers } from "durable-shards";

/** The outbox table, in each store object. */
export const OUTBOX_TABLE = `CREATE TABLE outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL, table_id TEXT NOT NULL,
  row_id TEXT, cells TEXT, version TEXT NOT NULL, at INTEGER NOT NULL)`;

/** One changed row (`rowId` null: the whole table was deleted; `cells` null: the row was deleted). */
export interface OutboxEntry {
  key: string;
  tableId: string;
  rowId: string | null;
  cells: string | null;
  version: string;
}

/** Appends `entries`; call inside the transaction that writes the change. */
export function appendOutbox(sql: SqlStorage, entries: readonly OutboxEntry[], at = Date.now()): void {
  for (const e of entries) {
    sql.exec("INSERT INTO outbox (key, table_id, row_id, cells, version, at) VALUES (?, ?, ?, ?, ?, ?)", e.key, e.tableId, e.rowId, e.cells, e.version, at);
  }
}

/** Entries waiting in the outbox. */
export function outboxLength(sql: SqlStorage): number {
  return sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM outbox").one().n;
}

const D1_SCHEMA = [
  `CREATE TABLE IF NOT EXISTS todos (store_key TEXT NOT NULL, table_id TEXT NOT NULL, row_id TEXT NOT NULL, cells TEXT,
     deleted INTEGER NOT NULL, version TEXT NOT NULL, written_at INTEGER NOT NULL, synced_at INTEGER NOT NULL,
     PRIMARY KEY (store_key, table_id, row_id))`,
  "CREATE INDEX IF NOT EXISTS todos_synced ON todos (synced_at)",
];
const ready = new WeakMap<D1Database, Promise<unknown>>();

/** Creates D1's tables once per isolate and database. */
export function ensureD1(db: D1Database): Promise<unknown> {
  let done = ready.get(db);
  if (!done) {
    ready.set(db, (done = db.batch(D1_SCHEMA.map((s) => db.prepare(s)))));
    done.catch(() => ready.delete(db));
  }
  return done;
}

/** Rows sent to D1 per batch. */
export const DRAIN_BATCH = 100;

/**
 * Sends the oldest outbox entries to D1 (at most `batches` batches) and deletes what D1 took;
 * returns how many it sent and whether any are left. A failure leaves the outbox as it was.
 */
export async function drainOutbox(sql: SqlStorage, db: D1Database, batches = 10): Promise<{ sent: number; left: number }> {
  await ensureD1(db);
  const deleteTable = db.prepare("UPDATE todos SET cells = NULL, deleted = 1, version = ?, written_at = ?, synced_at = ? WHERE store_key = ? AND table_id = ? AND version < ?");
  const upsertRow = db.prepare(
    `INSERT INTO todos (store_key, table_id, row_id, cells, deleted, version, written_at, synced_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (store_key, table_id, row_id) DO UPDATE SET cells = excluded.cells, deleted = excluded.deleted,
       version = excluded.version, written_at = excluded.written_at, synced_at = excluded.synced_at
     WHERE excluded.version > todos.version`,
  );
  let sent = 0;
  for (let b = 0; b < batches; b++) {
    const rows = sql
      .exec<{ seq: number; key: string; table_id: string; row_id: string | null; cells: string | null; version: string; at: number }>(
        "SELECT seq, key, table_id, row_id, cells, version, at FROM outbox ORDER BY seq LIMIT ?",
        DRAIN_BATCH,
      )
      .toArray();
    if (rows.length === 0) break;
    const now = Date.now();
    await db.batch(
      rows.map((r) =>
        r.row_id === null ? deleteTable.bind(r.version, r.at, now, r.key, r.table_id, r.version) : upsertRow.bind(r.key, r.table_id, r.row_id, r.cells, r.cells === null ? 1 : 0, r.version, r.at, now),
      ),
    );
    sql.exec("DELETE FROM outbox WHERE seq <= ?", rows[rows.length - 1]!.seq);
    sent += rows.length;
  }
  return { sent, left: outboxLength(sql) };
}

/** Timer of the drain, in every store object. */
export const DRAIN_TIMER = "todo/drain-outbox";
/** Delay between a write and the drain that sends it to D1. */
export const DRAIN_DELAY_MS = 100;

/** Drains the outbox from the drain timer: again at once while some is left, in 5 s after a failure. */
export async function drainOnTimer(sql: SqlStorage, db: D1Database, timers: Timers): Promise<{ sent: number; left: number }> {
  try {
    const result = await drainOutbox(sql, db);
    if (result.left > 0) await timers.ensure(DRAIN_TIMER, 0);
    return result;
  } catch (error) {
    console.warn(`outbox drain failed, retrying in 5 s: ${error instanceof Error ? error.message : String(error)}`);
    await timers.ensure(DRAIN_TIMER, 5_000);
    return { sent: 0, left: outboxLength(sql) };
  }
}
