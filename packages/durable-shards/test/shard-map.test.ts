import { describe, expect, it } from "vitest";
import { ShardError } from "../src/errors.js";
import { initialMap } from "../src/planner.js";
import { ShardMap, normalizeRanges, rangesContain, subtractRanges } from "../src/shard-map.js";

describe("ShardMap", () => {
  const map = initialMap("ks", 10, [{ id: "a" }, { id: "b" }, { id: "c", locationHint: "weur" }]);

  it("splits a new keyspace into contiguous, balanced ranges", () => {
    expect(map.toSnapshot()).toEqual({
      keyspace: "ks",
      version: 1,
      slotCount: 10,
      shards: [{ id: "a" }, { id: "b" }, { id: "c", locationHint: "weur" }],
      runs: [
        [0, 0],
        [4, 1],
        [7, 2],
      ],
    });
    expect(map.slotCounts()).toEqual([4, 3, 3]);
    expect(map.rangesOf("b")).toEqual([[4, 7]]);
    expect(map.rangesOf("missing")).toEqual([]);
    expect(map.shardOfSlot(9)).toEqual({ id: "c", locationHint: "weur" });
  });

  it("round-trips through its snapshot and finds a key's shard through its slot", () => {
    const copy = ShardMap.fromSnapshot(map.toSnapshot());
    for (const key of ["a", "b", "user:1", "x".repeat(500)]) {
      expect(copy.shardOfKey(key)).toEqual(map.shardOfSlot(map.slotFor(key)));
    }
  });

  it("rejects snapshots that leave slots without an owner or name unknown shards", () => {
    const base = map.toSnapshot();
    const bad = [
      { ...base, runs: [] },
      { ...base, runs: [[1, 0]] as [number, number][] },
      { ...base, runs: [[0, 7]] as [number, number][] },
      { ...base, shards: [] },
      { ...base, runs: [[0, 0], [0, 1]] as [number, number][] },
    ];
    for (const snapshot of bad) {
      expect(() => ShardMap.fromSnapshot(snapshot)).toThrow(ShardError);
    }
  });
});

describe("range helpers", () => {
  it("normalizes, subtracts and tests membership", () => {
    expect(normalizeRanges([[5, 7], [0, 2], [2, 3], [6, 9], [4, 4]])).toEqual([[0, 3], [5, 9]]);
    expect(subtractRanges([[0, 10]], [[2, 3], [5, 7]])).toEqual([[0, 2], [3, 5], [7, 10]]);
    expect(subtractRanges([[0, 3]], [[0, 3]])).toEqual([]);
    const ranges = normalizeRanges([[0, 3], [10, 20]]);
    expect([0, 2, 3, 9, 10, 19, 20].map((s) => rangesContain(ranges, s))).toEqual([true, true, false, false, true, true, false]);
  });
});
