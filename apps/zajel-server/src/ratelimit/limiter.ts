/**
 * Deployment-wide fixed-window counters (§3.5), sharded over slots by `<class>|<ip>`.
 *
 * A window starts with the first request counted in it and lasts 60 s. Counting happens in one
 * synchronous SQLite statement inside the owning shard, so concurrent requests never together
 * exceed a limit.
 */
import { ShardedObject, migrate, parse, type TimerHandlers } from "durable-shards";
import { z } from "zod";
import type { Env } from "../env.js";

export const WINDOW_MS = 60_000;
const SWEEP = "sweep";
const SWEEP_EVERY_MS = 5 * 60_000;

/** The outcome of counting one request. */
export interface RateDecision {
  allowed: boolean;
  limit: number;
  remaining: number;
  /** Seconds until the window ends, rounded up. */
  retryAfter: number;
}

const limitSchema = z.number().int().min(1).max(1_000_000);

export class RateLimiter extends ShardedObject<Env> {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    migrate(ctx.storage, "rate-limits", [
      {
        version: 1,
        name: "windows",
        up: `CREATE TABLE windows (key TEXT PRIMARY KEY, slot INTEGER NOT NULL, started_at INTEGER NOT NULL, count INTEGER NOT NULL);
             CREATE INDEX windows_slot ON windows (slot)`,
      },
    ]);
  }

  protected override slotTables(): string[] {
    return ["windows"];
  }

  protected override timerHandlers(): TimerHandlers {
    return { [SWEEP]: () => this.sweep() };
  }

  /** Counts one request for `key` against `limit` per window. */
  async hit(key: string, limit: number): Promise<RateDecision> {
    const max = parse(limitSchema, limit, "limit");
    const now = Date.now();
    const row = this.ctx.storage.sql
      .exec<{ started_at: number; count: number }>(
        `INSERT INTO windows (key, slot, started_at, count) VALUES (?1, ?2, ?3, 1)
         ON CONFLICT (key) DO UPDATE SET
           started_at = CASE WHEN ?3 - started_at >= ?4 THEN ?3 ELSE started_at END,
           count = CASE WHEN ?3 - started_at >= ?4 THEN 1 ELSE count + 1 END
         RETURNING started_at, count`,
        key,
        this.slotOf(key),
        now,
        WINDOW_MS,
      )
      .one();
    if (this.timers.dueAt(SWEEP) === undefined) await this.timers.after(SWEEP, SWEEP_EVERY_MS);
    return {
      allowed: row.count <= max,
      limit: max,
      remaining: Math.max(0, max - row.count),
      retryAfter: Math.max(1, Math.ceil((row.started_at + WINDOW_MS - now) / 1000)),
    };
  }

  private async sweep(): Promise<void> {
    this.ctx.storage.sql.exec("DELETE FROM windows WHERE started_at <= ?", Date.now() - WINDOW_MS);
    const left = this.ctx.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM windows").one().n;
    if (left > 0) await this.timers.after(SWEEP, SWEEP_EVERY_MS);
  }
}
