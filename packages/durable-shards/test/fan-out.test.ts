import { env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { ShardError, completeValuesOf, errorsOf, fanOut, valuesOf } from "../src/index.js";
import { createKv, directory, directoryStub, kvRouter } from "./helpers.js";

describe("fan-out over real shards", () => {
  it("with one of N shards throwing returns N−1 values, 1 error and complete: false", async () => {
    const keyspace = await createKv(6);
    const { router } = kvRouter(keyspace);
    for (let i = 0; i < 60; i++) await router.get(`k${i}`).put("v");
    const map = await router.map();
    const victim = map.shards[3]!.id;
    await router.shard(victim).sabotage();

    const result = await router.all((shard) => shard.count());
    expect(result.results).toHaveLength(6);
    expect(valuesOf(result)).toHaveLength(5);
    expect(errorsOf(result)).toHaveLength(1);
    expect(errorsOf(result)[0]!.shard).toBe(victim);
    expect(errorsOf(result)[0]!.error.message).toMatch(/sabotaged shard/);
    expect(result.complete).toBe(false);
    expect(result.mapVersion).toBe(map.version);
    expect(result.results.map((r) => r.shard)).toEqual(map.shards.map((s) => s.id));

    // A caller to whom a partial answer is a failure gets one typed error naming the shard.
    const error = (() => {
      try {
        completeValuesOf(result, "count every key");
      } catch (thrown) {
        return thrown;
      }
    })();
    expect(ShardError.from(error)?.code).toBe("Incomplete");
    expect((error as ShardError).retryable).toBe(false);
    expect((error as Error).message).toBe(`[Incomplete] count every key: 1 of 6 shards failed (${victim}: sabotaged shard (expected fault))`);
  });

  it("with every shard answering is complete and sums to every key", async () => {
    const keyspace = await createKv(5);
    const { router } = kvRouter(keyspace);
    for (let i = 0; i < 40; i++) await router.get(`k${i}`).put("v");
    const result = await router.all((shard) => shard.count(), { concurrency: 2 });
    expect(result.complete).toBe(true);
    expect(valuesOf(result).reduce((a, b) => a + b, 0)).toBe(40);
    expect(completeValuesOf(result, "count").reduce((a, b) => a + b, 0)).toBe(40);
  });
});

describe("whole-shard calls while rows move", () => {
  it("refuses a shard holding rows a move is copying to it, so no row is counted twice, and answers again once they are gone", async () => {
    const keyspace = await createKv(2, 64);
    const { router } = kvRouter(keyspace);
    for (let i = 0; i < 40; i++) await router.get(`k${i}`).put("v");
    const ranges = (await router.map()).rangesOf("s1");
    const rows = await runInDurableObject(env.KV.getByName(`${keyspace}:s1`), (_, state) => state.storage.sql.exec("SELECT * FROM kv").toArray());
    expect(rows.length).toBeGreaterThan(0);
    // s0 is given a copy of s1's slots, as a move's first page is, without acquiring them.
    const s0 = env.KV.getByName(`${keyspace}:s0`);
    const transfer = { keyspace, shard: "s0", slotCount: 64, version: 2, ranges };
    expect(await s0.dsImportPage(transfer, { kv: rows }, true)).toEqual({ rows: rows.length });

    const during = await router.all((shard) => shard.count());
    expect(during.complete).toBe(false);
    expect(errorsOf(during).map((e) => e.shard)).toEqual(["s0"]);
    expect(ShardError.from(errorsOf(during)[0]!.error)?.code).toBe("WrongShard");
    expect(errorsOf(during)[0]!.error.message).toMatch(/holds rows of slots it does not serve/);
    expect(valuesOf(during)).toEqual([rows.length]);

    // The move rolled back: the target drops what it was given, and whole-shard calls reach it again.
    await s0.dsDrop(transfer);
    const after = await router.all((shard) => shard.count());
    expect(after.complete).toBe(true);
    expect(valuesOf(after).reduce((a, b) => a + b, 0)).toBe(40);
  });
});

describe("a clean-up that fails", () => {
  it("is retried until the source dropped the rows it gave away; meanwhile that source refuses whole-shard calls", async () => {
    const keyspace = await createKv(2, 64);
    const { router } = kvRouter(keyspace);
    for (let i = 0; i < 40; i++) await router.get(`k${i}`).put("v");
    await runInDurableObject(env.KV.getByName(`${keyspace}:s0`), (o) => o.sabotageDrop(true));
    const added = await directory().addShards(keyspace, 1);
    expect(added.moves.map((m) => m.from)).toContain("s0");
    const change = await directory().getChange(keyspace);
    expect(change?.phase).toBe("cleaning up");
    expect(change?.moves.find((m) => m.from === "s0")?.error).toMatch(/clean-up: .*fails to drop rows/);

    const during = await router.all((shard) => shard.count());
    expect(during.complete).toBe(false);
    expect(errorsOf(during).map((e) => e.shard)).toEqual(["s0"]);
    expect(errorsOf(during)[0]!.error.message).toMatch(/holds rows of slots it does not serve/);

    await runInDurableObject(env.KV.getByName(`${keyspace}:s0`), (o) => o.sabotageDrop(false));
    expect(await runDurableObjectAlarm(directoryStub())).toBe(true);
    const done = await directory().getChange(keyspace);
    expect(done?.phase).toBe("done");
    expect(done?.moves.every((m) => m.phase === "done" && m.error === undefined)).toBe(true);
    const after = await router.all((shard) => shard.count());
    expect(after.complete).toBe(true);
    expect(valuesOf(after).reduce((a, b) => a + b, 0)).toBe(40);
  });
});

describe("fanOut", () => {
  it("bounds concurrency", async () => {
    let running = 0;
    let peak = 0;
    const result = await fanOut(
      Array.from({ length: 20 }, (_, i) => `t${i}`),
      async () => {
        running++;
        peak = Math.max(peak, running);
        await new Promise((r) => setTimeout(r, 2));
        running--;
        return 1;
      },
      { concurrency: 3 },
    );
    expect(peak).toBe(3);
    expect(result.complete).toBe(true);
  });

  it("reports targets still running at the deadline as DeadlineExceeded, never as values", async () => {
    const result = await fanOut(
      ["fast", "slow", "never-started"],
      async (target) => {
        if (target === "slow") await new Promise((r) => setTimeout(r, 500));
        return target;
      },
      { concurrency: 1, deadlineMs: 50 },
    );
    expect(result.complete).toBe(false);
    expect(result.results[0]).toEqual({ shard: "fast", ok: true, value: "fast" });
    expect(result.results[1]).toMatchObject({ shard: "slow", ok: false });
    expect(errorsOf(result).map((e) => e.error.message)).toEqual([
      expect.stringMatching(/\[DeadlineExceeded\] shard 'slow'/),
      expect.stringMatching(/\[DeadlineExceeded\] shard 'never-started'/),
    ]);
  });

  it("is complete for no targets", async () => {
    expect(await fanOut([], async () => 1)).toEqual({ results: [], complete: true });
  });
});

describe("fan-out options", () => {
  it("completeValuesOf marks an incomplete result retryable only when every failure is", async () => {
    const transient = () => Object.assign(new Error("transient"), { retryable: true });
    const retryable = await fanOut(["a", "b", "c"], async (t) => {
      if (t !== "b") throw transient();
      return 1;
    });
    expect(() => completeValuesOf(retryable, "x")).toThrow(expect.objectContaining({ code: "Incomplete", retryable: true }));
    const mixed = await fanOut(["a", "b"], async (t) => {
      throw t === "a" ? transient() : new Error("bug");
    });
    expect(() => completeValuesOf(mixed, "x")).toThrow(expect.objectContaining({ code: "Incomplete", retryable: false }));
    expect(completeValuesOf(await fanOut(["a", "b"], async (t) => t), "x")).toEqual(["a", "b"]);
  });

  it("rejects bad options with typed errors", async () => {
    for (const options of [{ concurrency: 0 }, { concurrency: NaN }, { deadlineMs: -1 }, { deadlineMs: 1e9 }, { extra: 1 }]) {
      await expect(fanOut(["a"], async () => 1, options as never)).rejects.toThrow(/\[InvalidArgument\] options/);
    }
  });
});
