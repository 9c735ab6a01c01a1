/**
 * Chunk relay state (§7.6), sharded over slots by chunkId: sources (who announced or pushed a
 * chunk), the cache, the one active pull per chunk and the requesters waiting on it.
 *
 * The deployment-wide cache cap of 1,000 entries is split evenly over the keyspace's shards, which
 * the protocol allows ("a partitioned cache may give each partition an equal share").
 */
import { ShardedObject, type KeyspaceSchema, type TimerHandlers } from "durable-shards";
import type { Env } from "../env.js";
import { KEYSPACES, router } from "../keyspaces.js";
import type { Holder } from "./push.js";

export const SOURCE_TTL_MS = 3_600_000;
export const CACHE_TTL_MS = 30 * 60_000;
export const WAIT_TTL_MS = 2 * 60_000;
export const CACHE_CAP = 1000;
/** Each shard's share of the cache cap. */
export const CACHE_CAP_PER_SHARD = Math.floor(CACHE_CAP / KEYSPACES.chunks.shards!);
const SWEEP = "sweep";
const SWEEP_EVERY_MS = 60_000;

export function chunkShard(env: Env, chunkId: string) {
  return router(env, "chunks").get(chunkId);
}

export type ChunkRequestResult =
  | { kind: "data"; channelId: string; data: string }
  | { kind: "pulling" }
  | { kind: "pull"; source: Holder }
  | { kind: "none" };

export type ChunkPushResult = { kind: "unexpected" } | { kind: "too-large" } | { kind: "ok"; waiters: Holder[] };

export class ChunkStore extends ShardedObject<Env> {
  /** Called once per shard (fan-out); every other method is called per key. */
  protected override shardMethods(): readonly string[] {
    return ["announce", "cachedOf", "dropSocket"];
  }

  protected override schema(): KeyspaceSchema {
    return {
      scope: "chunks",
      migrations: [
        {
          version: 1,
          name: "chunks",
          up: `CREATE TABLE sources (chunk_id TEXT NOT NULL, slot INTEGER NOT NULL, identity TEXT NOT NULL, gateway TEXT NOT NULL, socket TEXT NOT NULL,
                 expires_at INTEGER NOT NULL, PRIMARY KEY (chunk_id, identity));
               CREATE TABLE cache (chunk_id TEXT PRIMARY KEY, slot INTEGER NOT NULL, channel_id TEXT NOT NULL, data TEXT NOT NULL,
                 cached_at INTEGER NOT NULL, last_access INTEGER NOT NULL);
               CREATE TABLE pulls (chunk_id TEXT PRIMARY KEY, slot INTEGER NOT NULL, identity TEXT NOT NULL, gateway TEXT NOT NULL, socket TEXT NOT NULL);
               CREATE TABLE waiters (chunk_id TEXT NOT NULL, slot INTEGER NOT NULL, gateway TEXT NOT NULL, socket TEXT NOT NULL, expires_at INTEGER NOT NULL,
                 PRIMARY KEY (chunk_id, gateway, socket));
               CREATE INDEX sources_slot ON sources (slot);
               CREATE INDEX sources_socket ON sources (gateway, socket);
               CREATE INDEX cache_slot ON cache (slot);
               CREATE INDEX cache_channel ON cache (channel_id);
               CREATE INDEX pulls_slot ON pulls (slot);
               CREATE INDEX waiters_slot ON waiters (slot);`,
        },
      ],
      slotTables: ["sources", "cache", "pulls", "waiters"],
    };
  }

  protected override timerHandlers(): TimerHandlers {
    return { [SWEEP]: () => this._sweep() };
  }

  /** Shard-level: records `identity` (at `holder`) as a source of each of `chunkIds` (this shard's) for an hour. */
  async announce(chunkIds: string[], identity: string, holder: Holder): Promise<void> {
    for (const chunkId of chunkIds) this._source(chunkId, identity, holder);
    await this.timers.ensure(SWEEP, SWEEP_EVERY_MS);
  }

  /** A `chunk_request` (§7.6): cached data, a pull to join, a pull to start, or nothing. */
  async request(chunkId: string, requester: string, at: Holder): Promise<ChunkRequestResult> {
    const now = Date.now();
    const cached = this.ctx.storage.sql
      .exec<{ channel_id: string; data: string }>(
        "UPDATE cache SET last_access = ?2 WHERE chunk_id = ?1 AND cached_at > ?3 RETURNING channel_id, data",
        chunkId,
        now,
        now - CACHE_TTL_MS,
      )
      .toArray()[0];
    if (cached) return { kind: "data", channelId: cached.channel_id, data: cached.data };
    // Expiry is exact here, not at the next sweep: a pull whose waiters all expired has lapsed.
    this.ctx.storage.sql.exec("DELETE FROM waiters WHERE expires_at <= ?", now);
    this._lapseUnwaitedPulls(now);
    const pulling = this.ctx.storage.sql.exec("SELECT 1 FROM pulls WHERE chunk_id = ?", chunkId).toArray().length > 0;
    let result: ChunkRequestResult = { kind: "pulling" };
    if (!pulling) {
      const source = this.ctx.storage.sql
        .exec<{ identity: string; gateway: string; socket: string }>(
          "SELECT identity, gateway, socket FROM sources WHERE chunk_id = ? AND identity != ? AND expires_at > ? ORDER BY random() LIMIT 1",
          chunkId,
          requester,
          now,
        )
        .toArray()[0];
      if (!source) return { kind: "none" };
      this.ctx.storage.sql.exec(
        "INSERT INTO pulls (chunk_id, slot, identity, gateway, socket) VALUES (?, ?, ?, ?, ?)",
        chunkId,
        this.slotOf(chunkId),
        source.identity,
        source.gateway,
        source.socket,
      );
      result = { kind: "pull", source: { gateway: source.gateway, socket: source.socket } };
    }
    this.ctx.storage.sql.exec(
      "INSERT OR REPLACE INTO waiters (chunk_id, slot, gateway, socket, expires_at) VALUES (?, ?, ?, ?, ?)",
      chunkId,
      this.slotOf(chunkId),
      at.gateway,
      at.socket,
      now + WAIT_TTL_MS,
    );
    await this.timers.ensure(SWEEP, SWEEP_EVERY_MS);
    return result;
  }

