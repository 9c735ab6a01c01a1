/**
 * Backups of a keyspace to R2, and restores checked against them (the directory's side; the
 * shard's is `shard-backup.ts`).
 *
 * A backup snapshots every shard (one consistent copy each, all while no change of the keyspace
 * runs, so together they hold every slot once, at one map version), copies the snapshots to R2 in
 * pages, and writes the manifest last: map version, shards, every page's SHA-256, and checksums per
 * bucket of slots. An object without a manifest is not a backup. A restore reads the manifest,
 * checks each page's SHA-256 before using it, replaces the keyspace's rows (or fills a new
 * keyspace), and then checks that the restored rows reproduce every bucket's checksum.
 *
 * Objects: `<keyspace>/<backup id>/manifest.json` and `<keyspace>/<backup id>/<shard>/<n>.json`.
 */
import type { BackupJob, JobPhase } from "./backup-job.js";
import { z } from "zod";
import { ShardError } from "./errors.js";
import { fanOut, completeValuesOf } from "./fan-out.js";
import { unwrap, type Failure } from "./result.js";
import { normalizeRanges, type ShardMap, type SlotRange } from "./shard-map.js";
import { addChecksums, type BucketChecksums, type Snapshot } from "./shard-backup.js";
import type { SlotData } from "./slot-tables.js";
import { sha256Hex } from "./digest.js";

/** Slots per checksum bucket: the slot space in 64 buckets. */
const BUCKETS = 64;
/** Bytes per backup page: small, so each read of a snapshot holds its shard only briefly. */
const BACKUP_PAGE_BYTES = 1024 * 1024;

export const BACKUP_TABLES = `
  CREATE TABLE backup_jobs (id TEXT PRIMARY KEY, keyspace TEXT NOT NULL, kind TEXT NOT NULL, phase TEXT NOT NULL,
    record TEXT NOT NULL, created_at INTEGER NOT NULL)`;

export const backupSettingsSchema = z.strictObject({
  /** The R2 bucket binding (in the directory's env) backups go to. */
  bucket: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, "bucket must be an env binding name").default("BACKUPS"),
  /** Back the keyspace up every this many ms (at least 500). Unset or 0: only when asked. */
  everyMs: z.number().int().min(0).max(366 * 86_400_000).refine((ms) => ms === 0 || ms >= 500, "everyMs must be 0 (off) or at least 500").optional(),
  /** Scheduled backups kept; older ones are deleted after each scheduled backup. */
  keep: z.number().int().min(1).max(1_000).default(7),
  /**
   * Most bytes per second a backup reads from the shards while they serve (pages are spaced out to
   * it). Unset: as fast as it goes, which can crowd out the shards' own traffic.
   */
  bytesPerSecond: z.number().min(65_536, "bytesPerSecond must be at least 65,536").optional(),
});
export type BackupSettings = z.infer<typeof backupSettingsSchema>;

/** What a finished backup holds; stored as its `manifest.json`. */
export interface BackupManifest {
  format: 1;
  id: string;
  keyspace: string;
  binding: string;
  slotCount: number;
  /** The committed map version all shards were snapshotted at. */
  version: number;
  startedAt: number;
  finishedAt: number;
  /** Set for backups taken by the schedule (retention deletes only those). */
  scheduled: boolean;
  rows: number;
  bytes: number;
  shards: { id: string; ranges: SlotRange[]; rows: number; pages: { key: string; bytes: number; rows: number; sha256: string }[] }[];
  bucketSlots: number;
  checksums: BucketChecksums;
}

export type { BackupJob, JobPhase } from "./backup-job.js";

interface SnapshotShard {
  dsSnapshot(keyspace: string, id: string, bucketSlots: number): Promise<Snapshot | Failure>;
  dsSnapshotPage(keyspace: string, id: string, cursor: string | null, maxBytes?: number): Promise<{ data: SlotData; next: string | null } | Failure>;
  dsSnapshotDrop(keyspace: string, id: string): Promise<void | Failure>;
  dsRestorePage(keyspace: string, data: SlotData, clear: boolean): Promise<{ rows: number } | Failure>;
  dsChecksums(keyspace: string, bucketSlots: number): Promise<BucketChecksums | Failure>;
}

/** What backups need from the directory. */
export interface BackupHost {
  sql: SqlStorage;
  map(keyspace: string): ShardMap;
  binding(keyspace: string): string;
  stub(keyspace: string, shard: string): SnapshotShard;
  bucket(binding: string): R2Bucket;
  /** Runs `fn` with no change of `keyspace` running or starting meanwhile. */
  exclusive<T>(keyspace: string, fn: () => Promise<T>): Promise<T>;
  createKeyspace(name: string, binding: string, slotCount: number, shards: number): Promise<void>;
  /** Whether keyspace `name` exists. */
  exists(name: string): boolean;
}

