import { describe, expect, it } from "vitest";
import { autoscalerSettingsSchema, decide, type AutoscalerState } from "../src/autoscaler.js";

const settings = autoscalerSettingsSchema.parse({ enabled: true, softLimitPerSecond: 100, sustainMs: 1_000, cooldownMs: 5_000, maxStep: 2 });
const loads = (...l: number[]) => l.map((load, i) => ({ shard: `s${i}`, load }));

/** Runs `decide` over `steps` (time, loads), carrying the state; returns each action. */
function run(steps: [number, number[]][], state: AutoscalerState = { paused: false }, changeRunning = false) {
  return steps.map(([now, l]) => {
    const out = decide(settings, state, { now, loads: loads(...l), changeRunning });
    state = out.state;
    return out.decision;
  });
}

describe("autoscaler decisions", () => {
  it("adds shards only after the hottest stayed above the line for the sustain period", () => {
    const d = run([[0, [90, 80]], [500, [90, 80]], [1_000, [90, 80]]]);
    expect(d.map((x) => x.action)).toEqual(["none", "none", "add"]);
    expect(d[2]).toMatchObject({ action: "add", shards: 1 }); // 170 calls/s need ceil(170 / 70) = 3 shards
  });

  it("resets the sustain period when the load dips", () => {
    expect(run([[0, [90]], [600, [10]], [1_200, [90]], [1_800, [90]]]).map((x) => x.action)).toEqual(["none", "none", "none", "none"]);
  });

  it("rebalances instead when the shards could carry the load once balanced", () => {
    expect(run([[0, [75, 5]], [1_000, [75, 5]]])[1]).toMatchObject({ action: "rebalance" });
  });

  it("removes the coldest shard when all stay far below, unless the rest would be too busy", () => {
    expect(run([[0, [10, 5, 12]], [1_000, [10, 5, 12]]])[1]).toMatchObject({ action: "remove", shard: "s1" });
    expect(run([[0, [19, 19]], [1_000, [19, 19]]])[1]).toMatchObject({ action: "remove" });
    const tight = autoscalerSettingsSchema.parse({ ...settings, scaleDownShare: 0.5 });
    expect(decide(tight, { paused: false, coldSince: 0 }, { now: 2_000, loads: loads(45, 45), changeRunning: false }).decision.action).toBe("none");
  });

  it("never acts while paused, while a change runs, during the cool-down, or beyond maxShards", () => {
    const hot = { paused: false, hotSince: 0 };
    expect(decide(settings, { ...hot, paused: true }, { now: 2_000, loads: loads(99), changeRunning: false }).decision).toMatchObject({ action: "none", reason: "paused" });
    expect(decide(settings, hot, { now: 2_000, loads: loads(99), changeRunning: true }).decision.action).toBe("none");
    expect(decide(settings, hot, { now: 2_000, loads: loads(99), changeRunning: false, lastChangeAt: 0 }).decision.reason).toMatch(/cooling down/);
    const capped = autoscalerSettingsSchema.parse({ ...settings, maxShards: 1 });
    expect(decide(capped, hot, { now: 2_000, loads: loads(99), changeRunning: false }).decision.reason).toMatch(/maximum of 1/);
  });

  it("is off unless enabled, and refuses settings without hysteresis", () => {
    expect(decide(autoscalerSettingsSchema.parse({}), { paused: false, hotSince: 0 }, { now: 1e9, loads: loads(1e6), changeRunning: false }).decision.action).toBe("none");
    expect(autoscalerSettingsSchema.safeParse({ scaleUpShare: 0.2, scaleDownShare: 0.2 }).success).toBe(false);
  });
});
