/**
 * TinyBase's own clients, unchanged, against `npm start` in sharded mode: its remote persister
 * (HTTP load and save, the token in the URLs as it sends no headers) and its WebSocket synchronizer
 * (the token in the Authorization header, with Node's `ws`).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createMergeableStore, createStore, type MergeableStore, type Store } from "tinybase";
import { createRemotePersister } from "tinybase/persisters/persister-remote";
import { createWsSynchronizer } from "tinybase/synchronizers/synchronizer-ws-client";
import { WebSocket } from "ws";
import { startTodoStores, token, type RunningServer } from "./app.js";

let server: RunningServer;
const used: string[] = [];
beforeAll(async () => {
  server = await startTodoStores({ FEATURE_SHARDING: "on", PLACEMENT: "hashed" });
});
afterAll(() => server?.stop());

async function until(check: () => boolean, ms = 10_000): Promise<void> {
  for (const start = Date.now(); !check(); ) {
    if (Date.now() - start > ms) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function persisted(userId: string): Promise<{ store: Store; stop: () => Promise<void> }> {
  const store = createStore();
  const t = await token(userId);
  used.push(t);
  const persister = createRemotePersister(store, `${server.base}/api/${userId}/load?token=${t}`, `${server.base}/api/${userId}/save?token=${t}`, 0.2);
  await persister.startAutoLoad();
  await persister.startAutoSave();
  return { store, stop: () => persister.destroy().then(() => undefined) };
}

async function synchronized(userId: string): Promise<{ store: MergeableStore; stop: () => Promise<void> }> {
  const store = createMergeableStore();
  const t = await token(userId);
  used.push(t);
  const ws = new WebSocket(`${server.base.replace("http", "ws")}/${userId}`, { headers: { authorization: `Bearer ${t}` } });
  const synchronizer = await createWsSynchronizer(store, ws, 1);
  await synchronizer.startSync();
  return { store, stop: () => synchronizer.destroy().then(() => undefined) };
}

describe("TinyBase's clients against the sharded app", () => {
  it("two remote-persister clients of one user converge; another user's sees nothing", async () => {
    const a = await persisted("ann");
    const b = await persisted("ann");
    const other = await persisted("otto");
    a.store.setRow("todos", "t1", { text: "from a", done: false });
    await until(() => b.store.hasRow("todos", "t1"));
    b.store.setCell("todos", "t1", "done", true);
    b.store.setRow("todos", "t2", { text: "from b", done: false });
    await until(() => a.store.getCell("todos", "t1", "done") === true && a.store.hasRow("todos", "t2"));
    expect(a.store.getTables()).toEqual(b.store.getTables());
    await new Promise((r) => setTimeout(r, 500));
    expect(other.store.getTables()).toEqual({});
    await Promise.all([a.stop(), b.stop(), other.stop()]);
  });

  it("two WebSocket-synchronizer clients of one user converge, with the HTTP client too; another user's sees nothing", async () => {
    const a = await synchronized("sid");
    const b = await synchronized("sid");
    const http = await persisted("sid");
    const other = await synchronized("olga");
    a.store.setRow("todos", "w1", { text: "from a", done: false });
    await until(() => b.store.hasRow("todos", "w1"));
    b.store.setCell("todos", "w1", "done", true);
    await until(() => a.store.getCell("todos", "w1", "done") === true);
    // The HTTP client sees the synchronized store, and its save reaches the sockets.
    await until(() => http.store.getCell("todos", "w1", "done") === true);
    http.store.setRow("todos", "h1", { text: "over http", done: false });
    await until(() => a.store.hasRow("todos", "h1") && b.store.hasRow("todos", "h1"));
    expect(a.store.getTables()).toEqual(b.store.getTables());
    await new Promise((r) => setTimeout(r, 300));
    expect(other.store.getTables()).toEqual({});
    await Promise.all([a.stop(), b.stop(), http.stop(), other.stop()]);
  });

  it("never shows a token in the server's log (tokens in URLs included)", () => {
    expect(used.length).toBeGreaterThan(4);
    const log = server.output();
    expect(log).toMatch(/GET \/api\/ann\/load/);
    for (const t of used) expect(log).not.toContain(t.split(".")[1]);
  });
});
