/**
 * The authoritative copy of the admin data (§1.1 item 4): trusted build keys, the version policy
 * and the reference binaries. Every reader (Worker requests, registry and device handling) asks
 * this object, so a write is visible everywhere as soon as it returns.
 * One object (entity keyspace `admin`, key `config`); writes are serialized by it.
 */
import { ShardedObject, type KeyspaceSchema } from "durable-shards";
import type { ReferenceRecord } from "../attestation/model.js";
import type { Env } from "../env.js";
import { DEFAULT_POLICY, type VersionPolicy } from "./policy.js";
import { applyTrustedKeyChange, effectiveTrustedKeys, type TrustedKeyChange } from "./trusted-keys.js";

/** Stored trusted keys as `GET /servers/trusted-keys` reports them. */
export interface StoredTrustedKeys {
  keys: string[];
  updatedAt: number | null;
}

export class AdminState extends ShardedObject<Env> {
  protected override schema(): KeyspaceSchema {
    return {
      scope: "admin",
      migrations: [
        {
          version: 1,
          name: "settings",
          up: "CREATE TABLE settings (name TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at INTEGER NOT NULL)",
        },
        {
          version: 2,
          name: "references",
          up: "CREATE TABLE reference_binaries (version TEXT NOT NULL, platform TEXT NOT NULL, record TEXT NOT NULL, PRIMARY KEY (version, platform))",
        },
      ],
    };
  }

  /** The stored trusted keys (`[]` and `null` when nothing was stored). */
  trustedKeys(_key: string): StoredTrustedKeys {
    const row = this._setting("trusted_keys");
    return row ? { keys: JSON.parse(row.value) as string[], updatedAt: row.updated_at } : { keys: [], updatedAt: null };
  }

  /** The effective trusted set: stored keys when any, else `TRUSTED_BUILD_KEYS`. */
  effectiveTrustedKeys(key: string): string[] {
    return effectiveTrustedKeys(this.trustedKeys(key).keys, this.env.TRUSTED_BUILD_KEYS);
  }

  /** Applies a change to the effective set and stores the result; `undefined` when over 50 keys. */
  changeTrustedKeys(key: string, change: TrustedKeyChange): string[] | undefined {
    const next = applyTrustedKeyChange(this.effectiveTrustedKeys(key), change);
    if (next) this._store("trusted_keys", next);
    return next;
  }

  /** The current version policy. */
  policy(_key: string): VersionPolicy {
    const row = this._setting("version_policy");
    return row ? (JSON.parse(row.value) as VersionPolicy) : DEFAULT_POLICY;
  }

  /** Replaces the version policy. */
  setPolicy(_key: string, policy: VersionPolicy): VersionPolicy {
    this._store("version_policy", policy);
    return policy;
  }

  /** Replaces the reference of (`version`, `platform`). */
  putReference(_key: string, reference: ReferenceRecord): ReferenceRecord {
    this.ctx.storage.sql.exec(
      "INSERT OR REPLACE INTO reference_binaries (version, platform, record) VALUES (?, ?, ?)",
      reference.version,
      reference.platform,
      JSON.stringify(reference),
    );
    return reference;
  }

  /** The reference of (`version`, `platform`), or null. */
  reference(_key: string, version: string, platform: string): ReferenceRecord | null {
    const row = this.ctx.storage.sql
      .exec<{ record: string }>("SELECT record FROM reference_binaries WHERE version = ? AND platform = ?", version, platform)
      .toArray()[0];
    return row ? (JSON.parse(row.record) as ReferenceRecord) : null;
  }

  /**
   * The deployment's generated WebSocket identity seed (64 hex), created on first use and kept, so
   * the identity is stable when `SERVER_IDENTITY_KEY` is unset (§2).
   */
  generatedIdentitySeed(_key: string): string {
    const row = this._setting("server_identity_seed");
    if (row) return JSON.parse(row.value) as string;
    const seed = [...crypto.getRandomValues(new Uint8Array(32))].map((b) => b.toString(16).padStart(2, "0")).join("");
    this._store("server_identity_seed", seed);
    return seed;
  }

  private _setting(name: string) {
    return this.ctx.storage.sql
      .exec<{ value: string; updated_at: number }>("SELECT value, updated_at FROM settings WHERE name = ?", name)
      .toArray()[0];
  }

  private _store(name: string, value: unknown): void {
    this.ctx.storage.sql.exec(
      "INSERT OR REPLACE INTO settings (name, value, updated_at) VALUES (?, ?, ?)",
      name,
      JSON.stringify(value),
      Date.now(),
    );
  }
}
