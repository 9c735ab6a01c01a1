/**
 * Moving keys between two homes (a legacy object and a keyspace, either way), key by key: the
 * ledger each side keeps of the keys it does not serve.
 *
 * An app that kept every user's data in one object (the "legacy" object) moves each key into a
 * keyspace without losing a write: the side giving the key first stops serving it (`freeze`: its
 * per-key methods refuse it from then on, so nothing is written there meanwhile), hands over the
 * key's data, and marks the key `migrated` once the other side holds it (see `key-migration.ts`).
 * The side taking the key serves it again (`thaw`) as it imports it, so a key can move back (a
 * migration switched off) and forth again. Every per-key method calls {@link KeyLedger.serve}
 * first; it refuses a moving key with `Migrating` (retry here shortly) and a moved one with
 * `Migrated` (call the other side).
 */
import { ShardError } from "./errors.js";
import { migrate } from "./migrations.js";

/** Where a key is served, as one side's ledger sees it. */
export type KeyState = "serving" | "frozen" | "migrated";

const MIGRATIONS = [
  {
    version: 1,
    name: "ledger",
    up: "CREATE TABLE _ds_key_ledger (key TEXT PRIMARY KEY, state TEXT NOT NULL CHECK (state IN ('frozen', 'migrated')), at INTEGER NOT NULL)",
  },
];

export class KeyLedger {
  constructor(private readonly storage: DurableObjectStorage) {
    migrate(storage, "durable-shards/key-ledger", MIGRATIONS);
  }

  /**
   * Throws unless this object still serves `key`; call it first in every per-key method.
   * `Migrating` (retryable): the key is moving; retry shortly, here. `Migrated`: it moved; call it
   * on the other side. A caller must not write the key on the other side before `Migrated`: the
   * migration's import would replace that write.
   */
  serve(key: string): void {
    const state = this.state(key);
    if (state === "frozen") throw new ShardError("Migrating", `key '${key}' is moving; retry shortly`, { retryable: true });
    if (state === "migrated") throw new ShardError("Migrated", `key '${key}' moved; call it on its other side`);
  }

  /** Where `key` is served: here (`serving`), nowhere while it moves (`frozen`), or on the other side. */
  state(key: string): KeyState {
    const row = this.storage.sql.exec<{ state: "frozen" | "migrated" }>("SELECT state FROM _ds_key_ledger WHERE key = ?", key).toArray()[0];
    return row?.state ?? "serving";
  }

  /** Stops serving `key` (a migrated key stays migrated). Idempotent. */
  freeze(key: string): void {
    this.storage.sql.exec("INSERT INTO _ds_key_ledger (key, state, at) VALUES (?, 'frozen', ?) ON CONFLICT (key) DO NOTHING", key, Date.now());
  }

  /** Marks `key` served by the other side. Idempotent. */
  finish(key: string): void {
    this.storage.sql.exec(
      "INSERT INTO _ds_key_ledger (key, state, at) VALUES (?, 'migrated', ?) ON CONFLICT (key) DO UPDATE SET state = 'migrated', at = excluded.at",
      key,
      Date.now(),
    );
  }

  /** Serves `key` here (again): called as this side imports the key's data. Idempotent. */
  thaw(key: string): void {
    this.storage.sql.exec("DELETE FROM _ds_key_ledger WHERE key = ?", key);
  }

  /** How many keys are in each state other than `serving`. */
  counts(): { frozen: number; migrated: number } {
    const out = { frozen: 0, migrated: 0 };
    for (const row of this.storage.sql.exec<{ state: "frozen" | "migrated"; n: number }>("SELECT state, COUNT(*) AS n FROM _ds_key_ledger GROUP BY state")) out[row.state] = row.n;
    return out;
  }

  /** Keys left `frozen` (a migration interrupted between freeze and finish): a sweep resumes them. */
  frozen(limit = 100): string[] {
    return this.storage.sql.exec<{ key: string }>("SELECT key FROM _ds_key_ledger WHERE state = 'frozen' ORDER BY key LIMIT ?", limit).toArray().map((r) => r.key);
  }
}
