import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { ShardError, ShardRouter, type SlotData } from "../src/index.js";
import { answeredFailure, createKv, directory, kvRouter, rejection, uniqueName } from "./helpers.js";

async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  return ShardError.from(await rejection(promise))?.code;
}

describe("ShardedObject", () => {
  it("refuses every call before the directory granted it slots", async () => {
    const stub = env.KV.getByName(`${uniqueName()}:s0`);
    const error = await answeredFailure(stub.routedCall("ks", "s0", "k", 1, "get"));
    expect(error.message).toBe("[WrongShard] object is not shard 's0' of 'ks' (map version 0)");
    expect(error).toMatchObject({ code: "WrongShard", mapVersion: 0 });
    expect((await answeredFailure(stub.shardCall("ks", "s0", 1, "count"))).code).toBe("WrongShard");
  });

  it("refuses a shard call whose map version predates the shard's last change", async () => {
    const keyspace = await createKv(2);
    const stub = env.KV.getByName(`${keyspace}:s0`);
    expect(await stub.shardCall(keyspace, "s0", 1, "count")).toBe(0);
    expect((await answeredFailure(stub.shardCall(keyspace, "s0", 0, "count"))).code).toBe("WrongShard");
  });

  it("rejects malformed fences, method names, arguments and transfers with typed errors", async () => {
    const keyspace = await createKv(1, 8);
    const stub = env.KV.getByName(`${keyspace}:s0`);
    const cases: [() => Promise<unknown>, string, RegExp][] = [
      [() => stub.routedCall(null, "s0", "k", 1, "get"), "InvalidArgument", /keyspace/],
      [() => stub.routedCall(keyspace, "s0", "", 1, "get"), "InvalidKey", /key: key must not be empty/],
      [() => stub.routedCall(keyspace, "s0", "k".repeat(1025), 1, "get"), "InvalidKey", /at most 1024/],
      [() => stub.routedCall(keyspace, "s0", { k: 1 }, 1, "get"), "InvalidKey", /key must be a string/],
      [() => stub.routedCall(keyspace, "s0", "k", "1", "get"), "InvalidArgument", /version/],
      [() => stub.routedCall(keyspace, "s 0", "k", 1, "get"), "InvalidArgument", /shard id/],
      [() => stub.routedCall(keyspace, "s0", "k", 1, "nope"), "InvalidArgument", /'nope' is not a method/],
      [() => stub.routedCall(keyspace, "s0", "k", 1, "dsAcquire"), "InvalidArgument", /not a method/],
      [() => stub.routedCall(keyspace, "s0", "k", 1, "routedCall"), "InvalidArgument", /not a method/],
      [() => stub.routedCall(keyspace, "s0", "k", 1, "constructor"), "InvalidArgument", /not a method/],
      [() => stub.routedCall(keyspace, "s0", "k", 1, "exportSlots"), "InvalidArgument", /not a method/],
      [() => stub.routedCall(keyspace, "s0", "k", 1, "__proto__"), "InvalidArgument", /method/],
      [() => stub.routedCall(keyspace, "s0", "k", 1, 42), "InvalidArgument", /method/],
      [() => stub.routedCall(keyspace, "s0", "k", 1, "get", ...new Array(65).fill(0)), "InvalidArgument", /args: at most 64/],
      [() => stub.routedCall(keyspace, "s0", "k", 1, "put", 123), "InvalidArgument", /value/],
      [() => stub.shardCall(keyspace, "s0", undefined, "count"), "InvalidArgument", /version/],
      [() => stub.dsAcquire({ keyspace, shard: "s0", slotCount: 8, version: 2, ranges: [[3, 2]] }, null), "InvalidArgument", /range end/],
      [() => stub.dsAcquire({ keyspace, shard: "other", slotCount: 8, version: 2, ranges: [] }, null), "InvalidArgument", /not 'other'/],
      [() => stub.dsAcquire({ keyspace, shard: "s0", slotCount: 8, version: 2, ranges: [[0, 1]] }, { evil: [{ a: 1 }] }), "InvalidArgument", /unknown table 'evil'/],
      [() => stub.dsRelease({ keyspace: "other", shard: "s0", slotCount: 8, version: 2, ranges: [[0, 1]] }), "InvalidArgument", /not shard/],
    ];
    for (const [call, code, message] of cases) {
      const error = await answeredFailure(call());
      expect(error.code, error.message).toBe(code);
      expect(error.message).toMatch(message);
    }
    // The object still works and lost nothing.
    const { router } = kvRouter(keyspace);
    await router.get("k").put("still here");
    expect(await router.get("k").get()).toBe("still here");
  });

  it("runs per-key methods only through router.get(key): through shard(id) they write nothing", async () => {
    const keyspace = await createKv(2, 64);
    const { router } = kvRouter(keyspace);
    const map = await router.map();
    const foreign = Array.from({ length: 200 }, (_, i) => `k${i}`).filter((k) => map.shardOfKey(k).id === "s1").slice(0, 5);
    expect(foreign).toHaveLength(5);
    for (const key of foreign) {
      // Type-checks (a shard client exposes the class's methods), and is refused by the shard.
      const error = await rejection(router.shard("s0").put(key, "misplaced"));
      expect(error).toBeInstanceOf(ShardError);
      expect(error.message).toMatch(/\[InvalidArgument\] 'put' is a per-key method: call it through router\.get\(key\)/);
    }
    const rows = await runInDurableObject(env.KV.getByName(`${keyspace}:s0`), (o) => o.entries());
    expect(rows).toEqual([]);
    for (const key of foreign) expect(await router.get(key).get()).toBeNull();
    // And shard methods are not per-key methods.
    const error = await rejection(router.get(foreign[0]!).count());
    expect(error.message).toMatch(/'count' is a shard method: call it through router\.shard\(id\), all or some/);
  });

  it("rejects bad keys and keyspaces at the router before any call", async () => {
    const keyspace = await createKv(1, 8);
    const { router } = kvRouter(keyspace);
    expect(() => router.get("")).toThrow(/\[InvalidKey\] key: key must not be empty/);
    expect(() => router.get("x".repeat(1025))).toThrow(/\[InvalidKey\] key: key must be at most 1024/);
    expect(() => router.get(7 as never)).toThrow(/\[InvalidKey\] key: key must be a string/);
    expect(() => router.shard("bad id!")).toThrow(/\[InvalidArgument\] shardId/);
    expect(() => new ShardRouter({ directory: env.DIRECTORY, namespace: env.KV, keyspace: "" })).toThrow(/keyspace/);
    const unknown = kvRouter(uniqueName("missing")).router;
    expect(await codeOf(unknown.get("k").get())).toBe("UnknownKeyspace");
    expect(await codeOf(router.shard("ghost").count())).toBe("UnknownShard");
    expect(await codeOf(router.some([""], async (s) => s.count()))).toBe("InvalidKey");
  });

  it("a move waits for async calls already running on its slots, so their writes move with them", async () => {
    const keyspace = await createKv(2);
    const { router } = kvRouter(keyspace);
    const key = "slow-key";
    const owner = (await router.map()).shardOfKey(key).id;
    const write = router.get(key).slowPut("written mid-move", 300);
    await scheduler.wait(50); // the write is running on the owner, parked in its wait
    const removal = await directory().removeShards(keyspace, [owner]);
    await write;
    expect(removal.moves.map((m) => m.from)).toEqual([owner]);
    // The move's pause covers the wait for the write (parked for 300 ms, 50 ms of it before the move).
    expect(removal.moves[0]!.pauseMs).toBeGreaterThanOrEqual(200);
    // Read through a router that never saw the old map: the row is on the new owner.
    expect(await kvRouter(keyspace).router.get(key).get()).toBe("written mid-move");
    const stale = env.KV.getByName(`${keyspace}:${owner}`);
    expect(await runInDurableObject(stale, (instance) => instance.describeOwnership()?.ranges)).toEqual([]);
  });

  it("moves rows by slot with the default hooks, and a repeated acquire does not overwrite newer writes", async () => {
    const keyspace = await createKv(1, 8);
    const { router } = kvRouter(keyspace);
    await router.get("k").put("new value");
    const stub = env.KV.getByName(`${keyspace}:s0`);
    const slot = await runInDurableObject(stub, (o) => o.entries()[0]!.slot);
    // A replayed delivery of the keyspace's first grant carrying old rows changes nothing.
    await stub.dsAcquire({ keyspace, shard: "s0", slotCount: 8, version: 1, ranges: [[0, 8]] }, { kv: [{ key: "k", slot, value: "old", expires_at: null }] });
    expect(await router.get("k").get()).toBe("new value");
  });
});

