import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { MapCache, ShardRouter, isFailure } from "../src/index.js";
import { addChecksums, checksumText, type BucketChecksums } from "../src/shard-backup.js";
import { createKv, directory, kvRouter, rejection, uniqueName, until } from "./helpers.js";
import type { TestKvStore } from "./fixtures/worker.js";

/** The keyspace's checksums per bucket, summed over its shards (what a restore is checked against). */
async function keyspaceChecksums(keyspace: string): Promise<BucketChecksums> {
  const info = await directory().getKeyspace(keyspace);
  const all: BucketChecksums = {};
  for (const s of info.shards) {
    const sums = await env.KV.getByName(`${keyspace}:${s.id}`).dsChecksums(keyspace, Math.ceil(info.slotCount / 64));
    if (isFailure(sums)) throw new Error("dsChecksums failed");
    addChecksums(all, sums as BucketChecksums);
  }
  return all;
}

async function filled(shards: number, keys = 300) {
  const name = await createKv(shards, 1024);
  const { router } = kvRouter(name);
  const values = new Map<string, string>();
  for (let i = 0; i < keys; i++) {
    const key = `item:${i}`;
    const value = `value ${i} ${"x".repeat(i % 50)}`;
    await router.get(key).put(value);
    values.set(key, value);
  }
  return { name, router, values };
}

