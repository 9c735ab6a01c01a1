/**
 * What the directory records about a change while it runs, durably: its phase, each move's phase,
 * rows and bytes copied, timings, attempts and the last error. {@link ShardDirectory.getChange}
 * and {@link ShardDirectory.diagnose} read it back.
 */
import { countSlots, type SlotRange } from "./shard-map.js";

/**
 * Phases of a change. `planned`: stored, nothing moved yet. `copying`, `catching up`, `cutting
 * over`: moves are running, and the change is in the earliest phase of its moves (see
 * {@link MovePhase}).
 * `cleaning up`: the new map is committed; sources drop the rows they gave away (retried until
 * every drop succeeded). `done`.
 * `rolling back` / `rolled back`: every slot goes back to its source, with every write made
 * meanwhile. `failed`: a rollback that could not finish yet; the alarm keeps retrying it.
 */
export type ChangePhase =
  | "planned"
  | "copying"
  | "catching up"
  | "cutting over"
  | "cleaning up"
  | "done"
  | "rolling back"
  | "rolled back"
  | "failed";

/**
 * Phases of one move. `copying`: the source serves the slots and records writes to them while
 * their rows are copied in pages. `catching up`: the recorded writes are replayed onto the target.
 * `cutting over`: the slots are refused (from the source's release to the target's acquire)
 * while the last writes are replayed. `moved`: the target serves them; the change has not
 * committed yet. `failed`: its last attempt failed (see `error`); it is run again or rolled back.
 */
export type MovePhase =
  | "planned"
  | "copying"
  | "catching up"
  | "cutting over"
  | "moved"
  | "cleaning up"
  | "done"
  | "rolling back"
  | "rolled back"
  | "failed";

/** One move as {@link ChangeStatus} reports it. */
export interface MoveStatus {
  from: string;
  to: string;
  ranges: SlotRange[];
  slots: number;
  phase: MovePhase;
  /** Rows and bytes (as `row-size.ts` counts them) copied from source to target in the copy, so far. */
  rows?: number;
  bytes?: number;
  /** Rows in the move's slots when its copy started, and their approximate bytes. */
  totalRows?: number;
  totalBytes?: number;
  /** Recorded writes replayed onto the target (catch-up), and their rows' bytes. */
  caughtUpRows?: number;
  caughtUpBytes?: number;
  /** When the move first ran, and when its copy (before catch-up) finished. */
  startedAt?: number;
  copiedAt?: number;
  /** When the source stopped serving the slots (its release). */
  releasedAt?: number;
  /** When the target started serving them (its acquire). */
  acquiredAt?: number;
  /** How long the slots were refused: release to acquire, both calls included. */
  pauseMs?: number;
  /** The last error of this move, with the shard that raised it. */
  error?: string;
}

/** A change as `getChange` reports it. */
export interface ChangeStatus {
  keyspace: string;
  /** The map version the change commits (a rolled-back change commits the old map at it). */
  version: number;
  phase: ChangePhase;
  startedAt: number;
  updatedAt: number;
  finishedAt?: number;
  /** Runs of the change that failed so far; at {@link MAX_FAILED_ATTEMPTS} it rolls back by itself. */
  failedAttempts: number;
  lastError?: string;
  /** Why the change was rolled back. */
  rollbackReason?: string;
  moves: MoveStatus[];
  /**
   * Moves and slots done against all; rows and bytes copied against those the moves' slots held
   * when their copies started (`rowsTotal`, `bytesTotal`, known once a move started).
   */
  totals: { moves: number; movesDone: number; slots: number; slotsMoved: number; rows: number; bytes: number; rowsTotal: number; bytesTotal: number };
  /**
   * Estimated time left for a running change: the bytes left to copy at the rate copied so far,
   * or else the finished moves' average duration times the moves left. 0 once finished.
   */
  etaMs?: number;
}

/** Failed runs after which a change rolls itself back. With the alarm's 5 s retry delay, a change
 * whose calls fail at once is rolled back about 10 s after it started failing. */
export const MAX_FAILED_ATTEMPTS = 3;

/** Whether a move in `phase` has its slots on its target already. */
export function isMoved(phase: MovePhase): boolean {
  return phase === "moved" || phase === "cleaning up" || phase === "done";
}

/** Whether a change in `phase` still runs (or waits to run again): not done, not rolled back. */
export function isRunning(phase: ChangePhase): boolean {
  return phase !== "done" && phase !== "rolled back";
}

/** The moves' durable state, as stored with the change. */
export type MoveRecord = Omit<MoveStatus, "slots"> & {
  /** The last recorded write replayed onto the target; the next page read acknowledges it. */
  ackedUpTo?: number;
};

/** Durable fields of a change beyond its plan: what `getChange` reports, before totals and ETA. */
export interface ChangeRecord extends Omit<ChangeStatus, "moves" | "totals" | "etaMs"> {
  moves: MoveRecord[];
  /** How long each finished move took (from its start to its acquire), for the ETA. */
  moveDurations: number[];
}

