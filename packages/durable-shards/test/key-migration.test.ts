import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { KeyLedger, MapCache, ShardError, ShardRouter, errorOf, isFailure, migrateKey, sweepKeys, type SourceEndpoint, type SweepState, type TargetEndpoint } from "../src/index.js";
import { directory, rejection, uniqueName } from "./helpers.js";
import type { MigratingKv } from "./fixtures/worker.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
type Counter = { n: number };

async function setUp(shards = 3) {
  const legacy = env.LEGACY.getByName(uniqueName("legacy"));
  const keyspace = uniqueName("adopting");
  await directory().createKeyspace({ name: keyspace, binding: "MIGRATING", shards });
  const router = new ShardRouter<MigratingKv>({ directory: env.DIRECTORY, namespace: env.MIGRATING, keyspace, cache: new MapCache() });
  const unwrapped = async <T>(answer: Promise<unknown>): Promise<T> => {
    const r = await answer;
    if (isFailure(r)) throw errorOf(r);
    return r as T;
  };
  // The two directions: legacy → keyspace (the migration) and keyspace → legacy (switched off).
  const fromLegacy: SourceEndpoint<Counter> = { export: (key) => unwrapped(legacy.exportKey(key)), finish: (key) => legacy.finishKey(key) };
  const intoKeyspace: TargetEndpoint<Counter> = { import: (key, data, epoch) => router.get(key).importCounter(data, epoch) };
  const fromKeyspace: SourceEndpoint<Counter> = { export: (key) => router.get(key).exportCounter(), finish: (key) => router.get(key).finishCounter() };
  const intoLegacy: TargetEndpoint<Counter> = { import: (key, data, epoch) => legacy.importKey(key, data, epoch) };

  /** How the app calls a key: where the flag says first, the other side once told `Migrated`, again after `Migrating`. */
  let sharding = true;
  const attempt = async (side: "legacy" | "keyspace", key: string): Promise<ShardError | undefined> => {
    if (side === "legacy") {
      const r = await legacy.increment(key);
      return isFailure(r) ? errorOf(r) : undefined;
    }
    try {
      await router.get(key).increment();
      return undefined;
    } catch (error) {
      if (error instanceof ShardError) return error;
      throw error;
    }
  };
  const increment = async (key: string): Promise<void> => {
    for (;;) {
      const first = sharding ? "keyspace" : "legacy";
      let refused = await attempt(first, key);
      if (refused?.code === "Migrated") refused = await attempt(first === "legacy" ? "keyspace" : "legacy", key);
      if (refused === undefined) return;
      if (refused.code !== "Migrating" && refused.code !== "Migrated") throw refused;
      await sleep(2);
    }
  };
  return { legacy, router, fromLegacy, intoKeyspace, fromKeyspace, intoLegacy, increment, setSharding: (on: boolean) => (sharding = on) };
}

/** Writers incrementing `keys` until stopped, counting what was acknowledged. */
function writers(keys: string[], increment: (key: string) => Promise<void>) {
  const acked = new Map(keys.map((k) => [k, 0]));
  let stop = false;
  const done = Promise.all(
    [0, 1, 2].map(async (w) => {
      for (let i = w; !stop; i += 3) {
        const key = keys[i % keys.length]!;
        await increment(key);
        acked.set(key, acked.get(key)! + 1);
      }
    }),
  );
  return { acked, stop: async () => ((stop = true), await done) };
}

