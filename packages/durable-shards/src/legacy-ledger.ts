/**
 * Adopting an existing object's data, key by key: the ledger a legacy object keeps of which keys
 * it still serves.
 *
 * An app that kept every user's data in one object (the "legacy" object) moves each key into a
 * keyspace without losing a write: the legacy object first stops serving the key (`freeze`: its
 * per-key methods refuse it from then on, so nothing is written there meanwhile), hands over the
 * key's data, and marks the key `migrated` once the keyspace holds it (see `key-migration.ts`).
 * Every per-key method of the legacy object calls {@link LegacyLedger.serve} first; it refuses a
 * moving key with `Migrating` (retry here shortly) and a moved one with `Migrated` (call the
 * keyspace instead).
 *
 * `thaw` serves a key here again, for switching a migration off: the app copies the key's data
 * back first, so writes made in the keyspace are not lost.
 */
import { ShardError } from "./errors.js";
import { migrate } from "./migrations.js";

/** Where a key of a legacy object is served. */
export type LegacyKeyState = "legacy" | "frozen" | "migrated";

const MIGRATIONS = [
  {
    version: 1,
    name: "ledger",
    up: "CREATE TABLE _ds_legacy_keys (key TEXT PRIMARY KEY, state TEXT NOT NULL CHECK (state IN ('frozen', 'migrated')), at INTEGER NOT NULL)",
  },
];

export class LegacyLedger {
  constructor(private readonly storage: DurableObjectStorage) {
    migrate(storage, "durable-shards/legacy-ledger", MIGRATIONS);
  }

  /**
   * Throws unless this object still serves `key`; call it first in every per-key method.
   * `Migrating` (retryable): the key is moving; retry shortly, here. `Migrated`: it moved; call it
   * in its keyspace. A caller must not write the key in the keyspace before `Migrated`: the
   * migration's import would replace that write.
   */
  serve(key: string): void {
    const state = this.state(key);
    if (state === "frozen") throw new ShardError("Migrating", `key '${key}' is moving to its keyspace; retry shortly`, { retryable: true });
    if (state === "migrated") throw new ShardError("Migrated", `key '${key}' moved to its keyspace; call it there`);
  }

  /** Where `key` is served: here (`legacy`), nowhere while it moves (`frozen`), or in its keyspace. */
  state(key: string): LegacyKeyState {
    const row = this.storage.sql.exec<{ state: "frozen" | "migrated" }>("SELECT state FROM _ds_legacy_keys WHERE key = ?", key).toArray()[0];
    return row?.state ?? "legacy";
  }

  /** Stops serving `key` (a migrated key stays migrated). Idempotent. */
  freeze(key: string): void {
    this.storage.sql.exec("INSERT INTO _ds_legacy_keys (key, state, at) VALUES (?, 'frozen', ?) ON CONFLICT (key) DO NOTHING", key, Date.now());
  }

  /** Marks `key` served by its keyspace for good. Idempotent. */
  finish(key: string): void {
    this.storage.sql.exec(
      "INSERT INTO _ds_legacy_keys (key, state, at) VALUES (?, 'migrated', ?) ON CONFLICT (key) DO UPDATE SET state = 'migrated', at = excluded.at",
      key,
      Date.now(),
    );
  }

  /** Serves `key` here again (switching a migration off, once its data was copied back). */
  thaw(key: string): void {
    this.storage.sql.exec("DELETE FROM _ds_legacy_keys WHERE key = ?", key);
  }

  /** How many keys are in each state other than `legacy`. */
  counts(): { frozen: number; migrated: number } {
    const out = { frozen: 0, migrated: 0 };
    for (const row of this.storage.sql.exec<{ state: "frozen" | "migrated"; n: number }>("SELECT state, COUNT(*) AS n FROM _ds_legacy_keys GROUP BY state")) out[row.state] = row.n;
    return out;
  }

  /** Keys left `frozen` (a migration interrupted between freeze and finish): a sweep resumes them. */
  frozen(limit = 100): string[] {
    return this.storage.sql.exec<{ key: string }>("SELECT key FROM _ds_legacy_keys WHERE state = 'frozen' ORDER BY key LIMIT ?", limit).toArray().map((r) => r.key);
  }
}
