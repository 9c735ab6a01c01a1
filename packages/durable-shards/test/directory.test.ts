import { abortAllDurableObjects, env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { ShardError, type Ownership } from "../src/index.js";
import { createKv, directory, directoryStub, kvRouter, rejection, uniqueName } from "./helpers.js";

async function code(promise: Promise<unknown>): Promise<string | undefined> {
  return ShardError.from(await rejection(promise))?.code;
}

describe("ShardDirectory", () => {
  it("creates a keyspace, grants every shard its slots and serves the map only when it changed", async () => {
    const name = uniqueName();
    const info = await directory().createKeyspace({ name, binding: "KV", shards: [{ id: "east", locationHint: "enam" }, { id: "west" }] });
    expect(info).toMatchObject({ name, placement: "hash", slotCount: 65_536, version: 1 });
    expect(info.shards).toEqual([
      { id: "east", locationHint: "enam", slots: 32_768 },
      { id: "west", slots: 32_768 },
    ]);
    const map = await directory().getMap(name);
    expect(map).toMatchObject({ placement: "hash", version: 1, runs: [[0, 0], [32_768, 1]] });
    expect(await directory().getMap(name, 1)).toBeNull();
    const own = await runInDurableObject(env.KV.getByName(`${name}:west`), (o) => o.describeOwnership());
    expect(own).toEqual({ keyspace: name, shard: "west", slotCount: 65_536, version: 1, ranges: [[32_768, 65_536]] });
    expect((await directory().listKeyspaces()).some((k) => k.name === name)).toBe(true);
  });

  it("removes any shard (not only the last), moving its rows to the others", async () => {
    const name = await createKv(3, 300);
    const { router } = kvRouter(name);
    for (let i = 0; i < 90; i++) await router.get(`k${i}`).put(`v${i}`);
    const change = await directory().removeShards(name, ["s1"]);
    expect(change.movedSlots).toBe(100);
    expect(change.moves.every((m) => m.from === "s1")).toBe(true);
    const fresh = kvRouter(name).router;
    for (let i = 0; i < 90; i++) expect(await fresh.get(`k${i}`).get()).toBe(`v${i}`);
    const removed = await runInDurableObject(env.KV.getByName(`${name}:s1`), (o) => ({ own: o.describeOwnership(), rows: o.entries() }));
    expect(removed.own?.ranges).toEqual([]);
    expect(removed.rows).toEqual([]);
    expect((await directory().getKeyspace(name)).shards.map((s) => s.id)).toEqual(["s0", "s2"]);
  });

  it("never reuses a generated shard id and rebalances as a no-op when balanced", async () => {
    const name = await createKv(2, 64);
    await directory().removeShards(name, ["s1"]);
    const added = await directory().addShards(name, 1);
    expect(added.moves.map((m) => m.to)).toEqual(["s2"]);
    const rebalanced = await directory().rebalance(name);
    expect(rebalanced).toEqual({ keyspace: name, version: added.version, movedSlots: 0, moves: [], predicted: { by: "slots", before: 1, after: 1 } });
  });

  it("keeps maps, ownership and data through eviction of the directory and every shard", async () => {
    const name = await createKv(3);
    const { router } = kvRouter(name);
    for (let i = 0; i < 30; i++) await router.get(`k${i}`).put(`v${i}`);
    await directory().addShards(name, [{ id: "extra", locationHint: "weur" }]);
    const before = await directory().getMap(name);
    const owners: Record<string, Ownership | undefined> = {};
    for (const id of ["s0", "s1", "s2", "extra"]) {
      owners[id] = await runInDurableObject(env.KV.getByName(`${name}:${id}`), (o) => o.describeOwnership());
    }

    await abortAllDurableObjects();

    expect(await directory().getMap(name)).toEqual(before);
    for (const id of Object.keys(owners)) {
      expect(await runInDurableObject(env.KV.getByName(`${name}:${id}`), (o) => o.describeOwnership())).toEqual(owners[id]);
    }
    const fresh = kvRouter(name).router;
    for (let i = 0; i < 30; i++) expect(await fresh.get(`k${i}`).get()).toBe(`v${i}`);
    // The stale router (cache from before eviction) is fenced, refreshes and still reads correctly.
    for (let i = 0; i < 30; i++) expect(await router.get(`k${i}`).get()).toBe(`v${i}`);
  });

  it("finishes an interrupted change from its alarm", async () => {
    const name = await createKv(2, 100);
    const { router } = kvRouter(name);
    for (let i = 0; i < 20; i++) await router.get(`k${i}`).put(`v${i}`);
    // The target of the move refuses to take slots, so the change stops after its release step.
    await runInDurableObject(env.KV.getByName(`${name}:s2`), (o) => o.sabotageAcquire(true));
    expect(await code(directory().addShards(name, 1))).toBe("ChangeInProgress");
    expect((await directory().getKeyspace(name)).pendingVersion).toBe(2);
    expect(await code(directory().addShards(name, 1))).toBe("ChangeInProgress");
    // Keys of the released slots are refused while the move is pending; the rest keep working.
    const impatient = kvRouter(name, { maxRoutingAttempts: 2 }).router;
    const outcomes = await Promise.all(
      Array.from({ length: 20 }, (_, i) => impatient.get(`k${i}`).get().then(() => "ok", (e: unknown) => ShardError.from(e)?.code)),
    );
    expect(outcomes).toContain("ok");
    expect(outcomes).toContain("RetriesExhausted");
    expect(outcomes.every((o) => o === "ok" || o === "RetriesExhausted")).toBe(true);
    expect((await impatient.map()).version).toBe(1);

    await runInDurableObject(env.KV.getByName(`${name}:s2`), (o) => o.sabotageAcquire(false));
    expect(await runDurableObjectAlarm(directoryStub())).toBe(true);
    const info = await directory().getKeyspace(name);
    expect(info.version).toBe(2);
    expect(info.pendingVersion).toBeUndefined();
    for (let i = 0; i < 20; i++) expect(await router.get(`k${i}`).get()).toBe(`v${i}`);
  });

  it("rejects bad input with typed errors and clear messages", async () => {
    const existing = await createKv(1, 16);
    const d = directory();
    const cases: [() => Promise<unknown>, string, RegExp][] = [
      [() => d.getMap("nope-" + uniqueName()), "UnknownKeyspace", /does not exist/],
      [() => d.getMap(""), "InvalidArgument", /keyspace/],
      [() => d.getMap(existing, -1), "InvalidArgument", /knownVersion/],
      [() => d.createKeyspace({ name: existing, binding: "KV" }), "KeyspaceExists", /already exists/],
      [() => d.createKeyspace({ name: uniqueName(), binding: "NOPE" }), "InvalidArgument", /not a Durable Object namespace/],
      [() => d.createKeyspace({ name: "bad:name", binding: "KV" }), "InvalidArgument", /keyspace name/],
      [() => d.createKeyspace({ name: uniqueName(), binding: "KV", slotCount: 0 }), "InvalidArgument", /slotCount/],
      [() => d.createKeyspace({ name: uniqueName(), binding: "KV", slotCount: 1 << 20 }), "InvalidArgument", /slotCount/],
      [() => d.createKeyspace({ name: uniqueName(), binding: "KV", slotCount: 2, shards: 3 }), "InvalidArgument", /exceed/],
      [() => d.createKeyspace({ name: uniqueName(), binding: "KV", placement: "entity", shards: 2 }), "InvalidArgument", /no shards/],
      [() => d.createKeyspace({ name: uniqueName(), binding: "KV", extra: 1 } as never), "InvalidArgument", /extra|Unrecognized/i],
      [() => d.createKeyspace(null as never), "InvalidArgument", /keyspace/],
      [() => d.removeShards(existing, ["s0"]), "LastShard", /without an owner/],
      [() => d.removeShards(existing, ["ghost"]), "UnknownShard", /not in keyspace/],
      [() => d.removeShards(existing, []), "InvalidArgument", /at least one/],
      [() => d.addShards(existing, 0), "InvalidArgument", /shards/],
      [() => d.addShards(existing, [{ id: "s0" }]), "ShardExists", /already/],
      [() => d.addShards(existing, [{ locationHint: "mars" as never }]), "InvalidArgument", /locationHint/],
      [() => d.addShards(existing, 100), "InvalidArgument", /exceed/],
      [() => d.resolve(existing, ""), "InvalidKey", /empty/],
      [() => d.resolve(existing, "x".repeat(2000)), "InvalidKey", /at most/],
    ];
    for (const [promise, expected, message] of cases) {
      const error = await rejection(promise());
      expect(error, error.message).toBeInstanceOf(ShardError);
      expect((error as ShardError).code, error.message).toBe(expected);
      expect(error.message).toMatch(message);
    }
    // Nothing changed on the way.
    expect((await d.getKeyspace(existing)).version).toBe(1);
  });
});