  /**
   * A `chunk_push`: accepted only when a pull of this chunk was sent to `identity` or `identity`
   * announced it (source still live); then `size` is checked. On success the chunk is cached
   * (replacing), the pusher becomes a source, the pull ends and its waiters are returned.
   */
  async push(chunkId: string, channelId: string, data: string, size: number, identity: string, holder: Holder): Promise<ChunkPushResult> {
    const now = Date.now();
    const solicited =
      this.ctx.storage.sql
        .exec(
          "SELECT 1 FROM pulls WHERE chunk_id = ?1 AND identity = ?2 UNION ALL SELECT 1 FROM sources WHERE chunk_id = ?1 AND identity = ?2 AND expires_at > ?3",
          chunkId,
          identity,
          now,
        )
        .toArray().length > 0;
    if (!solicited) return { kind: "unexpected" };
    if (size > 65_536) return { kind: "too-large" };
    this.ctx.storage.sql.exec(
      "INSERT OR REPLACE INTO cache (chunk_id, slot, channel_id, data, cached_at, last_access) VALUES (?, ?, ?, ?, ?, ?)",
      chunkId,
      this.slotOf(chunkId),
      channelId,
      data,
      now,
      now,
    );
    this._evictOverCap();
    this._source(chunkId, identity, holder);
    this.ctx.storage.sql.exec("DELETE FROM pulls WHERE chunk_id = ?", chunkId);
    const waiters = this.ctx.storage.sql
      .exec<{ gateway: string; socket: string }>("DELETE FROM waiters WHERE chunk_id = ? AND expires_at > ? RETURNING gateway, socket", chunkId, now)
      .toArray()
      .map((w) => ({ gateway: w.gateway, socket: w.socket }));
    await this.timers.ensure(SWEEP, SWEEP_EVERY_MS);
    return { kind: "ok", waiters };
  }

  /** Shard-level: ids of unexpired cached chunks of `channelId`. */
  cachedOf(channelId: string): string[] {
    return this.ctx.storage.sql
      .exec<{ chunk_id: string }>("SELECT chunk_id FROM cache WHERE channel_id = ? AND cached_at > ? ORDER BY chunk_id", channelId, Date.now() - CACHE_TTL_MS)
      .toArray()
      .map((r) => r.chunk_id);
  }

  /**
   * Shard-level: a socket closed. Its sources go, its waiting requests are discarded, and pulls
   * sent to it lapse (a later request may start a new one).
   */
  dropSocket(holder: Holder): void {
    for (const table of ["sources", "waiters", "pulls"]) {
      this.ctx.storage.sql.exec(`DELETE FROM ${table} WHERE gateway = ? AND socket = ?`, holder.gateway, holder.socket);
    }
    this._lapseUnwaitedPulls(Date.now());
  }

  private _source(chunkId: string, identity: string, holder: Holder): void {
    this.ctx.storage.sql.exec(
      "INSERT OR REPLACE INTO sources (chunk_id, slot, identity, gateway, socket, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
      chunkId,
      this.slotOf(chunkId),
      identity,
      holder.gateway,
      holder.socket,
      Date.now() + SOURCE_TTL_MS,
    );
  }

  /** Least-recently-accessed entries go first once this shard holds more than its share. */
  private _evictOverCap(): void {
    this.ctx.storage.sql.exec(
      "DELETE FROM cache WHERE chunk_id IN (SELECT chunk_id FROM cache ORDER BY last_access DESC, cached_at DESC LIMIT -1 OFFSET ?)",
      CACHE_CAP_PER_SHARD,
    );
  }

  /** A pull whose last waiter expired or left lapses. */
  private _lapseUnwaitedPulls(now: number): void {
    this.ctx.storage.sql.exec("DELETE FROM pulls WHERE chunk_id NOT IN (SELECT chunk_id FROM waiters WHERE expires_at > ?)", now);
  }

  private async _sweep(): Promise<void> {
    const now = Date.now();
    this.ctx.storage.sql.exec("DELETE FROM sources WHERE expires_at <= ?", now);
    this.ctx.storage.sql.exec("DELETE FROM cache WHERE cached_at <= ?", now - CACHE_TTL_MS);
    this.ctx.storage.sql.exec("DELETE FROM waiters WHERE expires_at <= ?", now);
    this._lapseUnwaitedPulls(now);
    const left = this.ctx.storage.sql
      .exec<{ n: number }>("SELECT (SELECT COUNT(*) FROM sources) + (SELECT COUNT(*) FROM cache) + (SELECT COUNT(*) FROM waiters) AS n")
      .one().n;
    if (left > 0) await this.timers.after(SWEEP, SWEEP_EVERY_MS);
  }
}
