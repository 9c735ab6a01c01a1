/**
 * Following a change or a backup job until it ends: live progress bars (cli-progress) on a
 * terminal, one line per phase otherwise. Ctrl-C detaches: the work goes on on the server.
 */
import cliProgress from "cli-progress";
import { request, CliError, type Connection } from "./client.js";
import { bytes, duration, number } from "./format.js";
import type { BackupJob } from "../backup-job.js";
import { isMoved, isRunning, type ChangeStatus } from "../change-status.js";

// The directory's own types and predicates (runtime-free modules), so the CLI cannot drift from them.
export type { ChangeStatus };
export type Job = BackupJob;

const POLL_MS = 400;

/** Polls `read` until `finished`, drawing progress; resolves with the last value (or undefined when detached). */
async function follow<T>(read: () => Promise<T>, finished: (value: T) => boolean, draw: Drawer<T>): Promise<T | undefined> {
  let detached = false;
  const onSigint = () => {
    detached = true;
  };
  process.once("SIGINT", onSigint);
  try {
    for (;;) {
      const value = await read();
      draw.update(value);
      if (finished(value)) return value;
      for (let waited = 0; waited < POLL_MS && !detached; waited += 50) await new Promise((r) => setTimeout(r, 50));
      if (detached) return undefined;
    }
  } finally {
    process.off("SIGINT", onSigint);
    draw.stop();
  }
}

interface Drawer<T> {
  update(value: T): void;
  stop(): void;
}

/** Bars on a terminal: the whole change, and one per move, with phase names and the ETA. */
function changeBars(): Drawer<ChangeStatus> {
  const bars = new cliProgress.MultiBar(
    { format: "{label} |{bar}| {percentage}% {phase} {detail}", hideCursor: true, clearOnComplete: false, barsize: 24, forceRedraw: true },
    cliProgress.Presets.shades_classic,
  );
  let whole: cliProgress.SingleBar | undefined;
  const moves: cliProgress.SingleBar[] = [];
  return {
    update(c) {
      const eta = !isRunning(c.phase) ? "" : c.etaMs !== undefined ? `ETA ${duration(c.etaMs)}` : "ETA …";
      const payload = { label: `change v${c.version}`.padEnd(18), phase: c.phase, detail: `${c.totals.movesDone}/${c.totals.moves} moves ${eta}` };
      if (!whole) whole = bars.create(Math.max(1, c.totals.slots), c.totals.slotsMoved, payload);
      whole.update(c.totals.slotsMoved, payload);
      c.moves.forEach((m, i) => {
        const total = Math.max(1, m.totalBytes ?? 1);
        const done = isMoved(m.phase) ? total : Math.min(total, m.bytes ?? 0);
        const movePayload = { label: `  ${m.from} → ${m.to}`.padEnd(18), phase: m.phase, detail: `${bytes(m.bytes ?? 0)} of ${bytes(m.totalBytes ?? 0)}, ${number(m.slots)} slots` };
        if (!moves[i]) moves[i] = bars.create(total, done, movePayload);
        moves[i]!.setTotal(total);
        moves[i]!.update(done, movePayload);
      });
    },
    stop: () => bars.stop(),
  };
}

/** One line per phase, for logs and pipes. */
function changeLines(print: (line: string) => void): Drawer<ChangeStatus> {
  let last = "";
  return {
    update(c) {
      const line = `change v${c.version}: ${c.phase}, ${c.totals.movesDone}/${c.totals.moves} moves, ${number(c.totals.slotsMoved)}/${number(c.totals.slots)} slots${c.etaMs ? `, ETA ${duration(c.etaMs)}` : ""}`;
      const key = `${c.phase}/${c.totals.movesDone}`;
      if (key !== last) print(line);
      last = key;
    },
    stop: () => undefined,
  };
}

/** Follows the keyspace's change until it ends; throws unless it ended done. */
export async function watchChange(conn: Connection, keyspace: string, mode: "bars" | "lines" | "quiet", print: (line: string) => void): Promise<ChangeStatus | undefined> {
  const read = async () => {
    const change = await request<ChangeStatus | null>(conn, "GET", `/keyspaces/${encodeURIComponent(keyspace)}/change`);
    if (!change) throw new CliError(`keyspace '${keyspace}' has no change to follow`);
    return change;
  };
  const draw = mode === "bars" ? changeBars() : mode === "lines" ? changeLines(print) : { update: () => undefined, stop: () => undefined };
  const end = await follow(read, (c) => !isRunning(c.phase), draw);
  if (end === undefined) return undefined;
  if (end.phase !== "done") throw new CliError(`change v${end.version} of '${keyspace}' ended ${end.phase}: ${end.rollbackReason ?? end.lastError ?? "see diagnose"}`);
  return end;
}

/** Follows a backup or restore job until it ends; throws unless it ended done. */
export async function watchJob(conn: Connection, id: string, mode: "bars" | "lines" | "quiet", print: (line: string) => void): Promise<Job | undefined> {
  let draw: Drawer<Job> = { update: () => undefined, stop: () => undefined };
  if (mode === "bars") {
    const bar = new cliProgress.SingleBar({ format: "{label} |{bar}| {percentage}% {phase} {detail}", hideCursor: true, barsize: 24 }, cliProgress.Presets.shades_classic);
    let started = false;
    draw = {
      update(j) {
        const payload = { label: `${j.kind} ${j.id}`, phase: j.phase, detail: `${number(j.rows)}/${number(j.rowsTotal ?? 0)} rows, ${bytes(j.bytes)}` };
        if (!started) bar.start(Math.max(1, j.rowsTotal ?? 1), j.rows, payload);
        started = true;
        bar.setTotal(Math.max(1, j.rowsTotal ?? 1));
        bar.update(j.phase === "done" ? Math.max(1, j.rowsTotal ?? 1) : j.rows, payload);
      },
      stop: () => bar.stop(),
    };
  } else if (mode === "lines") {
    let last = "";
    draw = {
      update(j) {
        if (j.phase !== last) print(`${j.kind} ${j.id}: ${j.phase}, ${number(j.rows)} rows, ${bytes(j.bytes)}`);
        last = j.phase;
      },
      stop: () => undefined,
    };
  }
  const end = await follow(() => request<Job>(conn, "GET", `/jobs/${encodeURIComponent(id)}`), (j) => j.phase === "done" || j.phase === "failed", draw);
  if (end === undefined) return undefined;
  if (end.phase !== "done") throw new CliError(`${end.kind} ${end.id} failed: ${end.error ?? "unknown error"}`);
  return end;
}
