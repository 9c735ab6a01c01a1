/**
 * bench:reshard — online resharding under load, on a local workerd started through Miniflare (no
 * `wrangler dev` proxy). 16 clients increment and read counters of a keyspace of 4 shards and
 * 50 MB while it goes 4 → 8 shards, then loses 2 shards, then starts a third change (removing the
 * shard that took the largest move) that is rolled back mid-copy. Every increment carries a unique id. Every operation's invoke and complete times
 * are recorded, and each counter's history is checked for linearizability at the end.
 *
 * RESHARD_AUDIT_EACH=1 also pauses the load after each change and compares every count with its
 * acknowledged increments, to tell which change lost a write. RESHARD_MB, RESHARD_BIG_MB and
 * RESHARD_COPY_RATE (bytes/s) change the data and the copy rate limit.
 */
import { startWorker } from "../bundle.js";
import { finish, fmt, heading, row, type Target } from "../report.js";
import { checkKey, selfTest, type Op } from "./linearizability.js";

const SHARDS = 4;
const MB = Number(process.env.RESHARD_MB ?? 50);
const BIG_MB = Number(process.env.RESHARD_BIG_MB ?? 24);
const CLIENTS = 16;
const KEYS = 2_000;
const READ_SHARE = 0.2;
const STEADY_MS = 3_000;
/** The copy rate limit of every change, in bytes/s: a copy's pages are spaced out to it. */
const COPY_RATE = Number(process.env.RESHARD_COPY_RATE ?? 2 * 1024 * 1024);

interface MoveReport {
  from: string;
  to: string;
  phase: string;
  bytes?: number;
  caughtUpBytes?: number;
  startedAt?: number;
  copiedAt?: number;
  pauseMs?: number;
}
interface ChangeReport {
  version: number;
  phase: string;
  moves: MoveReport[];
  rollbackReason?: string;
}

selfTest();

const mf = await startWorker(new URL("./worker.ts", import.meta.url), { DIRECTORY: "Directory", COUNTERS: "Counters" });

let running = true;
const call = async (path: string, method = "GET"): Promise<unknown> => {
  const response = await mf.dispatchFetch(`http://bench${path}`, { method });
  const body = await response.json();
  if (!response.ok) throw new Error(`${path}: ${response.status} ${JSON.stringify(body)}`);
  return body;
};

