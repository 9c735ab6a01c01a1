/** What the control object reports (also read by the scripts, in Node). */

export type Side = "legacy" | "sharded";

/** A sweep so far, in one direction. */
export interface SweepStatus {
  to: Side;
  background: boolean;
  usersPerSecond: number;
  cursor: string | null;
  migrated: number;
  failed: { key: string; error: string }[];
  done: boolean;
  startedAt: number;
  updatedAt: number;
}

export interface MigrationStatus {
  flag: Side;
  sweep: SweepStatus | null;
  legacy: { here: number; frozen: number; elsewhere: number };
}

