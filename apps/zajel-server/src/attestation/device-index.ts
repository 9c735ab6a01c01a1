/** Which devices exist, for the deployment-wide cap of 100,000 (§4.3.1); one object, atomic admission. */
import { ShardedObject, type KeyspaceSchema } from "durable-shards";
import type { Env } from "../env.js";
import { router } from "../keyspaces.js";
import { MAX_DEVICES } from "./model.js";

export function deviceIndex(env: Env) {
  return router(env, "device-index").get("all");
}

export class DeviceIndex extends ShardedObject<Env> {
  protected override schema(): KeyspaceSchema {
    return {
      scope: "device-index",
      migrations: [{ version: 1, name: "members", up: "CREATE TABLE members (device_id TEXT PRIMARY KEY)" }],
    };
  }

  /** Records the device unless 100,000 others exist; false when full. */
  admit(_key: string, deviceId: string): boolean {
    const sql = this.ctx.storage.sql;
    if (sql.exec("SELECT 1 FROM members WHERE device_id = ?", deviceId).toArray().length > 0) return true;
    if (sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM members").one().n >= MAX_DEVICES) return false;
    sql.exec("INSERT INTO members (device_id) VALUES (?)", deviceId);
    return true;
  }

  release(_key: string, deviceIds: string[]): void {
    for (const id of deviceIds) this.ctx.storage.sql.exec("DELETE FROM members WHERE device_id = ?", id);
  }
}
