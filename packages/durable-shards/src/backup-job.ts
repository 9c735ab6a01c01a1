/** A backup or restore job as the directory reports it (no runtime imports: the CLI reads it too). */

export type JobPhase = "queued" | "snapshotting" | "copying" | "clearing" | "restoring" | "verifying" | "done" | "failed";

/** A backup or restore, as it runs and after. */
export interface BackupJob {
  id: string;
  kind: "backup" | "restore";
  keyspace: string;
  phase: JobPhase;
  startedAt: number;
  updatedAt: number;
  finishedAt?: number;
  rows: number;
  bytes: number;
  /** Rows to go through (known once the snapshots, or the manifest, are read). */
  rowsTotal?: number;
  bytesTotal?: number;
  error?: string;
  /** Restore: the backup restored, and the keyspace restored into. */
  backupId?: string;
  into?: string;
  /** Restore: every bucket's checksum matched. */
  verified?: boolean;
  scheduled?: boolean;
}
