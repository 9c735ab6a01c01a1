/**
 * Channels (§7.7), sharded over slots by channelId: the owner socket, subscriber sockets, the
 * active stream and the upstream queue kept while the owner is away. Pushes to subscribers leave
 * in one batch per gateway.
 */
import { ShardedObject, type KeyspaceSchema, type TimerHandlers } from "durable-shards";
import type { Env } from "../env.js";
import { router } from "../keyspaces.js";
import { Outbox, rpcSender, sameHolder, socketIsOpen, type Holder } from "./push.js";

export const UPSTREAM_TTL_MS = 5 * 60_000;
export const UPSTREAM_QUEUE_MAX = 100;
const SWEEP = "sweep";

export function channelShard(env: Env, channelId: string) {
  return router(env, "channels").get(channelId);
}

type Row = { gateway: string; socket: string };
const holderOf = (row: Row): Holder => ({ gateway: row.gateway, socket: row.socket });

export type OwnerResult = { kind: "busy" } | { kind: "ok"; queued: string[] };
export type UpstreamResult = "not-subscribed" | "rate" | "delivered" | "queued" | "dropped";

export class ChannelRegistry extends ShardedObject<Env> {
  /** Called once per shard (fan-out); every other method is called per key. */
  protected override shardMethods(): readonly string[] {
    return ["dropSocket"];
  }

  protected override schema(): KeyspaceSchema {
    return {
      scope: "channels",
      migrations: [
        {
          version: 1,
          name: "channels",
          up: `CREATE TABLE owners (channel_id TEXT PRIMARY KEY, slot INTEGER NOT NULL, gateway TEXT NOT NULL, socket TEXT NOT NULL);
               CREATE TABLE subscribers (channel_id TEXT NOT NULL, slot INTEGER NOT NULL, gateway TEXT NOT NULL, socket TEXT NOT NULL,
                 PRIMARY KEY (channel_id, gateway, socket));
               CREATE TABLE streams (channel_id TEXT PRIMARY KEY, slot INTEGER NOT NULL, stream_id TEXT NOT NULL, title TEXT NOT NULL);
               CREATE TABLE upstream (id INTEGER PRIMARY KEY AUTOINCREMENT, channel_id TEXT NOT NULL, slot INTEGER NOT NULL, frame TEXT NOT NULL,
                 created_at INTEGER NOT NULL);
               CREATE INDEX owners_slot ON owners (slot);
               CREATE INDEX owners_socket ON owners (gateway, socket);
               CREATE INDEX subscribers_slot ON subscribers (slot);
               CREATE INDEX subscribers_socket ON subscribers (gateway, socket);
               CREATE INDEX streams_slot ON streams (slot);
               CREATE INDEX upstream_slot ON upstream (slot);
               CREATE INDEX upstream_channel ON upstream (channel_id, created_at)`,
        },
      ],
      slotTables: ["owners", "subscribers", "streams", "upstream"],
    };
  }

  protected override timerHandlers(): TimerHandlers {
    return { [SWEEP]: () => this._sweep() };
  }

  /**
   * Makes `holder` the owner unless another open socket owns the channel. Returns the queued
   * upstream frames younger than 5 minutes (the queue is cleared).
   */
  async registerOwner(channelId: string, holder: Holder): Promise<OwnerResult> {
    const owner = this._owner(channelId);
    if (owner && !sameHolder(owner, holder)) {
      // The owner row outlives a socket only if its gateway lost it without a close event.
      if (await socketIsOpen(this.env, owner)) return { kind: "busy" };
      // Another socket may have taken the channel while we asked the gateway.
      const now = this._owner(channelId);
      if (now && !sameHolder(now, owner) && !sameHolder(now, holder)) return { kind: "busy" };
      // The lost owner's stream ends for its subscribers, as on a close.
      const stream = this._endStream(channelId);
      if (stream) await this.broadcast(channelId, { type: "stream-end", streamId: stream, channelId }, null);
    }
    this.ctx.storage.sql.exec(
      "INSERT OR REPLACE INTO owners (channel_id, slot, gateway, socket) VALUES (?, ?, ?, ?)",
      channelId,
      this.slotOf(channelId),
      holder.gateway,
      holder.socket,
    );
    const queued = this.ctx.storage.sql
      .exec<{ frame: string; created_at: number; id: number }>("DELETE FROM upstream WHERE channel_id = ? RETURNING frame, created_at, id", channelId)
      .toArray();
    const fresh = Date.now() - UPSTREAM_TTL_MS;
    return { kind: "ok", queued: queued.filter((q) => q.created_at > fresh).sort((a, b) => a.id - b.id).map((q) => q.frame) };
  }

  /** Adds a subscriber (idempotent); returns the active stream, if any. */
  subscribe(channelId: string, holder: Holder): { streamId: string; title?: unknown } | null {
    this.ctx.storage.sql.exec(
      "INSERT OR IGNORE INTO subscribers (channel_id, slot, gateway, socket) VALUES (?, ?, ?, ?)",
      channelId,
      this.slotOf(channelId),
      holder.gateway,
      holder.socket,
    );
    const stream = this.ctx.storage.sql.exec<{ stream_id: string; title: string }>("SELECT stream_id, title FROM streams WHERE channel_id = ?", channelId).toArray()[0];
    return stream ? { streamId: stream.stream_id, ...(JSON.parse(stream.title) as { title?: unknown }) } : null;
  }

