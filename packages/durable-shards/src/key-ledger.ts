/**
 * Moving keys between two homes (a legacy object and a keyspace, either way), key by key: the
 * ledger each side keeps of the keys it does not serve, and of the last copy of each key it took.
 *
 * An app that kept every user's data in one object (the "legacy" object) moves each key into a
 * keyspace without losing a write: the side giving the key first stops serving it (`freeze`: its
 * per-key methods refuse it from then on, so nothing is written there meanwhile), hands over the
 * key's data with the freeze's epoch, and marks the key `migrated` once the other side holds it
 * (see `key-migration.ts`). The side taking the key serves it again as it imports it (`admit`),
 * so a key can move back (a migration switched off) and forth again. A copy it already took (the
 * same epoch, from a second, concurrent run of the same move) is not applied again: it would
 * replace writes made since. Every per-key method calls {@link KeyLedger.serve} first; it refuses
 * a moving key with `Migrating` (retry here shortly) and a moved one with `Migrated` (call the
 * other side).
 */
import { ShardError } from "./errors.js";
import { migrate } from "./migrations.js";

/** Where a key is served, as one side's ledger sees it. */
export type KeyState = "serving" | "frozen" | "migrated";

const MIGRATIONS = [
  {
    version: 1,
    name: "ledger",
    // `epoch`: of this side's freeze (frozen, migrated); `taken`, `taken_hash`: the epoch and hash of the last copy taken.
    up: `CREATE TABLE _ds_key_ledger (key TEXT PRIMARY KEY, state TEXT NOT NULL CHECK (state IN ('serving', 'frozen', 'migrated')),
           epoch INTEGER NOT NULL DEFAULT 0, taken INTEGER NOT NULL DEFAULT 0, taken_hash TEXT, at INTEGER NOT NULL)`,
  },
  // So that a keyspace's ledger rows move with their slots (KeyLedgerOptions.slotOf).
  { version: 2, name: "ledger slots", up: "ALTER TABLE _ds_key_ledger ADD COLUMN slot INTEGER NOT NULL DEFAULT 0" },
  // Moves, backups and the whole-shard check (ShardedObject.holdsRowsOf) read it by slot range.
  { version: 3, name: "ledger slot index", up: "CREATE INDEX _ds_key_ledger_slot ON _ds_key_ledger (slot)" },
];

/**
 * The ledger's table; a keyspace lists it among its slot tables (see {@link KeyLedgerOptions.slotOf}).
 * Its `key` and `state` columns are stable, for an app joining its own table against it.
 */
export const KEY_LEDGER_TABLE = "_ds_key_ledger";

/** Options of a {@link KeyLedger}. */
export interface KeyLedgerOptions {
  /**
   * Where a key the ledger has no row for is served. `serving` (default): here, as in the object
   * that held every key first (the legacy side). `elsewhere`: on the other side, as in a keyspace
   * that only serves the keys it took, so a key nobody moved yet is never served empty here.
   */
  initially?: "serving" | "elsewhere";
  /**
   * The slot of a key, for a ledger kept in a keyspace's shards (pass `this.slotOf` of a
   * `ShardedObject`, and list {@link KEY_LEDGER_TABLE} in the schema's `slotTables`): a key's
   * ledger row then moves with its slot, so where the key is served moves with its data.
   */
  slotOf?: (key: string) => number;
}

export class KeyLedger {
  private readonly absent: KeyState;
  private readonly slotOf: (key: string) => number;

  constructor(
    private readonly storage: DurableObjectStorage,
    options: KeyLedgerOptions = {},
  ) {
    migrate(storage, "durable-shards/key-ledger", MIGRATIONS);
    this.absent = options.initially === "elsewhere" ? "migrated" : "serving";
    this.slotOf = options.slotOf ?? (() => 0);
  }

  /**
   * Throws unless this side serves `key`; call it first in every per-key method.
   * `Migrating` (retryable): the key is moving; retry shortly, here. `Migrated`: it moved; call it
   * on the other side. A caller must not write the key on the other side before `Migrated`.
   */
  serve(key: string): void {
    const state = this.state(key);
    if (state === "frozen") throw new ShardError("Migrating", `key '${key}' is moving; retry shortly`, { retryable: true });
    if (state === "migrated") throw new ShardError("Migrated", `key '${key}' moved; call it on its other side`);
  }

