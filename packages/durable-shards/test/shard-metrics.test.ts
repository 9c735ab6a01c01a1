import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { MapCache, ShardRouter, hashKey, isFailure, slotOfHash, type ShardReport } from "../src/index.js";
import { ShardMeasurement } from "../src/shard-metrics.js";
import { directory, uniqueName, until } from "./helpers.js";
import type { MeteredKv } from "./fixtures/worker.js";

async function meteredKeyspace(shards: number) {
  const name = uniqueName("metered");
  await directory().createKeyspace({ name, binding: "METERED", shards });
  const router = new ShardRouter<MeteredKv>({ directory: env.DIRECTORY, namespace: env.METERED, keyspace: name, cache: new MapCache() });
  const ids = (await directory().getKeyspace(name)).shards.map((s) => s.id);
  return { name, router, ids, stub: (id: string) => env.METERED.getByName(`${name}:${id}`) };
}

async function report(stub: DurableObjectStub<MeteredKv>): Promise<ShardReport> {
  const result = await stub.dsMeasure();
  if (isFailure(result)) throw new Error("dsMeasure failed");
  return result as ShardReport;
}

/** Calls per method summed over `reports`. */
function sums(reports: ShardReport[]) {
  const out: Record<string, { calls: number; errors: number; refusals: number; latencyCount: number }> = {};
  for (const r of reports) {
    for (const [method, m] of Object.entries(r.methods)) {
      const o = (out[method] ??= { calls: 0, errors: 0, refusals: 0, latencyCount: 0 });
      o.calls += m.calls;
      o.errors += m.errors;
      o.refusals += m.refusals;
      o.latencyCount += m.latency.count;
    }
  }
  return out;
}

/** Calls stored (flushed) on the shard behind `stub`. */
function flushedCalls(stub: DurableObjectStub<MeteredKv>): Promise<number> {
  return runInDurableObject(stub, (_, state) => state.storage.sql.exec<{ n: number }>("SELECT COALESCE(SUM(calls), 0) AS n FROM _ds_metric_methods").one().n);
}

/** Evicts every shard of `ids`, and checks each object really restarted (its instance id changed). */
async function evictAll(router: ShardRouter<MeteredKv>, ids: string[]): Promise<void> {
  for (const id of ids) {
    const before = await router.shard(id).instance();
    // The abort answers the call that made it with an error: that is the eviction itself.
    await router.shard(id).evict().catch(() => undefined);
    expect(await router.shard(id).instance(), `shard ${id} restarted`).not.toBe(before);
  }
}

