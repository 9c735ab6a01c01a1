import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { FAILURE_KEY, ShardError, WrongShardError, errorOf, failureOf, isFailure, settle, unwrap } from "../src/index.js";
import { exceptionsIn } from "./fixtures/worker.js";
import { createKv, directory, directoryStub, kvRouter, uniqueName } from "./helpers.js";

/** Exceptions that ended an entry-point call inside each shard of `keyspace` (and `removed` ones) and inside the directory. */
async function exceptionsInside(keyspace: string, removed: string[] = []): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  const shards = [...(await directory().getKeyspace(keyspace)).shards.map((s) => s.id), ...removed];
  for (const id of shards) {
    counts[id] = await runInDurableObject(env.KV.getByName(`${keyspace}:${id}`), (_, state) => exceptionsIn(state.storage));
  }
  counts.directory = await runInDurableObject(directoryStub(), (_, state) => exceptionsIn(state.storage));
  return counts;
}

const none = (counts: Record<string, number>) => Object.fromEntries(Object.keys(counts).map((k) => [k, 0]));

describe("expected outcomes cross RPC as values", () => {
  it("a fenced call, a call during a move and a router's first use of a keyspace end with no exception inside the objects", async () => {
    const before = await runInDurableObject(directoryStub(), (_, state) => exceptionsIn(state.storage));

    // First use: the directory does not know the keyspace; the router creates it (`ensure`).
    const keyspace = uniqueName("outcomes");
    const { router } = kvRouter(keyspace, { ensure: { binding: "KV", shards: 2, slotCount: 64 } });
    for (let i = 0; i < 20; i++) await router.get(`k${i}`).put(`v${i}`);

    // Fenced: a router still on version 1 after a shard was added is refused by the old owners.
    const stale = kvRouter(keyspace).router;
    await stale.map();
    await directory().addShards(keyspace, 1);
    for (let i = 0; i < 20; i++) expect(await stale.get(`k${i}`).get()).toBe(`v${i}`);

    // During a move: a slow write holds a slot of s0 while s0 is removed; calls for s0's keys made
    // meanwhile are refused (released slots) and follow the moved-to hint.
    // The released slots are refused until the slow write drains (about 250 ms): patient retries.
    const duringMove = kvRouter(keyspace, { maxRoutingAttempts: 12 }).router;
    const map = await duringMove.map();
    const onS0 = Array.from({ length: 20 }, (_, i) => `k${i}`).filter((k) => map.shardOfKey(k).id === "s0");
    expect(onS0.length).toBeGreaterThan(0);
    const slow = duringMove.get(onS0[0]!).slowPut("slow", 300);
    await scheduler.wait(50);
    const removal = directory().removeShards(keyspace, ["s0"]);
    await scheduler.wait(20);
    const reads = await Promise.all(onS0.slice(1).map((k) => duringMove.get(k).get()));
    await Promise.all([slow, removal]);
    expect(reads).toEqual(onS0.slice(1).map((k) => `v${k.slice(1)}`));
    expect(await duringMove.get(onS0[0]!).get()).toBe("slow");

    // s0 has left the map, so it is counted by name.
    const counts = await exceptionsInside(keyspace, ["s0"]);
    expect(Object.keys(counts).sort()).toEqual(["directory", "s0", "s1", "s2"]);
    expect({ ...counts, directory: counts.directory! - before }).toEqual(none(counts));
  });

  it("rejected input to a shard or the directory is answered as a failure value, typed on the caller's side", async () => {
    const keyspace = await createKv(1, 8);
    const shard = env.KV.getByName(`${keyspace}:s0`);
    const answer = await shard.routedCall(keyspace, "s0", "", 1, "get");
    expect(isFailure(answer)).toBe(true);
    expect(errorOf(answer as never)).toMatchObject({ code: "InvalidKey" });
    const unknown = await directoryStub().dsInvoke("getMap", ["missing-" + uniqueName()]);
    expect(errorOf(unknown as never)).toMatchObject({ code: "UnknownKeyspace", retryable: false });
    const notAMethod = await directoryStub().dsInvoke("alarm", []);
    expect(errorOf(notAMethod as never)).toMatchObject({ code: "InvalidArgument" });
    expect(await runInDurableObject(shard, (_, state) => exceptionsIn(state.storage))).toBe(0);
  });
});

describe("failure values", () => {
  it("carry a refusal's version and moved-to hint, and rebuild the typed error", () => {
    const failure = failureOf(new WrongShardError("no (map version 7)", 7, "s3"));
    expect(JSON.parse(JSON.stringify(failure))).toEqual(failure);
    const error = errorOf(failure);
    expect(error).toBeInstanceOf(WrongShardError);
    expect(error).toMatchObject({ code: "WrongShard", mapVersion: 7, movedTo: "s3", retryable: true });
    expect(() => unwrap(failure)).toThrow(WrongShardError);
  });

  it("are told apart from ordinary results", () => {
    expect(isFailure({ [FAILURE_KEY]: { code: "InvalidKey", detail: "x", retryable: false } })).toBe(true);
    for (const value of [null, undefined, 0, "x", [], { other: 1 }, Object.create({ [FAILURE_KEY]: {} }), new Map()]) {
      expect(isFailure(value)).toBe(false);
    }
    expect(unwrap(42)).toBe(42);
  });

  it("settle returns thrown ShardErrors as failures and lets other errors through, sync and async", async () => {
    expect(isFailure(settle(() => unwrap(failureOf(new ShardError("InvalidArgument", "bad")))))).toBe(true);
    expect(() => settle(() => { throw new TypeError("bug"); })).toThrow(TypeError);
    expect(isFailure(await settle(async () => { throw new ShardError("LastShard", "no"); }))).toBe(true);
    await expect(settle(async () => { throw new RangeError("bug"); })).rejects.toThrow(RangeError);
    expect(await settle(async () => 5)).toBe(5);
  });
});
