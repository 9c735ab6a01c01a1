/** Registration nonces, unique across the deployment for 5 minutes (keyspace `registration-nonces`). */
import { ShardedObject, type TimerHandlers, type KeyspaceSchema } from "durable-shards";
import type { Env } from "../env.js";
import { router } from "../keyspaces.js";
import { NONCE_TTL_MS } from "./replay.js";

const SWEEP = "sweep";

export function nonceStore(env: Env, nonce: string) {
  return router(env, "registration-nonces").get(nonce);
}

export class NonceStore extends ShardedObject<Env> {
  protected override schema(): KeyspaceSchema {
    return {
      scope: "nonces",
      migrations: [
        {
          version: 1,
          name: "nonces",
          up: `CREATE TABLE nonces (nonce TEXT PRIMARY KEY, slot INTEGER NOT NULL, expires_at INTEGER NOT NULL);
               CREATE INDEX nonces_slot ON nonces (slot)`,
        },
      ],
      slotTables: ["nonces"],
    };
  }

  protected override timerHandlers(): TimerHandlers {
    return { [SWEEP]: () => this._sweep() };
  }

  /** Whether `nonce` was claimed in the last 5 minutes. */
  seen(nonce: string): boolean {
    return this.ctx.storage.sql.exec("SELECT 1 FROM nonces WHERE nonce = ? AND expires_at > ?", nonce, Date.now()).toArray().length > 0;
  }

  /** Claims `nonce` for 5 minutes; false when it is already claimed. */
  async claim(nonce: string): Promise<boolean> {
    if (this.seen(nonce)) return false;
    this.ctx.storage.sql.exec(
      "INSERT OR REPLACE INTO nonces (nonce, slot, expires_at) VALUES (?, ?, ?)",
      nonce,
      this.slotOf(nonce),
      Date.now() + NONCE_TTL_MS,
    );
    await this.timers.ensure(SWEEP, NONCE_TTL_MS);
    return true;
  }

  private async _sweep(): Promise<void> {
    this.ctx.storage.sql.exec("DELETE FROM nonces WHERE expires_at <= ?", Date.now());
    if (this.ctx.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM nonces").one().n > 0) await this.timers.after(SWEEP, NONCE_TTL_MS);
  }
}
