/** What the control object reports (also read by the scripts, in Node). */
import { z } from "zod";

export const sideSchema = z.enum(["legacy", "sharded"], { error: "the side must be 'legacy' or 'sharded'" });
export type Side = z.infer<typeof sideSchema>;

/** Passes a sweep makes at most: stores that failed in one are tried again in the next. */
export const MAX_PASSES = 3;

/** A sweep so far, in one direction. */
export interface SweepStatus {
  to: Side;
  background: boolean;
  usersPerSecond: number;
  cursor: string | null;
  migrated: number;
  /** The latest failures (at most 20); a pass that had any is followed by another, up to {@link MAX_PASSES}. */
  failed: { key: string; error: string }[];
  /** Passes over the stores so far (1 for the first), and how many failed in this one. */
  pass: number;
  passFailed: number;
  done: boolean;
  startedAt: number;
  updatedAt: number;
}

export interface MigrationStatus {
  flag: Side;
  sweep: SweepStatus | null;
  legacy: { here: number; frozen: number; elsewhere: number };
}

