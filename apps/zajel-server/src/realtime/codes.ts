/**
 * Pairing codes, sharded over slots by code (keyspace `codes`): who holds each code (gateway and
 * socket), the pending pair requests to it, and the codes it is matched with. Two peers that pair
 * may sit on different gateways and their codes on different shards.
 */
import { ShardedObject, type TimerHandlers, type KeyspaceSchema } from "durable-shards";
import type { Env } from "../env.js";
import { router } from "../keyspaces.js";
import { deliver, sameHolder, socketIsOpen, type Holder } from "./push.js";


export interface CodeRecord extends Holder {
  publicKey: string;
}

export const PAIR_REQUEST_TTL_MS = 120_000;
export const PAIR_EXPIRING_AFTER_MS = 90_000;
export const MAX_PENDING_PER_TARGET = 10;
const RELAY_ROW_FRESH_MS = 90_000;

export function codeShard(env: Env, code: string) {
  return router(env, "codes").get(code);
}

export class CodeRegistry extends ShardedObject<Env> {
  /** Called once per shard (fan-out); every other method is called per key. */
  protected override shardMethods(): readonly string[] {
    return ["availableRelays"];
  }

  protected override schema(): KeyspaceSchema {
    return {
      scope: "codes",
      migrations: [
        {
          version: 1,
          name: "codes",
          up: `CREATE TABLE codes (code TEXT PRIMARY KEY, slot INTEGER NOT NULL, gateway TEXT NOT NULL, socket TEXT NOT NULL, public_key TEXT NOT NULL);
               CREATE TABLE pending (target TEXT NOT NULL, slot INTEGER NOT NULL, requester TEXT NOT NULL, requester_key TEXT NOT NULL, created_at INTEGER NOT NULL, PRIMARY KEY (target, requester));
               CREATE TABLE matches (code TEXT NOT NULL, slot INTEGER NOT NULL, peer TEXT NOT NULL, PRIMARY KEY (code, peer));
               CREATE INDEX codes_slot ON codes (slot);
               CREATE INDEX pending_slot ON pending (slot);
               CREATE INDEX matches_slot ON matches (slot)`,
        },
        {
          version: 2,
          name: "link requests",
          up: `CREATE TABLE link_pending (link_code TEXT PRIMARY KEY, slot INTEGER NOT NULL, web_code TEXT NOT NULL, web_key TEXT NOT NULL, device_name TEXT NOT NULL, created_at INTEGER NOT NULL);
               CREATE INDEX link_pending_slot ON link_pending (slot)`,
        },
        {
          version: 3,
          name: "relays",
          up: `CREATE TABLE relays (peer_id TEXT PRIMARY KEY, slot INTEGER NOT NULL, gateway TEXT NOT NULL, socket TEXT NOT NULL, public_key TEXT,
                 max_connections REAL NOT NULL, connected_count REAL NOT NULL, refreshed_at INTEGER NOT NULL);
               CREATE INDEX relays_slot ON relays (slot)`,
        },
      ],
      slotTables: ["codes", "pending", "matches", "link_pending", "relays"],
    };
  }

  /** Timer names carry the request: `expiring|<target>|<requester>|<created_at>` (and `timeout|…`). */
  protected override timerHandlers(): TimerHandlers {
    const handlers: TimerHandlers = {};
    for (const name of this.timers.names()) {
      const [kind, target, requester, created] = name.split("|");
      if (kind === "expiring") handlers[name] = () => this._expiring(target!, requester!, Number(created));
      if (kind === "timeout") handlers[name] = () => this._timeout(target!, requester!, Number(created));
      if (kind === "link") handlers[name] = () => this._linkTimeout(target!, requester!, Number(created));
    }
    return handlers;
  }

  /** Holders of `name`, as a code or a relay peerId, other than `holder`. */
  private _otherHolders(name: string, holder: Holder): Holder[] {
    return this.ctx.storage.sql
      .exec<{ gateway: string; socket: string }>(
        "SELECT gateway, socket FROM codes WHERE code = ?1 UNION ALL SELECT gateway, socket FROM relays WHERE peer_id = ?1",
        name,
      )
      .toArray()
      .filter((r) => !sameHolder(r, holder));
  }