export class Backups {
  constructor(private readonly host: BackupHost) {}

  /** Records a new backup job of `keyspace` (run it with {@link run}). */
  queueBackup(keyspace: string, scheduled = false): BackupJob {
    return this.insert({ id: newBackupId(), kind: "backup", keyspace, phase: "queued", startedAt: Date.now(), updatedAt: Date.now(), rows: 0, bytes: 0, scheduled });
  }

  /** Records a restore of `backupId` (of `keyspace`) into `into` (default: `keyspace` itself). */
  queueRestore(keyspace: string, backupId: string, into?: string): BackupJob {
    return this.insert({ id: newBackupId("rs"), kind: "restore", keyspace, backupId, into: into ?? keyspace, phase: "queued", startedAt: Date.now(), updatedAt: Date.now(), rows: 0, bytes: 0 });
  }

  job(id: string): BackupJob | undefined {
    const row = this.host.sql.exec<{ record: string }>("SELECT record FROM backup_jobs WHERE id = ?", id).toArray()[0];
    return row ? (JSON.parse(row.record) as BackupJob) : undefined;
  }

  /** Jobs not finished yet, oldest first. */
  unfinished(): BackupJob[] {
    return this.host.sql
      .exec<{ record: string }>("SELECT record FROM backup_jobs WHERE phase NOT IN ('done', 'failed') ORDER BY created_at")
      .toArray()
      .map((r) => JSON.parse(r.record) as BackupJob);
  }

  /** Runs (or re-runs from its start: every step is idempotent) job `id`, to done or failed. */
  async run(id: string, bucket: string, bytesPerSecond?: number): Promise<BackupJob> {
    const job = this.job(id);
    if (!job) throw new ShardError("UnknownBackup", `no backup or restore job '${id}'`);
    if (job.phase === "done" || job.phase === "failed") return job;
    try {
      if (job.kind === "backup") await this.backUp(job, this.host.bucket(bucket), bytesPerSecond);
      else await this.restore(job, this.host.bucket(bucket));
      this.save(job, "done");
    } catch (error) {
      job.error = error instanceof Error ? error.message : String(error);
      this.save(job, "failed");
      if (!(error instanceof ShardError)) throw error;
    }
    return job;
  }

  /** Finished backups of `keyspace` in `bucket`, newest first (read from their manifests). */
  async list(keyspace: string, bucket: string): Promise<Omit<BackupManifest, "shards" | "checksums">[]> {
    const r2 = this.host.bucket(bucket);
    const out: Omit<BackupManifest, "shards" | "checksums">[] = [];
    let cursor: string | undefined;
    do {
      const page = await r2.list({ prefix: `${keyspace}/`, delimiter: "/", ...(cursor ? { cursor } : {}) });
      for (const prefix of page.delimitedPrefixes) {
        const manifest = await this.manifest(r2, keyspace, prefix.slice(keyspace.length + 1, -1)).catch(() => undefined);
        if (manifest) {
          const { shards: _s, checksums: _c, ...summary } = manifest;
          out.push(summary);
        }
      }
      cursor = page.truncated ? page.cursor : undefined;
    } while (cursor);
    return out.sort((a, b) => b.startedAt - a.startedAt);
  }

  /** Deletes backup `id` of `keyspace` (manifest first, so it stops being a backup at once). */
  async delete(keyspace: string, id: string, bucket: string): Promise<void> {
    const r2 = this.host.bucket(bucket);
    await this.manifest(r2, keyspace, id);
    await r2.delete(`${keyspace}/${id}/manifest.json`);
    let cursor: string | undefined;
    do {
      const page = await r2.list({ prefix: `${keyspace}/${id}/`, ...(cursor ? { cursor } : {}) });
      if (page.objects.length > 0) await r2.delete(page.objects.map((o) => o.key));
      cursor = page.truncated ? page.cursor : undefined;
    } while (cursor);
  }

  /** Deletes the scheduled backups of `keyspace` beyond the newest `keep`. */
  async prune(keyspace: string, bucket: string, keep: number): Promise<string[]> {
    const old = (await this.list(keyspace, bucket)).filter((b) => b.scheduled).slice(keep);
    for (const b of old) await this.delete(keyspace, b.id, bucket);
    return old.map((b) => b.id);
  }

  async manifest(r2: R2Bucket, keyspace: string, id: string): Promise<BackupManifest> {
    const object = await r2.get(`${keyspace}/${id}/manifest.json`);
    if (!object) throw new ShardError("UnknownBackup", `keyspace '${keyspace}' has no backup '${id}'`);
    return (await object.json()) as BackupManifest;
  }

