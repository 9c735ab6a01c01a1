/**
 * Rendezvous entries (§7.5), sharded over slots by meeting place: daily points (48 h, with dead
 * drops) and hourly tokens (3 h, live matches). A place's entries live on one shard, so a visit
 * reads the others and stores its own in one call.
 */
import { ShardedObject, type KeyspaceSchema, type TimerHandlers } from "durable-shards";
import type { Env } from "../env.js";
import { router } from "../keyspaces.js";

export const DAILY_TTL_MS = 48 * 3_600_000;
export const HOURLY_TTL_MS = 3 * 3_600_000;
const SWEEP = "sweep";
const SWEEP_EVERY_MS = 3_600_000;

export type PlaceKind = "daily" | "hourly";

/** The shard of a meeting place. Points and tokens are separate namespaces. */
export function placeShard(env: Env, kind: PlaceKind, place: string) {
  return router(env, "rendezvous").get(`${kind === "daily" ? "d" : "h"}:${place}`);
}

/** Another peer's entry at a place. */
export interface PlaceEntry {
  peerId: string;
  deadDrop: string;
  relayId: string;
}

export class RendezvousRegistry extends ShardedObject<Env> {
  /** Called once per shard (fan-out); every other method is called per key. */
  protected override shardMethods(): readonly string[] {
    return ["dropPeer"];
  }

  protected override schema(): KeyspaceSchema {
    return {
      scope: "rendezvous",
      migrations: [
        {
          version: 1,
          name: "places",
          up: `CREATE TABLE entries (place TEXT NOT NULL, slot INTEGER NOT NULL, peer_id TEXT NOT NULL, dead_drop TEXT NOT NULL, relay_id TEXT NOT NULL,
                 expires_at INTEGER NOT NULL, PRIMARY KEY (place, peer_id));
               CREATE INDEX entries_slot ON entries (slot);
               CREATE INDEX entries_peer ON entries (peer_id)`,
        },
      ],
      slotTables: ["entries"],
    };
  }

  protected override timerHandlers(): TimerHandlers {
    return { [SWEEP]: () => this._sweep() };
  }

  /**
   * A visit of `peerId` to `key` (`d:<point>` or `h:<token>`): returns the other peers' unexpired
   * entries there, then stores or refreshes the visitor's.
   */
  async visit(key: string, peerId: string, deadDrop: string, relayId: string, ttlMs: number): Promise<PlaceEntry[]> {
    const now = Date.now();
    const others = this.ctx.storage.sql
      .exec<{ peer_id: string; dead_drop: string; relay_id: string }>(
        "SELECT peer_id, dead_drop, relay_id FROM entries WHERE place = ? AND peer_id != ? AND expires_at > ? ORDER BY peer_id",
        key,
        peerId,
        now,
      )
      .toArray()
      .map((r) => ({ peerId: r.peer_id, deadDrop: r.dead_drop, relayId: r.relay_id }));
    this.ctx.storage.sql.exec(
      "INSERT OR REPLACE INTO entries (place, slot, peer_id, dead_drop, relay_id, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
      key,
      this.slotOf(key),
      peerId,
      deadDrop,
      relayId,
      now + ttlMs,
    );
    await this.timers.ensure(SWEEP, SWEEP_EVERY_MS);
    return others;
  }

  /** Shard-level: removes every entry of `peerId` (its relay socket closed). */
  dropPeer(peerId: string): number {
    return this.ctx.storage.sql.exec("DELETE FROM entries WHERE peer_id = ?", peerId).rowsWritten;
  }

  private async _sweep(): Promise<void> {
    this.ctx.storage.sql.exec("DELETE FROM entries WHERE expires_at <= ?", Date.now());
    if (this.ctx.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM entries").one().n > 0) await this.timers.after(SWEEP, SWEEP_EVERY_MS);
  }
}