  /**
   * An upstream message from `holder`: to the owner if its socket is open, else queued (≤ 100 per
   * channel for 5 minutes; dropped silently when full). `allowed` is the sender's upstream rate.
   */
  async upstream(channelId: string, holder: Holder, frame: string, allowed: boolean): Promise<UpstreamResult> {
    if (!this._subscribed(channelId, holder)) return "not-subscribed";
    if (!allowed) return "rate";
    const owner = this._owner(channelId);
    if (owner && (await new Outbox(rpcSender(this.env)).add(owner, frame).flush()) > 0) return "delivered";
    const now = Date.now();
    this.ctx.storage.sql.exec("DELETE FROM upstream WHERE channel_id = ? AND created_at <= ?", channelId, now - UPSTREAM_TTL_MS);
    const queued = this.ctx.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM upstream WHERE channel_id = ?", channelId).one().n;
    if (queued >= UPSTREAM_QUEUE_MAX) return "dropped";
    this.ctx.storage.sql.exec("INSERT INTO upstream (channel_id, slot, frame, created_at) VALUES (?, ?, ?, ?)", channelId, this.slotOf(channelId), frame, now);
    await this.timers.ensure(SWEEP, UPSTREAM_TTL_MS);
    return "queued";
  }

  /** Starts a stream if `holder` owns the channel; returns the subscriber count, or null when not the owner. */
  async startStream(channelId: string, streamId: string, title: unknown, holder: Holder): Promise<number | null> {
    const owner = this._owner(channelId);
    if (!owner || !sameHolder(owner, holder)) return null;
    this.ctx.storage.sql.exec(
      "INSERT OR REPLACE INTO streams (channel_id, slot, stream_id, title) VALUES (?, ?, ?, ?)",
      channelId,
      this.slotOf(channelId),
      streamId,
      // Wrapped, so a start without a title is replayed without one.
      JSON.stringify(title === undefined ? {} : { title }),
    );
    await this.broadcast(channelId, { type: "stream-start", streamId, channelId, title }, null);
    return this._subscribers(channelId, null).length;
  }

  /** Relays a frame of the active stream `streamId` if `holder` owns it; false when dropped. */
  async streamFrame(channelId: string, streamId: string, frame: unknown, holder: Holder): Promise<boolean> {
    if (!this._ownsStream(channelId, streamId, holder)) return false;
    await this.broadcast(channelId, { type: "stream-frame", streamId, channelId, frame }, null);
    return true;
  }

  /** Ends the active stream `streamId` if `holder` owns it; false when not. */
  async endStream(channelId: string, streamId: string, holder: Holder): Promise<boolean> {
    if (!this._ownsStream(channelId, streamId, holder)) return false;
    this.ctx.storage.sql.exec("DELETE FROM streams WHERE channel_id = ?", channelId);
    await this.broadcast(channelId, { type: "stream-end", streamId, channelId }, null);
    return true;
  }

  /** Shard-level: a socket closed. Its ownerships end (active streams end for subscribers) and its subscriptions go. */
  async dropSocket(holder: Holder): Promise<void> {
    const owned = this.ctx.storage.sql
      .exec<{ channel_id: string }>("DELETE FROM owners WHERE gateway = ? AND socket = ? RETURNING channel_id", holder.gateway, holder.socket)
      .toArray();
    this.ctx.storage.sql.exec("DELETE FROM subscribers WHERE gateway = ? AND socket = ?", holder.gateway, holder.socket);
    const outbox = new Outbox(rpcSender(this.env));
    for (const { channel_id: channelId } of owned) {
      const stream = this._endStream(channelId);
      if (!stream) continue;
      for (const sub of this._subscribers(channelId, null)) outbox.add(sub, { type: "stream-end", streamId: stream, channelId });
    }
    await outbox.flush();
  }

  private _owner(channelId: string): Holder | null {
    const row = this.ctx.storage.sql.exec<Row>("SELECT gateway, socket FROM owners WHERE channel_id = ?", channelId).toArray()[0];
    return row ? holderOf(row) : null;
  }

  private _ownsStream(channelId: string, streamId: string, holder: Holder): boolean {
    const owner = this._owner(channelId);
    if (!owner || !sameHolder(owner, holder)) return false;
    return this.ctx.storage.sql.exec("SELECT 1 FROM streams WHERE channel_id = ? AND stream_id = ?", channelId, streamId).toArray().length > 0;
  }

  /** Clears the active stream; returns its id, or null when there was none. */
  private _endStream(channelId: string): string | null {
    const row = this.ctx.storage.sql.exec<{ stream_id: string }>("DELETE FROM streams WHERE channel_id = ? RETURNING stream_id", channelId).toArray()[0];
    return row?.stream_id ?? null;
  }

  private _subscribed(channelId: string, holder: Holder): boolean {
    return (
      this.ctx.storage.sql
        .exec("SELECT 1 FROM subscribers WHERE channel_id = ? AND gateway = ? AND socket = ?", channelId, holder.gateway, holder.socket)
        .toArray().length > 0
    );
  }

  private _subscribers(channelId: string, except: Holder | null): Holder[] {
    return this.ctx.storage.sql
      .exec<Row>("SELECT gateway, socket FROM subscribers WHERE channel_id = ?", channelId)
      .toArray()
      .map(holderOf)
      .filter((s) => !except || !sameHolder(s, except));
  }

  /** Sends `frame` to every subscriber of `channelId` except `except`; returns how many were reached. */
  async broadcast(channelId: string, frame: unknown, except: Holder | null): Promise<number> {
    const outbox = new Outbox(rpcSender(this.env));
    for (const sub of this._subscribers(channelId, except)) outbox.add(sub, frame);
    return outbox.flush();
  }

  private async _sweep(): Promise<void> {
    this.ctx.storage.sql.exec("DELETE FROM upstream WHERE created_at <= ?", Date.now() - UPSTREAM_TTL_MS);
    if (this.ctx.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM upstream").one().n > 0) await this.timers.after(SWEEP, UPSTREAM_TTL_MS);
  }
}
