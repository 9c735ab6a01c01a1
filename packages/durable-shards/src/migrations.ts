/**
 * Versioned SQLite schema migrations for Durable Objects.
 *
 * SQLite-backed objects cannot use `PRAGMA user_version`, so applied versions are recorded in a
 * table of their own, per `scope` (the library and each app keep separate histories in one
 * object). Pending migrations run in one synchronous transaction: either all apply or none.
 */
import { ShardError } from "./errors.js";

/** One schema step: SQL text (may hold several statements) or a function. */
export interface Migration {
  /** 1, 2, 3, … in order, without gaps. */
  version: number;
  /** Shown in errors and stored for operators. */
  name: string;
  up: string | ((sql: SqlStorage) => void);
}

/**
 * Applies every migration of `scope` newer than the stored version and returns the resulting
 * version. Call it from the object's constructor (inside `blockConcurrencyWhile` if it is async);
 * it is cheap when nothing is pending.
 *
 * Warning: never edit or reorder a migration that has shipped; add a new one.
 */
export function migrate(storage: DurableObjectStorage, scope: string, migrations: readonly Migration[]): number {
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) {
      throw new ShardError("InvalidArgument", `migration '${m.name}' of '${scope}' has version ${m.version}, expected ${i + 1}`);
    }
  });
  const sql = storage.sql;
  return storage.transactionSync(() => {
    sql.exec(
      `CREATE TABLE IF NOT EXISTS _ds_migrations (
         scope TEXT NOT NULL, version INTEGER NOT NULL, name TEXT NOT NULL, applied_at INTEGER NOT NULL,
         PRIMARY KEY (scope, version))`,
    );
    const row = sql.exec<{ v: number | null }>("SELECT MAX(version) AS v FROM _ds_migrations WHERE scope = ?", scope).one();
    const applied = row.v ?? 0;
    if (applied > migrations.length) {
      throw new ShardError(
        "InvalidArgument",
        `storage of '${scope}' is at schema version ${applied}, newer than this code (${migrations.length}); refusing to run old code on it`,
      );
    }
    for (const m of migrations.slice(applied)) {
      if (typeof m.up === "string") sql.exec(m.up);
      else m.up(sql);
      sql.exec("INSERT INTO _ds_migrations (scope, version, name, applied_at) VALUES (?, ?, ?, ?)", scope, m.version, m.name, Date.now());
    }
    return migrations.length;
  });
}
