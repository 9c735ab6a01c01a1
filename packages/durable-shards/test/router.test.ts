import { env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { ShardError, ShardRouter, metricsJson, rangesContain, slotForKey, type Ownership } from "../src/index.js";
import { THROW_REFUSALS, exceptionsIn } from "./fixtures/worker.js";
import { answeredFailure, createKv, directory, directoryStub, kvRouter, rejection, uniqueName } from "./helpers.js";

/** Every shard's rows, checked against the slots that shard owns. */
async function rowsOutsideOwnership(keyspace: string): Promise<string[]> {
  const info = await directory().getKeyspace(keyspace);
  const misplaced: string[] = [];
  for (const shard of info.shards) {
    const stub = env.KV.getByName(`${keyspace}:${shard.id}`);
    const { own, rows } = await runInDurableObject(stub, (instance) => ({
      own: instance.describeOwnership() as Ownership,
      rows: instance.entries(),
    }));
    for (const row of rows) if (!rangesContain(own.ranges, row.slot)) misplaced.push(`${row.key}@${shard.id}`);
  }
  return misplaced;
}

describe("ShardRouter", () => {
  it("forwards HTTP to a key's owner, fenced (counted there; the old owners told what they released): a stale router is refused, refreshes and forwards again; no fence is a 400", async () => {
    const keyspace = await createKv(2);
    const stale = kvRouter(keyspace);
    await stale.router.map();
    const change = await directory().addShards(keyspace, 1);
    const fresh = await kvRouter(keyspace).router.map();
    const key = Array.from({ length: 200 }, (_, i) => `k${i}`).find((k) => fresh.shardOfKey(k).id === change.moves[0]!.to)!;
    const response = await stale.router.fetch(key, new Request("https://app/x", { method: "POST", body: "hello" }));
    expect(await response.json()).toEqual({ key, shard: change.moves[0]!.to, body: "hello" });
    expect((await stale.router.map()).version).toBe(change.version);
    // The forwarded request counted in the new shard's measurement, and the old one told what it released.
    const [metrics] = await metricsJson(env.DIRECTORY, { keyspace });
    expect(metrics!.shards.find((s) => s.shard === change.moves[0]!.to)!.methods.fetch).toMatchObject({ calls: 1, errors: 0 });
    for (const move of change.moves) {
      const released = await runInDurableObject(env.KV.getByName(`${keyspace}:${move.from}`), (_o, state) => state.storage.kv.get<[number, number][]>("test:released")!);
      expect(released.reduce((n, [a, b]) => n + b - a, 0)).toBe(move.slots);
    }
    const unfenced = await env.KV.getByName(`${keyspace}:s0`).fetch("https://app/x");
    expect(unfenced.status).toBe(400);
    expect(await unfenced.json()).toMatchObject({ __durableShardsFailure: expect.anything() });
  });

  it("never contacts the directory on the steady-state path", async () => {
    const keyspace = await createKv(4);
    const { router, cache } = kvRouter(keyspace);
    for (let i = 0; i < 50; i++) await router.get(`k${i}`).put(`v${i}`);
    for (let i = 0; i < 50; i++) expect(await router.get(`k${i}`).get()).toBe(`v${i}`);
    expect(cache.loads).toBe(1);
  });

  it("re-validates its map with the directory once the refresh interval passed (clock read every 64th call)", async () => {
    const keyspace = await createKv(2);
    const { router, cache } = kvRouter(keyspace, { refreshIntervalMs: 0 });
    for (let i = 0; i < 130; i++) await router.get(`k${i}`).get();
    expect(cache.loads).toBe(3);
  });

  it("a router made stale by a new shard is fenced by the owner, refreshes and succeeds; no write lands on a non-owner", async () => {
    const keyspace = await createKv(2);
    const a = kvRouter(keyspace);
    const b = kvRouter(keyspace);
    const keys = Array.from({ length: 120 }, (_, i) => `user:${i}`);
    for (const key of keys) await a.router.get(key).put("from-a");
    await b.router.get(keys[0]!).get(); // b caches version 1 too
    expect((await b.router.map()).version).toBe(1);

    const change = await directory().addShards(keyspace, 1);
    expect(change.version).toBe(2);
    expect(change.movedSlots).toBeGreaterThan(0);
    const newShard = change.moves[0]!.to;

    // b still holds version 1: keys whose slots moved reach the old owner, which refuses them.
    const staleMap = await b.router.map();
    const freshMap = await kvRouter(keyspace).router.map();
    const movedKeys = keys.filter((k) => staleMap.shardOfKey(k).id !== freshMap.shardOfKey(k).id);
    expect(movedKeys.length).toBeGreaterThan(0);
    expect(movedKeys.every((k) => freshMap.shardOfKey(k).id === newShard)).toBe(true);
    const loadsBefore = b.cache.loads;
    for (const key of keys) await b.router.get(key).put("from-b");
    expect((await b.router.map()).version).toBe(2);
    expect(b.cache.loads).toBe(loadsBefore + 1); // one refresh, shared by every later call

    // Both routers read b's writes, including a (still at version 1) for moved keys.
    for (const key of keys) expect(await a.router.get(key).get()).toBe("from-b");
    expect(await rowsOutsideOwnership(keyspace)).toEqual([]);
    const total = await a.router.all((shard) => shard.count());
    expect(total.complete).toBe(true);
    expect(total.results.reduce((n, r) => n + (r.ok ? r.value : 0), 0)).toBe(keys.length);
  });

  it("loses no write made while shards are added and removed (online resharding)", async () => {
    const keyspace = await createKv(3);
    const writers = [kvRouter(keyspace), kvRouter(keyspace), kvRouter(keyspace)]; // three isolates' caches
    const keys = Array.from({ length: 48 }, (_, i) => `acct:${i}`);
    const acknowledged = new Map<string, number>();
    const failures: unknown[] = [];
    let running = true;
    const loop = async (w: number) => {
      for (let n = 0; running || n < 64; n++) {
        const key = keys[(w + n * writers.length) % keys.length]!;
        try {
          await writers[w]!.router.get(key).increment(1);
          acknowledged.set(key, (acknowledged.get(key) ?? 0) + 1);
        } catch (error) {
          failures.push(error);
        }
      }
    };
    const load = Promise.all(writers.map((_, w) => loop(w)));
    const added = await directory().addShards(keyspace, 2);
    const victim = added.moves[0]!.from;
    const removed = await directory().removeShards(keyspace, [victim]);
    running = false;
    await load;

    expect(added.movedSlots).toBeGreaterThan(0);
    for (const move of [...added.moves, ...removed.moves]) expect(move.pauseMs).toBeGreaterThanOrEqual(0);
    expect(removed.version).toBe(added.version + 1);
    expect(failures).toEqual([]);
    // The writers were fenced during the change and refreshed (the first load is the initial map).
    expect(writers.every((w) => w.cache.loads >= 2)).toBe(true);
    // Every acknowledged increment is in the store, once: the counts equal the acknowledgements.
    const reader = kvRouter(keyspace).router;
    for (const key of keys) expect([key, Number(await reader.get(key).get())]).toEqual([key, acknowledged.get(key) ?? 0]);
    expect([...acknowledged.values()].reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(3 * 64);
    expect(await rowsOutsideOwnership(keyspace)).toEqual([]);
    expect((await reader.map()).shards.map((s) => s.id)).not.toContain(victim);
  });

  it("serves the keys of a finished move from their new shard while another move of the change is stuck", async () => {
    const keyspace = await createKv(2, 128);
    const { router } = kvRouter(keyspace);
    const keys = Array.from({ length: 80 }, (_, i) => `k${i}`);
    for (const key of keys) await router.get(key).put("before");
    // s3 refuses slots: the move to s2 completes, the one to s3 does not, and the change stays
    // pending, so the directory keeps handing out version 1.
    await runInDurableObject(env.KV.getByName(`${keyspace}:s3`), (o) => o.sabotageAcquire(true));
    expect(ShardError.from(await rejection(directory().addShards(keyspace, 2)))?.code).toBe("ChangeInProgress");
    const rangesOf = (shard: string) =>
      runInDurableObject(env.KV.getByName(`${keyspace}:${shard}`), (o) => o.describeOwnership()?.ranges ?? []);
    const [s0, s1, s2] = [await rangesOf("s0"), await rangesOf("s1"), await rangesOf("s2")];
    const slot = (key: string) => slotForKey(key, 128);
    const onS2 = keys.filter((k) => rangesContain(s2, slot(k)));
    const inFlight = keys.filter((k) => ![s0, s1, s2].some((r) => rangesContain(r, slot(k))));
    expect(onS2.length).toBeGreaterThan(0);
    expect(inFlight.length).toBeGreaterThan(0);

    // The router still holds version 1. Refusals from s0/s1 name s2, which answers at once.
    for (const key of onS2) expect(await router.get(key).get()).toBe("before");
    for (const key of onS2) await router.get(key).put("during");
    expect((await router.map()).version).toBe(1);
    // Keys bound for s3 stay unavailable (refused, retryably) until their move completes.
    const impatient = kvRouter(keyspace, { maxRoutingAttempts: 2 }).router;
    for (const key of inFlight.slice(0, 3)) {
      expect(ShardError.from(await rejection(impatient.get(key).get()))?.code).toBe("RetriesExhausted");
    }

    await runInDurableObject(env.KV.getByName(`${keyspace}:s3`), (o) => o.sabotageAcquire(false));
    expect(await runDurableObjectAlarm(directoryStub())).toBe(true);
    expect((await directory().getKeyspace(keyspace)).version).toBe(2);
    for (const key of keys) expect([key, await router.get(key).get()]).toEqual([key, onS2.includes(key) ? "during" : "before"]);
    expect(await rowsOutsideOwnership(keyspace)).toEqual([]);
  });

  it("runs `some` through a change that has not committed: groups follow their keys to where they went", async () => {
    const keyspace = await createKv(2, 128);
    const { router } = kvRouter(keyspace);
    const keys = Array.from({ length: 80 }, (_, i) => `k${i}`);
    await router.some(keys, (shard, owned) => shard.putMany(owned, "before"));
    // As above: the move to s2 completes, the one to s3 cannot, and the directory keeps version 1.
    await runInDurableObject(env.KV.getByName(`${keyspace}:s3`), (o) => o.sabotageAcquire(true));
    expect(ShardError.from(await rejection(directory().addShards(keyspace, 2)))?.code).toBe("ChangeInProgress");
    const rangesOf = (shard: string) => runInDurableObject(env.KV.getByName(`${keyspace}:${shard}`), (o) => o.describeOwnership()?.ranges ?? []);
    const owned = { s0: await rangesOf("s0"), s1: await rangesOf("s1"), s2: await rangesOf("s2") };
    const ownerOf = (key: string) => Object.entries(owned).find(([, r]) => rangesContain(r, slotForKey(key, 128)))?.[0];
    const served = keys.filter((k) => ownerOf(k) !== undefined);
    const inFlight = keys.filter((k) => ownerOf(k) === undefined);
    expect(served.filter((k) => ownerOf(k) === "s2").length).toBeGreaterThan(0);
    expect(inFlight.length).toBeGreaterThan(0);

    // Version 1 sends the keys to s0 and s1, which gave some away: each key is written where it is served now.
    const during = await router.some(served, async (shard, group, id) => ({ id, keys: await shard.putMany(group, "during") }));
    expect(during.complete).toBe(true);
    expect(during.mapVersion).toBe(1);
    const wrote = during.results.flatMap((r) => (r.ok ? r.value.keys.map((k): [string, string] => [k, r.value.id]) : []));
    expect(new Map(wrote)).toEqual(new Map(served.map((k) => [k, ownerOf(k)])));
    expect(wrote).toHaveLength(served.length);
    // Keys bound for s3 are refused, honestly, until their move completes; the rest still land.
    const impatient = kvRouter(keyspace, { maxRoutingAttempts: 2 }).router;
    const mixed = await impatient.some([...inFlight.slice(0, 3), ...served.slice(0, 3)], (shard, group) => shard.putMany(group, "mixed"));
    expect(mixed.complete).toBe(false);
    const failed = mixed.results.flatMap((r) => (r.ok ? [] : [r.error]));
    expect(failed.length).toBeGreaterThan(0);
    for (const error of failed) expect(ShardError.from(error)?.code).toBe("WrongShard");
    expect(mixed.results.flatMap((r) => (r.ok ? r.value : [])).sort()).toEqual(served.slice(0, 3).sort());

    await runInDurableObject(env.KV.getByName(`${keyspace}:s3`), (o) => o.sabotageAcquire(false));
    expect(await runDurableObjectAlarm(directoryStub())).toBe(true);
    expect((await directory().getKeyspace(keyspace)).version).toBe(2);
    const mixedKeys = new Set(served.slice(0, 3));
    for (const key of keys) expect([key, await router.get(key).get()]).toEqual([key, mixedKeys.has(key) ? "mixed" : served.includes(key) ? "during" : "before"]);
    expect(await rowsOutsideOwnership(keyspace)).toEqual([]);
    // Refusals travelled as values: no shard's entry point threw.
    for (const id of ["s0", "s1", "s2", "s3"]) expect(await runInDurableObject(env.KV.getByName(`${keyspace}:${id}`), (_, state) => exceptionsIn(state.storage))).toBe(0);
  });

  it("carries a write that a call for several keys makes after an await to the keys' next shard (a release waits for it)", async () => {
    const keyspace = await createKv(2, 64);
    const { router } = kvRouter(keyspace);
    const keys = Array.from({ length: 40 }, (_, i) => `k${i}`);
    await router.some(keys, (shard, group) => shard.putMany(group, "before"));
    const late = router.some(keys, (shard, group) => shard.slowPutMany(group, "late", 400));
    await new Promise((r) => setTimeout(r, 50));
    const added = await directory().addShards(keyspace, 1);
    expect(added.movedSlots).toBeGreaterThan(0);
    expect((await late).complete).toBe(true);
    for (const key of keys) expect([key, await router.get(key).get()]).toEqual([key, "late"]);
    expect(await rowsOutsideOwnership(keyspace)).toEqual([]);
  });

  it("refuses a call for several keys at the shard unless it serves every one, naming who does", async () => {
    const keyspace = await createKv(2, 64);
    const map = await kvRouter(keyspace).router.map();
    const mine = Array.from({ length: 40 }, (_, i) => `key-${i}`).filter((k) => map.shardOfKey(k).id === "s0");
    const other = Array.from({ length: 40 }, (_, i) => `key-${i}`).find((k) => map.shardOfKey(k).id === "s1")!;
    const s0 = env.KV.getByName(`${keyspace}:s0`);
    expect(await s0.keysCall(keyspace, "s0", mine, "putMany", mine, "v")).toEqual(mine);
    const error = await answeredFailure(s0.keysCall(keyspace, "s0", [mine[0]!, other], "putMany", [mine[0]!, other], "w"));
    expect(error).toMatchObject({ code: "WrongShard", owners: ["s0", null] });
    expect(error.message).toMatch(/does not own 1 of the 2 keys' slots/);
    expect(await kvRouter(keyspace).router.get(mine[0]!).get()).toBe("v");
    for (const [args, pattern] of [
      [[keyspace, "s0", [], "putMany"], /keys: name at least one key/],
      [[keyspace, "s0", [""], "putMany"], /key must not be empty/],
      [[keyspace, "s0", "k", "putMany"], /keys/],
      [[keyspace, "s0", mine, "put"], /per-key method/],
    ] as const) {
      const refused = await answeredFailure((s0.keysCall as (...a: unknown[]) => Promise<unknown>)(...args));
      expect(refused.code, String(pattern)).toBe("InvalidArgument");
      expect(refused.message).toMatch(pattern);
    }
    // A shard's share of more keys than one call carries goes in several calls.
    const many = Array.from({ length: 10_001 }, () => mine[0]!);
    const split = await kvRouter(keyspace).router.some(many, async (_, group, id) => ({ id, n: group.length }));
    expect(split.results.map((r) => r.ok && r.value)).toEqual([{ id: "s0", n: 10_000 }, { id: "s0", n: 1 }]);
  });

  it("follows refusals thrown by shards of an older library version (a gradual deployment)", async () => {
    const keyspace = await createKv(2, 64);
    const writer = kvRouter(keyspace).router;
    for (let i = 0; i < 30; i++) await writer.get(`k${i}`).put(`v${i}`);
    const stale = kvRouter(keyspace).router;
    await stale.map();
    await directory().addShards(keyspace, 1);
    for (const id of ["s0", "s1", "s2"]) {
      await runInDurableObject(env.KV.getByName(`${keyspace}:${id}`), (_, state) => state.storage.kv.put(THROW_REFUSALS, true));
    }
    for (let i = 0; i < 30; i++) expect(await stale.get(`k${i}`).get()).toBe(`v${i}`);
    expect((await stale.map()).version).toBe(2);
  });

  it("refuses a call at the shard when the caller names the wrong shard (fencing is at the owner)", async () => {
    const keyspace = await createKv(2);
    const { router } = kvRouter(keyspace);
    const map = await router.map();
    const key = "fenced-key";
    const owner = map.shardOfKey(key).id;
    const other = map.shards.find((s) => s.id !== owner)!.id;
    const error = await answeredFailure(env.KV.getByName(`${keyspace}:${other}`).routedCall(keyspace, other, key, 1, "put", "x"));
    expect(error).toMatchObject({ code: "WrongShard", mapVersion: 1 });
    expect(error.message).toMatch(/does not own slot \d+ \(map version 1\)/);
    expect(await router.get(key).get()).toBeNull();
  });

  it("creates a keyspace declared in code on first use, once, and refuses a conflicting definition", async () => {
    const keyspace = uniqueName("declared");
    const ensure = { binding: "KV", shards: 3, slotCount: 64 };
    const a = kvRouter(keyspace, { ensure }).router;
    const b = kvRouter(keyspace, { ensure }).router;
    await Promise.all([a.get("x").put("1"), b.get("y").put("2")]);
    expect(await b.get("x").get()).toBe("1");
    expect((await directory().getKeyspace(keyspace)).shards.map((s) => s.slots)).toEqual([22, 21, 21]);
    const error = await rejection(directory().ensureKeyspace({ name: keyspace, binding: "KV", slotCount: 128 }));
    expect(ShardError.from(error)?.code).toBe("KeyspaceExists");
  });

  it("places entity keyspaces one object per key through the same API", async () => {
    const keyspace = uniqueName("entity");
    await directory().createKeyspace({ name: keyspace, binding: "COUNTERS", placement: "entity" });
    const router = new ShardRouter({ directory: env.DIRECTORY, namespace: env.COUNTERS, keyspace });
    expect(await router.get("alice").increment()).toBe(1);
    expect(await router.get("alice").increment()).toBe(2);
    expect(await router.get("bob").increment()).toBe(1);
    expect(await router.get("alice").whoAmI()).toBe(`${keyspace}:alice`);
    // The object for "bob" refuses calls for "alice".
    const refused = await answeredFailure(env.COUNTERS.getByName(`${keyspace}:bob`).routedCall(keyspace, null, "alice", 1, "increment"));
    expect(refused.code).toBe("WrongShard");
    expect(await router.get("alice").increment()).toBe(3);
    const error = await rejection(router.all(async (s) => s.whoAmI("x")));
    expect(ShardError.from(error)?.code).toBe("InvalidArgument");
  });

  it("runs fan-out only on the shards owning the given keys", async () => {
    const keyspace = await createKv(8);
    const { router } = kvRouter(keyspace);
    const keys = ["a", "b", "c"];
    for (const key of keys) await router.get(key).put(key);
    const result = await router.some(keys, async (shard, owned) => ({ count: await shard.count(), owned }));
    expect(result.complete).toBe(true);
    expect(result.results.flatMap((r) => (r.ok ? r.value.owned : [])).sort()).toEqual(keys);
  });
});
