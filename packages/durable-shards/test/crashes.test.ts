/**
 * The crash matrix of a move: the directory, the source or the target dies at each point of a
 * move while writes run; the change then resumes from the directory's alarm, and every
 * invariant holds.
 */
import { env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { rangesContain, slotForKey, type Ownership } from "../src/index.js";
import { planCrash, type PlannedCrash } from "./fixtures/worker.js";
import { createKv, directory, directoryStub, kvRouter, rejection, writers } from "./helpers.js";

type Victim = "directory" | "source" | "target";

interface CrashCase {
  point: string;
  victim: Victim;
  crash: PlannedCrash;
  /** The crash is the directory's, and the source is evicted after it (it is not called between acquire and commit). */
  evictSource?: boolean;
}

const CASES: CrashCase[] = [
  { point: "mid-page of the copy", victim: "directory", crash: { method: "copied-page", nth: 1 } },
  { point: "mid-page of the copy", victim: "source", crash: { method: "dsExportPage", nth: 2 } },
  { point: "mid-page of the copy", victim: "target", crash: { method: "dsImportPage", nth: 2 } },
  { point: "mid-catch-up", victim: "directory", crash: { method: "caught-up-page", nth: 1 } },
  { point: "mid-catch-up", victim: "source", crash: { method: "dsChangesPage", nth: 1 } },
  { point: "mid-catch-up", victim: "target", crash: { method: "dsApplyChanges", nth: 1 } },
  { point: "between release and acquire", victim: "directory", crash: { method: "released", nth: 1 } },
  { point: "between release and acquire", victim: "source", crash: { method: "dsRelease", nth: 1, after: true } },
  { point: "between release and acquire", victim: "target", crash: { method: "dsAcquire", nth: 1 } },
  { point: "between acquire and commit", victim: "directory", crash: { method: "acquired", nth: 1 } },
  { point: "between acquire and commit", victim: "source", crash: { method: "acquired", nth: 1 }, evictSource: true },
  { point: "between acquire and commit", victim: "target", crash: { method: "dsAcquire", nth: 1, after: true } },
];

/**
 * A keyspace of two shards with one slot each. s1's slot holds 6 MB (two pages of a copy) and
 * moves to s0 when s1 is removed; counters live in both slots.
 */
async function movingSlot() {
  const keyspace = await createKv(2, 2);
  const { router } = kvRouter(keyspace, { maxRoutingAttempts: 15 });
  const inSlot = (slot: number, prefix: string, n: number) =>
    Array.from({ length: n * 4 }, (_, i) => `${prefix}-${i}`).filter((k) => slotForKey(k, 2) === slot).slice(0, n);
  const bulk = inSlot(1, "bulk", 96);
  for (let i = 0; i < bulk.length; i += 16) await Promise.all(bulk.slice(i, i + 16).map((k) => router.get(k).put("".padEnd(65_536, "z"))));
  return { keyspace, router, bulk, counters: [...inSlot(1, "moving", 12), ...inSlot(0, "staying", 4)] };
}

/** Whether `error` is the platform's error for a call cut off by its object's reset. */
const cutOffByReset = (error: unknown) => (error as { durableObjectReset?: boolean }).durableObjectReset === true;

describe("a move survives a crash at every step", () => {
  for (const c of CASES) {
    it(`${c.victim} crashes ${c.point}`, async () => {
      const { keyspace, router, bulk, counters } = await movingSlot();
      // The source is not called between acquire and commit: the directory crashes there, and the source is evicted too.
      const planOn = c.evictSource ? "directory" : c.victim;
      const victim = planOn === "directory" ? directoryStub() : env.KV.getByName(`${keyspace}:${planOn === "source" ? "s1" : "s0"}`);
      await runInDurableObject(victim as DurableObjectStub, (_, state) => planCrash(state, c.crash));

      let stopped = false;
      const load = writers(router, counters, () => stopped);
      try {
        // The crash ends the first run of the change.
        await scheduler.wait(20);
        const crashed = await rejection(directory().removeShards(keyspace, ["s1"]));
        expect(crashed.message).toMatch(/crash|paused|reset|expected fault/i);
        if (c.evictSource) {
          await runInDurableObject(env.KV.getByName(`${keyspace}:s1`), (_, state) => state.abort("evicted between acquire and commit (expected fault)")).catch(() => undefined);
        }
        // The alarm resumes it.
        for (let run = 0; run < 3 && (await directory().getChange(keyspace))?.phase !== "done"; run++) {
          expect(await runDurableObjectAlarm(directoryStub())).toBe(true);
        }
        await scheduler.wait(50);
      } finally {
        stopped = true;
        await load.done;
      }

      const change = (await directory().getChange(keyspace))!;
      expect(change).toMatchObject({ version: 2, phase: "done" });
      // Increments cut off by the crash of the shard running them may or may not have applied;
      // nothing else may fail. (The directory's own crash cuts off nothing: its reads are retried.)
      const cutOff = new Map(counters.map((k) => [k, 0]));
      for (const { key, error } of load.failures) if (c.victim !== "directory" && cutOffByReset(error)) cutOff.set(key, cutOff.get(key)! + 1);
      expect(load.failures.filter(({ error }) => c.victim === "directory" || !cutOffByReset(error))).toEqual([]);
      // One owner per slot, at a grown version.
      const info = await directory().getKeyspace(keyspace);
      expect(info.version).toBe(2);
      expect(info.shards).toEqual([{ id: "s0", slots: 2 }]);
      const owners: Record<string, { own: Ownership | undefined; rows: { key: string; slot: number }[] }> = {};
      for (const id of ["s0", "s1"]) {
        owners[id] = await runInDurableObject(env.KV.getByName(`${keyspace}:${id}`), (o) => ({ own: o.describeOwnership(), rows: o.entries() }));
      }
      expect(owners.s0!.own?.ranges).toEqual([[0, 2]]);
      expect(owners.s1!.own?.ranges).toEqual([]);
      // No row outside its owner's slots, and every row exactly once.
      expect(owners.s1!.rows).toEqual([]);
      expect(owners.s0!.rows.every((r) => rangesContain(owners.s0!.own!.ranges, r.slot))).toBe(true);
      expect(owners.s0!.rows).toHaveLength(bulk.length + counters.length);
      // Every acknowledged increment is there, once; one cut off by the crash at most once.
      const fresh = kvRouter(keyspace).router;
      for (const key of counters) {
        const value = Number(await fresh.get(key).get());
        expect(value, key).toBeGreaterThanOrEqual(load.acked.get(key)!);
        expect(value, key).toBeLessThanOrEqual(load.acked.get(key)! + cutOff.get(key)!);
      }
      expect([...load.acked.values()].reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    }, 60_000);
  }
});

describe("a change rolled back at each phase before its commit", () => {
  it("keeps every write when stopped planned, before any move started (its source crashed first)", async () => {
    const { keyspace, router, bulk, counters } = await movingSlot();
    await runInDurableObject(env.KV.getByName(`${keyspace}:s1`), (_, state) => planCrash(state, { method: "dsTrack", nth: 1 }));
    let stopped = false;
    const load = writers(router, counters, () => stopped);
    try {
      await scheduler.wait(20);
      await rejection(directory().removeShards(keyspace, ["s1"]));
      const stuck = (await directory().getChange(keyspace))!;
      expect(stuck.moves.map((m) => [m.phase, m.rows])).toEqual([["failed", undefined]]);
      expect(await directory().abortChange(keyspace)).toMatchObject({ phase: "rolled back", version: 2 });
    } finally {
      stopped = true;
      await load.done;
    }
    // Only increments cut off by s1's crash itself may have failed, and may or may not count.
    const cutOff = load.failures.filter(({ error }) => cutOffByReset(error));
    expect(load.failures.length - cutOff.length).toBe(0);
    const fresh = kvRouter(keyspace).router;
    for (const key of counters) {
      const value = Number(await fresh.get(key).get());
      expect(value).toBeGreaterThanOrEqual(load.acked.get(key)!);
      expect(value).toBeLessThanOrEqual(load.acked.get(key)! + cutOff.filter((f) => f.key === key).length);
    }
    expect((await directory().getKeyspace(keyspace)).shards).toEqual([{ id: "s0", slots: 1 }, { id: "s1", slots: 1 }]);
    expect(await runInDurableObject(env.KV.getByName(`${keyspace}:s1`), (o) => o.entries().length)).toBe(bulk.length + 12);
  }, 60_000);

  for (const [phase, step] of [
    ["copying", "copied-page"],
    ["catching up", "caught-up-page"],
    ["cutting over", "released"],
    ["moved, not committed", "acquired"],
  ] as const) {
    it(`keeps every write and puts every slot back on its source when stopped ${phase}`, async () => {
      const { keyspace, router, bulk, counters } = await movingSlot();
      // The directory stops there (a crash), and the change is then aborted instead of resumed.
      await runInDurableObject(directoryStub(), (_, state) => planCrash(state, { method: step, nth: 1 }));
      let stopped = false;
      const load = writers(router, counters, () => stopped);
      try {
        await scheduler.wait(20);
        await rejection(directory().removeShards(keyspace, ["s1"]));
        const rolled = await directory().abortChange(keyspace);
        expect(rolled).toMatchObject({ phase: "rolled back", version: 2 });
        await scheduler.wait(50);
      } finally {
        stopped = true;
        await load.done;
      }
      expect(load.failures).toEqual([]);
      const info = await directory().getKeyspace(keyspace);
      expect(info.shards).toEqual([{ id: "s0", slots: 1 }, { id: "s1", slots: 1 }]);
      const s0 = await runInDurableObject(env.KV.getByName(`${keyspace}:s0`), (o) => ({ own: o.describeOwnership()!, rows: o.entries() }));
      const s1 = await runInDurableObject(env.KV.getByName(`${keyspace}:s1`), (o) => ({ own: o.describeOwnership()!, rows: o.entries() }));
      expect([s0.own.ranges, s1.own.ranges]).toEqual([[[0, 1]], [[1, 2]]]);
      expect(s0.rows.every((r) => r.slot === 0)).toBe(true);
      expect(s1.rows).toHaveLength(bulk.length + 12);
      const fresh = kvRouter(keyspace).router;
      for (const key of counters) expect([key, Number(await fresh.get(key).get())]).toEqual([key, load.acked.get(key)]);
      // A new change can start, and finishes.
      const next = await directory().removeShards(keyspace, ["s1"]);
      expect(next.version).toBe(3);
      for (const key of counters) expect(Number(await fresh.get(key).get())).toBe(load.acked.get(key));
    }, 60_000);
  }
});
