import { env, runInDurableObject } from "cloudflare:test";
import { directoryClient } from "durable-shards";
import { describe, expect, it } from "vitest";
import { drainOutbox, ensureD1 } from "../src/outbox.js";
import { instance, todos, type Instance } from "./helpers.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const directory = () => directoryClient(env.DIRECTORY);

async function d1Rows(key: string) {
  await ensureD1(env.DB);
  return (await env.DB.prepare("SELECT row_id, cells, deleted, version FROM todos WHERE store_key = ? ORDER BY row_id").bind(key).all<{ row_id: string; cells: string | null; deleted: number; version: string }>()).results;
}

async function sharded(overrides = {}): Promise<Instance> {
  const app = instance({ FEATURE_SHARDING: "on", STORE_SHARDS: "1", ...overrides });
  return app;
}

describe("the D1 mirror", () => {
  it("loses nothing when a store object crashes between a write and its drain; a drain sent twice or late changes nothing", async () => {
    const app = await sharded();
    expect((await app.save("dora", todos(3, "d"))).status).toBe(200);
    const shard = () => env.STORES.getByName(`stores-${app.env.INSTANCE}:s0`);
    // The crash, before the drain timer (100 ms after the write) fires.
    await runInDurableObject(shard(), (_o, state) => state.abort("crash before the drain (expected fault)")).catch(() => {});
    const waiting = await runInDurableObject(shard(), (_o, state) => state.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM outbox").one().n);
    expect(waiting).toBe(3);
    for (let i = 0; i < 50 && (await d1Rows("user:dora")).length < 3; i++) await sleep(50);
    const rows = await d1Rows("user:dora");
    expect(rows.map((r) => [r.row_id, JSON.parse(r.cells!), r.deleted])).toEqual([
      ["d0", { text: "d 0", done: true }, 0],
      ["d1", { text: "d 1", done: false }, 0],
      ["d2", { text: "d 2", done: false }, 0],
    ]);
    // A delete, then the same (old) entry replayed, as after a crash between D1's commit and the outbox's cleanup.
    expect((await app.save("dora", [{ todos: { d1: { text: "d 1", done: true } } }, {}])).status).toBe(200);
    for (let i = 0; i < 50 && (await d1Rows("user:dora")).filter((r) => r.deleted).length < 2; i++) await sleep(50);
    await runInDurableObject(shard(), async (_o, state) => {
      const old = rows[0]!;
      state.storage.sql.exec("INSERT INTO outbox (key, table_id, row_id, cells, version, at) VALUES ('user:dora', 'todos', ?, ?, ?, ?)", old.row_id, old.cells, old.version, Date.now());
      await drainOutbox(state.storage.sql, env.DB);
    });
    const after = await d1Rows("user:dora");
    expect(after.map((r) => [r.row_id, r.deleted])).toEqual([["d0", 1], ["d1", 0], ["d2", 1]]);
    expect(JSON.parse(after[1]!.cells!)).toEqual({ text: "d 1", done: true });
    const stats = (await (await app.admin("/stats")).json()) as { lagMs: { p50: number; p99: number; samples: number } };
    expect(stats.lagMs.samples).toBeGreaterThan(0);
    expect(stats.lagMs.p99).toBeGreaterThanOrEqual(stats.lagMs.p50);
    const search = (await (await app.admin("/search?q=d%201")).json()) as { results: { key: string }[] };
    expect(search.results.map((r) => r.key)).toContain("user:dora");
  });
});

describe("rate limits", () => {
  it("count a store's HTTP requests and socket messages together, and refuse past the limit with a 429 to retry", async () => {
    const app = instance();
    const token = await app.token("busy");
    expect((await app.save("busy", todos(1))).status).toBe(200);
    const limit = Number(env.RATE_LIMIT_PER_MINUTE);
    const upgrade = await app.fetch(`/busy?token=${token}`, { headers: { upgrade: "websocket" } });
    const ws = upgrade.webSocket!;
    ws.accept();
    const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.addEventListener("close", (e) => resolve({ code: e.code, reason: e.reason })));
    for (let i = 0; i < limit; i++) ws.send('S\n[null,1,""]');
    expect(await closed).toMatchObject({ code: 1008, reason: expect.stringMatching(/rate limit/) });
    const refused = await app.fetch(`/api/busy/load?token=${token}`);
    expect(refused.status).toBe(429);
    expect(refused.headers.get("retry-after")).toBe("1");
    expect(await refused.json()).toMatchObject({ code: "RateLimited", error: expect.stringMatching(/per minute/) });
    // Another user's store is not affected.
    expect((await app.save("calm", todos(1))).status).toBe(200);
  });
});

