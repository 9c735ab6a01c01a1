/**
 * One shard of the server registry (keyspace `servers`, hashed by `serverId`). A `serverId` has
 * exactly one entry whatever its region, so a heartbeat or delete is one routed call and a server
 * that changes region is listed once. Entries expire 5 minutes after `lastSeen`; an alarm removes
 * them and tells the registry index.
 */
import { ShardedObject, type TimerHandlers, type KeyspaceSchema } from "durable-shards";
import type { Env } from "../env.js";
import { router } from "../keyspaces.js";
import { LIVE_MS, serializeEntry, type Metrics, type ServerEntry } from "./entry.js";
import { registryIndex } from "./registry-index.js";
import { NONCE_TTL_MS } from "./replay.js";

const EXPIRE = "expire";

/** What a heartbeat changes, prepared by the Worker. */
export interface HeartbeatUpdate {
  metrics: Partial<Metrics>;
  nonce?: string;
  sequence: { check: false } | { check: true; valid: boolean; value?: number };
  build?: { verified: boolean; hash: string };
}

export type HeartbeatResult =
  | { status: "ok"; entry: ServerEntry }
  | { status: "duplicate-nonce" }
  | { status: "not-registered" }
  | { status: "invalid-sequence" }
  | { status: "stale-sequence"; last: number };

export type RemoveResult = "removed" | "absent" | "forbidden";

/** Router of the registry. */
export function registryRouter(env: Env) {
  return router(env, "servers");
}

export class ServerRegistry extends ShardedObject<Env> {
  /** Called once per shard (fan-out); every other method is called per key. */
  protected override shardMethods(): readonly string[] {
    return ["list"];
  }

  protected override schema(): KeyspaceSchema {
    return {
      scope: "registry",
      migrations: [
        {
          version: 1,
          name: "servers",
          up: `CREATE TABLE servers (server_id TEXT PRIMARY KEY, slot INTEGER NOT NULL, entry TEXT NOT NULL, last_seen INTEGER NOT NULL, last_seq INTEGER);
               CREATE TABLE heartbeat_nonces (server_id TEXT NOT NULL, slot INTEGER NOT NULL, nonce TEXT NOT NULL, expires_at INTEGER NOT NULL, PRIMARY KEY (server_id, nonce));
               CREATE INDEX servers_slot ON servers (slot);
               CREATE INDEX heartbeat_nonces_slot ON heartbeat_nonces (slot)`,
        },
      ],
      slotTables: ["servers", "heartbeat_nonces"],
    };
  }

  protected override timerHandlers(): TimerHandlers {
    return { [EXPIRE]: () => this._expire() };
  }

  /** Replaces the entry of `serverId` as a whole and clears its sequence number. */
  async register(serverId: string, entry: ServerEntry): Promise<ServerEntry> {
    const clean = serializeEntry({ ...entry, serverId });
    this.ctx.storage.sql.exec(
      "INSERT OR REPLACE INTO servers (server_id, slot, entry, last_seen, last_seq) VALUES (?, ?, ?, ?, NULL)",
      serverId,
      this.slotOf(serverId),
      JSON.stringify(clean),
      clean.lastSeen,
    );
    await this._armExpiry();
    return clean;
  }

  /** Applies a heartbeat, checking in the order of §4.2.5; nonce and sequence are recorded with it. */
  async heartbeat(serverId: string, update: HeartbeatUpdate): Promise<HeartbeatResult> {
    const now = Date.now();
    if (update.nonce !== undefined) {
      const seen = this.ctx.storage.sql
        .exec("SELECT 1 FROM heartbeat_nonces WHERE server_id = ? AND nonce = ? AND expires_at > ?", serverId, update.nonce, now)
        .toArray();
      if (seen.length > 0) return { status: "duplicate-nonce" };
    }
    const row = this._live(serverId, now);
    if (!row) return { status: "not-registered" };
    if (update.sequence.check && !update.sequence.valid) return { status: "invalid-sequence" };
    const sequence = update.sequence.check ? update.sequence.value! : undefined;
    if (sequence !== undefined && row.last_seq !== null && sequence <= row.last_seq) return { status: "stale-sequence", last: row.last_seq };

    const entry: ServerEntry = { ...(JSON.parse(row.entry) as ServerEntry), ...update.metrics, lastSeen: now };
    if (update.build) {
      entry.buildVerified = update.build.verified;
      entry.buildHash = update.build.hash;
    }
    const clean = serializeEntry(entry);
    this.ctx.storage.transactionSync(() => {
      this.ctx.storage.sql.exec(
        "UPDATE servers SET entry = ?, last_seen = ?, last_seq = COALESCE(?, last_seq) WHERE server_id = ?",
        JSON.stringify(clean),
        now,
        sequence ?? null,
        serverId,
      );
      if (update.nonce !== undefined) {
        this.ctx.storage.sql.exec(
          "INSERT OR REPLACE INTO heartbeat_nonces (server_id, slot, nonce, expires_at) VALUES (?, ?, ?, ?)",
          serverId,
          this.slotOf(serverId),
          update.nonce,
          now + NONCE_TTL_MS,
        );
      }
    });
    await this._armExpiry();
    return { status: "ok", entry: clean };
  }

  /**
   * Removes the entry. With `publicKey` given (open dev mode with a Bearer header), only when it
   * equals the stored key.
   */
  remove(serverId: string, publicKey?: string): RemoveResult {
    const row = this._live(serverId, Date.now());
    if (!row) return "absent";
    if (publicKey !== undefined && (JSON.parse(row.entry) as ServerEntry).publicKey !== publicKey) return "forbidden";
    this.ctx.storage.sql.exec("DELETE FROM servers WHERE server_id = ?", serverId);
    return "removed";
  }

  /** Shard-level: every live entry of this shard. */
  list(): ServerEntry[] {
    const cutoff = Date.now() - LIVE_MS;
    return this.ctx.storage.sql
      .exec<{ entry: string }>("SELECT entry FROM servers WHERE last_seen > ?", cutoff)
      .toArray()
      .map((r) => JSON.parse(r.entry) as ServerEntry);
  }

  private _live(serverId: string, now: number) {
    return this.ctx.storage.sql
      .exec<{ entry: string; last_seq: number | null }>("SELECT entry, last_seq FROM servers WHERE server_id = ? AND last_seen > ?", serverId, now - LIVE_MS)
      .toArray()[0];
  }

  private async _armExpiry(): Promise<void> {
    const next = this.ctx.storage.sql.exec<{ at: number | null }>("SELECT MIN(last_seen) AS at FROM servers").one().at;
    if (next === null) return;
    const due = this.timers.dueAt(EXPIRE);
    if (due === undefined || due > next + LIVE_MS) await this.timers.schedule(EXPIRE, next + LIVE_MS);
  }

  /** Deletes non-live entries and old nonces, and tells the index which entries left. */
  private async _expire(): Promise<void> {
    const now = Date.now();
    const gone = this.ctx.storage.sql
      .exec<{ server_id: string; entry: string }>("DELETE FROM servers WHERE last_seen <= ? RETURNING server_id, entry", now - LIVE_MS)
      .toArray()
      .map((r) => ({ serverId: r.server_id, registeredAt: (JSON.parse(r.entry) as ServerEntry).registeredAt }));
    this.ctx.storage.sql.exec("DELETE FROM heartbeat_nonces WHERE expires_at <= ?", now);
    if (gone.length > 0) await registryIndex(this.env).release(gone);
    await this._armExpiry();
  }
}