describe("per-shard measurement", () => {
  it("counts every call per method (calls, errors, latency) across a flush and an eviction", async () => {
    const { router, ids, stub } = await meteredKeyspace(2);
    const keys = Array.from({ length: 10 }, (_, i) => `user:${i}`);
    for (let i = 0; i < 30; i++) await router.get(keys[i % 10]!).put("v");
    for (let i = 0; i < 20; i++) await router.get(keys[i % 10]!).get();
    for (let i = 0; i < 5; i++) await expect(router.get(keys[i]!).fail()).rejects.toThrow("failing on purpose");

    const before = sums(await Promise.all(ids.map((id) => report(stub(id)))));
    expect(before).toMatchObject({ put: { calls: 30, errors: 0, latencyCount: 30 }, get: { calls: 20, errors: 0 }, fail: { calls: 5, errors: 5 } });

    // The timer flushes the counts to storage; then every shard is evicted.
    await until(async () => (await Promise.all(ids.map((id) => flushedCalls(stub(id))))).reduce((a, b) => a + b), (n) => n === 55, "the flush");
    await evictAll(router, ids);

    const after = sums(await Promise.all(ids.map((id) => report(stub(id)))));
    expect(after.put).toMatchObject({ calls: 30, latencyCount: 30 });
    expect(after.get?.calls).toBe(20);
    expect(after.fail).toMatchObject({ calls: 5, errors: 5 });

    // Counting goes on after the eviction, on top of what was stored.
    for (let i = 0; i < 7; i++) await router.get(keys[i]!).increment();
    const later = sums(await Promise.all(ids.map((id) => report(stub(id)))));
    expect(later.increment?.calls).toBe(7);
    expect(later.put?.calls).toBe(30);
  });

  it("loses at most the counts since the last flush when evicted before it", async () => {
    const { router, ids, stub } = await meteredKeyspace(1);
    for (let i = 0; i < 12; i++) await router.get(`k${i}`).put("v");
    await until(() => flushedCalls(stub(ids[0]!)), (n) => n === 12, "the flush");
    for (let i = 0; i < 4; i++) await router.get(`k${i}`).get();
    await evictAll(router, ids);
    const counts = sums([await report(stub(ids[0]!))]);
    expect(counts.put?.calls).toBe(12);
    // The 4 reads came after the last flush: at most they are lost, never counted twice.
    expect(counts.get?.calls ?? 0).toBeLessThanOrEqual(4);
  });

  it("writes nothing to storage per call: counts stay in memory until a flush writes them in one go", async () => {
    const { ids, stub } = await meteredKeyspace(1);
    await runInDurableObject(stub(ids[0]!), (_, state) => {
      const measure = new ShardMeasurement(state.storage.sql, { flushIntervalMs: 60_000 });
      const stored = () => state.storage.sql.exec<{ n: number }>("SELECT COALESCE(SUM(calls), 0) AS n FROM _ds_metric_methods WHERE method = 'probe'").one().n;
      for (let i = 0; i < 500; i++) measure.served("probe", i % 64, 64, `key:${i % 7}`, hashKey(`key:${i % 7}`), 0.001, false);
      expect(stored()).toBe(0);
      expect(measure.methodCounts().probe?.calls).toBe(500);
      measure.flush();
      expect(stored()).toBe(500);
    });
  });

  it("counts refusals of calls for slots a shard does not own", async () => {
    const { name, router, ids, stub } = await meteredKeyspace(2);
    const map = await router.map();
    const key = Array.from({ length: 100 }, (_, i) => `r${i}`).find((k) => map.shardOfKey(k).id === ids[1])!;
    const answer = await stub(ids[0]!).routedCall(name, ids[0], key, map.version, "get");
    expect(isFailure(answer)).toBe(true);
    expect(sums([await report(stub(ids[0]!))]).get).toMatchObject({ calls: 0, refusals: 1 });
  });

  it("finds planted hot keys, each count within the sketch's stated error, and their slots' load", async () => {
    const { router, ids, stub } = await meteredKeyspace(1);
    const planted = ["hot:a", "hot:b", "hot:c"];
    const exact = new Map<string, number>();
    const calls: string[] = [];
    for (let i = 0; i < 600; i++) calls.push(`cold:${i}`);
    for (let i = 0; i < 300; i++) calls.push(planted[i % 3]!);
    // Interleaved so the sketch sees the hot keys among a stream of keys it cannot all hold.
    calls.sort((a, b) => hashKey(a + b.length) - hashKey(b + a.length));
    for (const key of calls) {
      exact.set(key, (exact.get(key) ?? 0) + 1);
      await router.get(key).increment();
    }
    const r = await report(stub(ids[0]!));
    const bound = r.hotKeys.total / r.hotKeys.capacity;
    expect(r.hotKeys.total).toBe(900);
    const top = r.hotKeys.keys.slice(0, 3);
    expect(top.map((k) => k.key).sort()).toEqual(planted);
    for (const k of top) {
      expect(k.count).toBeGreaterThanOrEqual(exact.get(k.key)!);
      expect(k.count - exact.get(k.key)!).toBeLessThanOrEqual(Math.min(k.error, bound));
    }
    // Load per slot: the hot keys' slots carry the most.
    const slotCount = (await router.map()).slotCount;
    const loads = new Map(r.slotLoads);
    const hottest = [...loads].sort((a, b) => b[1] - a[1]).slice(0, 3).map(([slot]) => slot).sort();
    expect(hottest).toEqual(planted.map((k) => slotOfHash(hashKey(k), slotCount)).sort());
    expect(r.load).toBeGreaterThan(0);
    expect(r.storage.tables.kv).toMatchObject({ rows: 603 });
  });
});