  /**
   * Whether `name` is held, as a code or a relay peerId, by another open socket (one namespace,
   * §7.1.6). A holder whose socket is gone without a close event (its gateway was reset) does not
   * count: its rows are dropped, so a client reconnecting after an eviction gets its name back.
   * Callers write synchronously after this resolves, so the check and the write are one step.
   */
  private async _heldByOther(name: string, holder: Holder): Promise<boolean> {
    const others = this._otherHolders(name, holder);
    if (others.length === 0) return false;
    const open = await Promise.all(others.map((other) => socketIsOpen(this.env, other)));
    if (open.some(Boolean)) return true;
    // Another claim may have landed while we asked the gateways.
    if (this._otherHolders(name, holder).some((now) => !others.some((stale) => sameHolder(stale, now)))) return true;
    for (const stale of others) {
      this.ctx.storage.sql.exec("DELETE FROM codes WHERE code = ? AND gateway = ? AND socket = ?", name, stale.gateway, stale.socket);
      this.ctx.storage.sql.exec("DELETE FROM relays WHERE peer_id = ? AND gateway = ? AND socket = ?", name, stale.gateway, stale.socket);
    }
    return false;
  }

  /** Takes `code` for `holder`; `collision` when another socket holds the name. Re-claiming updates the key. */
  async claim(code: string, holder: Holder, publicKey: string): Promise<"ok" | "collision"> {
    if (await this._heldByOther(code, holder)) return "collision";
    this.ctx.storage.sql.exec(
      "INSERT OR REPLACE INTO codes (code, slot, gateway, socket, public_key) VALUES (?, ?, ?, ?, ?)",
      code,
      this.slotOf(code),
      holder.gateway,
      holder.socket,
      publicKey,
    );
    return "ok";
  }

  /** The holder of `code`, or null. */
  lookup(code: string): CodeRecord | null {
    const row = this.ctx.storage.sql
      .exec<{ gateway: string; socket: string; public_key: string }>("SELECT gateway, socket, public_key FROM codes WHERE code = ?", code)
      .toArray()[0];
    return row ? { gateway: row.gateway, socket: row.socket, publicKey: row.public_key } : null;
  }

  /** The socket holding `name` as a pairing code or relay peerId (one namespace, §7.1.6), or null. */
  holderOf(name: string): Holder | null {
    const row = this.ctx.storage.sql
      .exec<{ gateway: string; socket: string }>(
        "SELECT gateway, socket FROM relays WHERE peer_id = ?1 UNION ALL SELECT gateway, socket FROM codes WHERE code = ?1 LIMIT 1",
        name,
      )
      .toArray()[0];
    return row ? { gateway: row.gateway, socket: row.socket } : null;
  }

  /**
   * Releases `code` if `holder` holds it; returns the codes it was matched with (their own shards
   * still list it until told). Pending requests to it are dropped.
   */
  release(code: string, holder: Holder): string[] {
    const current = this.lookup(code);
    if (!current || current.gateway !== holder.gateway || current.socket !== holder.socket) return [];
    const peers = this.ctx.storage.sql.exec<{ peer: string }>("DELETE FROM matches WHERE code = ? RETURNING peer", code).toArray().map((r) => r.peer);
    this.ctx.storage.sql.exec("DELETE FROM pending WHERE target = ?", code);
    this.ctx.storage.sql.exec("DELETE FROM link_pending WHERE link_code = ?", code);
    this.ctx.storage.sql.exec("DELETE FROM codes WHERE code = ?", code);
    return peers;
  }

  /** Registers or refreshes relay `peerId` for `holder` (keeping its load); `collision` when held by another socket. */
  async registerRelay(peerId: string, holder: Holder, maxConnections: number, publicKey: string | null): Promise<"ok" | "collision"> {
    if (await this._heldByOther(peerId, holder)) return "collision";
    this.ctx.storage.sql.exec(
      `INSERT INTO relays (peer_id, slot, gateway, socket, public_key, max_connections, connected_count, refreshed_at) VALUES (?, ?, ?, ?, ?, ?, 0, ?)
       ON CONFLICT (peer_id) DO UPDATE SET public_key = excluded.public_key, max_connections = excluded.max_connections, refreshed_at = excluded.refreshed_at`,
      peerId,
      this.slotOf(peerId),
      holder.gateway,
      holder.socket,
      publicKey,
      maxConnections,
      Date.now(),
    );
    return "ok";
  }

