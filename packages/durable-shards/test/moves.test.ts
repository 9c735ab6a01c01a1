import { env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { MAX_FAILED_ATTEMPTS, ShardError, ShardRouter, rangesContain, slotForKey, type ChangeStatus, type Ownership } from "../src/index.js";
import { createKv, directory, directoryStub, kvRouter, rejection, uniqueName, writers } from "./helpers.js";

const shard = (keyspace: string, id: string) => env.KV.getByName(`${keyspace}:${id}`);
const sabotageAcquire = (keyspace: string, id: string, on: boolean) => runInDurableObject(shard(keyspace, id), (o) => o.sabotageAcquire(on));

/** Rows on every named shard that lie outside the slots it owns, and the slots each owns. */
async function placement(keyspace: string, ids: string[]): Promise<{ misplaced: string[]; owned: Record<string, number> }> {
  const misplaced: string[] = [];
  const owned: Record<string, number> = {};
  for (const id of ids) {
    const { own, rows } = await runInDurableObject(shard(keyspace, id), (o) => ({ own: o.describeOwnership() as Ownership | undefined, rows: o.entries() }));
    owned[id] = (own?.ranges ?? []).reduce((n, [a, b]) => n + b - a, 0);
    for (const row of rows) if (!own || !rangesContain(own.ranges, row.slot)) misplaced.push(`${row.key}@${id}`);
  }
  return { misplaced, owned };
}


const progress = (c: ChangeStatus) => [c.totals.rows, c.totals.bytes, c.totals.movesDone, c.totals.slotsMoved];

describe("getChange", () => {
  it("reports phases, and copied rows, bytes and moves that only grow, through a failed run and its resumption", async () => {
    const keyspace = await createKv(2, 100);
    const { router } = kvRouter(keyspace);
    for (let i = 0; i < 40; i++) await router.get(`k${i}`).put(`v${i}`);
    const created = (await directory().getChange(keyspace))!;
    expect(created).toMatchObject({ version: 1, phase: "done", moves: [] });

    await sabotageAcquire(keyspace, "s2", true);
    const error = await rejection(directory().addShards(keyspace, 1));
    expect(error).toMatchObject({ code: "ChangeInProgress" });
    expect(error.message).toMatch(/paused after failed attempt 1 of 3: .*target refuses slots.*runs it again in 5 s, and rolls it back after 3 failed attempts/);
    const stuck = (await directory().getChange(keyspace))!;
    expect(stuck).toMatchObject({ version: 2, phase: "cutting over", failedAttempts: 1 });
    expect(stuck.moves).toHaveLength(2);
    for (const move of stuck.moves) {
      expect(move).toMatchObject({ to: "s2", phase: "failed" });
      expect(move.error).toMatch(/target refuses slots/);
      expect(move.releasedAt).toBeGreaterThanOrEqual(stuck.startedAt);
      expect(move.rows).toBeGreaterThan(0);
      expect(move.acquiredAt).toBeUndefined();
    }

    await sabotageAcquire(keyspace, "s2", false);
    expect(await runDurableObjectAlarm(directoryStub())).toBe(true);
    const done = (await directory().getChange(keyspace))!;
    expect(done).toMatchObject({ version: 2, phase: "done", failedAttempts: 1, etaMs: 0 });
    expect(done.moves.every((m) => m.phase === "done" && m.pauseMs! >= 0 && m.acquiredAt! >= m.releasedAt!)).toBe(true);
    expect(done.totals).toMatchObject({ moves: 2, movesDone: 2, slots: 33, slotsMoved: 33, rows: stuck.totals.rows });
    expect(done.finishedAt).toBeGreaterThanOrEqual(done.startedAt);
    // Progress only grows, from the stuck run to the finished one.
    progress(stuck).forEach((value, i) => expect(progress(done)[i]).toBeGreaterThanOrEqual(value));
    // The rows counted as copied are the rows the new shard holds.
    expect(await runInDurableObject(shard(keyspace, "s2"), (o) => o.entries().length)).toBe(done.totals.rows);
  });
});

describe("abortChange", () => {
  it("rolls back a partly cut-over change with writes running: every write kept, every slot on its source, a new change can start", async () => {
    const keyspace = await createKv(2, 128);
    const { router } = kvRouter(keyspace, { maxRoutingAttempts: 12 });
    const keys = Array.from({ length: 48 }, (_, i) => `c${i}`);
    // s3 refuses its slots; the moves to s2 finish, so s2 serves (and takes writes for) its slots.
    await sabotageAcquire(keyspace, "s3", true);
    const change = await rejection(directory().addShards(keyspace, 2));
    expect(change).toMatchObject({ code: "ChangeInProgress" });
    const partial = (await directory().getChange(keyspace))!;
    expect(partial.moves.some((m) => m.to === "s2" && m.phase === "moved")).toBe(true);
    expect(partial.moves.some((m) => m.to === "s3" && m.phase === "failed")).toBe(true);

    let stopped = false;
    const load = writers(router, keys, () => stopped);
    await scheduler.wait(100);
    const s2Before = await runInDurableObject(shard(keyspace, "s2"), (o) => o.entries().length);
    expect(s2Before).toBeGreaterThan(0); // writes landed on the target after the partial cut-over
    const rolled = await directory().abortChange(keyspace);
    await scheduler.wait(100);
    stopped = true;
    await load.done;

    expect(rolled).toMatchObject({ phase: "rolled back", version: 2, rollbackReason: "aborted (abortChange)" });
    expect(rolled.moves.every((m) => m.phase === "rolled back")).toBe(true);
    expect(load.failures.map((f) => f.error)).toEqual([]);
    const fresh = kvRouter(keyspace).router;
    for (const key of keys) expect([key, Number(await fresh.get(key).get())]).toEqual([key, load.acked.get(key)]);
    const info = await directory().getKeyspace(keyspace);
    expect(info).toMatchObject({ version: 2 });
    expect(info.pendingVersion).toBeUndefined();
    expect(info.shards.map((s) => [s.id, s.slots])).toEqual([["s0", 64], ["s1", 64]]);
    const after = await placement(keyspace, ["s0", "s1", "s2", "s3"]);
    expect(after).toEqual({ misplaced: [], owned: { s0: 64, s1: 64, s2: 0, s3: 0 } });

    // A new change starts (at a newer version) and completes.
    await sabotageAcquire(keyspace, "s3", false);
    const next = await directory().addShards(keyspace, 1);
    expect(next.version).toBe(3);
    for (const key of keys) expect(Number(await fresh.get(key).get())).toBe(load.acked.get(key));
  });

  it("stops a change that is running, mid-copy, and rolls it back", async () => {
    const keyspace = await createKv(2, 2);
    const { router } = kvRouter(keyspace);
    const keys = Array.from({ length: 2000 }, (_, i) => `doc-${i}`).filter((k) => slotForKey(k, 2) === 1).slice(0, 400);
    for (let i = 0; i < keys.length; i += 32) await Promise.all(keys.slice(i, i + 32).map((k) => router.get(k).put("".padEnd(65_536, "r"))));
    const running = directory().removeShards(keyspace, ["s1"]).then(
      () => "committed",
      (error: ShardError) => error.code,
    );
    let seen: ChangeStatus | null = null;
    while (!seen || !(seen.phase === "copying" && seen.totals.rows > 0)) {
      seen = await directory().getChange(keyspace);
      await scheduler.wait(2);
    }
    const rolled = await directory().abortChange(keyspace);
    expect(rolled).toMatchObject({ phase: "rolled back", rollbackReason: "aborted (abortChange)" });
    expect(await running).toBe("RolledBack");
    expect((await directory().getKeyspace(keyspace)).shards.map((s) => s.id)).toEqual(["s0", "s1"]);
    expect(await runInDurableObject(shard(keyspace, "s0"), (o) => o.entries().length)).toBe(0);
    expect(await runInDurableObject(shard(keyspace, "s1"), (o) => o.entries().length)).toBe(400);
    expect((await router.get(keys[7]!).get())?.length).toBe(65_536);
  }, 60_000);

  it("rolls back a change whose slots are released and not yet acquired, and refuses when nothing is pending", async () => {
    const keyspace = await createKv(1, 64);
    const { router } = kvRouter(keyspace);
    for (let i = 0; i < 20; i++) await router.get(`k${i}`).put(`v${i}`);
    await sabotageAcquire(keyspace, "s1", true);
    await rejection(directory().addShards(keyspace, 1));
    const diagnosis = await directory().diagnose(keyspace);
    expect(diagnosis.healthy).toBe(false);
    expect(diagnosis.problems.join("\n")).toMatch(/s0 → s1.*target refuses slots/);
    expect(diagnosis.refused).toEqual([expect.objectContaining({ from: "s0", to: "s1", slots: 32 })]);
    expect(diagnosis.nextStep).toMatch(/again in 5 s \(2 attempts left/);
    expect(diagnosis.actions.join("\n")).toMatch(/abortChange/);

    const rolled = await directory().abortChange(keyspace);
    expect(rolled.phase).toBe("rolled back");
    for (let i = 0; i < 20; i++) expect(await router.get(`k${i}`).get()).toBe(`v${i}`);
    // The target never takes these slots, even if an acquire for the rolled-back version arrives late.
    await sabotageAcquire(keyspace, "s1", false);
    const late = await shard(keyspace, "s1").dsAcquire({ keyspace, shard: "s1", slotCount: 64, version: 2, ranges: [[32, 64]] }, null);
    expect(JSON.stringify(late)).toMatch(/rolled back on shard 's1'/);
    expect((await directory().diagnose(keyspace)).healthy).toBe(true);
    const none = await rejection(directory().abortChange(keyspace));
    expect(none).toBeInstanceOf(ShardError);
    expect(none.message).toMatch(/\[NoChange\] keyspace '.*' has no change in progress to roll back/);
  });
});

describe("a change that keeps failing", () => {
  it(`rolls itself back after ${MAX_FAILED_ATTEMPTS} failed runs (the alarm retries every 5 s), serves every key again, and says why`, async () => {
    const keyspace = await createKv(2, 64);
    const { router } = kvRouter(keyspace);
    for (let i = 0; i < 30; i++) await router.get(`k${i}`).put(`v${i}`);
    await sabotageAcquire(keyspace, "s2", true);
    await rejection(directory().addShards(keyspace, 1));
    for (let attempt = 2; attempt <= MAX_FAILED_ATTEMPTS; attempt++) {
      // The next run is due within the retry delay, never later.
      const due = await runInDurableObject(directoryStub(), (_, state) => state.storage.getAlarm());
      expect(due! - Date.now()).toBeLessThanOrEqual(5_000);
      expect(await runDurableObjectAlarm(directoryStub())).toBe(true);
    }
    const change = (await directory().getChange(keyspace))!;
    expect(change).toMatchObject({ phase: "rolled back", failedAttempts: MAX_FAILED_ATTEMPTS });
    expect(change.rollbackReason).toMatch(/rolled back after failed attempt 3 of 3: .*target refuses slots/);
    for (let i = 0; i < 30; i++) expect(await router.get(`k${i}`).get()).toBe(`v${i}`);
    expect((await placement(keyspace, ["s0", "s1", "s2"])).owned).toEqual({ s0: 32, s1: 32, s2: 0 });
    // The next change starts at once, at a newer version, with a new shard id (s2 is never reused).
    const next = await directory().addShards(keyspace, 1);
    expect(next).toMatchObject({ version: change.version + 1, moves: [{ to: "s3" }, { to: "s3" }] });
  });

  it("a rollback that fails is retried by the alarm until every slot is served by its source again", async () => {
    const keyspace = await createKv(1, 32);
    const { router } = kvRouter(keyspace);
    for (let i = 0; i < 10; i++) await router.get(`k${i}`).put(`v${i}`);
    await sabotageAcquire(keyspace, "s1", true);
    await rejection(directory().addShards(keyspace, 1));
    await runInDurableObject(shard(keyspace, "s0"), (o) => o.sabotageReclaim(true));
    const paused = await rejection(directory().abortChange(keyspace));
    expect(paused.message).toMatch(/rollback of the change to map version 2 .* paused: .*source refuses its slots back/);
    expect((await directory().getChange(keyspace))!.phase).toBe("failed");
    expect((await directory().diagnose(keyspace)).nextStep).toMatch(/run the rollback again/);
    await runInDurableObject(shard(keyspace, "s0"), (o) => o.sabotageReclaim(false));
    expect(await runDurableObjectAlarm(directoryStub())).toBe(true);
    expect((await directory().getChange(keyspace))!.phase).toBe("rolled back");
    for (let i = 0; i < 10; i++) expect(await router.get(`k${i}`).get()).toBe(`v${i}`);
  });
});

describe("big moves", () => {
  it("moves a slot holding 40 MB of rows, more than one RPC may carry, in pages", async () => {
    const keyspace = await createKv(2, 2);
    const { router } = kvRouter(keyspace);
    // 640 rows of 64 KiB, all in slot 1 (owned by s1).
    const keys = Array.from({ length: 4000 }, (_, i) => `big-${i}`).filter((k) => slotForKey(k, 2) === 1).slice(0, 640);
    expect(keys).toHaveLength(640);
    const value = (i: number) => `${i}:`.padEnd(65_536, "x");
    for (let i = 0; i < keys.length; i += 16) await Promise.all(keys.slice(i, i + 16).map((k, j) => router.get(k).put(value(i + j))));

    const removal = await directory().removeShards(keyspace, ["s1"]);
    expect(removal.moves).toEqual([expect.objectContaining({ from: "s1", to: "s0", slots: 1 })]);
    const change = (await directory().getChange(keyspace))!;
    expect(change.phase).toBe("done");
    expect(change.totals.rows).toBe(640);
    expect(change.totals.bytes).toBeGreaterThan(40 * 1024 * 1024); // over the 32 MiB message limit
    const fresh = kvRouter(keyspace).router;
    for (const i of [0, 1, 319, 639]) expect(await fresh.get(keys[i]!).get()).toBe(value(i));
    expect(await runInDurableObject(shard(keyspace, "s0"), (o) => o.entries().length)).toBe(640);
    expect(await runInDurableObject(shard(keyspace, "s1"), (o) => o.entries().length)).toBe(0);
  }, 120_000);
});

describe("copy while serving", () => {
  it("keeps serving a moving slot while its rows copy: writes and deletes made meanwhile are caught up, none lost or revived", async () => {
    const keyspace = await createKv(2, 2);
    const { router } = kvRouter(keyspace, { maxRoutingAttempts: 12 });
    const inSlot1 = (prefix: string, n: number) => Array.from({ length: n * 4 }, (_, i) => `${prefix}-${i}`).filter((k) => slotForKey(k, 2) === 1).slice(0, n);
    const bulk = inSlot1("bulk", 320); // 20 MB: the copy takes a while
    for (let i = 0; i < bulk.length; i += 16) await Promise.all(bulk.slice(i, i + 16).map((k) => router.get(k).put("".padEnd(65_536, "y"))));
    const doomed = inSlot1("doomed", 20);
    for (const key of doomed) await router.get(key).put("delete me");
    const counters = inSlot1("count", 24);

    let stopped = false;
    const load = writers(router, counters, () => stopped);
    const deletions = (async () => {
      for (const key of doomed) {
        await scheduler.wait(5);
        await router.get(key).delete();
      }
    })();
    const removal = directory().removeShards(keyspace, ["s1"]);
    await Promise.all([removal, deletions]);
    stopped = true;
    await load.done;

    expect(load.failures.map((f) => f.error)).toEqual([]);
    const change = (await directory().getChange(keyspace))!;
    expect(change.phase).toBe("done");
    const [move] = change.moves;
    expect(move).toMatchObject({ from: "s1", to: "s0", phase: "done", rows: expect.any(Number) });
    // The copy ran before the slots were refused; writes made during it were replayed.
    expect(move!.copiedAt).toBeLessThanOrEqual(move!.releasedAt!);
    expect(move!.caughtUpRows).toBeGreaterThan(0);
    const fresh = kvRouter(keyspace).router;
    for (const key of counters) expect([key, Number(await fresh.get(key).get())]).toEqual([key, load.acked.get(key)]);
    for (const key of doomed) expect([key, await fresh.get(key).get()]).toEqual([key, null]);
    expect(await runInDurableObject(shard(keyspace, "s0"), (o) => o.entries().length)).toBe(bulk.length + counters.length);
    // The source stopped recording once it gave the slots away.
    expect(await runInDurableObject(shard(keyspace, "s1"), (_, state) => state.storage.sql.exec("SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'trigger'").one().n)).toBe(0);
  }, 120_000);
});

describe("a big shard splits while serving", () => {
  it("splits one 80 MB shard in two while users write: every user served throughout, progress only grows", async () => {
    const keyspace = await createKv(1, 64);
    const { router } = kvRouter(keyspace, { maxRoutingAttempts: 15 });
    const bulk = Array.from({ length: 1280 }, (_, i) => `user-${i}:doc`); // 1,280 × 64 KiB = 80 MiB
    for (let i = 0; i < bulk.length; i += 32) await Promise.all(bulk.slice(i, i + 32).map((k) => router.get(k).put("".padEnd(65_536, "d"))));
    const users = Array.from({ length: 40 }, (_, i) => `user-${i}:todos`);

    let stopped = false;
    const load = writers(router, users, () => stopped);
    const samples: ChangeStatus[] = [];
    const sampling = (async () => {
      while (!stopped) {
        const change = await directory().getChange(keyspace);
        if (change && change.version === 2) samples.push(change);
        await scheduler.wait(10);
      }
    })();
    try {
      await scheduler.wait(30);
      const split = await directory().addShards(keyspace, 1);
      expect(split.movedSlots).toBe(32);
      await scheduler.wait(30);
    } finally {
      stopped = true;
      await Promise.all([load.done, sampling]);
    }

    expect(load.failures.map((f) => f.error)).toEqual([]); // no user saw an error (no 503) at any point
    const fresh = kvRouter(keyspace).router;
    for (const key of users) expect([key, Number(await fresh.get(key).get())]).toEqual([key, load.acked.get(key)]);
    const done = (await directory().getChange(keyspace))!;
    expect(done.phase).toBe("done");
    expect(done.totals.bytes).toBeGreaterThan(35 * 1024 * 1024);
    // Copied against the total the slots held when the copy started (sizes are approximate).
    expect(Math.abs(done.totals.bytes - done.totals.bytesTotal) / done.totals.bytesTotal).toBeLessThan(0.05);
    // Rows the users created during the copy are the only difference.
    expect(done.totals.rowsTotal).toBeGreaterThan(500);
    expect(Math.abs(done.totals.rows - done.totals.rowsTotal)).toBeLessThanOrEqual(users.length);
    expect(samples.some((c) => c.phase === "copying" && c.etaMs! > 0 && c.totals.bytes < c.totals.bytesTotal)).toBe(true);
    // Phases advance in order, and copied counts only grow.
    const order = ["planned", "copying", "catching up", "cutting over", "cleaning up", "done"];
    const seen = samples.map((c) => order.indexOf(c.phase));
    expect(seen.every((p) => p >= 0)).toBe(true);
    expect(seen).toEqual([...seen].sort((a, b) => a - b));
    expect(samples.map((c) => c.phase)).toContain("copying");
    for (let i = 1; i < samples.length; i++) {
      expect(samples[i]!.totals.rows).toBeGreaterThanOrEqual(samples[i - 1]!.totals.rows);
      expect(samples[i]!.totals.bytes).toBeGreaterThanOrEqual(samples[i - 1]!.totals.bytes);
    }
    // Every move copied while its source served, and was refused only afterwards.
    for (const move of done.moves) expect(move.copiedAt).toBeLessThanOrEqual(move.releasedAt!);
  }, 120_000);
});

describe("copy rate limit", () => {
  it("spaces a change's copy out to copyBytesPerSecond while sources serve, and refuses a limit that is too low", async () => {
    const keyspace = await createKv(2, 2);
    const { router } = kvRouter(keyspace);
    const keys = Array.from({ length: 1000 }, (_, i) => `rate-${i}`).filter((k) => slotForKey(k, 2) === 1).slice(0, 160); // 10 MiB
    for (let i = 0; i < keys.length; i += 32) await Promise.all(keys.slice(i, i + 32).map((k) => router.get(k).put("".padEnd(65_536, "q"))));
    const tooLow = await rejection(directory().removeShards(keyspace, ["s1"], { copyBytesPerSecond: 10 }));
    expect(tooLow.message).toMatch(/\[InvalidArgument\] options.copyBytesPerSecond: copyBytesPerSecond must be at least 65,536/);
    await directory().removeShards(keyspace, ["s1"], { copyBytesPerSecond: 20 * 1024 * 1024 });
    const [move] = (await directory().getChange(keyspace))!.moves;
    // 10 MiB at 20 MiB/s: the third and last page comes once 8 MiB are due, 0.4 s after the start.
    expect(move!.copiedAt! - move!.startedAt!).toBeGreaterThanOrEqual(350);
    expect(await kvRouter(keyspace).router.get(keys[3]!).get()).toHaveLength(65_536);
  }, 60_000);
});

describe("a keyspace whose slot tables have no primary key", () => {
  it("is moved with its slots refused while they copy, in pages, losing nothing", async () => {
    const keyspace = uniqueName("logs");
    await directory().createKeyspace({ name: keyspace, binding: "LOGS", shards: 2, slotCount: 2 });
    const router = new ShardRouter({ directory: env.DIRECTORY, namespace: env.LOGS, keyspace, maxRoutingAttempts: 15 });
    const keys = Array.from({ length: 40 }, (_, i) => `log-${i}`);
    for (const key of keys) for (let n = 0; n < 3; n++) await router.get(key).append(`line ${n}`);
    await directory().removeShards(keyspace, ["s1"]);
    const [move] = (await directory().getChange(keyspace))!.moves;
    expect(move).toMatchObject({ phase: "done", from: "s1", to: "s0" });
    expect(move!.copiedAt).toBeUndefined(); // no copy while serving: the copy ran in the cut-over
    expect(move!.rows).toBeGreaterThan(0);
    for (const key of keys) expect(await router.get(key).append("line 3")).toBe(4);
  });
});

describe("several moves from one source", () => {
  it("each replays the writes of its own slots, so none is lost when they catch up at different times", async () => {
    // Six slots over three shards: removing s1 sends its two slots to s0 and s2, two moves from one
    // source, each carrying 6 MB while counters in both slots are incremented.
    const keyspace = await createKv(3, 6);
    const { router } = kvRouter(keyspace, { maxRoutingAttempts: 15 });
    expect((await router.map()).rangesOf("s1")).toEqual([[2, 4]]);
    const inSlot = (slot: number, prefix: string, n: number) =>
      Array.from({ length: n * 8 }, (_, i) => `${prefix}-${i}`).filter((k) => slotForKey(k, 6) === slot).slice(0, n);
    for (const slot of [2, 3]) {
      const bulk = inSlot(slot, `bulk${slot}`, 96);
      for (let i = 0; i < bulk.length; i += 16) await Promise.all(bulk.slice(i, i + 16).map((k) => router.get(k).put("".padEnd(65_536, "m"))));
    }
    const counters = [...inSlot(2, "two", 12), ...inSlot(3, "three", 12)];
    let stopped = false;
    const load = writers(router, counters, () => stopped);
    try {
      await scheduler.wait(20);
      const removal = await directory().removeShards(keyspace, ["s1"], { copyBytesPerSecond: 8 * 1024 * 1024 });
      expect(removal.moves.map((m) => [m.from, m.to]).sort()).toEqual([["s1", "s0"], ["s1", "s2"]]);
      await scheduler.wait(20);
    } finally {
      stopped = true;
      await load.done;
    }
    expect(load.failures).toEqual([]);
    const change = (await directory().getChange(keyspace))!;
    expect(change.moves.every((m) => (m.caughtUpRows ?? 0) > 0)).toBe(true);
    const fresh = kvRouter(keyspace).router;
    for (const key of counters) expect([key, Number(await fresh.get(key).get())]).toEqual([key, load.acked.get(key)]);
  }, 60_000);
});
