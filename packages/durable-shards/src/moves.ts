/**
 * Running a change's moves, and rolling them back.
 *
 * A move takes a run of slots from its source to its target, in phases. `copying`: the source
 * keeps serving the slots and records every write to them (`capture.ts`), while their rows are
 * copied to the target in pages of about `PAGE_BYTES` (so a slot of any size moves; no RPC
 * carries more than a page). `catching up`: the recorded writes are replayed onto the target,
 * round after round, until few are left. `cutting over`: the source releases the slots (stops
 * serving them, waits for calls in flight), the last writes are replayed, and the target
 * acquires them; only this is a pause, and it does not grow with the slots' data. (A keyspace
 * whose tables cannot be tracked is copied in the cut-over instead, while refused.) Every step is idempotent, so a change interrupted
 * anywhere is finished by running it again; an interrupted copy starts again from its first page.
 * A change that has not committed can be rolled back: each target gives its slots back
 * (`dsRevoke`), the rows it holds (with every write it took) are copied back to the source the
 * same way, and each source serves them again (`dsReclaim`); the directory then commits the old
 * assignment at the change's version, so the next change gets a newer one.
 */
import { ShardError } from "./errors.js";
import { fanOut, type FanOutOutcome } from "./fan-out.js";
import { unwrap, type Failure } from "./result.js";
import type { ShardMapSnapshot, SlotRange } from "./shard-map.js";
import { PAGE_BYTES, type Ownership, type SlotData, type SlotTransfer } from "./sharded-object.js";
import type { ChangeRecord, MoveRecord } from "./change-status.js";
import { sizeOf } from "./row-size.js";
import type { ChangesPage } from "./capture.js";

/** The shard protocol moves drive; results are unwrapped, so failures throw here. */
export interface ShardProtocol {
  dsTrack(transfer: SlotTransfer): Promise<{ tracking: boolean; rows?: number; bytes?: number } | Failure>;
  dsChangesPage(transfer: SlotTransfer, acked: number | null): Promise<ChangesPage | Failure>;
  dsApplyChanges(transfer: SlotTransfer, upserts: SlotData, deletes: ChangesPage["deletes"]): Promise<{ rows: number } | Failure>;
  dsAcquire(transfer: SlotTransfer, data: SlotData | null, staged?: boolean): Promise<Ownership | Failure>;
  dsRelease(transfer: SlotTransfer): Promise<{ released: true } | Failure>;
  dsExportPage(transfer: SlotTransfer, cursor: string | null): Promise<{ data: SlotData; next: string | null } | Failure>;
  dsImportPage(transfer: SlotTransfer, data: SlotData, first: boolean): Promise<{ rows: number } | Failure>;
  dsDrop(transfer: SlotTransfer): Promise<void | Failure>;
  dsRevoke(transfer: SlotTransfer): Promise<{ acquired: boolean } | Failure>;
  dsReclaim(transfer: SlotTransfer, staged: boolean): Promise<Ownership | Failure>;
}

/** A stored pending change: the next map and the moves leading to it. */
export interface StoredPlan {
  map: ShardMapSnapshot;
  moves: { from: string; to: string; ranges: SlotRange[] }[];
  /** Shards that get a first grant without moves (a new keyspace). */
  grants: string[];
  /** The copy rate limit of the change, all its moves together, if any (see `ChangeOptions`). */
  copyBytesPerSecond?: number;
}

/** What running a change needs from the directory. */
export interface ChangeContext {
  plan: StoredPlan;
  record: ChangeRecord;
  stub(shard: string): ShardProtocol;
  /** The transfer naming `ranges` of `shard` at the change's version. */
  transfer(shard: string, ranges: SlotRange[]): SlotTransfer;
  /** Stores `record` (called after every step, so progress survives a crash). */
  save(): void;
  /** Called after each step of a move, once its progress is stored; see {@link MoveStep}. */
  stepped(step: MoveStep, move: MoveRecord): void | Promise<void>;
  /** Throws when the change is being aborted; called while a copy waits for its rate limit too. */
  checkAborted(): void;
}

/**
 * The points between the steps of a move: after a page of the copy was stored on the target,
 * after a page of recorded writes was applied there, after the source's release, after the
 * target's acquire (before the change commits).
 */
export type MoveStep = "copied-page" | "caught-up-page" | "released" | "acquired";

/** Time for all moves of one run of a change; what is not done by then fails that run. */
export const MOVE_DEADLINE_MS = 60_000;
/** Catching up ends, and the cut-over starts, once fewer recorded writes than this are left. */
export const CUT_OVER_BELOW = 256;
/**
 * Most catch-up pages before the cut-over, for slots written faster than their writes are
 * replayed: the cut-over then replays the rest with the slots refused.
 */
export const MAX_CATCH_UP_PAGES = 64;

