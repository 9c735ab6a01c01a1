import { describe, expect, it } from "vitest";
import { initialMap, slotForKey } from "../src/index.js";
import { planByWeight } from "../src/weighted-planner.js";

const shards = (n: number) => Array.from({ length: n }, (_, i) => ({ id: `s${i}` }));

/** Weights per slot of a zipf (s = 0.99) workload over `keys` keys hashed onto the slots. */
function zipfWeights(slotCount: number, keys: number): Float64Array {
  const w = new Float64Array(slotCount);
  for (let k = 0; k < keys; k++) w[slotForKey(`key-${k}`, slotCount)]! += 1 / (k + 1) ** 0.99;
  return w;
}

describe("planByWeight", () => {
  it("evens out a zipf load over 8 shards, moving whole slots only from heavier to lighter shards", () => {
    const map = initialMap("ks", 4096, shards(8));
    const weights = zipfWeights(4096, 20_000);
    const plan = planByWeight(map, weights);
    expect(plan.before).toBeGreaterThan(1.25);
    expect(plan.after).toBeLessThanOrEqual(1.06);
    const before = map.slotCounts();
    const load = (m: typeof map) => m.shards.map((s) => m.rangesOf(s.id).reduce((sum, [a, b]) => sum + weights.slice(a, b).reduce((x, y) => x + y, 0), 0));
    const was = load(map);
    const mean = was.reduce((a, b) => a + b) / 8;
    for (const move of plan.moves) {
      expect(was[Number(move.from.slice(1))]).toBeGreaterThan(mean);
      expect(was[Number(move.to.slice(1))]).toBeLessThan(mean);
    }
    expect(Math.max(...load(plan.map)) / mean).toBeCloseTo(plan.after, 6);
    expect(plan.map.version).toBe(map.version + 1);
    expect(plan.movedSlots).toBeLessThanOrEqual(1024);
    expect(before.reduce((a, b) => a + b)).toBe(4096);
  });

  it("respects the per-change slot limit", () => {
    const map = initialMap("ks", 4096, shards(8));
    const plan = planByWeight(map, zipfWeights(4096, 20_000), { maxSlots: 50 });
    expect(plan.movedSlots).toBeLessThanOrEqual(50);
    expect(plan.after).toBeLessThan(plan.before);
  });

  it("reports a slot heavier than a shard's share as hot and leaves it where it is", () => {
    const map = initialMap("ks", 64, shards(4));
    const weights = new Float64Array(64).fill(1);
    weights[5] = 200; // alone more than the mean (64 + 199) / 4
    const plan = planByWeight(map, weights);
    expect(plan.hotSlots).toEqual([{ slot: 5, shard: "s0", weight: 200 }]);
    expect(plan.map.shardOfSlot(5).id).toBe("s0");
    // s0 keeps the hot slot and gives away what else it can.
    expect(plan.map.slotCounts()[0]).toBeLessThan(16);
  });

  it("moves nothing without load", () => {
    const plan = planByWeight(initialMap("ks", 64, shards(4)), new Float64Array(64));
    expect(plan.moves).toEqual([]);
    expect(plan.before).toBe(1);
  });

  it("evens out few, heavy slots too, where no single slot fits under the gap to the mean", async () => {
    // 4 shards of 16 slots; 8 equal keys, 4 of them on s0 and none on s3: mean 2.
    const map = initialMap("ks", 64, shards(4));
    const weights = new Float64Array(64);
    for (const slot of [1, 5, 9, 13, 20, 24, 40, 44]) weights[slot] = 1;
    const plan = planByWeight(map, weights);
    expect(plan.before).toBe(2);
    expect(plan.after).toBe(1);
    expect(plan.moves.every((m) => m.from === "s0")).toBe(true);
  });

  it("moves only off the hot shard, without overfilling a receiver into the next donor", () => {
    // Found by the observer test once: s0 uneven and heavy, the others light. Overfilling s2 made
    // it give slots to s1 in a later round (s0>s3, s0>s2, s2>s1; 1.224 after).
    const map = initialMap("ks", 64, shards(4));
    const weights = Float64Array.from([
      0, 5, 7, 0, 0, 0, 12, 4, 0, 0, 7, 0, 10, 0, 3, 10, 0, 1, 0, 0, 1, 1, 0, 1, 1, 1, 0, 1, 1, 0, 1, 1,
      0, 1, 0, 1, 0, 1, 1, 1, 0, 0, 1, 1, 0, 1, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0, 1, 1, 1, 0, 1, 0, 1, 1,
    ]);
    const plan = planByWeight(map, weights);
    expect(plan.moves.map((m) => m.from)).toEqual(["s0", "s0", "s0"]);
    expect(plan.after).toBeLessThan(1.15);
  });
});