  private async backUp(job: BackupJob, r2: R2Bucket, bytesPerSecond?: number): Promise<void> {
    const { keyspace, id } = job;
    const bucketSlots = Math.ceil(this.host.map(keyspace).slotCount / BUCKETS);
    // Every shard at one map version: no change may move slots between two snapshots.
    this.save(job, "snapshotting");
    let asked: ShardMap | undefined;
    try {
      const { map, snapshots } = await this.host.exclusive(keyspace, async () => {
        const map = (asked = this.host.map(keyspace));
        const taken = await fanOut(map.shards.map((s) => s.id), async (shard) => unwrap(await this.host.stub(keyspace, shard).dsSnapshot(keyspace, id, bucketSlots)));
        return { map, snapshots: completeValuesOf(taken, `backup '${id}' of '${keyspace}'`) };
      });
      await this.copySnapshots(job, r2, map, snapshots, bucketSlots, bytesPerSecond);
    } finally {
      // Every shard asked may hold a snapshot, so each drops it, also when the backup failed.
      const shards = asked?.shards ?? [];
      await Promise.all(shards.map(async (s) => unwrap(await this.host.stub(keyspace, s.id).dsSnapshotDrop(keyspace, id)))).catch((error: unknown) => {
        console.warn(`durable-shards: backup '${id}' of '${keyspace}': a shard did not drop its snapshot, whose tables stay on it:`, error);
      });
    }
  }

  /** Checks every shard's snapshot against the map, then copies them to R2 and writes the manifest last. */
  private async copySnapshots(job: BackupJob, r2: R2Bucket, map: ShardMap, snapshots: Snapshot[], bucketSlots: number, bytesPerSecond?: number): Promise<void> {
    const { keyspace, id } = job;
    for (const [i, shard] of map.shards.entries()) {
      const snapshot = snapshots[i]!;
      // A shard a change left alone (or whose move never started before a rollback) still knows an
      // older version; what must match is the slots it owns, not the version it was last told.
      if (snapshot.version > map.version || !sameRanges(snapshot.ranges, map.rangesOf(shard.id))) {
        throw new ShardError("Incomplete", `shard '${shard.id}' (at map version ${snapshot.version}) does not own the slots map version ${map.version} gives it`, { retryable: true });
      }
    }
    job.rowsTotal = snapshots.reduce((n, s) => n + s.rows, 0);
    this.save(job, "copying");
    const copyStarted = Date.now();
    const manifest: BackupManifest = {
      format: 1, id, keyspace, binding: this.host.binding(keyspace), slotCount: map.slotCount, version: map.version,
      startedAt: job.startedAt, finishedAt: 0, scheduled: job.scheduled === true, rows: 0, bytes: 0, shards: [], bucketSlots, checksums: {},
    };
    for (const [i, shard] of map.shards.entries()) {
      const snapshot = snapshots[i]!;
      addChecksums(manifest.checksums, snapshot.checksums);
      const entry: BackupManifest["shards"][number] = { id: shard.id, ranges: snapshot.ranges, rows: 0, pages: [] };
      let cursor: string | null = null;
      do {
        if (bytesPerSecond !== undefined) {
          const ahead = (job.bytes / bytesPerSecond) * 1000 - (Date.now() - copyStarted);
          if (ahead > 0) await new Promise((resolve) => setTimeout(resolve, ahead));
        }
        const page: { data: SlotData; next: string | null } = unwrap(await this.host.stub(keyspace, shard.id).dsSnapshotPage(keyspace, id, cursor, BACKUP_PAGE_BYTES));
        const body = new TextEncoder().encode(JSON.stringify(page.data));
        const rows = Object.values(page.data).reduce((n, r) => n + r.length, 0);
        const key = `${keyspace}/${id}/${shard.id}/${entry.pages.length}.json`;
        await r2.put(key, body, { httpMetadata: { contentType: "application/json" } });
        entry.pages.push({ key, bytes: body.byteLength, rows, sha256: await sha256Hex(body) });
        entry.rows += rows;
        job.rows += rows;
        job.bytes += body.byteLength;
        this.save(job, "copying");
        cursor = page.next;
      } while (cursor !== null);
      manifest.shards.push(entry);
    }
    manifest.rows = job.rows;
    manifest.bytes = job.bytes;
    manifest.finishedAt = Date.now();
    await r2.put(`${keyspace}/${id}/manifest.json`, JSON.stringify(manifest), { httpMetadata: { contentType: "application/json" } });
  }

