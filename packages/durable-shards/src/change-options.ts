/** What a change of a keyspace's shards takes (options) and gives back (its result). */
import { z } from "zod";
import type { HotSlot } from "./weighted-planner.js";

/** Options of a change (`addShards`, `removeShards`, `rebalance`). */
export interface ChangeOptions {
  /**
   * Most bytes per second the change copies while sources serve, all its moves together (the
   * catch-up and the cut-over are never slowed). Unset: pages are copied back to back. A limit
   * keeps a large copy from crowding out the traffic its sources and targets serve meanwhile.
   */
  copyBytesPerSecond?: number;
  /** Plan only: return the moves and the predicted balance, change nothing. */
  dryRun?: boolean;
  /**
   * `false`: store the change and return at once (`started: true`); the directory's alarm runs it,
   * and `getChange` follows it. Default: return when the change is done.
   */
  wait?: boolean;
}

/** Options of `rebalance`: what to balance, and how much one change may move. */
export interface RebalanceOptions extends ChangeOptions {
  /**
   * `slots` (default): even slot counts. `load`: even the calls per second the shards measured
   * (over their load window). `storage`: even the bytes of the slot tables' rows.
   */
  by?: "slots" | "load" | "storage";
  /** `load`/`storage`: most slots one change moves. Default: a quarter of the slots. */
  maxSlots?: number;
  /** `load`/`storage`: stop once the heaviest shard is within this share above the mean. Default 0.05. */
  tolerance?: number;
}

export const changeOptionsSchema = z.strictObject({
  copyBytesPerSecond: z.number().min(65_536, "copyBytesPerSecond must be at least 65,536").optional(),
  dryRun: z.boolean().optional(),
  wait: z.boolean().optional(),
});
export const rebalanceOptionsSchema = changeOptionsSchema.extend({
  by: z.enum(["slots", "load", "storage"]).default("slots"),
  maxSlots: z.number().int().min(1).optional(),
  tolerance: z.number().min(0).max(10).optional(),
});

/** The outcome of a change. */
export interface ChangeResult {
  keyspace: string;
  version: number;
  movedSlots: number;
  /**
   * Each move, with `pauseMs`: how long its slots were refused, from the source's release to the
   * target's acquire (an upper bound: it includes both calls' latency). Routers reach the target
   * from then on, before the whole change commits.
   */
  moves: { from: string; to: string; slots: number; pauseMs: number }[];
  /** Set when the change was only planned (`dryRun`): nothing moved. */
  dryRun?: boolean;
  /** Set when the change was started in the background (`wait: false`); `pauseMs` are then 0. */
  started?: boolean;
  /** The heaviest shard over the mean, by what the change balanced (slots, load or storage), before and after it. */
  predicted?: { by: "slots" | "load" | "storage"; before: number; after: number };
  /** Slots heavier than a shard's fair share on their own, which moving cannot even out, with their hot keys. */
  hotSlots?: (HotSlot & { keys: string[] })[];
}
