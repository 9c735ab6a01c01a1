import { env } from "cloudflare:test";
import { directoryClient, MapCache, ShardRouter } from "durable-shards";
import { describe, expect, it } from "vitest";
import { createMergeableStore, type MergeableStore } from "tinybase";
import { createWsSynchronizer } from "tinybase/synchronizers/synchronizer-ws-client";
import { instance, todos, type Instance } from "./helpers.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A socket to the synchronizer endpoint of `path`, as a browser opens it (token in the query). */
async function socket(app: Instance, path: string, token: string): Promise<WebSocket> {
  const response = await app.fetch(`${path}?token=${token}`, { headers: { upgrade: "websocket" } });
  if (response.status !== 101) throw new Error(`upgrade ${path}: ${response.status} ${await response.text()}`);
  const ws = response.webSocket!;
  ws.accept();
  return ws;
}

/** A TinyBase client (its own MergeableStore and WebSocket synchronizer) of user `userId`. */
async function client(app: Instance, userId: string, orgId?: string): Promise<{ store: MergeableStore; stop: () => Promise<void> }> {
  const store = createMergeableStore();
  const path = orgId === undefined ? `/${userId}` : `/${orgId}/users/${userId}`;
  const synchronizer = await createWsSynchronizer(store, (await socket(app, path, await app.token(userId, orgId))) as never, 1);
  await synchronizer.startSync();
  return { store, stop: async () => void (await synchronizer.destroy()) };
}

async function until(check: () => boolean, ms = 3000): Promise<void> {
  for (const start = Date.now(); !check(); ) {
    if (Date.now() - start > ms) throw new Error("timed out");
    await sleep(10);
  }
}

describe.each([
  ["legacy", "off", undefined],
  ["sharded, hashed", "on", "hashed"],
  ["sharded, per user", "on", "entity"],
] as const)("TinyBase's WebSocket synchronizer (%s)", (_name, sharding, placement) => {
  it("two clients of one user converge, with what was saved over HTTP; another user's client sees none of it", async () => {
    const app = instance({ FEATURE_SHARDING: sharding, ...(placement ? { PLACEMENT: placement } : {}) });
    expect((await app.save("alice", todos(2, "http-"))).status).toBe(200);
    const a = await client(app, "alice");
    const b = await client(app, "alice");
    const eve = await client(app, "eve");
    await until(() => a.store.getRowCount("todos") === 2 && b.store.getRowCount("todos") === 2);
    a.store.setRow("todos", "from-a", { text: "milk", done: false });
    b.store.setCell("todos", "http-0", "done", true);
    await until(() => b.store.hasRow("todos", "from-a") && a.store.getCell("todos", "http-0", "done") === true);
    // The server's peer kept it: a load over HTTP sees both changes.
    await sleep(50);
    const loaded = await app.load("alice");
    expect(loaded[0].todos!["from-a"]).toEqual({ text: "milk", done: false });
    expect(loaded[0].todos!["http-0"]!.done).toBe(true);
    // And the other way: an HTTP save reaches the open clients.
    expect((await app.save("alice", [{ todos: { only: { text: "saved", done: false } } }, {}])).status).toBe(200);
    await until(() => a.store.getRowIds("todos").join() === "only" && b.store.getRowIds("todos").join() === "only");
    await sleep(50);
    expect(eve.store.getTables()).toEqual({});
    expect(await app.load("eve")).toEqual([{}, {}]);
    await Promise.all([a.stop(), b.stop(), eve.stop()]);
  });
});

describe("synchronizer sockets", () => {
  it("close with 1012 when their store's slot moves to a new shard; a client reconnecting there syncs with it", async () => {
    const app = instance({ FEATURE_SHARDING: "on", STORE_SHARDS: "1" });
    const users = Array.from({ length: 24 }, (_, i) => `mover${i}`);
    for (const u of users) expect((await app.save(u, todos(1, u))).status).toBe(200);
    const sockets = await Promise.all(users.map(async (u) => ({ u, ws: await socket(app, `/${u}`, await app.token(u)) })));
    const closes = sockets.map(({ u, ws }) => new Promise<[string, number]>((resolve) => ws.addEventListener("close", (e) => resolve([u, e.code]))));
    const change = await directoryClient(env.DIRECTORY).addShards(`stores-${app.env.INSTANCE}`, 1);
    expect(change.movedSlots).toBeGreaterThan(0);
    const map = await new ShardRouter({ directory: env.DIRECTORY, namespace: env.STORES, keyspace: `stores-${app.env.INSTANCE}`, cache: new MapCache() }).map();
    const moved = users.filter((u) => map.shardOfKey(`user:${u}`).id !== "s0");
    expect(moved.length).toBeGreaterThan(0);
    const closed = await Promise.race([Promise.all(closes.filter((_, i) => moved.includes(users[i]!))), sleep(3000).then(() => [])]);
    expect(closed.map(([u, code]) => [u, code])).toEqual(moved.map((u) => [u, 1012]));
    for (const { ws } of sockets) ws.close();
    const again = await client(app, moved[0]!);
    await until(() => again.store.getRowCount("todos") === 1);
    await again.stop();
  });

  it("refuse an upgrade without a token, with another user's token, or with a bad one", async () => {
    const app = instance();
    const attempts: { path: string; headers: Record<string, string> }[] = [
      { path: "/alice", headers: {} },
      { path: `/alice?token=${await app.token("bob")}`, headers: {} },
      { path: `/acme/users/alice?token=${await app.token("alice")}`, headers: {} },
      { path: "/alice", headers: { authorization: "Bearer nonsense.token" } },
      { path: `/alice?token=${(await app.token("alice")).slice(0, -2)}xx`, headers: {} },
    ];
    for (const { path, headers } of attempts) {
      const r = await app.fetch(path, { headers: { upgrade: "websocket", ...headers } });
      expect([401, 403], path).toContain(r.status);
      expect(((await r.json()) as { error: string }).error.length).toBeGreaterThan(0);
    }
    const ok = await app.fetch("/alice", { headers: { upgrade: "websocket", authorization: `Bearer ${await app.token("alice")}` } });
    expect(ok.status).toBe(101);
    ok.webSocket!.accept();
    ok.webSocket!.close();
  });

  it("close on malformed frames with a reason, and keep serving the store", async () => {
    const app = instance();
    const token = await app.token("mallory");
    const frames = ["", "no newline", "S\nnot json", "S\n[1,2]", "S\n[null, 99, \"\"]", "S\n{\"a\":1}", `${"x".repeat(300)}\n[null,1,""]`, "S\n[null,1]"];
    for (let i = 0; i < 120; i++) {
      const ws = await socket(app, "/mallory", token);
      const closed = new Promise<number>((resolve) => ws.addEventListener("close", (e) => resolve(e.code)));
      ws.send(i % 2 ? frames[i % frames.length]! : new Uint8Array([1, 2, 3]));
      expect([1003, 1007]).toContain(await closed);
    }
    expect((await app.save("mallory", todos(1))).status).toBe(200);
    expect(await app.load("mallory")).toEqual(todos(1));
  });
});