describe("bad input", () => {
  it("answers 100+ malformed requests with 4xx JSON errors, never a 5xx, and loses nothing", async () => {
    const app = instance();
    expect((await app.save("zed", todos(2))).status).toBe(200);
    const token = await app.token("zed");
    const auth = { authorization: `Bearer ${token}`, "content-type": "application/json" };
    const bodies = [
      "", "not json", "null", "1", '"s"', "{}", "[]", "[{}]", "[{},{},{}]", '[{"t":{}},{}]', '[{"t":{"r":{}}},{}]', '[{"t":{"r":{"c":1}}}]',
      '[{"":{"r":{"c":1}}},{}]', '[{"t":{"":{"c":1}}},{}]', '[{"t":{"r":{"":1}}},{}]', '[[],{}]', '[{"t":[]},{}]', '[{"t":{"r":[]}},{}]',
      '[{"t":{"r":{"c":1}}},[]]', '[{"t":{"r":{"c":1}}},null]', `[{"${"x".repeat(300)}":{"r":{"c":1}}},{}]`, "[".repeat(2000), "\u0000\u0001",
      '[{"t":{"r":{"c":1}}},{"":1}]', "[1,2]", "[null,null]", '["a","b"]', "true", "{\"tables\":{}}", "[{\"t\":{\"r\":{\"c\":1}}},{}]garbage",
      '[{"t":{"r":1}},{}]', '[{"t":1},{}]', '[{"t":{"r":{"c":1}}},{"v":1},1]', "\uFEFF[{}]",
      '[{"t":{"r":{"c":1}}},{}]\n[]', '[{"t":{"r":{"c":{"deep":[1,2]}}}},{"v":', "[{\"t\":{\"r\":{\"c\":1}}},{}", "{{}}", "[{},{}],",
    ];
    const requests: [string, RequestInit][] = [];
    for (const body of bodies) requests.push(["/api/zed/save", { method: "POST", headers: auth, body }]);
    requests.push(["/api/zed/save", { method: "POST", headers: auth, body: JSON.stringify(todos(1)).padEnd(600_000, " ") }]);
    for (const path of ["/api/zed/load", "/api/zed/save", "/zed", "/api/acme/users/zed/load", "/acme/users/zed"]) {
      for (const headers of [{} as Record<string, string>, { authorization: "Bearer" }, { authorization: "Bearer a.b.c" }, { authorization: "Basic abc" }, { authorization: `Bearer ${token}x` }, { authorization: `Bearer ${await app.token("other")}` }]) {
        requests.push([path, { method: path.endsWith("save") ? "POST" : "GET", headers, body: path.endsWith("save") ? "[{},{}]" : undefined }]);
      }
    }
    for (const path of ["/api/ze%20d/load", "/api/../load", `/api/${"a".repeat(65)}/load`, "/api/zed/unknown", "/api/zed/load/extra", "/a/b/c/d", "/api/zed/save?token=" + token]) {
      requests.push([path, { headers: auth }]);
    }
    for (const [path, body] of [
      ["/admin/migration/flag", "{}"], ["/admin/migration/flag", '{"flag":"sideways"}'], ["/admin/migration/flag", '{"flag":"legacy","extra":1}'],
      ["/admin/migration/flag", "nope"], ["/admin/migration/sweep", '{"pageSize":0}'], ["/admin/migration/sweep", '{"pageSize":"x"}'],
      ["/admin/stores/user%3Azed/restore", "{}"], ["/admin/stores/nobody/restore", '{"backupId":"bk-x"}'], ["/admin/stores/user%3Azed/restore", '{"backupId":"../x"}'],
      ["/admin/stores/user%3Azed/restore", '{"backupId":"bk-missing"}'],
    ] as const) {
      requests.push([path, { method: "POST", headers: { authorization: "Bearer test-admin-token" }, body }]);
      requests.push([path, { method: "POST", headers: { authorization: "Bearer wrong" }, body }]);
    }
    for (const q of ["/admin/search", "/admin/search?q=", `/admin/search?q=${"x".repeat(101)}`, "/admin/search?q=a&limit=0", "/admin/migration/verify?limit=0", "/admin/migration/verify?limit=x"]) {
      requests.push([q, { headers: { authorization: "Bearer test-admin-token" } }]);
    }
    expect(requests.length).toBeGreaterThanOrEqual(100);
    const statuses: number[] = [];
    for (const [path, init] of requests) {
      const r = await app.fetch(path, init);
      statuses.push(r.status);
      expect(r.status, `${init.method ?? "GET"} ${path} ${String(init.body ?? "").slice(0, 40)}`).toBeGreaterThanOrEqual(400);
      expect(r.status, `${init.method ?? "GET"} ${path}`).toBeLessThan(500);
      expect(((await r.json()) as { error: string }).error.length).toBeGreaterThan(0);
    }
    expect(await app.load("zed")).toEqual(todos(2));
  });
});