describe("moves and stale rows", () => {
  it("does not resurrect a deleted key when a slot comes back to a shard whose drop never ran", async () => {
    const keyspace = await createKv(1, 8);
    const { router } = kvRouter(keyspace);
    const key = "ghost";
    await router.get(key).put("old");
    const a = env.KV.getByName(`${keyspace}:s0`);
    const slot = await runInDurableObject(a, (o) => o.entries()[0]!.slot);
    const ranges: [number, number][] = [[slot, slot + 1]];
    // The slot leaves s0 for s9 without the drop step, the key is deleted at s9, and the slot returns.
    const out = { keyspace, shard: "s0", slotCount: 8, version: 2, ranges };
    await a.dsRelease(out);
    const rows = (await a.dsExportPage(out, null)) as { data: SlotData; next: null };
    const b = env.KV.getByName(`${keyspace}:s9`);
    await b.dsAcquire({ keyspace, shard: "s9", slotCount: 8, version: 2, ranges }, rows.data);
    expect(await b.routedCall(keyspace, "s9", key, 2, "delete")).toBe(true);
    const home = { keyspace, shard: "s9", slotCount: 8, version: 3, ranges };
    await b.dsRelease(home);
    const back = (await b.dsExportPage(home, null)) as { data: SlotData; next: null };
    await a.dsAcquire({ keyspace, shard: "s0", slotCount: 8, version: 3, ranges }, back.data);
    expect(await a.routedCall(keyspace, "s0", key, 3, "get")).toBeNull();
  });
});

