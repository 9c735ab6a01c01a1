import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { instance, todos } from "./helpers.js";

describe("the legacy store", () => {
  it("serves TinyBase's remote-persister contract: save, load, ETag and 304, HEAD", async () => {
    const app = instance();
    const saved = await app.save("alice", todos(3));
    expect(saved.status).toBe(200);
    expect(await saved.json()).toEqual({ saved: true, rows: 3 });
    expect(await app.load("alice")).toEqual(todos(3));
    const token = await app.token("alice");
    const first = await app.fetch(`/api/alice/load?token=${token}`);
    const etag = first.headers.get("etag")!;
    expect(etag).toMatch(/^".+"$/);
    const again = await app.fetch(`/api/alice/load?token=${token}`, { headers: { "if-none-match": etag } });
    expect(again.status).toBe(304);
    const head = await app.fetch(`/api/alice/load?token=${token}`, { method: "HEAD", headers: { "if-none-match": etag } });
    expect(head.status).toBe(304);
    await app.save("alice", todos(4));
    const changed = await app.fetch(`/api/alice/load?token=${token}`, { method: "HEAD", headers: { "if-none-match": etag } });
    expect(changed.status).toBe(200);
    expect(changed.headers.get("etag")).not.toBe(etag);
    // Everything is in the one legacy object.
    const counts = await env.LEGACY.getByName(`default-store-${app.env.INSTANCE}`).counts();
    expect(counts).toEqual({ here: 1, frozen: 0, elsewhere: 0 });
  });
});

describe("placements", () => {
  it("hashed: users spread over the store shards, each store in the shard its slot maps to", async () => {
    const app = instance({ PLACEMENT: "hashed", STORE_SHARDS: "3", FEATURE_SHARDING: "on" });
    const users = Array.from({ length: 12 }, (_, i) => `u${i}`);
    for (const u of users) expect((await app.save(u, todos(2, u))).status).toBe(200);
    for (const u of users) expect(await app.load(u)).toEqual(todos(2, u));
    const held = new Set<string>();
    for (const shard of ["s0", "s1", "s2"]) {
      const keys = await runInDurableObject(env.STORES.getByName(`stores-${app.env.INSTANCE}:${shard}`), (_o, state) =>
        state.storage.sql.exec<{ key: string }>("SELECT key FROM stores").toArray().map((r) => r.key),
      );
      expect(keys.length).toBeGreaterThan(0);
      for (const k of keys) held.add(k);
    }
    expect([...held].sort()).toEqual(users.map((u) => `user:${u}`).sort());
  });

  it("per user and per org and user: one object each, named by the store", async () => {
    const app = instance({ PLACEMENT: "entity", FEATURE_SHARDING: "on" });
    expect((await app.save("alice", todos(1, "mine"))).status).toBe(200);
    expect((await app.save("alice", todos(2, "work"), "acme")).status).toBe(200);
    expect(await app.load("alice")).toEqual(todos(1, "mine"));
    expect(await app.load("alice", "acme")).toEqual(todos(2, "work"));
    for (const [name, rows] of [[`user-stores-${app.env.INSTANCE}:user:alice`, 1], [`user-stores-${app.env.INSTANCE}:org:acme/user:alice`, 2]] as const) {
      const stored = await runInDurableObject(env.STORES.getByName(name), (_o, state) => state.storage.sql.exec<{ rows: number }>("SELECT rows FROM stores").toArray());
      expect(stored).toEqual([{ rows }]);
    }
  });
});

describe("isolation over HTTP", () => {
  it.each([["legacy", "off"], ["sharded", "on"]] as const)("a user's token never reads or writes another's store (%s)", async (_name, sharding) => {
    const app = instance({ FEATURE_SHARDING: sharding });
    await app.save("alice", todos(2, "alice-"));
    await app.save("bob", todos(1, "bob-"), "acme");
    const bob = await app.token("bob", "acme");
    const alice = await app.token("alice");
    const attempts: [string, RequestInit][] = [
      [`/api/alice/load?token=${bob}`, {}],
      ["/api/alice/load", { headers: { authorization: `Bearer ${bob}` } }],
      [`/api/alice/save?token=${bob}`, { method: "POST", body: JSON.stringify(todos(1, "stolen-")) }],
      [`/api/acme/users/bob/load?token=${alice}`, {}],
      [`/api/bob/load?token=${bob}`, {}], // bob's token is for his org store, not a personal one
      [`/api/acme/users/alice/load?token=${alice}`, {}],
    ];
    for (const [path, init] of attempts) {
      const r = await app.fetch(path, init);
      expect(r.status, path).toBe(403);
      expect(await r.json()).toMatchObject({ code: "Forbidden" });
    }
    expect(await app.load("alice")).toEqual(todos(2, "alice-"));
    expect(await app.load("bob", "acme")).toEqual(todos(1, "bob-"));
  });
});
