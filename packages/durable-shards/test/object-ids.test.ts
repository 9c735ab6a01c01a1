import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { shardStub } from "../src/object-ids.js";
import type { ShardInfo } from "../src/shard-map.js";

describe("shardStub", () => {
  it("reaches the object getByName reaches, named as such inside it, also from the cached id", async () => {
    const shard: ShardInfo = { id: "s1", locationHint: "weur" };
    for (let round = 0; round < 2; round++) {
      const stub = shardStub(env.KV, "ids-a", shard);
      expect(stub.id.equals(env.KV.idFromName("ids-a:s1"))).toBe(true);
      expect(await runInDurableObject(stub, (_, state) => state.id.name)).toBe("ids-a:s1");
    }
  });

  it("makes a new stub for every call (a stub that threw stays broken)", () => {
    const shard: ShardInfo = { id: "s2" };
    expect(shardStub(env.KV, "ids-b", shard)).not.toBe(shardStub(env.KV, "ids-b", shard));
  });

  it("keeps namespaces apart when one map entry is used with two of them", () => {
    const shard: ShardInfo = { id: "s3" };
    expect(shardStub(env.KV, "ids-c", shard).id.equals(env.KV.idFromName("ids-c:s3"))).toBe(true);
    const other = shardStub(env.COUNTERS, "ids-c", shard);
    expect(other.id.equals(env.COUNTERS.idFromName("ids-c:s3"))).toBe(true);
    expect(other.id.equals(env.KV.idFromName("ids-c:s3"))).toBe(false);
    expect(shardStub(env.KV, "ids-c", shard).id.equals(env.KV.idFromName("ids-c:s3"))).toBe(true);
  });
});
