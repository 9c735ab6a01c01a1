import { env, runInDurableObject } from "cloudflare:test";
import { contentHash } from "durable-shards";
import { describe, expect, it } from "vitest";
import type { StoreContent } from "../src/content.js";
import { instance, todos, type Instance } from "./helpers.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Writers saving growing todo lists for `users` until stopped, each user's saves one after another;
 * what each user's store must hold in the end is its last acknowledged save.
 */
function writers(app: Instance, users: string[]) {
  const acked = new Map<string, StoreContent>();
  let stop = false;
  let saves = 0;
  const done = Promise.all(
    [0, 1, 2, 3].map(async (w) => {
      for (let round = 1; !stop; round++) {
        for (let i = w; i < users.length && !stop; i += 4) {
          const user = users[i]!;
          const content = todos(1 + (round % 7), `${user}-r${round}-`);
          const r = await app.save(user, content);
          if (r.status !== 200) throw new Error(`save ${user}: ${r.status} ${await r.text()}`);
          acked.set(user, content);
          saves++;
        }
      }
    }),
  );
  return { acked, saves: () => saves, stop: async () => ((stop = true), await done) };
}

/** Every user's store, loaded, equals (content and hash) its last acknowledged save. */
async function expectAcked(app: Instance, users: string[], acked: Map<string, StoreContent>) {
  for (const user of users) {
    const loaded = await app.load(user);
    const expected = acked.get(user)!;
    expect(loaded, user).toEqual(expected);
    expect(await contentHash(loaded)).toBe(await contentHash(expected));
  }
}

async function seeded(users: number, overrides = {}) {
  const app = instance({ STORE_SHARDS: "3", ...overrides });
  const names = Array.from({ length: users }, (_, i) => `user${String(i).padStart(3, "0")}`);
  for (const u of names) expect((await app.save(u, todos(2, `${u}-seed-`))).status).toBe(200);
  const acked = new Map(names.map((u) => [u, todos(2, `${u}-seed-`)]));
  return { app, names, acked, legacy: env.LEGACY.getByName(`default-store-${app.env.INSTANCE}`) };
}

async function status(app: Instance) {
  return (await (await app.admin("/migration")).json()) as { flag: string; sweep: { done: boolean; migrated: number; cursor: string | null } | null; legacy: { here: number; frozen: number; elsewhere: number } };
}

describe("migrating off the legacy store", () => {
  it("big bang: the operator sweeps page by page while writes run, then verify finds every copy exact", async () => {
    const { app, names, acked, legacy } = await seeded(30);
    const load = writers(app, names);
    await sleep(20);
    await app.flag("sharded");
    let pages = 0;
    for (;;) {
      const r = await app.admin("/migration/sweep", { pageSize: 7 });
      expect(r.status).toBe(200);
      pages++;
      if (((await r.json()) as { done: boolean }).done) break;
    }
    // Some writes after the cut-over too, however slow the machine.
    for (let i = 0; i < 400 && load.saves() <= 30; i++) await sleep(25);
    await load.stop();
    for (const [u, c] of load.acked) acked.set(u, c);
    expect(pages).toBeGreaterThan(1);
    expect(await legacy.counts()).toEqual({ here: 0, frozen: 0, elsewhere: 30 });
    const verify = (await (await app.admin("/migration/verify?limit=200")).json()) as { users: { key: string; copyExact: boolean; legacy: { rows: number } }[] };
    expect(verify.users).toHaveLength(30);
    expect(verify.users.every((u) => u.copyExact)).toBe(true);
    await expectAcked(app, names, acked);
    expect(load.saves()).toBeGreaterThan(30);
  });

  it("gradual: stores move on first access and a background sweep moves the rest, writes running", async () => {
    const { app, names, acked, legacy } = await seeded(24);
    await app.flag("sharded", "background", 10);
    const touched = names.filter((_, i) => i % 4 === 0);
    const load = writers(app, touched);
    for (let i = 0; i < 100 && (await status(app)).sweep?.done !== true; i++) await sleep(100);
    await load.stop();
    for (const [u, c] of load.acked) acked.set(u, c);
    expect((await status(app)).sweep?.done).toBe(true);
    expect(await legacy.counts()).toEqual({ here: 0, frozen: 0, elsewhere: 24 });
    await expectAcked(app, names, acked);
  });

  it("feature flag: off again brings the stores back with the writes made sharded, and on again, writes in between", async () => {
    const { app, names, acked, legacy } = await seeded(16);
    const load = writers(app, names);
    await app.flag("sharded", "background", 50);
    for (let i = 0; i < 100 && !(await status(app)).sweep?.done; i++) await sleep(50);
    await sleep(30); // writes land on the sharded side
    await app.flag("legacy", "background", 50);
    for (let i = 0; i < 100 && !(await status(app)).sweep?.done; i++) await sleep(50);
    expect(await legacy.counts()).toMatchObject({ here: 16, frozen: 0 });
    await sleep(30); // and on the legacy side again
    await app.flag("sharded", "background", 50);
    for (let i = 0; i < 100 && !(await status(app)).sweep?.done; i++) await sleep(50);
    await load.stop();
    for (const [u, c] of load.acked) acked.set(u, c);
    expect(await legacy.counts()).toEqual({ here: 0, frozen: 0, elsewhere: 16 });
    await expectAcked(app, names, acked);
  });

  it("a crash mid-migration (a store frozen, the legacy object aborted), then resumed: nothing lost, the store moves", async () => {
    const { app, names, acked, legacy: before } = await seeded(6);
    await app.flag("sharded");
    // The sweep's first page moved some stores; then a move froze user003 and the object crashed.
    await app.admin("/migration/sweep", { pageSize: 2 });
    await before.exportStore("user:user003");
    await runInDurableObject(before, (_o, state) => state.abort("crash mid-migration (expected fault)")).catch(() => {});
    const legacy = env.LEGACY.getByName(`default-store-${app.env.INSTANCE}`);
    expect(await legacy.counts()).toMatchObject({ frozen: 1, elsewhere: 2 });
    // A write for the frozen store waits (503 after a while, or done once it moved); the sweep resumes from its cursor.
    const write = app.save("user003", todos(5, "after-crash-"));
    for (;;) {
      const r = await app.admin("/migration/sweep", { pageSize: 2 });
      if (((await r.json()) as { done: boolean }).done) break;
    }
    expect((await write).status).toBe(200);
    acked.set("user003", todos(5, "after-crash-"));
    expect(await legacy.counts()).toEqual({ here: 0, frozen: 0, elsewhere: 6 });
    await expectAcked(app, names, acked);
  });
});