/** Grants and moves, updating the record as they go. Throws the first failure (after all ran). */
export async function runMoves(ctx: ChangeContext, grants: Record<string, SlotRange[]>): Promise<void> {
  const { plan, record } = ctx;
  const granted = await fanOut(plan.grants, async (shard) => unwrap(await ctx.stub(shard).dsAcquire(ctx.transfer(shard, grants[shard] ?? []), null)));
  throwFirst(granted.results, (shard) => `grant of shard ${shard}`);
  const moved = await fanOut(
    record.moves.map((_, i) => String(i)),
    (i) => runMove(ctx, record.moves[Number(i)]!),
    { concurrency: 8, deadlineMs: MOVE_DEADLINE_MS },
  );
  moved.results.forEach((r, i) => {
    if (r.ok) return;
    const move = record.moves[i]!;
    move.phase = "failed";
    move.error = r.error.message;
  });
  ctx.save();
  throwFirst(moved.results, (i) => `move ${record.moves[Number(i)]!.from} → ${record.moves[Number(i)]!.to}`);
}

async function runMove(ctx: ChangeContext, move: MoveRecord): Promise<void> {
  if (move.phase === "moved" || move.phase === "cleaning up" || move.phase === "done") return;
  delete move.error;
  move.startedAt ??= Date.now();
  const source = ctx.stub(move.from);
  const from = ctx.transfer(move.from, move.ranges);
  let tracking = false;
  if (move.releasedAt === undefined) {
    const track = unwrap(await source.dsTrack(from));
    tracking = track.tracking;
    if (track.rows !== undefined) move.totalRows = track.rows;
    if (track.bytes !== undefined) move.totalBytes = track.bytes;
    if (tracking) {
      move.phase = "copying";
      ctx.save();
      await copyPages(
        ctx,
        move.from,
        move.to,
        move.ranges,
        async (copied) => {
          Object.assign(move, copied);
          ctx.save();
          await ctx.stepped("copied-page", move);
        },
        true,
      );
      move.copiedAt = Date.now();
      move.phase = "catching up";
      ctx.save();
      for (let page = 0; page < MAX_CATCH_UP_PAGES; page++) {
        if ((await catchUpPage(ctx, move)) < CUT_OVER_BELOW) break;
      }
    }
  } else {
    // Resumed after the release: whether writes were recorded decides how the copy finishes.
    tracking = move.copiedAt !== undefined;
  }
  move.phase = "cutting over";
  move.releasedAt ??= Date.now();
  ctx.save();
  unwrap(await source.dsRelease({ ...from, to: move.to }));
  await ctx.stepped("released", move);
  if (tracking) {
    // No new writes come now: replay until none is left.
    while ((await catchUpPage(ctx, move)) >= 0);
  } else {
    await copyPages(ctx, move.from, move.to, move.ranges, async (copied) => {
      Object.assign(move, copied);
      ctx.save();
      await ctx.stepped("copied-page", move);
    });
  }
  unwrap(await ctx.stub(move.to).dsAcquire(ctx.transfer(move.to, move.ranges), null, true));
  move.acquiredAt = Date.now();
  move.pauseMs = move.acquiredAt - move.releasedAt;
  move.phase = "moved";
  ctx.record.moveDurations.push(move.acquiredAt - (move.startedAt ?? move.releasedAt));
  ctx.save();
  await ctx.stepped("acquired", move);
}

/**
 * Replays one page of `move`'s recorded writes onto its target. Each page read acknowledges the
 * one before (`ackedUpTo`, kept in the record), so a page applied twice after a crash is harmless:
 * it carries rows as they are when it is read. Returns the writes left after it, or -1 when there
 * was none to replay (which also acknowledged the last page).
 */
async function catchUpPage(ctx: ChangeContext, move: MoveRecord): Promise<number> {
  const page: ChangesPage = unwrap(await ctx.stub(move.from).dsChangesPage(ctx.transfer(move.from, move.ranges), move.ackedUpTo ?? null));
  if (page.upTo === null) return -1;
  unwrap(await ctx.stub(move.to).dsApplyChanges(ctx.transfer(move.to, move.ranges), page.upserts, page.deletes));
  const size = sizeOf(page.upserts);
  move.caughtUpRows = (move.caughtUpRows ?? 0) + size.rows + Object.values(page.deletes).reduce((n, keys) => n + keys.length, 0);
  move.caughtUpBytes = (move.caughtUpBytes ?? 0) + size.bytes;
  move.ackedUpTo = page.upTo;
  ctx.save();
  await ctx.stepped("caught-up-page", move);
  return page.left;
}

/**
 * Copies the rows of `ranges`, which `from` released, to `to`, page by page, reporting the rows
 * and bytes copied so far after each page. Starts from the first page every time (idempotent).
 */
