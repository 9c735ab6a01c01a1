/**
 * Admission of new sockets (§7.1.1): the per-IP cap (50 open sockets per client IP in the
 * deployment), counted by `ConnectionCounter` shards hashed over slots by IP, and the
 * deployment-wide capacity `WS_MAX_CONNECTIONS`, split into fixed shares per gateway.
 *
 * The capacity is exact without a global counter: the Worker offers an upgrade to every gateway
 * in turn and refuses only when all are at their share, and the shares sum to the capacity.
 */
import { ShardedObject, type KeyspaceSchema } from "durable-shards";
import type { Env } from "../env.js";
import { router } from "../keyspaces.js";
import type { Holder } from "./push.js";

export const MAX_PER_IP = 50;
export const DEFAULT_MAX_CONNECTIONS = 10_000;

export function connectionCounter(env: Env, ip: string) {
  return router(env, "connections").get(ip);
}

/** `WS_MAX_CONNECTIONS` as a positive integer, else the default. */
export function maxConnections(env: Env): number {
  const value = Number(env.WS_MAX_CONNECTIONS);
  return Number.isSafeInteger(value) && value > 0 ? value : DEFAULT_MAX_CONNECTIONS;
}

/** Gateway `index`'s share of `max` sockets over `gateways` gateways; the shares sum to `max`. */
export function gatewayShare(max: number, index: number, gateways: number): number {
  return Math.floor(max / gateways) + (index < max % gateways ? 1 : 0);
}

/** Accepts a socket only to close it at once with `code` and `reason` (no greeting, §7.1.1). */
export function refuseSocket(code: number, reason: string): Response {
  const [client, server] = Object.values(new WebSocketPair()) as [WebSocket, WebSocket];
  server.accept();
  server.close(code, reason);
  return new Response(null, { status: 101, webSocket: client });
}

export class ConnectionCounter extends ShardedObject<Env> {
  protected override schema(): KeyspaceSchema {
    return {
      scope: "connections",
      migrations: [
        {
          version: 1,
          name: "sockets",
          up: `CREATE TABLE sockets (ip TEXT NOT NULL, slot INTEGER NOT NULL, gateway TEXT NOT NULL, socket TEXT NOT NULL, PRIMARY KEY (ip, gateway, socket));
               CREATE INDEX sockets_slot ON sockets (slot)`,
        },
      ],
      slotTables: ["sockets"],
    };
  }

  /** Counts a new socket of `ip` unless it already has `limit` open ones; false when refused. */
  async admit(ip: string, holder: Holder, limit: number): Promise<boolean> {
    if (this._count(ip) >= limit) {
      // Rows outlive their sockets only when a gateway lost them without a close event (its
      // object was reset); such rows are found and dropped before refusing.
      await this._dropLost(ip);
      if (this._count(ip) >= limit) return false;
    }
    this.ctx.storage.sql.exec("INSERT OR IGNORE INTO sockets (ip, slot, gateway, socket) VALUES (?, ?, ?, ?)", ip, this.slotOf(ip), holder.gateway, holder.socket);
    return true;
  }

  /** Forgets a closed socket of `ip`. */
  release(ip: string, holder: Holder): void {
    this.ctx.storage.sql.exec("DELETE FROM sockets WHERE ip = ? AND gateway = ? AND socket = ?", ip, holder.gateway, holder.socket);
  }

  private _count(ip: string): number {
    return this.ctx.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM sockets WHERE ip = ?", ip).one().n;
  }

  private async _dropLost(ip: string): Promise<void> {
    const rows = this.ctx.storage.sql.exec<{ gateway: string; socket: string }>("SELECT gateway, socket FROM sockets WHERE ip = ?", ip).toArray();
    const byGateway = new Map<string, Holder[]>();
    for (const row of rows) byGateway.set(row.gateway, [...(byGateway.get(row.gateway) ?? []), row]);
    await Promise.all(
      [...byGateway].map(async ([gateway, sockets]) => {
        const open = new Set(await this.env.GATEWAY.getByName(gateway).openSockets(sockets.map((s) => s.socket)));
        for (const s of sockets) if (!open.has(s.socket)) this.release(ip, s);
      }),
    );
  }
}