/** The report of `record` at time `now`. */
export function statusOf(record: ChangeRecord, now = Date.now()): ChangeStatus {
  const moves = record.moves.map(({ ackedUpTo: _, ...m }): MoveStatus => ({ ...m, slots: countSlots(m.ranges) }));
  const moved = (m: MoveStatus) => isMoved(m.phase);
  const totals = {
    moves: moves.length,
    movesDone: moves.filter(moved).length,
    slots: moves.reduce((n, m) => n + m.slots, 0),
    slotsMoved: moves.filter(moved).reduce((n, m) => n + m.slots, 0),
    rows: moves.reduce((n, m) => n + (m.rows ?? 0), 0),
    bytes: moves.reduce((n, m) => n + (m.bytes ?? 0), 0),
    rowsTotal: moves.reduce((n, m) => n + (m.totalRows ?? 0), 0),
    bytesTotal: moves.reduce((n, m) => n + (m.totalBytes ?? 0), 0),
  };
  const { moveDurations: _, ...fields } = record;
  const status: ChangeStatus = { ...fields, phase: RUNNING.has(record.phase) ? runningPhase(moves) : record.phase, moves, totals };
  const left = totals.moves - totals.movesDone;
  const copying = moves.filter((m) => m.phase === "copying" && m.startedAt !== undefined && (m.bytes ?? 0) > 0);
  if (RUNNING.has(record.phase) && copying.length > 0 && totals.bytesTotal > totals.bytes) {
    const elapsed = now - Math.min(...copying.map((m) => m.startedAt!));
    const copied = copying.reduce((n, m) => n + (m.bytes ?? 0), 0);
    status.etaMs = Math.round(((totals.bytesTotal - totals.bytes) / copied) * elapsed);
  } else if (RUNNING.has(record.phase) && record.moveDurations.length > 0) {
    const average = record.moveDurations.reduce((a, b) => a + b, 0) / record.moveDurations.length;
    status.etaMs = Math.round(average * left);
  } else if (!isRunning(record.phase)) {
    status.etaMs = 0;
  }
  return status;
}

const RUNNING: ReadonlySet<ChangePhase> = new Set(["copying", "catching up", "cutting over"]);
const MOVE_ORDER = ["planned", "copying", "catching up", "cutting over"] as const satisfies readonly MovePhase[];

/**
 * A running change's phase: the earliest among its moves still in progress (`planned` counts as
 * copying); `cutting over` when the rest are moved or failed.
 */
function runningPhase(moves: MoveStatus[]): ChangePhase {
  const phases = moves.map((m) => (MOVE_ORDER as readonly MovePhase[]).indexOf(m.phase)).filter((i) => i >= 0);
  if (phases.length === 0) return "cutting over";
  const phase = MOVE_ORDER[Math.min(...phases)]!;
  return phase === "planned" ? "copying" : phase;
}

/** What `diagnose` reports: what is wrong with a change, and how to get out of it. */
export interface Diagnosis {
  keyspace: string;
  change: ChangeStatus | null;
  /** True when nothing needs attention. */
  healthy: boolean;
  /** Each thing that is wrong, naming the shard and the error. */
  problems: string[];
  /** Slots no shard serves right now: released by their source and not yet acquired by their target. */
  refused: { from: string; to: string; ranges: SlotRange[]; slots: number; since: number }[];
  /** What the directory does next on its own. */
  nextStep: string;
  /** What an operator can do. */
  actions: string[];
}

/** The diagnosis of `change` (the keyspace's latest), for a directory that retries after `retryDelayMs`. */
export function diagnosisOf(keyspace: string, change: ChangeStatus | null, retryDelayMs: number): Diagnosis {
  const base = { keyspace, change, problems: [] as string[], refused: [] as Diagnosis["refused"] };
  if (!change || !isRunning(change.phase)) {
    const problems = change?.moves.filter((m) => m.error).map((m) => `move ${m.from} → ${m.to}: ${m.error}`) ?? [];
    return {
      ...base,
      problems,
      healthy: problems.length === 0,
      nextStep: "nothing: no change is in progress",
      actions: problems.length ? ["these errors were recorded by a change that has ended; nothing of it is left to do"] : [],
    };
  }
  const problems = change.moves.filter((m) => m.error).map((m) => `move ${m.from} → ${m.to} (${m.phase}): ${m.error}`);
  if (change.lastError && problems.length === 0) problems.push(change.lastError);
  const refused = change.moves
    .filter((m) => m.releasedAt !== undefined && m.acquiredAt === undefined && m.phase !== "rolled back")
    .map((m) => ({ from: m.from, to: m.to, ranges: m.ranges, slots: m.slots, since: m.releasedAt! }));
  const seconds = retryDelayMs / 1000;
  let nextStep: string;
  let actions: string[];
  if (change.phase === "rolling back" || change.phase === "failed") {
    nextStep = `run the rollback again in ${seconds} s (revoke each target, then serve the slots from their source again)`;
    actions = [
      "bring the shards named in the problems back (a deploy, or wait for the platform); the rollback finishes by itself",
      "resumePending() runs it now instead of waiting for the alarm",
    ];
  } else {
    const left = MAX_FAILED_ATTEMPTS - change.failedAttempts;
    nextStep =
      change.failedAttempts === 0
        ? "finish the moves that are not done, commit the new map, then drop the moved rows from their sources"
        : `run the change again in ${seconds} s (${left} attempt${left === 1 ? "" : "s"} left before it rolls itself back)`;
    actions = ["abortChange() rolls it back now: every slot back on its source, with every write", "resumePending() runs it again now"];
  }
  return { ...base, healthy: problems.length === 0 && refused.length === 0, problems, refused, nextStep, actions };
}
