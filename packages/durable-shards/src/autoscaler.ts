/**
 * The autoscaler's decisions, opt-in per keyspace: from the shards' measured load, when to add
 * shards, remove one, or rebalance by load.
 *
 * Hysteresis: it adds when the hottest shard stays above `scaleUpShare` of the per-object soft
 * limit for `sustainMs`, and removes only when every shard stays below the much lower
 * `scaleDownShare` as long, and only if the shards left would stay below the midpoint of the two.
 * After any change it waits `cooldownMs`. It never starts a change while one runs, and a paused
 * autoscaler keeps watching but decides nothing.
 */
import { z } from "zod";
import { OBJECT_LIMITS } from "./alerts.js";

export const autoscalerSettingsSchema = z.strictObject({
  enabled: z.boolean().default(false),
  /** Calls per second one shard is measured against (the per-object soft limit). */
  softLimitPerSecond: z.number().positive().default(OBJECT_LIMITS.softLimitPerSecond),
  /** Add shards when the hottest shard stays above this share of the soft limit. */
  scaleUpShare: z.number().gt(0).max(10).default(0.7),
  /** Remove a shard when every shard stays below this share. */
  scaleDownShare: z.number().min(0).max(10).default(0.2),
  /** How long a condition must hold before it is acted on, in ms. */
  sustainMs: z.number().int().min(0).default(5 * 60_000),
  /** Quiet time after a change (any change of the keyspace), in ms. */
  cooldownMs: z.number().int().min(0).default(10 * 60_000),
  minShards: z.number().int().min(1).default(1),
  maxShards: z.number().int().min(1).max(65_536).default(64),
  /** Most shards added by one decision. */
  maxStep: z.number().int().min(1).default(4),
}).refine((s) => s.scaleDownShare < s.scaleUpShare, "scaleDownShare must be below scaleUpShare")
  .refine((s) => s.minShards <= s.maxShards, "minShards must not exceed maxShards");
export type AutoscalerSettings = z.infer<typeof autoscalerSettingsSchema>;

/** What the autoscaler remembers between evaluations. */
export interface AutoscalerState {
  paused: boolean;
  /** Since when the hottest shard has been above the scale-up line, or every shard below the scale-down line. */
  hotSince?: number;
  coldSince?: number;
  lastChangeAt?: number;
}

export type AutoscalerAction =
  | { action: "none"; reason: string }
  | { action: "add"; shards: number; reason: string }
  | { action: "remove"; shard: string; reason: string }
  | { action: "rebalance"; reason: string };

/** What one evaluation sees of a keyspace. */
export interface AutoscalerInput {
  now: number;
  /** Calls per second per shard. */
  loads: { shard: string; load: number }[];
  changeRunning: boolean;
  /** When the keyspace's last change finished, if any. */
  lastChangeAt?: number;
}

/** The decision for one evaluation, and the state to keep. */
export function decide(settings: AutoscalerSettings, state: AutoscalerState, input: AutoscalerInput): { decision: AutoscalerAction; state: AutoscalerState } {
  const { now, loads } = input;
  const soft = settings.softLimitPerSecond;
  const up = settings.scaleUpShare * soft;
  const down = settings.scaleDownShare * soft;
  const hottest = loads.reduce((a, b) => (b.load > a.load ? b : a), { shard: "", load: 0 });
  const total = loads.reduce((sum, s) => sum + s.load, 0);
  const next: AutoscalerState = {
    paused: state.paused,
    lastChangeAt: latest(state.lastChangeAt, input.lastChangeAt),
    hotSince: hottest.load > up ? (state.hotSince ?? now) : undefined,
    coldSince: loads.length > 0 && loads.every((s) => s.load < down) ? (state.coldSince ?? now) : undefined,
  };
  const none = (reason: string) => ({ decision: { action: "none" as const, reason }, state: next });
  if (!settings.enabled) return none("disabled");
  if (next.paused) return none("paused");
  if (input.changeRunning) return none("a change is running");
  if (next.lastChangeAt !== undefined && now - next.lastChangeAt < settings.cooldownMs) return none("cooling down after the last change");
  const n = loads.length;
  if (next.hotSince !== undefined && now - next.hotSince >= settings.sustainMs) {
    const needed = Math.ceil(total / up);
    const hot = `hottest shard '${hottest.shard}' at ${hottest.load.toFixed(1)} calls/s, above ${up.toFixed(1)} for ${seconds(now - next.hotSince)}`;
    if (needed <= n) return { decision: { action: "rebalance", reason: `${hot}; the ${n} shards can carry ${total.toFixed(1)} calls/s once balanced` }, state: next };
    const add = Math.min(settings.maxStep, needed - n, settings.maxShards - n);
    if (add <= 0) return none(`${hot}, but the keyspace has its maximum of ${settings.maxShards} shards`);
    return { decision: { action: "add", shards: add, reason: `${hot}; ${total.toFixed(1)} calls/s need ${needed} shards` }, state: next };
  }
  if (next.coldSince !== undefined && now - next.coldSince >= settings.sustainMs && n > settings.minShards) {
    const after = total / (n - 1);
    if (after >= (up + down) / 2) return none(`every shard below ${down.toFixed(1)} calls/s, but the ${n - 1} left would carry ${after.toFixed(1)} each`);
    const coldest = loads.reduce((a, b) => (b.load < a.load ? b : a));
    return {
      decision: { action: "remove", shard: coldest.shard, reason: `every shard below ${down.toFixed(1)} calls/s for ${seconds(now - next.coldSince)}; the ${n - 1} left would carry ${after.toFixed(1)} each` },
      state: next,
    };
  }
  return none("within bounds");
}

function latest(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined ? b : b === undefined ? a : Math.max(a, b);
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;
}