  /** Refreshes relay `peerId` of `holder`, optionally with a new load; false when it is not that socket's relay. */
  refreshRelay(peerId: string, holder: Holder, connectedCount?: number): boolean {
    return (
      this.ctx.storage.sql.exec(
        "UPDATE relays SET refreshed_at = ?, connected_count = COALESCE(?, connected_count) WHERE peer_id = ? AND gateway = ? AND socket = ?",
        Date.now(),
        connectedCount ?? null,
        peerId,
        holder.gateway,
        holder.socket,
      ).rowsWritten > 0
    );
  }

  /** Removes relay `peerId` if `holder` holds it. */
  releaseRelay(peerId: string, holder: Holder): void {
    this.ctx.storage.sql.exec("DELETE FROM relays WHERE peer_id = ? AND gateway = ? AND socket = ?", peerId, holder.gateway, holder.socket);
  }

  /** Shard-level: relays of this shard below half capacity, as list entries. */
  availableRelays(): { peerId: string; publicKey: string | null; capacity: number }[] {
    return this.ctx.storage.sql
      .exec<{ peer_id: string; public_key: string | null; capacity: number }>(
        "SELECT peer_id, public_key, connected_count / max_connections AS capacity FROM relays WHERE connected_count / max_connections < 0.5 AND refreshed_at > ?",
        // A live relay is refreshed at least every 60 s or closed within the next 30 s check, so an
        // older row belongs to a socket that is gone (its gateway was reset without a close event).
        Date.now() - RELAY_ROW_FRESH_MS,
      )
      .toArray()
      .map((r) => ({ peerId: r.peer_id, publicKey: r.public_key, capacity: r.capacity }));
  }

  /**
   * Records the one pending link request to `linkCode` (replacing any). Returns the link code's
   * holder (the mobile app), or null when nobody holds it.
   */
  async requestLink(linkCode: string, web: { code: string; publicKey: string; deviceName: string }): Promise<CodeRecord | null> {
    const holder = this.lookup(linkCode);
    if (!holder) return null;
    const now = Date.now();
    this.ctx.storage.sql.exec(
      "INSERT OR REPLACE INTO link_pending (link_code, slot, web_code, web_key, device_name, created_at) VALUES (?, ?, ?, ?, ?, ?)",
      linkCode,
      this.slotOf(linkCode),
      web.code,
      web.publicKey,
      web.deviceName,
      now,
    );
    await this.timers.schedule(`link|${linkCode}|${web.code}|${now}`, now + PAIR_REQUEST_TTL_MS);
    return holder;
  }

  /** Removes and returns the live pending link request to `linkCode`, or null. */
  takeLink(linkCode: string): { webCode: string; webKey: string; deviceName: string } | null {
    const row = this.ctx.storage.sql
      .exec<{ web_code: string; web_key: string; device_name: string }>(
        "DELETE FROM link_pending WHERE link_code = ? AND created_at > ? RETURNING web_code, web_key, device_name",
        linkCode,
        Date.now() - PAIR_REQUEST_TTL_MS,
      )
      .toArray()[0];
    return row ? { webCode: row.web_code, webKey: row.web_key, deviceName: row.device_name } : null;
  }

  /** Drops the link request from `webCode` (its socket left); returns the mobile holder to tell, or null. */
  dropLinkFrom(linkCode: string, webCode: string): CodeRecord | null {
    const removed = this.ctx.storage.sql.exec("DELETE FROM link_pending WHERE link_code = ? AND web_code = ?", linkCode, webCode).rowsWritten > 0;
    return removed ? this.lookup(linkCode) : null;
  }

  /** 120 s: both sides get `link_timeout` (§7.3.3). */
  private async _linkTimeout(linkCode: string, webCode: string, created: number): Promise<void> {
    const row = this.ctx.storage.sql
      .exec("DELETE FROM link_pending WHERE link_code = ? AND web_code = ? AND created_at = ? RETURNING 1", linkCode, webCode, created)
      .toArray();
    if (row.length === 0) return;
    const notice = JSON.stringify({ type: "link_timeout", linkCode });
    const mobile = this.lookup(linkCode);
    const web = await codeShard(this.env, webCode).lookup();
    await Promise.all([mobile && deliver(this.env, mobile, notice), web && deliver(this.env, web, notice)]);
  }

