/**
 * Moving one key's data between two homes (a legacy object and its keyspace, either way), with no
 * write lost, doubled, or applied only to the side no longer read.
 *
 * 1. The giving side freezes the key (`KeyLedger.freeze`) and exports its data, in one step: from
 *    then on it refuses the key's writes, so the export is final.
 * 2. The taking side imports the data, replacing anything it held for the key, and serves the key
 *    again. The copy carries the freeze's epoch, and a copy already taken is not applied twice: a
 *    retry after a crash, or a second run of the same move at once (a key touched while the sweep
 *    reaches it), cannot replace writes made since.
 * 3. Both sides' content hashes are compared; on a mismatch the key stays frozen on the giving side
 *    and the migration fails, to be retried.
 * 4. The giving side marks the key migrated: calls for it go to the taking side from then on.
 *
 * A crash anywhere leaves the key frozen or migrated; running `migrateKey` again finishes it.
 * Switching a migration off is the same call the other way, so writes made in the keyspace come
 * back with the key.
 */
import { ShardError } from "./errors.js";

/** The giving side of a key's migration. */
export interface SourceEndpoint<D> {
  /**
   * Freezes `key` and returns its data, content hash and the freeze's epoch (`KeyLedger.freeze`;
   * idempotent: a frozen key exports again, with the same epoch). Throws `Migrated` when the key
   * already moved.
   */
  export(key: string): Promise<{ data: D; hash: string; epoch: number }>;
  /** Marks `key` migrated. */
  finish(key: string): Promise<void>;
}

/**
 * The taking side: stores `data` as the key's whole content and serves the key, unless it already
 * took the copy of `epoch` (`KeyLedger.admit`); returns the hash of that copy.
 */
export interface TargetEndpoint<D> {
  import(key: string, data: D, epoch: number): Promise<{ hash: string }>;
}

/** What one key's migration did (`alreadyMoved`: nothing; an earlier or concurrent run moved it). */
export interface KeyMigration {
  key: string;
  hash?: string;
  alreadyMoved?: boolean;
}

/** Migrates `key` (steps above). Throws `Incomplete` when the two sides' hashes differ. */
export async function migrateKey<D>(key: string, source: SourceEndpoint<D>, target: TargetEndpoint<D>): Promise<KeyMigration> {
  let exported: { data: D; hash: string; epoch: number };
  try {
    exported = await source.export(key);
  } catch (error) {
    if (error instanceof ShardError && error.code === "Migrated") return { key, alreadyMoved: true };
    throw error;
  }
  const { data, hash, epoch } = exported;
  const imported = await target.import(key, data, epoch);
  if (imported.hash !== hash) {
    throw new ShardError("Incomplete", `key '${key}' hashes ${imported.hash} where it went but ${hash} where it came from; it stays frozen until migrated again`, { retryable: true });
  }
  await source.finish(key);
  return { key, hash };
}

/** Options of {@link sweepKeys}. */
export interface SweepOptions {
  /** The keys the giving side still holds, in a stable order, after `after` (null: from the start), at most `limit`. */
  keys(after: string | null, limit: number): Promise<string[]>;
  /** Moves one key (usually `migrateKey` with the app's endpoints). */
  migrate(key: string): Promise<unknown>;
  /** Keys moved at once. Default 4. */
  concurrency?: number;
  /** Keys read per page. Default 100. */
  pageSize?: number;
  /** Where to start (the `cursor` a previous, interrupted sweep reported). Default: the start. */
  after?: string | null;
  /** Called after each page, with the sweep so far; store `cursor` to resume after a crash. */
  progress?(state: SweepState): void | Promise<void>;
  /** Stops the sweep at the next page when it returns true. */
  stopped?(): boolean;
}

/** A sweep so far: keys moved, keys that failed (with why; retried by the next sweep), the cursor to resume from. */
export interface SweepState {
  migrated: number;
  failed: { key: string; error: string }[];
  cursor: string | null;
  done: boolean;
}

/**
 * Moves every key the giving side still holds, page after page: the background half of a gradual
 * migration (keys move on first access; the sweep moves the rest). Resumable from `cursor`, and
 * idempotent: a key moved meanwhile (on access) moves again as a no-op, and a failed key is left
 * for the next sweep rather than stopping this one.
 */
export async function sweepKeys(options: SweepOptions): Promise<SweepState> {
  const state: SweepState = { migrated: 0, failed: [], cursor: options.after ?? null, done: false };
  const concurrency = options.concurrency ?? 4;
  const pageSize = options.pageSize ?? 100;
  while (!options.stopped?.()) {
    const page = await options.keys(state.cursor, pageSize);
    if (page.length === 0) {
      state.done = true;
      break;
    }
    let next = 0;
    await Promise.all(
      Array.from({ length: Math.min(concurrency, page.length) }, async () => {
        while (next < page.length) {
          const key = page[next++]!;
          try {
            await options.migrate(key);
            state.migrated++;
          } catch (error) {
            state.failed.push({ key, error: error instanceof Error ? error.message : String(error) });
          }
        }
      }),
    );
    state.cursor = page[page.length - 1]!;
    await options.progress?.({ ...state, failed: [...state.failed] });
  }
  return state;
}