describe("operations through durable-shards", () => {
  it("applies the seed's alert thresholds, and the users alert fires past its count", async () => {
    const app = await sharded();
    for (const u of ["a", "b", "c"]) await app.save(u, todos(1));
    const keyspace = `stores-${app.env.INSTANCE}`;
    const settings = await directory().getSettings(keyspace);
    expect(settings.alerts).toMatchObject({ storageLimitBytes: 100_000_000, storageShare: 1, p99Seconds: 1, errorRate: 0.01, maxKeys: 1_000, keysTable: "stores" });
    expect(settings.backups).toMatchObject({ everyMs: 86_400_000, keep: 7 });
    await directory().configureKeyspace(keyspace, { alerts: { maxKeys: 2 } });
    await directory().observe(keyspace);
    const alerts = await directory().alerts(keyspace);
    expect(alerts.find((a) => a.name === "key_count")).toMatchObject({ severity: "warning", firing: true, value: 3 });
  });

  it("backs the keyspace up on its schedule and restores one user's store from it, leaving the others as they are", { timeout: 30_000 }, async () => {
    const app = await sharded({ STORE_SHARDS: "2" });
    await app.save("alice", todos(2, "before-"));
    await app.save("bob", todos(1, "bob-before-"));
    const keyspace = `stores-${app.env.INSTANCE}`;
    await directory().configureKeyspace(keyspace, { backups: { everyMs: 500, keep: 2 } });
    let backups: { id: string; scheduled: boolean }[] = [];
    for (let i = 0; i < 60 && backups.length === 0; i++) {
      await sleep(100);
      backups = (await directory().listBackups(keyspace)).filter((b) => b.scheduled);
    }
    await directory().configureKeyspace(keyspace, { backups: { everyMs: 0 } });
    expect(backups.length).toBeGreaterThan(0);
    await app.save("alice", todos(5, "after-"));
    await app.save("bob", todos(3, "bob-after-"));
    const r = await app.admin("/stores/user%3Aalice/restore", { backupId: backups[0]!.id });
    expect(r.status).toBe(200);
    expect(await r.json()).toMatchObject({ restored: "user:alice", from: backups[0]!.id, rows: 2 });
    expect(await app.load("alice")).toEqual(todos(2, "before-"));
    expect(await app.load("bob")).toEqual(todos(3, "bob-after-"));
    const missing = await app.admin("/stores/user%3Anobody/restore", { backupId: backups[0]!.id });
    expect(missing.status).toBe(404);
  });
});
