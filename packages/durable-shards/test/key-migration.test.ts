import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { errorOf, isFailure, migrateKey, type LegacyEndpoint, type TargetEndpoint } from "../src/index.js";
import { createKv, kvRouter, rejection, uniqueName } from "./helpers.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function setUp(shards = 3) {
  const legacy = env.LEGACY.getByName(uniqueName("legacy"));
  return createKv(shards).then((keyspace) => {
    const { router } = kvRouter(keyspace);
    const source: LegacyEndpoint<{ n: number }> = {
      export: async (key) => {
        const r = await legacy.exportKey(key);
        if (isFailure(r)) throw errorOf(r);
        return r as { data: { n: number }; hash: string };
      },
      finish: (key) => legacy.finishKey(key),
    };
    const target: TargetEndpoint<{ n: number }> = { import: (key, data) => router.get(key).importCounter(data) };
    /** One acknowledged increment of `key`, wherever it is served now. */
    const increment = async (key: string): Promise<void> => {
      for (;;) {
        const r = await legacy.increment(key);
        if (!isFailure(r)) return;
        const error = errorOf(r);
        if (error.code === "Migrating") {
          await sleep(2);
          continue;
        }
        if (error.code === "Migrated") return void (await router.get(key).increment());
        throw error;
      }
    };
    return { legacy, router, source, target, increment };
  });
}

describe("migrating keys off a legacy object", () => {
  it("moves every key while writers keep incrementing: each count equals its acknowledged increments", async () => {
    const { legacy, router, source, target, increment } = await setUp();
    const keys = Array.from({ length: 40 }, (_, i) => `user:${i}`);
    const acked = new Map(keys.map((k) => [k, 0]));
    for (const key of keys) {
      await increment(key);
      acked.set(key, 1);
    }
    let stop = false;
    const writers = [0, 1, 2].map(async (w) => {
      for (let i = w; !stop; i += 3) {
        const key = keys[i % keys.length]!;
        await increment(key);
        acked.set(key, acked.get(key)! + 1);
      }
    });
    for (const key of keys) await migrateKey(key, source, target);
    await sleep(50);
    stop = true;
    await Promise.all(writers);
    for (const key of keys) {
      expect(await legacy.state(key)).toBe("migrated");
      expect(Number(await router.get(key).get())).toBe(acked.get(key));
    }
    expect([...acked.values()].reduce((a, b) => a + b)).toBeGreaterThan(80);
  });

  it("resumes a migration cut off after the freeze: the key is written nowhere meanwhile, then finished", async () => {
    const { legacy, router, source, target, increment } = await setUp(2);
    for (let i = 0; i < 5; i++) await increment("alice");
    await source.export("alice"); // the freeze; the migration "crashes" here
    expect(await legacy.frozen()).toEqual(["alice"]);
    const writer = increment("alice"); // waits: Migrating, again and again
    await sleep(30);
    expect(await router.get("alice").get()).toBeNull();
    await migrateKey("alice", source, target); // resumed
    await writer;
    expect(Number(await router.get("alice").get())).toBe(6);
    expect(await legacy.frozen()).toEqual([]);
  });

  it("keeps a key frozen when the two sides' hashes differ", async () => {
    const { legacy, source, increment } = await setUp(1);
    await increment("bob");
    const broken: TargetEndpoint<{ n: number }> = { import: async () => ({ hash: "0".repeat(64) }) };
    expect((await rejection(migrateKey("bob", source, broken))).message).toMatch(/stays frozen/);
    expect(await legacy.state("bob")).toBe("frozen");
  });

  it("refuses a moved key on the legacy side with a value, not an exception", async () => {
    const { legacy, source, target, increment } = await setUp(1);
    await increment("carol");
    await migrateKey("carol", source, target);
    const answer = await legacy.increment("carol");
    expect(isFailure(answer)).toBe(true);
    expect(errorOf(answer as never)).toMatchObject({ code: "Migrated", retryable: false });
  });
});