describe("migrating keys off a legacy object", () => {
  it("moves every key while writers keep incrementing: each count equals its acknowledged increments", async () => {
    const s = await setUp();
    s.setSharding(false);
    const keys = Array.from({ length: 40 }, (_, i) => `user:${i}`);
    for (const key of keys) await s.increment(key);
    const load = writers(keys, s.increment);
    for (const key of keys) await migrateKey(key, s.fromLegacy, s.intoKeyspace);
    await sleep(30);
    await load.stop();
    for (const key of keys) {
      expect(await s.legacy.state(key)).toBe("migrated");
      expect(Number(await s.router.get(key).get())).toBe(load.acked.get(key)! + 1);
    }
  });

  it("switches off (keys move back, with the writes made in the keyspace) and on again, writes running throughout", async () => {
    const s = await setUp(2);
    const keys = Array.from({ length: 20 }, (_, i) => `org:${i}`);
    s.setSharding(false);
    const load = writers(keys, s.increment);
    await sleep(20);
    for (const key of keys) await migrateKey(key, s.fromLegacy, s.intoKeyspace);
    s.setSharding(true);
    await sleep(20);
    // The flag goes off: every key back to the legacy object, writes made in the keyspace with it.
    s.setSharding(false);
    for (const key of keys) await migrateKey(key, s.fromKeyspace, s.intoLegacy);
    await sleep(20);
    // And on again.
    s.setSharding(true);
    for (const key of keys) await migrateKey(key, s.fromLegacy, s.intoKeyspace);
    await sleep(20);
    await load.stop();
    for (const key of keys) {
      expect(await s.legacy.state(key)).toBe("migrated");
      expect(Number(await s.router.get(key).get())).toBe(load.acked.get(key));
    }
    expect([...load.acked.values()].reduce((a, b) => a + b)).toBeGreaterThan(40);
  });

  it("resumes a migration cut off after the freeze: the key is written nowhere meanwhile, then finished", async () => {
    const s = await setUp(2);
    s.setSharding(false);
    for (let i = 0; i < 5; i++) await s.increment("alice");
    await s.fromLegacy.export("alice"); // the freeze; the migration "crashes" here
    expect(await s.legacy.frozen()).toEqual(["alice"]);
    const writer = s.increment("alice"); // waits: Migrating, again and again
    await sleep(30);
    expect(await s.router.get("alice").get()).toBeNull();
    await migrateKey("alice", s.fromLegacy, s.intoKeyspace); // resumed
    await writer;
    expect(Number(await s.router.get("alice").get())).toBe(6);
    expect(await s.legacy.frozen()).toEqual([]);
  });

  it("keeps a key frozen when the two sides' hashes differ", async () => {
    const s = await setUp(1);
    s.setSharding(false);
    await s.increment("bob");
    const broken: TargetEndpoint<Counter> = { import: async () => ({ hash: "0".repeat(64) }) };
    expect((await rejection(migrateKey("bob", s.fromLegacy, broken))).message).toMatch(/stays frozen/);
    expect(await s.legacy.state("bob")).toBe("frozen");
  });

  it("refuses a moved key with a value on the legacy side and a typed error through the router, never an exception inside", async () => {
    const s = await setUp(1);
    s.setSharding(false);
    await s.increment("carol");
    await migrateKey("carol", s.fromLegacy, s.intoKeyspace);
    const answer = await s.legacy.increment("carol");
    expect(isFailure(answer)).toBe(true);
    expect(errorOf(answer as never)).toMatchObject({ code: "Migrated", retryable: false });
    await migrateKey("carol", s.fromKeyspace, s.intoLegacy);
    expect((await rejection(s.router.get("carol").increment())).message).toMatch(/moved/);
  });

  it("sweeps the rest in the background while keys also move on first access, resumable from its cursor", async () => {
    const s = await setUp(3);
    s.setSharding(false);
    const keys = Array.from({ length: 60 }, (_, i) => `u${String(i).padStart(3, "0")}`);
    for (const key of keys) await s.increment(key);
    const load = writers(keys, s.increment);
    // Gradual: a key moves when the app first touches it (here: every fifth key), the sweep moves the rest.
    const onAccess = Promise.all(keys.filter((_, i) => i % 5 === 0).map((key) => migrateKey(key, s.fromLegacy, s.intoKeyspace)));
    const seen: SweepState[] = [];
    let pages = 0;
    // A first sweep stops after two pages (a crash, say)…
    const first = await sweepKeys({
      keys: (after, limit) => s.legacy.keys(after, limit),
      migrate: (key) => migrateKey(key, s.fromLegacy, s.intoKeyspace),
      pageSize: 10,
      progress: (state) => void seen.push(state),
      stopped: () => pages++ >= 2,
    });
    expect(first.done).toBe(false);
    // Keys moved on access meanwhile drop out of the list, so where two pages end varies.
    expect(seen).toHaveLength(2);
    expect(first.cursor).toBe(seen[1]!.cursor);
    expect(first.cursor! > seen[0]!.cursor!).toBe(true);
    // …and the next one resumes from its cursor.
    const second = await sweepKeys({ keys: (after, limit) => s.legacy.keys(after, limit), migrate: (key) => migrateKey(key, s.fromLegacy, s.intoKeyspace), after: first.cursor, pageSize: 10 });
    await onAccess;
    expect(second).toMatchObject({ done: true, failed: [] });
    expect(await s.legacy.keys(null, 100)).toEqual([]);
    await sleep(20);
    await load.stop();
    for (const key of keys) expect(Number(await s.router.get(key).get())).toBe(load.acked.get(key)! + 1);
    expect(first.migrated + second.migrated).toBeGreaterThanOrEqual(keys.length - keys.filter((_, i) => i % 5 === 0).length);
  });

  it("applies a copy once when two runs move the same key at once, so no write made in between is replaced", async () => {
    const s = await setUp(2);
    s.setSharding(false);
    for (let i = 0; i < 3; i++) await s.increment("dora");
    // Run B exports (the same frozen copy as run A), then waits while A finishes and a write lands.
    const copyB = await s.fromLegacy.export("dora");
    await migrateKey("dora", s.fromLegacy, s.intoKeyspace); // run A
    await s.increment("dora"); // in the keyspace now: 4
    expect(await s.intoKeyspace.import("dora", copyB.data, copyB.epoch)).toEqual({ hash: copyB.hash }); // B's late import: not applied
    expect(Number(await s.router.get("dora").get())).toBe(4);
    expect(await migrateKey("dora", s.fromLegacy, s.intoKeyspace)).toEqual({ key: "dora", alreadyMoved: true });
  });

  it("keeps a key's ledger row with its slot: a key moved back stays refused in the keyspace after its slot moves", async () => {
    const s = await setUp(1);
    s.setSharding(false);
    const keys = Array.from({ length: 12 }, (_, i) => `ev${i}`);
    for (const key of keys) await s.increment(key);
    for (const key of keys) await migrateKey(key, s.fromLegacy, s.intoKeyspace);
    for (const key of keys) await migrateKey(key, s.fromKeyspace, s.intoLegacy); // switched off again
    const before = await s.router.map();
    const change = await directory().addShards(before.keyspace, 2);
    await s.router.refresh();
    const after = await s.router.map();
    const moved = keys.filter((k) => after.shardOfKey(k).id !== before.shardOfKey(k).id);
    expect(change.moves.length).toBeGreaterThan(0);
    expect(moved.length).toBeGreaterThan(0);
    for (const key of moved) expect((await rejection(s.router.get(key).increment())).message).toMatch(/moved/);
    // And on again, from the new owner's row: the copy is taken (its epoch is above the last one).
    for (const key of moved) await migrateKey(key, s.fromLegacy, s.intoKeyspace);
    for (const key of moved) expect(Number(await s.router.get(key).get())).toBe(1);
  });
});

describe("KeyLedger", () => {
  it("in a keyspace that serves only what it took ('elsewhere'), refuses keys nobody moved, then serves what it takes", async () => {
    const stub = env.LEGACY.getByName(uniqueName("ledger"));
    await runInDurableObject(stub, (_instance, state) => {
      const ledger = new KeyLedger(state.storage, { initially: "elsewhere" });
      expect(ledger.state("new")).toBe("migrated");
      expect(() => ledger.serve("new")).toThrow(/moved/);
      expect(() => ledger.freeze("new")).toThrow(/not here/);
      expect(ledger.admit("new", 3)).toBeUndefined();
      ledger.taken("new", 3, "h3");
      expect(ledger.state("new")).toBe("serving");
      expect(ledger.admit("new", 3)).toBe("h3");
      expect(ledger.freeze("new")).toBe(1);
      ledger.finish("new");
      expect(ledger.state("new")).toBe("migrated");
      expect(ledger.epoch("new")).toBe(1);
      expect(ledger.keys("migrated", null, 10)).toEqual(["new"]);
      expect(ledger.keys("migrated", "new", 10)).toEqual([]);
      expect(ledger.keys("frozen", null, 10)).toEqual([]);
    });
  });
});
