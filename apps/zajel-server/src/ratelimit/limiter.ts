/**
 * Deployment-wide fixed-window counters (§3.5), sharded over slots by `<class>|<ip>`.
 *
 * A window starts with the first request counted in it and lasts 60 s. Counting is one
 * synchronous step inside the owning shard, so concurrent requests never together exceed a limit.
 * Counters live in memory, not SQLite: every request of every kind is counted, a durable write
 * per request would cost more than the request, and a counter lost with an evicted shard only
 * restarts that client's window early.
 */
import { ShardedObject, parse } from "durable-shards";
import { z } from "zod";
import type { Env } from "../env.js";

export const WINDOW_MS = 60_000;
/** Windows are pruned once this many calls have been counted since the last pruning. */
const PRUNE_EVERY = 1024;

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
  private readonly windows = new Map<string, { start: number; count: number }>();
  private sincePrune = 0;

  /** Counts one request for `key` against `limit` per window. */
  hit(key: string, limit: number): RateDecision {
    const max = parse(limitSchema, limit, "limit");
    const now = Date.now();
    let window = this.windows.get(key);
    if (!window || now - window.start >= WINDOW_MS) {
      window = { start: now, count: 0 };
      this.windows.set(key, window);
    }
    window.count++;
    if (++this.sincePrune >= PRUNE_EVERY) this._prune(now);
    return {
      allowed: window.count <= max,
      limit: max,
      remaining: Math.max(0, max - window.count),
      retryAfter: Math.max(1, Math.ceil((window.start + WINDOW_MS - now) / 1000)),
    };
  }

  private _prune(now: number): void {
    this.sincePrune = 0;
    for (const [key, window] of this.windows) if (now - window.start >= WINDOW_MS) this.windows.delete(key);
  }
}
