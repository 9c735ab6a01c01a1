/**
 * Challenges by nonce (keyspace `challenges`), so a verification finds its challenge in one hop
 * whatever `device_id` it names and can tell a wrong device from an unknown nonce.
 */
import { ShardedObject, type TimerHandlers, type KeyspaceSchema } from "durable-shards";
import type { Env } from "../env.js";
import { router } from "../keyspaces.js";
import { CHALLENGE_TTL_MS, type ChallengeRecord } from "./model.js";

const SWEEP = "sweep";

export function challengeStore(env: Env, nonce: string) {
  return router(env, "challenges").get(nonce);
}

export type InspectResult = { status: "missing" } | { status: "expired" } | { status: "mismatch" } | { status: "ok"; challenge: ChallengeRecord };

export class ChallengeStore extends ShardedObject<Env> {
  protected override schema(): KeyspaceSchema {
    return {
      scope: "challenges",
      migrations: [
        {
          version: 1,
          name: "challenges",
          up: `CREATE TABLE challenges (nonce TEXT PRIMARY KEY, slot INTEGER NOT NULL, record TEXT NOT NULL, created_at INTEGER NOT NULL);
               CREATE INDEX challenges_slot ON challenges (slot)`,
        },
      ],
      slotTables: ["challenges"],
    };
  }

  protected override timerHandlers(): TimerHandlers {
    return { [SWEEP]: () => this._sweep() };
  }

  async put(nonce: string, challenge: ChallengeRecord): Promise<void> {
    this.ctx.storage.sql.exec(
      "INSERT INTO challenges (nonce, slot, record, created_at) VALUES (?, ?, ?, ?)",
      nonce,
      this.slotOf(nonce),
      JSON.stringify(challenge),
      challenge.created_at,
    );
    await this.timers.ensure(SWEEP, CHALLENGE_TTL_MS);
  }

  /** Rows 3–5 of §4.3.5, without consuming; an expired challenge is deleted. */
  inspect(nonce: string, deviceId: string): InspectResult {
    const row = this.ctx.storage.sql.exec<{ record: string }>("SELECT record FROM challenges WHERE nonce = ?", nonce).toArray()[0];
    if (!row) return { status: "missing" };
    const challenge = JSON.parse(row.record) as ChallengeRecord;
    if (Date.now() - challenge.created_at > CHALLENGE_TTL_MS) {
      this.ctx.storage.sql.exec("DELETE FROM challenges WHERE nonce = ?", nonce);
      return { status: "expired" };
    }
    if (challenge.device_id !== deviceId) return { status: "mismatch" };
    return { status: "ok", challenge };
  }

  /** Deletes the challenge; false when it was already gone (row 8). */
  consume(nonce: string): boolean {
    return this.ctx.storage.sql.exec("DELETE FROM challenges WHERE nonce = ?", nonce).rowsWritten > 0;
  }

  private async _sweep(): Promise<void> {
    this.ctx.storage.sql.exec("DELETE FROM challenges WHERE created_at < ?", Date.now() - CHALLENGE_TTL_MS);
    if (this.ctx.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM challenges").one().n > 0) await this.timers.after(SWEEP, CHALLENGE_TTL_MS);
  }
}