describe("page cursors", () => {
  it("refuses a cursor it did not write, for a move's export and for a backup's snapshot, as bad input", async () => {
    const keyspace = await createKv(1, 8);
    const { router } = kvRouter(keyspace);
    await router.get("k").put("v");
    const stub = env.KV.getByName(`${keyspace}:s0`);
    const out = { keyspace, shard: "s0", slotCount: 8, version: 2, ranges: [[0, 8]] as [number, number][] };
    await stub.dsRelease(out);
    await stub.dsSnapshot(keyspace, "bk-cursor", 1);
    for (const cursor of ["{not json", '{"table":-1,"range":0,"rowid":0}', "[]", "1:2"]) {
      const exported = await answeredFailure(stub.dsExportPage(out, cursor));
      expect(exported).toMatchObject({ code: "InvalidArgument" });
      expect(exported.message).toMatch(/bad page cursor/);
      const snapshot = await answeredFailure(stub.dsSnapshotPage(keyspace, "bk-cursor", cursor));
      expect(snapshot.message).toMatch(/bad page cursor/);
    }
  });
});

describe("router options", () => {
  it("rejects bad options at construction with typed errors", () => {
    const base = { directory: env.DIRECTORY, namespace: env.KV, keyspace: "kv-opts" };
    expect(() => new ShardRouter({ ...base, refreshIntervalMs: -1 })).toThrow(/\[InvalidArgument\] refreshIntervalMs/);
    expect(() => new ShardRouter({ ...base, maxRoutingAttempts: 0 })).toThrow(/\[InvalidArgument\] maxRoutingAttempts/);
    expect(() => new ShardRouter({ ...base, retry: { maxAttempts: 100 } })).toThrow(/\[InvalidArgument\] retry.maxAttempts/);
    expect(new ShardRouter({ ...base, refreshIntervalMs: Infinity }).keyspace).toBe("kv-opts");
  });
});