  private async restore(job: BackupJob, r2: R2Bucket): Promise<void> {
    const manifest = await this.manifest(r2, job.keyspace, job.backupId!);
    const target = job.into!;
    job.rowsTotal = manifest.rows;
    job.bytesTotal = manifest.bytes;
    job.rows = 0;
    job.bytes = 0;
    if (target !== job.keyspace && !this.host.exists(target)) {
      await this.host.createKeyspace(target, manifest.binding, manifest.slotCount, manifest.shards.length);
    }
    await this.host.exclusive(target, async () => {
      const map = this.host.map(target);
      if (map.slotCount !== manifest.slotCount) {
        throw new ShardError("InvalidArgument", `keyspace '${target}' has ${map.slotCount} slots; backup '${manifest.id}' has ${manifest.slotCount}`);
      }
      // Every page is checked before anything is cleared, so a damaged backup changes nothing.
      for (const page of manifest.shards.flatMap((s) => s.pages)) await this.page(r2, manifest.id, page);
      this.save(job, "clearing");
      await Promise.all(map.shards.map(async (s) => unwrap(await this.host.stub(target, s.id).dsRestorePage(target, {}, true))));
      this.save(job, "restoring");
      for (const page of manifest.shards.flatMap((s) => s.pages)) {
        const body = await this.page(r2, manifest.id, page);
        const byOwner = new Map<string, SlotData>();
        for (const [table, rows] of Object.entries(JSON.parse(new TextDecoder().decode(body)) as SlotData)) {
          for (const row of rows) {
            const owner = map.shardOfSlot(row.slot as number).id;
            const data = byOwner.get(owner) ?? byOwner.set(owner, {}).get(owner)!;
            (data[table] ??= []).push(row);
          }
        }
        await Promise.all([...byOwner].map(async ([shard, data]) => unwrap(await this.host.stub(target, shard).dsRestorePage(target, data, false))));
        job.rows += page.rows;
        job.bytes += page.bytes;
        this.save(job, "restoring");
      }
      this.save(job, "verifying");
      const sums = completeValuesOf(
        await fanOut(map.shards.map((s) => s.id), async (shard) => unwrap(await this.host.stub(target, shard).dsChecksums(target, manifest.bucketSlots))),
        `verifying the restore of '${manifest.id}'`,
      ).reduce<BucketChecksums>((all, c) => addChecksums(all, c), {});
      const buckets = new Set([...Object.keys(sums), ...Object.keys(manifest.checksums)]);
      const wrong = [...buckets].filter((b) => sums[b]?.digest !== manifest.checksums[b]?.digest || sums[b]?.rows !== manifest.checksums[b]?.rows);
      if (wrong.length > 0) {
        throw new ShardError("Incomplete", `the restore of '${manifest.id}' into '${target}' does not match the manifest in ${wrong.length} of ${buckets.size} slot buckets (first: bucket ${wrong[0]})`);
      }
      job.verified = true;
    });
  }

  /** A page's bytes, checked against the manifest's SHA-256. */
  private async page(r2: R2Bucket, id: string, page: { key: string; sha256: string }): Promise<Uint8Array> {
    const object = await r2.get(page.key);
    if (!object) throw new ShardError("Incomplete", `backup '${id}' lacks its page '${page.key}'`);
    const body = new Uint8Array(await object.arrayBuffer());
    if ((await sha256Hex(body)) !== page.sha256) throw new ShardError("InvalidArgument", `page '${page.key}' of backup '${id}' does not match its SHA-256`);
    return body;
  }

  private insert(job: BackupJob): BackupJob {
    this.host.sql.exec("INSERT INTO backup_jobs (id, keyspace, kind, phase, record, created_at) VALUES (?, ?, ?, ?, ?, ?)", job.id, job.keyspace, job.kind, job.phase, JSON.stringify(job), job.startedAt);
    return job;
  }

  private save(job: BackupJob, phase: JobPhase): void {
    job.phase = phase;
    job.updatedAt = Date.now();
    if (phase === "done" || phase === "failed") job.finishedAt = job.updatedAt;
    this.host.sql.exec("UPDATE backup_jobs SET phase = ?, record = ? WHERE id = ?", phase, JSON.stringify(job), job.id);
  }
}

function sameRanges(a: readonly SlotRange[], b: readonly SlotRange[]): boolean {
  const [x, y] = [normalizeRanges(a), normalizeRanges(b)];
  return x.length === y.length && x.every(([start, end], i) => start === y[i]![0] && end === y[i]![1]);
}

/** A sortable, unique backup id: `bk-20261201T231500Z-3f9a`. */
function newBackupId(prefix = "bk"): string {
  const stamp = new Date().toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
  return `${prefix}-${stamp}-${crypto.getRandomValues(new Uint16Array(1))[0]!.toString(16).padStart(4, "0")}`;
}
