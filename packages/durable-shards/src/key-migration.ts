/**
 * Moving one key's data between two homes (a legacy object and its keyspace, either way), with no
 * write lost, doubled, or applied only to the side no longer read.
 *
 * 1. The giving side freezes the key (`KeyLedger.freeze`) and exports its data, in one step: from
 *    then on it refuses the key's writes, so the export is final.
 * 2. The taking side imports the data, replacing anything it held for the key, and serves the key
 *    again (`KeyLedger.thaw`). The import is idempotent, so a retry after a crash repeats it safely.
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
  /** Freezes `key` and returns its data and content hash (idempotent: a frozen key exports again). */
  export(key: string): Promise<{ data: D; hash: string }>;
  /** Marks `key` migrated. */
  finish(key: string): Promise<void>;
}

/** The taking side: stores `data` as the key's whole content, serves the key, and returns the hash of what it now holds. */
export interface TargetEndpoint<D> {
  import(key: string, data: D): Promise<{ hash: string }>;
}

/** What one key's migration did. */
export interface KeyMigration {
  key: string;
  hash: string;
}

/** Migrates `key` (steps above). Throws `Incomplete` when the two sides' hashes differ. */
export async function migrateKey<D>(key: string, source: SourceEndpoint<D>, target: TargetEndpoint<D>): Promise<KeyMigration> {
  const { data, hash } = await source.export(key);
  const imported = await target.import(key, data);
  if (imported.hash !== hash) {
    throw new ShardError("Incomplete", `key '${key}' hashes ${imported.hash} where it went but ${hash} where it came from; it stays frozen until migrated again`, { retryable: true });
  }
  await source.finish(key);
  return { key, hash };
}

/** Content hash of JSON-able data, independent of object key order: SHA-256 of its canonical JSON. */
export async function contentHash(data: unknown): Promise<string> {
  const bytes = new TextEncoder().encode(canonicalJson(data));
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return [...digest].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`)
      .join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}
