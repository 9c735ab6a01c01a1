/**
 * bench:backup — backing up and restoring a keyspace of BACKUP_MB (default 50) MB over 4 shards to
 * R2, on a local workerd started through Miniflare (its R2 is simulated in memory). Prints backup
 * and restore throughput in MB/s, and the steady request throughput (point reads and upserts)
 * while a backup runs over the same throughput without one (rounds before and after the backup),
 * each as calls over wall time, so a call held up by the backup counts against it. The backup
 * under load is rate limited (BACKUP_RATE, default 2 MiB/s); the same backup is then timed once
 * more without the limit, for what the limit costs.
 */
import { startWorker } from "../bundle.js";
import { finish, fmt, heading, row, type Target } from "../report.js";

const MB = Number(process.env.BACKUP_MB ?? 50);
/** The backups' read rate limit (`backups.bytesPerSecond`), bytes/s; 0: none. */
const RATE = Number(process.env.BACKUP_RATE ?? 2 * 1024 * 1024);
const ROUND_MS = 200;
const CONCURRENCY = 8;

const mf = await startWorker(new URL("./worker.ts", import.meta.url), { DIRECTORY: "Directory", STORE: "Store" }, {}, ["BACKUPS"]);
const get = async <T>(path: string): Promise<T> => {
  const response = await mf.dispatchFetch(`http://bench${path}`);
  if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`);
  return (await response.json()) as T;
};
/** One round of load: its calls and its wall time in seconds. */
type Round = { calls: number; seconds: number };
/** One round of load: its calls and how long it took (wall time, measured here: a call held up by the backup makes the round longer). */
const round = async (): Promise<Round> => {
  const t = performance.now();
  const { calls } = await get<{ calls: number }>(`/load?ms=${ROUND_MS}&c=${CONCURRENCY}`);
  return { calls, seconds: (performance.now() - t) / 1000 };
};
const rate = (rounds: Round[]) => rounds.reduce((n, r) => n + r.calls, 0) / rounds.reduce((s, r) => s + r.seconds, 0);

interface Job {
  id: string;
  phase: string;
  rows: number;
  bytes: number;
  verified?: boolean;
  error?: string;
}

/** A backup run to the end while load runs round after round: the job, its wall time, and the rounds. */
async function backupUnderLoad(): Promise<{ job: Job; seconds: number; rounds: Round[] }> {
  let done = false;
  const started = performance.now();
  const backup = get<Job>("/backup").finally(() => (done = true));
  const rounds: Round[] = [];
  while (!done) rounds.push(await round());
  const job = await backup;
  if (job.phase !== "done") throw new Error(`backup ${job.phase}: ${job.error}`);
  return { job, seconds: (performance.now() - started) / 1000, rounds };
}

try {
  const setup = await get<{ rows: number; bytes: number }>(`/setup?mb=${MB}&rate=${RATE}`);
  heading(`backup and restore: ${fmt(setup.rows)} rows, ${fmt(setup.bytes / 1024 ** 2, 3)} MB over 4 shards, R2 simulated by Miniflare, backup rate limit ${RATE ? `${fmt(RATE / 1024 ** 2, 3)} MiB/s` : "none"}`);
  for (let i = 0; i < 4; i++) await round(); // warm-up

  const baseline: Round[] = [];
  for (let i = 0; i < 10; i++) baseline.push(await round());

  const { job, seconds: backupSeconds, rounds: during } = await backupUnderLoad();
  for (let i = 0; i < 10; i++) baseline.push(await round());

  const restoreStarted = performance.now();
  const restored = await get<Job>(`/restore?id=${job.id}&into=copy`);
  const restoreSeconds = (performance.now() - restoreStarted) / 1000;
  if (restored.phase !== "done") throw new Error(`restore ${restored.phase}: ${restored.error}`);

  // The same backup once more without a rate limit, under the same load: what the limit buys.
  let fast: { mb: number; seconds: number; rate: number } | undefined;
  if (RATE > 0) {
    await get("/unthrottle");
    const unthrottled = await backupUnderLoad();
    fast = { mb: unthrottled.job.bytes / 1024 ** 2, seconds: unthrottled.seconds, rate: rate(unthrottled.rounds) };
  }

  const mb = job.bytes / 1024 ** 2;
  row("backup", `${fmt(mb, 3)} MB in ${fmt(backupSeconds, 3)} s`, `${fmt(mb / backupSeconds, 3)} MB/s`, `${fmt(job.rows)} rows`);
  if (fast) row("backup without the rate limit", `${fmt(fast.mb, 3)} MB in ${fmt(fast.seconds, 3)} s`, `${fmt(fast.mb / fast.seconds, 3)} MB/s`);
  row("restore (into a new keyspace, verified)", `${fmt(mb, 3)} MB in ${fmt(restoreSeconds, 3)} s`, `${fmt(mb / restoreSeconds, 3)} MB/s`, `checksums ${restored.verified ? "equal" : "NOT checked"}`);
  const steady = rate(baseline);
  const busy = rate(during);
  row(`requests without a backup (${baseline.length} rounds, before and after)`, `${fmt(Math.round(steady))} calls/s`);
  row(`requests during the backup (${during.length} rounds)`, `${fmt(Math.round(busy))} calls/s`);
  const ratio = busy / steady;
  row("during / without", fmt(ratio, 3));
  if (fast) row("during an unlimited backup / without (not a target)", fmt(fast.rate / steady, 3), `${fmt(Math.round(fast.rate))} calls/s`);
  const targets: Target[] = [
    { name: "keyspace size", met: mb >= 50, figure: `${fmt(mb, 3)} MB (≥ 50)` },
    { name: "during/without a backup", met: ratio >= 0.8, figure: `${fmt(ratio, 3)} (≥ 0.8)` },
    { name: "restore verified", met: restored.verified === true, figure: String(restored.verified === true) },
  ];
  finish(targets);
} finally {
  await mf.dispose();
}