  /**
   * Records a pair request to `target` (replacing one from the same requester). Returns the
   * target's holder, or null when the request cannot be processed (target not held, or full).
   */
  async request(target: string, requester: string, requesterKey: string): Promise<CodeRecord | null> {
    const holder = this.lookup(target);
    if (!holder) return null;
    const now = Date.now();
    this.ctx.storage.sql.exec("DELETE FROM pending WHERE target = ? AND created_at <= ?", target, now - PAIR_REQUEST_TTL_MS);
    const others = this.ctx.storage.sql
      .exec<{ n: number }>("SELECT COUNT(*) AS n FROM pending WHERE target = ? AND requester != ?", target, requester)
      .one().n;
    if (others >= MAX_PENDING_PER_TARGET) return null;
    this.ctx.storage.sql.exec(
      "INSERT OR REPLACE INTO pending (target, slot, requester, requester_key, created_at) VALUES (?, ?, ?, ?, ?)",
      target,
      this.slotOf(target),
      requester,
      requesterKey,
      now,
    );
    // A replaced request restarts its timers; timers of an older request find it gone and do nothing.
    await this.timers.schedule(`expiring|${target}|${requester}|${now}`, now + PAIR_EXPIRING_AFTER_MS);
    await this.timers.schedule(`timeout|${target}|${requester}|${now}`, now + PAIR_REQUEST_TTL_MS);
    return holder;
  }

  /** The live request from `requester` to `target` created at `created`, if it still exists. */
  private _pending(target: string, requester: string, created: number): boolean {
    return (
      this.ctx.storage.sql.exec("SELECT 1 FROM pending WHERE target = ? AND requester = ? AND created_at = ?", target, requester, created).toArray()
        .length > 0
    );
  }

  /** 90 s: both sides are told 30 s remain (§7.2). */
  private async _expiring(target: string, requester: string, created: number): Promise<void> {
    if (!this._pending(target, requester, created)) return;
    const targetHolder = this.lookup(target);
    const requesterHolder = await codeShard(this.env, requester).lookup();
    const notice = (peerCode: string) => JSON.stringify({ type: "pair_expiring", peerCode, remainingSeconds: 30 });
    await Promise.all([
      targetHolder && deliver(this.env, targetHolder, notice(requester)),
      requesterHolder && deliver(this.env, requesterHolder, notice(target)),
    ]);
  }

  /** 120 s: the request is dropped and the requester told (§7.2). */
  private async _timeout(target: string, requester: string, created: number): Promise<void> {
    if (!this._pending(target, requester, created)) return;
    this.ctx.storage.sql.exec("DELETE FROM pending WHERE target = ? AND requester = ?", target, requester);
    const requesterHolder = await codeShard(this.env, requester).lookup();
    if (requesterHolder) await deliver(this.env, requesterHolder, JSON.stringify({ type: "pair_timeout", peerCode: target }));
  }

  /** Removes and returns the live pending request from `requester` to `target`, or null. */
  takeRequest(target: string, requester: string): { requesterKey: string } | null {
    const row = this.ctx.storage.sql
      .exec<{ requester_key: string }>(
        "DELETE FROM pending WHERE target = ? AND requester = ? AND created_at > ? RETURNING requester_key",
        target,
        requester,
        Date.now() - PAIR_REQUEST_TTL_MS,
      )
      .toArray()[0];
    return row ? { requesterKey: row.requester_key } : null;
  }

  /** Records that `code` is matched with `peer` (each side's shard records its own half). */
  match(code: string, peer: string): void {
    this.ctx.storage.sql.exec("INSERT OR IGNORE INTO matches (code, slot, peer) VALUES (?, ?, ?)", code, this.slotOf(code), peer);
  }

  /** Forgets `peer` as a match of `code`; returns `code`'s holder to notify, or null. */
  unmatch(code: string, peer: string): CodeRecord | null {
    const removed = this.ctx.storage.sql.exec("DELETE FROM matches WHERE code = ? AND peer = ?", code, peer).rowsWritten > 0;
    return removed ? this.lookup(code) : null;
  }

  /** Whether `code` is matched with `peer` (the forwarding rule, §7.3.1). */
  isMatched(code: string, peer: string): boolean {
    return this.ctx.storage.sql.exec("SELECT 1 FROM matches WHERE code = ? AND peer = ?", code, peer).toArray().length > 0;
  }
}
