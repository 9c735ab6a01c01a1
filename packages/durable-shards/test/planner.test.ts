import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ShardError } from "../src/errors.js";
import { initialMap, planChange, type ShardChange } from "../src/planner.js";
import type { ShardMap } from "../src/shard-map.js";

type Op = { kind: "add"; count: number } | { kind: "remove"; picks: number[] } | { kind: "rebalance" };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant("add" as const), count: fc.integer({ min: 1, max: 3 }) }),
  fc.record({ kind: fc.constant("remove" as const), picks: fc.array(fc.nat(), { minLength: 1, maxLength: 3 }) }),
  fc.record({ kind: fc.constant("rebalance" as const) }),
);

/** Checks one planned change against the invariants of docs/architecture.md §2. */
function checkStep(before: ShardMap, change: ShardChange, after: ShardMap, moves: ReturnType<typeof planChange>["moves"], movedSlots: number) {
  const S = before.slotCount;
  // Versions strictly grow.
  expect(after.version).toBe(before.version + 1);
  // Every slot has exactly one owner, and that owner is a shard of the new set.
  const owners = after.ownerIndexes();
  expect(owners.length).toBe(S);
  expect(owners.every((o) => o < after.shards.length)).toBe(true);
  // The moves are exactly the difference between the two maps (plain loops: this runs millions of times).
  const expected = Array.from(owners, (o) => after.shards[o]!.id);
  const replayed = Array.from(before.ownerIndexes(), (o) => before.shards[o]!.id);
  let counted = 0;
  let wrongSource = 0;
  for (const move of moves) {
    for (const [start, end] of move.ranges) {
      for (let slot = start; slot < end; slot++) {
        if (replayed[slot] !== move.from) wrongSource++;
        replayed[slot] = move.to;
        counted++;
      }
    }
  }
  expect(wrongSource).toBe(0);
  expect(replayed.every((id, slot) => id === expected[slot])).toBe(true);
  expect(counted).toBe(movedSlots);
  // Zero excess movement: a slot moves only from a removed shard or to an added shard.
  const added = new Set((change.add ?? []).map((s) => s.id));
  const removed = new Set(change.remove ?? []);
  for (const move of moves) expect(removed.has(move.from) || added.has(move.to)).toBe(true);
  // Balance: max/mean ≤ ⌈S/n⌉/(S/n), i.e. no shard above ⌈S/n⌉ slots.
  const n = after.shards.length;
  const counts = after.slotCounts();
  expect(Math.max(...counts)).toBeLessThanOrEqual(Math.ceil(S / n));
  expect(Math.min(...counts)).toBeGreaterThanOrEqual(Math.floor(S / n));
}

describe("planChange", () => {
  it("keeps one owner per slot, growing versions, zero excess movement and balance over random add/remove sequences", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4096 }),
        fc.integer({ min: 1, max: 12 }),
        fc.array(opArb, { minLength: 1, maxLength: 12 }),
        (slotCount, initial, ops) => {
          let nextId = 0;
          const first = Math.min(initial, slotCount);
          let map = initialMap("ks", slotCount, Array.from({ length: first }, () => ({ id: `s${nextId++}` })));
          for (const op of ops) {
            let change: ShardChange;
            if (op.kind === "add") {
              const room = slotCount - map.shards.length;
              if (room <= 0) continue;
              change = { add: Array.from({ length: Math.min(op.count, room) }, () => ({ id: `s${nextId++}` })) };
            } else if (op.kind === "remove") {
              if (map.shards.length === 1) continue;
              const ids = [...new Set(op.picks.map((p) => map.shards[p % map.shards.length]!.id))].slice(0, map.shards.length - 1);
              change = { remove: ids };
            } else {
              change = {};
            }
            const plan = planChange(map, change);
            checkStep(map, change, plan.map, plan.moves, plan.movedSlots);
            if (op.kind === "rebalance") expect(plan.movedSlots).toBe(0);
            map = plan.map;
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it("moves the optimal share when growing 10 → 11 shards of 65,536 slots", () => {
    const map = initialMap("ks", 65_536, Array.from({ length: 10 }, (_, i) => ({ id: `s${i}` })));
    const plan = planChange(map, { add: [{ id: "new" }] });
    expect(plan.movedSlots).toBe(Math.floor(65_536 / 11));
    expect(plan.moves.every((m) => m.to === "new")).toBe(true);
  });

  it("removes a shard from the middle, handing its slots only to the others", () => {
    const map = initialMap("ks", 100, [{ id: "a" }, { id: "b" }, { id: "c" }, { id: "d" }]);
    const plan = planChange(map, { remove: ["b"] });
    expect(plan.movedSlots).toBe(25);
    expect(plan.moves.every((m) => m.from === "b")).toBe(true);
    expect(plan.map.shards.map((s) => s.id)).toEqual(["a", "c", "d"]);
  });

  it("refuses impossible changes with typed errors", () => {
    const map = initialMap("ks", 4, [{ id: "a" }, { id: "b" }]);
    const cases: [ShardChange, string][] = [
      [{ remove: ["a", "b"] }, "LastShard"],
      [{ remove: ["zz"] }, "UnknownShard"],
      [{ add: [{ id: "a" }] }, "ShardExists"],
      [{ add: [{ id: "x" }, { id: "x" }] }, "InvalidArgument"],
      [{ add: [{ id: "x" }, { id: "y" }, { id: "z" }] }, "InvalidArgument"],
    ];
    for (const [change, code] of cases) {
      let error: unknown;
      try {
        planChange(map, change);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(ShardError);
      expect((error as ShardError).code).toBe(code);
    }
    expect(() => initialMap("ks", 2, [{ id: "a" }, { id: "b" }, { id: "c" }])).toThrow(/exceed/);
    expect(() => initialMap("ks", 2, [])).toThrow(/at least one shard/);
  });
});
