/**
 * A keyspace's load per slot range over time: one column of the heatmap per evaluation of the
 * keyspace (every `observeIntervalMs`), kept in the directory so that a dashboard opened now
 * shows the past hours, not only what it saw since it opened.
 */

/** Columns kept per keyspace: two hours at the default evaluation interval of 60 s. */
export const KEPT_COLUMNS = 120;

export const LOAD_HISTORY_TABLES = `
  CREATE TABLE load_history (keyspace TEXT NOT NULL, at INTEGER NOT NULL, buckets TEXT NOT NULL,
    PRIMARY KEY (keyspace, at))`;

/** Load per slot range at evaluations of a keyspace, oldest first. */
export interface LoadHistory {
  keyspace: string;
  /** Slots per range (the last range may be shorter). */
  bucketSlots: number;
  /** Calls per second of each range, at each evaluation (`at`, ms since the epoch). */
  columns: { at: number; buckets: number[] }[];
}

/** Adds a column at `at`, dropping the oldest beyond {@link KEPT_COLUMNS}. */
export function recordLoad(sql: SqlStorage, keyspace: string, at: number, buckets: readonly number[]): void {
  sql.exec("INSERT OR REPLACE INTO load_history (keyspace, at, buckets) VALUES (?, ?, ?)", keyspace, at, JSON.stringify(buckets));
  sql.exec(
    "DELETE FROM load_history WHERE keyspace = ? AND at <= (SELECT at FROM load_history WHERE keyspace = ? ORDER BY at DESC LIMIT 1 OFFSET ?)",
    keyspace,
    keyspace,
    KEPT_COLUMNS,
  );
}

/** The kept columns of `keyspace`, oldest first. */
export function loadColumns(sql: SqlStorage, keyspace: string): LoadHistory["columns"] {
  return sql
    .exec<{ at: number; buckets: string }>("SELECT at, buckets FROM load_history WHERE keyspace = ? ORDER BY at", keyspace)
    .toArray()
    .map((row) => ({ at: row.at, buckets: JSON.parse(row.buckets) as number[] }));
}