  /** Where `key` is served: here (`serving`), nowhere while it moves (`frozen`), or on the other side. */
  state(key: string): KeyState {
    return this.row(key)?.state ?? this.absent;
  }

  /**
   * Stops serving `key` and returns the freeze's epoch (the same one again while it stays frozen).
   * Throws `Migrated` for a key that already moved: there is nothing here to give.
   */
  freeze(key: string): number {
    const row = this.row(key);
    if (row?.state === "frozen") return row.epoch;
    if ((row?.state ?? this.absent) === "migrated") throw new ShardError("Migrated", `key '${key}' is not here (it moved, or never came); call it on its other side`);
    // Epochs count per key: the other side compares a copy's epoch only with the last it took of
    // the same key, and the row (with its epoch) moves with the key's slot in a keyspace.
    const epoch = (row?.epoch ?? 0) + 1;
    this.storage.sql.exec(
      `INSERT INTO _ds_key_ledger (key, slot, state, epoch, at) VALUES (?, ?, 'frozen', ?, ?)
       ON CONFLICT (key) DO UPDATE SET state = 'frozen', epoch = excluded.epoch, at = excluded.at`,
      key,
      this.slotOf(key),
      epoch,
      Date.now(),
    );
    return epoch;
  }

  /** Marks `key` served by the other side. Idempotent. */
  finish(key: string): void {
    this.storage.sql.exec("UPDATE _ds_key_ledger SET state = 'migrated', at = ? WHERE key = ? AND state IN ('frozen', 'migrated')", Date.now(), key);
  }

  /**
   * Taking `key`'s copy of `epoch` (from the other side's freeze): `undefined` when it is new (store
   * the data, then call {@link taken}); else the hash recorded when it was taken, so the caller
   * answers with it and stores nothing. Warning: call it, store and call `taken` in one synchronous
   * step (no await between): two runs of one move may be importing at once.
   */
  admit(key: string, epoch: number): string | undefined {
    const row = this.row(key);
    if (row && row.taken >= epoch) return row.taken_hash ?? "";
    return undefined;
  }

  /** Records that the copy of `epoch`, hashing `hash`, was stored: the key is served here again. */
  taken(key: string, epoch: number, hash: string): void {
    this.storage.sql.exec(
      `INSERT INTO _ds_key_ledger (key, slot, state, taken, taken_hash, at) VALUES (?, ?, 'serving', ?, ?, ?)
       ON CONFLICT (key) DO UPDATE SET state = 'serving', taken = excluded.taken, taken_hash = excluded.taken_hash, at = excluded.at`,
      key,
      this.slotOf(key),
      epoch,
      hash,
      Date.now(),
    );
  }

  /** How many keys are frozen or migrated. */
  counts(): { frozen: number; migrated: number } {
    const out = { frozen: 0, migrated: 0 };
    for (const row of this.storage.sql.exec<{ state: string; n: number }>("SELECT state, COUNT(*) AS n FROM _ds_key_ledger WHERE state != 'serving' GROUP BY state")) {
      out[row.state as "frozen" | "migrated"] = row.n;
    }
    return out;
  }

  /** Keys left `frozen` (a move interrupted between freeze and finish): a sweep resumes them. */
  frozen(limit = 100): string[] {
    return this.keys("frozen", null, limit);
  }

  /**
   * Keys in `state` (`frozen` or `migrated`; keys never moved have no row), in key order after
   * `after`: for a sweep back, or for verifying what moved.
   */
  keys(state: "frozen" | "migrated", after: string | null, limit: number): string[] {
    return this.storage.sql
      .exec<{ key: string }>("SELECT key FROM _ds_key_ledger WHERE state = ? AND key > ? ORDER BY key LIMIT ?", state, after ?? "", limit)
      .toArray()
      .map((r) => r.key);
  }

  /** The epoch of `key`'s last freeze here (0: never frozen): what the other side recorded taking. */
  epoch(key: string): number {
    return this.row(key)?.epoch ?? 0;
  }

  private row(key: string) {
    return this.storage.sql
      .exec<{ state: KeyState; epoch: number; taken: number; taken_hash: string | null }>("SELECT state, epoch, taken, taken_hash FROM _ds_key_ledger WHERE key = ?", key)
      .toArray()[0];
  }
}