async function copyPages(
  ctx: ChangeContext,
  from: string,
  to: string,
  ranges: SlotRange[],
  progress: (copied: { rows: number; bytes: number }) => void | Promise<void>,
  limited = false,
): Promise<void> {
  const copied = { rows: 0, bytes: 0 };
  let cursor: string | null = null;
  let first = true;
  do {
    // Only a copy its source serves through is slowed; one the slots are refused for never is.
    if (limited) await throttle(ctx);
    const page: { data: SlotData; next: string | null } = unwrap(await ctx.stub(from).dsExportPage(ctx.transfer(from, ranges), cursor));
    unwrap(await ctx.stub(to).dsImportPage(ctx.transfer(to, ranges), page.data, first));
    const size = sizeOf(page.data);
    copied.rows += size.rows;
    copied.bytes += size.bytes;
    if (limited) charge(ctx, size.bytes);
    await progress(copied);
    cursor = page.next;
    first = false;
  } while (cursor !== null);
}

/** Copy budgets of running changes: bytes copied since a run started, shared by all its moves. */
const budgets = new WeakMap<ChangeContext, { started: number; bytes: number }>();

/**
 * Under the change's copy rate limit (`copyBytesPerSecond`, all its moves together), waits until
 * the bytes this run copied so far are due, then books a whole page ({@link PAGE_BYTES}) against
 * the budget; {@link charge} corrects it to the page's real size. Booking first keeps concurrent
 * moves from all reading a page at once.
 */
async function throttle(ctx: ChangeContext): Promise<void> {
  const rate = ctx.plan.copyBytesPerSecond;
  if (rate === undefined) return;
  const budget = budgets.get(ctx) ?? { started: Date.now(), bytes: 0 };
  budgets.set(ctx, budget);
  for (;;) {
    const ahead = (budget.bytes / rate) * 1000 - (Date.now() - budget.started);
    if (ahead <= 0) break;
    // A wait may be long (a page at a low rate): an abort must not wait for it.
    ctx.checkAborted();
    // Short sleeps: other moves' pages may turn out smaller than booked, and free the budget.
    await new Promise((resolve) => setTimeout(resolve, Math.min(ahead, 25)));
  }
  budget.bytes += PAGE_BYTES;
}

/** Corrects the page booked by {@link throttle} to the `bytes` it really held. */
function charge(ctx: ChangeContext, bytes: number): void {
  const budget = budgets.get(ctx);
  if (budget) budget.bytes += bytes - PAGE_BYTES;
}

/**
 * After the commit: the sources of moves not done yet drop the rows they gave away. A failed drop
 * leaves its move `cleaning up` with the error, to be run again.
 */
export async function cleanUp(ctx: ChangeContext): Promise<void> {
  const moves = ctx.record.moves.filter((m) => m.phase !== "done");
  for (const move of moves) move.phase = "cleaning up";
  ctx.save();
  const dropped = await fanOut(
    moves.map((m) => m.from),
    async (shard, i) => unwrap(await ctx.stub(shard).dsDrop(ctx.transfer(shard, moves[i]!.ranges))),
  );
  dropped.results.forEach((r, i) => {
    const move = moves[i]!;
    if (r.ok) {
      move.phase = "done";
      delete move.error;
    } else move.error = `clean-up: ${r.error.message}`;
  });
  ctx.save();
}

/**
 * Puts every slot of the change back on its source, with every write made meanwhile, including
 * writes a target took after acquiring. Idempotent; throws the first failure (after all ran).
 */
export async function rollBackMoves(ctx: ChangeContext): Promise<void> {
  const { record } = ctx;
  const rolled = await fanOut(
    record.moves.map((_, i) => String(i)),
    async (i) => {
      const move = record.moves[Number(i)]!;
      if (move.phase === "rolled back") return;
      move.phase = "rolling back";
      ctx.save();
      // The target first: once it has revoked, no late acquire can take the slots again.
      const back = unwrap(await ctx.stub(move.to).dsRevoke({ ...ctx.transfer(move.to, move.ranges), to: move.from }));
      if (back.acquired) await copyPages(ctx, move.to, move.from, move.ranges, () => undefined);
      unwrap(await ctx.stub(move.from).dsReclaim(ctx.transfer(move.from, move.ranges), back.acquired));
      // What the target holds of these slots (staged by the copy, or its own after an acquire) goes.
      unwrap(await ctx.stub(move.to).dsDrop(ctx.transfer(move.to, move.ranges)));
      move.phase = "rolled back";
      delete move.error;
      ctx.save();
    },
    { concurrency: 8, deadlineMs: MOVE_DEADLINE_MS },
  );
  rolled.results.forEach((r, i) => {
    if (r.ok) return;
    const move = record.moves[i]!;
    move.phase = "failed";
    move.error = `rollback: ${r.error.message}`;
  });
  ctx.save();
  throwFirst(rolled.results, (i) => `rollback of move ${record.moves[Number(i)]!.from} → ${record.moves[Number(i)]!.to}`);
}

function throwFirst(results: FanOutOutcome<unknown>[], describe: (target: string) => string): void {
  const failed = results.find((r): r is Extract<FanOutOutcome<unknown>, { ok: false }> => !r.ok);
  if (failed) throw new ShardError("ChangeInProgress", `${describe(failed.shard)} failed: ${failed.error.message}`, { retryable: true, cause: failed.error });
}