try {
  const setup = (await call(`/setup?shards=${SHARDS}&mb=${MB}&bigMb=${BIG_MB}`, "POST")) as { bigMove: { to: string } };
  heading(`reshard: ${CLIENTS} clients, ${KEYS} counters, ${Math.round(READ_SHARE * 100)} % reads; ${JSON.stringify(setup)}`);

  // ---- the load ----------------------------------------------------------------------------
  const ops: Op[] = [];
  const errors: string[] = [];
  let paused = false;
  let inFlight = 0;
  const client = async (c: number) => {
    for (let seq = 0; running; seq++) {
      while (paused) await new Promise((r) => setTimeout(r, 5));
      inFlight++;
      const key = `k${Math.floor(Math.random() * KEYS)}`;
      const kind = Math.random() < READ_SHARE ? "read" : "inc";
      const invoke = performance.now();
      try {
        const { n } = (await call(kind === "read" ? `/read?key=${key}` : `/inc?key=${key}&id=${c}-${seq}`, kind === "read" ? "GET" : "POST")) as { n: number };
        ops.push({ key, kind, invoke, complete: performance.now(), ok: true, value: n });
      } catch (error) {
        ops.push({ key, kind, invoke, complete: performance.now(), ok: false });
        if (errors.length < 1_000) errors.push(String(error).slice(0, 200));
      }
      inFlight--;
    }
  };
  const checkpoint = async (name: string) => {
    if (!process.env.RESHARD_AUDIT_EACH) return;
    paused = true;
    while (inFlight > 0) await new Promise((r) => setTimeout(r, 5));
    const keys = Array.from({ length: KEYS }, (_, i) => `k${i}`);
    const acked = new Map<string, number>();
    for (const op of ops) if (op.kind === "inc" && op.ok) acked.set(op.key, (acked.get(op.key) ?? 0) + 1);
    let bad = 0;
    const examples: string[] = [];
    for (let i = 0; i < keys.length; i += 100) {
      const batch = keys.slice(i, i + 100);
      const audits = (await call(`/audit?keys=${batch.join(",")}`)) as { n: number; ids: number }[];
      batch.forEach((k, j) => {
        if (audits[j]!.n !== (acked.get(k) ?? 0)) {
          bad++;
          if (examples.length < 5) examples.push(`${k}: count ${audits[j]!.n}, acked ${acked.get(k) ?? 0}`);
        }
      });
    }
    console.log(`  checkpoint after ${name}: ${bad} keys off ${examples.join("; ")}`);
    paused = false;
  };
  const clients = Array.from({ length: CLIENTS }, (_, c) => client(c));
  const completedIn = (from: number, to: number) => ops.filter((o) => o.complete >= from && o.complete <= to).length / ((to - from) / 1000);
  const window = async (ms: number) => {
    const from = performance.now();
    await new Promise((r) => setTimeout(r, ms));
    return { from, to: performance.now() };
  };

  await window(2_000); // warm-up
  const steady = await window(STEADY_MS);

  const timed = async (name: string, run: () => Promise<unknown>) => {
    const from = performance.now();
    // A change that takes this long has stalled: say where, and stop.
    const watchdog = setTimeout(async () => {
      console.error(`${name} is still running after 60 s: ${JSON.stringify(await call("/status").catch(String)).slice(0, 2000)}`);
      process.exit(2);
    }, 60_000);
    await run();
    clearTimeout(watchdog);
    const to = performance.now();
    console.log(`  ${name}: ${fmt(Math.round(to - from))} ms`);
    return { from, to };
  };
  const grow = await timed("4 → 8 shards", () => call(`/change?op=add&n=${SHARDS}&rate=${COPY_RATE}`, "POST"));
  const grown = (await call("/status")) as ChangeReport;
  await checkpoint("4 → 8");
  await window(500);
  const shrink = await timed("removing 2 shards", () => call(`/change?op=remove&ids=s1,s2&rate=${COPY_RATE}`, "POST"));
  const shrunk = (await call("/status")) as ChangeReport;
  await checkpoint("remove 2");
  await window(500);
  // The third change is rolled back once its copy is under way.
  let rolled: ChangeReport | undefined;
  const third = await timed("a change rolled back mid-copy", async () => {
    // The shard that took the large move is removed: a copy long enough to stop midway.
    let failed: string | undefined;
    const started = call(`/change?op=remove&ids=${setup.bigMove.to}&rate=${COPY_RATE}`, "POST").catch((error: unknown) => (failed = String(error)));
    for (;;) {
      if (failed !== undefined && !/RolledBack/.test(failed)) throw new Error(`the third change failed: ${failed}`);
      const status = (await call("/status")) as ChangeReport & { totals: { rows: number } };
      if (status.version > shrunk.version && status.phase === "copying" && status.totals.rows > 0) break;
      if (status.version > shrunk.version && status.phase === "done") throw new Error("the third change finished before it could be rolled back mid-copy");
      // Not faster: locally every object shares one thread, and polling would eat the clients' share.
      await new Promise((r) => setTimeout(r, 20));
    }
    rolled = (await call("/change?op=abort", "POST")) as ChangeReport;
    await started;
  });
  await checkpoint("rollback");
  const after = await window(STEADY_MS);
  running = false;
  await Promise.all(clients);

  // ---- the audit ---------------------------------------------------------------------------
  const keys = Array.from({ length: KEYS }, (_, i) => `k${i}`);
  const audits: { n: number; ids: number }[] = [];
  for (let i = 0; i < keys.length; i += 100) audits.push(...((await call(`/audit?keys=${keys.slice(i, i + 100).join(",")}`)) as { n: number; ids: number }[]));
  const byKey = new Map<string, Op[]>();
  for (const op of ops) (byKey.get(op.key) ?? byKey.set(op.key, []).get(op.key)!).push(op);
  let lost = 0;
  let doubled = 0;
  const violations: string[] = [];
  keys.forEach((key, i) => {
    const verdict = checkKey(key, byKey.get(key) ?? [], audits[i]!.n, audits[i]!.ids);
    lost += verdict.lost;
    doubled += verdict.doubled;
    violations.push(...verdict.violations);
  });

  // ---- the report --------------------------------------------------------------------------
  // The steady state is the better of the windows before and after the changes, so no ratio is
  // flattered by a slow baseline (the first window also pays warm-up costs).
  const before = completedIn(steady.from, steady.to);
  const afterRate = completedIn(after.from, after.to);
  const steadyRate = Math.max(before, afterRate);
  const ratio = (w: { from: number; to: number }) => completedIn(w.from, w.to) / steadyRate;
  console.log(`\n-- throughput (operations completed per second)`);
  row("  steady state (best of before and after)", `${fmt(Math.round(steadyRate))} ops/s`, `(before ${fmt(Math.round(before))}, after ${fmt(Math.round(afterRate))})`);
  row("  during 4 → 8 shards / steady", ratio(grow), `(${fmt(Math.round(grow.to - grow.from))} ms)`);
  row("  during removing 2 shards / steady", ratio(shrink), `(${fmt(Math.round(shrink.to - shrink.from))} ms)`);
  row("  during the rolled-back change / steady", ratio(third), `(${fmt(Math.round(third.to - third.from))} ms)`);

  console.log(`\n-- correctness (${fmt(ops.length)} operations, ${fmt(ops.filter((o) => o.kind === "inc").length)} increments)`);
  row("  client-visible errors", errors.length);
  for (const error of errors.slice(0, 5)) console.log(`    ${error}`);
  row("  lost writes", lost);
  row("  doubled writes", doubled);
  row("  linearizability violations", violations.length);
  for (const violation of violations.slice(0, 5)) console.log(`    ${violation}`);

  const moves = [...grown.moves, ...shrunk.moves];
  console.log(`\n-- moves (copy while serving; pages of about 4 MiB; copy rate limit ${fmt(COPY_RATE / 1024 / 1024, 3)} MiB/s per change)`);
  for (const [name, change] of [["4 → 8", grown], ["remove 2", shrunk], ["rolled back", rolled!]] as const) {
    console.log(`  ${name}: version ${change.version}, ${change.phase}${change.rollbackReason ? ` (${change.rollbackReason})` : ""}`);
    for (const m of change.moves) {
      const mb = ((m.bytes ?? 0) + (m.caughtUpBytes ?? 0)) / 1024 / 1024;
      const copyMs = m.copiedAt !== undefined && m.startedAt !== undefined ? m.copiedAt - m.startedAt : undefined;
      row(`    ${m.from} → ${m.to} (${m.phase})`, `${fmt(mb, 3)} MiB`, `copy ${copyMs === undefined ? "-" : `${fmt(copyMs)} ms`}`, `pause ${m.pauseMs === undefined ? "-" : `${fmt(m.pauseMs)} ms`}`);
    }
  }
  const moved = moves.filter((m) => m.pauseMs !== undefined);
  const megabytes = (m: MoveReport) => ((m.bytes ?? 0) + (m.caughtUpBytes ?? 0)) / 1024 / 1024;
  for (const [name, change] of [["4 → 8", grown], ["remove 2", shrunk]] as const) {
    // Moves copy side by side: a change's copy rate is its bytes over the time from its first
    // move's start to its last move's end of copy.
    const seconds = (Math.max(...change.moves.map((m) => m.copiedAt!)) - Math.min(...change.moves.map((m) => m.startedAt!))) / 1000;
    const copied = change.moves.reduce((n, m) => n + (m.bytes ?? 0), 0) / 1024 / 1024;
    row(`  copy throughput, ${name}`, `${fmt(copied / seconds, 3)} MiB/s`, `(${fmt(copied, 3)} MiB in ${fmt(seconds, 3)} s)`);
  }
  row("  copy rate limit (per change)", `${fmt(COPY_RATE / 1024 / 1024, 3)} MiB/s`, "(kept serving throughput at the ratios above)");
  const maxPause = Math.max(...moved.map((m) => m.pauseMs!));
  const largest = moved.reduce((a, b) => (megabytes(b) > megabytes(a) ? b : a));

  const targets: Target[] = [
    ...([["4 → 8", grow], ["remove 2", shrink], ["rolled back", third]] as const).map(([name, w]) => ({
      name: `throughput during ${name}/steady`,
      met: ratio(w) >= 0.8,
      figure: `${fmt(ratio(w), 3)} (≥ 0.8)`,
    })),
    { name: "client-visible errors", met: errors.length === 0, figure: `${errors.length} (0)` },
    { name: "lost writes", met: lost === 0, figure: `${lost} (0)` },
    { name: "doubled writes", met: doubled === 0, figure: `${doubled} (0)` },
    { name: "linearizability violations", met: violations.length === 0, figure: `${violations.length} (0)` },
    { name: "max pause", met: maxPause <= 100, figure: `${fmt(maxPause)} ms (≤ 100), largest move ${fmt(megabytes(largest), 3)} MiB paused ${fmt(largest.pauseMs!)} ms` },
    { name: "a move ≤ 1 MB", met: moved.some((m) => megabytes(m) <= 1), figure: `${fmt(Math.min(...moved.map(megabytes)), 3)} MiB` },
    { name: "a move ≥ 20 MB", met: moved.some((m) => megabytes(m) >= 20), figure: `${fmt(megabytes(largest), 3)} MiB` },
    { name: "third change rolled back", met: rolled?.phase === "rolled back", figure: rolled?.phase ?? "none" },
  ];
  finish(targets);
} finally {
  running = false;
  await mf.dispose();
}
