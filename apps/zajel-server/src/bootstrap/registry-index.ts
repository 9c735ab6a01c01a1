/**
 * The registry index: which `serverId`s hold an entry, for the deployment-wide cap of 1,000
 * entries (§4.2.4 step 9). One object (entity keyspace `registry-index`), so admission is one
 * synchronous statement and concurrent registrations never together exceed the cap. Heartbeats
 * do not touch it: an entry leaves the index only when its shard deletes it (expiry) or on DELETE.
 */
import { ShardedObject, type KeyspaceSchema } from "durable-shards";
import type { Env } from "../env.js";
import { router } from "../keyspaces.js";
import { MAX_SERVERS } from "./entry.js";

export function registryIndex(env: Env) {
  return router(env, "registry-index").get("all");
}

export class RegistryIndex extends ShardedObject<Env> {
  protected override schema(): KeyspaceSchema {
    return {
      scope: "registry-index",
      migrations: [
        { version: 1, name: "members", up: "CREATE TABLE members (server_id TEXT PRIMARY KEY, registered_at INTEGER NOT NULL)" },
      ],
    };
  }

  /** Records `serverId` at `registeredAt` unless the registry is full; false when full. */
  admit(_key: string, serverId: string, registeredAt: number): boolean {
    const sql = this.ctx.storage.sql;
    const known = sql.exec("SELECT 1 FROM members WHERE server_id = ?", serverId).toArray().length > 0;
    if (!known && sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM members").one().n >= MAX_SERVERS) return false;
    sql.exec("INSERT OR REPLACE INTO members (server_id, registered_at) VALUES (?, ?)", serverId, registeredAt);
    return true;
  }

  /** Forgets entries; with `registeredAt`, only that registration (a newer one stays). */
  release(_key: string, entries: { serverId: string; registeredAt?: number }[]): void {
    for (const e of entries) {
      if (e.registeredAt === undefined) this.ctx.storage.sql.exec("DELETE FROM members WHERE server_id = ?", e.serverId);
      else this.ctx.storage.sql.exec("DELETE FROM members WHERE server_id = ? AND registered_at = ?", e.serverId, e.registeredAt);
    }
  }

  /** Number of entries admitted (for tests and operators). */
  size(_key: string): number {
    return this.ctx.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM members").one().n;
  }
}