describe("backups", () => {
  it("backs a keyspace up, and restores every row after the data is deleted, checksums equal", async () => {
    const { name, router, values } = await filled(3);
    const before = await keyspaceChecksums(name);
    const job = await directory().backup(name);
    expect(job).toMatchObject({ kind: "backup", phase: "done", rows: 300, rowsTotal: 300 });
    const [listed] = await directory().listBackups(name);
    expect(listed).toMatchObject({ id: job.id, keyspace: name, rows: 300, version: 1, scheduled: false });
    // The manifest records every page with its SHA-256, and checksums per bucket equal to the live data's.
    const manifest = (await (await env.BACKUPS.get(`${name}/${job.id}/manifest.json`))!.json()) as { checksums: BucketChecksums; shards: { pages: { sha256: string }[] }[] };
    expect(manifest.checksums).toEqual(before);
    expect(manifest.shards.flatMap((s) => s.pages).every((p) => /^[0-9a-f]{64}$/.test(p.sha256))).toBe(true);

    for (const key of values.keys()) await router.get(key).delete();
    expect(await router.get("item:7").get()).toBeNull();
    // Written after the backup: a restore replaces the keyspace's rows, so these go.
    await router.get("item:7").put("written after the backup");
    await router.get("new:after").put("not in the backup");

    const restored = await directory().restore(name, job.id);
    expect(restored).toMatchObject({ kind: "restore", phase: "done", verified: true, rows: 300, into: name });
    for (const [key, value] of values) expect(await router.get(key).get()).toBe(value);
    expect(await router.get("new:after").get()).toBeNull();
    expect(await keyspaceChecksums(name)).toEqual(before);
  });

  it("backs up after a rolled-back change, while shards whose moves never started still know the older map version", async () => {
    // 9 shards and a new one: 9 moves, 8 run at a time, sharing 64 KiB/s, so the abort comes
    // mid-copy, usually before the ninth move starts. The rollback commits the old assignment at
    // the change's version; a source whose move never started still knows the version before
    // (checked below, so the test shows what it claims).
    const name = await createKv(9, 1024);
    const { router } = kvRouter(name);
    const values = new Map<string, string>();
    for (let i = 0; i < 1_000; i += 50) {
      await Promise.all(Array.from({ length: 50 }, (_, j) => {
        const key = `item:${i + j}`;
        values.set(key, `${i + j} ${"x".repeat(4_000)}`);
        return router.get(key).put(values.get(key)!);
      }));
    }
    const started = await directory().addShards(name, 1, { wait: false, copyBytesPerSecond: 65_536 });
    await until(() => directory().getChange(name), (c) => c?.phase === "copying", "the copy", 10_000, 2);
    expect(await directory().abortChange(name)).toMatchObject({ phase: "rolled back", version: started.version });
    const info = await directory().getKeyspace(name);
    const versions = await Promise.all(info.shards.map((s) => runInDurableObject(env.KV.getByName(`${name}:${s.id}`), (o: TestKvStore) => o.describeOwnership()?.version)));
    expect(versions.filter((v) => v !== info.version).length, `shard versions ${versions.join()} at map version ${info.version}`).toBeGreaterThan(0);

    const job = await directory().backup(name);
    expect(job).toMatchObject({ phase: "done", rows: 1_000 });
    const into = uniqueName("restored");
    expect(await directory().restore(name, job.id, { into })).toMatchObject({ phase: "done", verified: true, rows: 1_000 });
    const copy = new ShardRouter<TestKvStore>({ directory: env.DIRECTORY, namespace: env.KV, keyspace: into, cache: new MapCache() });
    for (const key of ["item:0", "item:517", "item:999"]) expect(await copy.get(key).get()).toBe(values.get(key));
    // And in place, over the same shards.
    await router.get("item:517").put("changed after the backup");
    expect(await directory().restore(name, job.id)).toMatchObject({ phase: "done", verified: true, rows: 1_000 });
    expect(await router.get("item:517").get()).toBe(values.get("item:517"));
  }, 60_000);

  it("restores into a new keyspace, leaving the original alone", async () => {
    const { name, router, values } = await filled(2, 120);
    const job = await directory().backup(name);
    await router.get("item:1").put("changed after the backup");
    const into = uniqueName("restored");
    const restored = await directory().restore(name, job.id, { into });
    expect(restored).toMatchObject({ phase: "done", verified: true, into });
    const info = await directory().getKeyspace(into);
    expect(info).toMatchObject({ binding: "KV", slotCount: 1024 });
    expect(info.shards).toHaveLength(2);
    const copy = new ShardRouter<TestKvStore>({ directory: env.DIRECTORY, namespace: env.KV, keyspace: into, cache: new MapCache() });
    for (const [key, value] of values) expect(await copy.get(key).get()).toBe(value);
    expect(await router.get("item:1").get()).toBe("changed after the backup");
    // Into an existing other keyspace: refused, nothing touched.
    expect((await rejection(directory().restore(name, job.id, { into }))).message).toMatch(/exists/);
  });

  it("refuses a damaged backup before changing anything", async () => {
    const { name, router } = await filled(1, 40);
    const job = await directory().backup(name);
    const page = `${name}/${job.id}/s0/0.json`;
    const original = await (await env.BACKUPS.get(page))!.text();
    await env.BACKUPS.put(page, original.replace("value 3 ", "value 9 "));
    await router.get("item:3").put("live");
    const restored = await directory().restore(name, job.id);
    expect(restored.phase).toBe("failed");
    expect(restored.error).toMatch(/does not match its SHA-256/);
    expect(await router.get("item:3").get()).toBe("live");
  });

  it("runs on a schedule and keeps the newest scheduled backups only", async () => {
    const { name } = await filled(1, 10);
    const manual = await directory().backup(name);
    await directory().configureKeyspace(name, { backups: { everyMs: 500, keep: 2 } });
    // Every scheduled backup seen while it runs (by when it started), until at least four have run.
    // A listing may catch a new one written just before the oldest is pruned: keep + 1.
    const seen = new Map<string, number>();
    const scheduledNow = async () => {
      const kept = (await directory().listBackups(name)).filter((b) => b.scheduled);
      for (const b of kept) seen.set(b.id, b.startedAt);
      return kept.map((b) => b.id).sort();
    };
    await until(scheduledNow, (kept) => {
      expect(kept.length).toBeLessThanOrEqual(3);
      return seen.size >= 4;
    }, "four scheduled backups", 20_000, 100);
    await directory().configureKeyspace(name, { backups: { everyMs: 0 } });
    // A backup already running when the schedule stopped still finishes and prunes: wait until
    // two listings a moment apart agree.
    let last: string[] = [];
    const scheduled = await until(async () => {
      const before = last;
      last = await scheduledNow();
      return { before, now: last };
    }, ({ before, now }) => now.length === 2 && now.join() === before.join(), "the schedule to settle", 10_000, 300).then((r) => r.now);
    // The newest two are kept; the older ones are gone from the list and from the bucket.
    const byAge = [...seen].sort((a, b) => a[1] - b[1]).map(([id]) => id);
    expect(byAge.slice(-2).sort()).toEqual(scheduled);
    for (const id of byAge.slice(0, -2)) expect(await env.BACKUPS.get(`${name}/${id}/manifest.json`)).toBeNull();
    expect((await directory().listBackups(name)).map((b) => b.id)).toContain(manual.id);
    // In the bucket: the manual backup and the two kept, nothing of the deleted ones.
    const objects = await env.BACKUPS.list({ prefix: `${name}/`, delimiter: "/" });
    expect(objects.delimitedPrefixes).toHaveLength(3);
  });

  it("hashes each row in the form that format-1 manifests were checked against", () => {
    const bytes = new Uint8Array([1, 2]).buffer;
    const row = { value: bytes, slot: 3, key: "a", note: null, n: 1.5 };
    // Columns in name order as [name, value] pairs: what backups taken by earlier versions hold.
    expect(checksumText("kv", row)).toBe('kv\u0000[["key","a"],["n",1.5],["note",null],["slot",3],["value",{"b":[1,2]}]]');
  });

  it("answers bad input with precise errors", async () => {
    const name = await createKv(1);
    expect((await rejection(directory().restore(name, "bk-nope"))).message).toMatch(/has no backup 'bk-nope'/);
    expect((await rejection(directory().restore(name, "../../etc"))).message).toMatch(/backupId/);
    expect((await rejection(directory().backup("missing-ks"))).message).toMatch(/does not exist/);
    expect((await rejection(directory().getBackupJob("rs-none"))).message).toMatch(/no backup or restore job/);
    expect((await rejection(directory().configureKeyspace(name, { backups: { everyMs: 10 } }))).message).toMatch(/everyMs/);
    await directory().configureKeyspace(name, { backups: { bucket: "NOPE" } });
    expect((await rejection(directory().backup(name))).message).toMatch(/'NOPE' is not an R2 bucket/);
  });
});
