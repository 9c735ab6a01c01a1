/**
 * bench:router — routed calls vs direct `getByName` calls on the same objects vs a design that
 * asks the directory on every call, on a local workerd started through Miniflare (not the
 * `wrangler dev` proxy). Modes run interleaved, round after round, so machine noise hits all alike.
 */
import { startWorker } from "../bundle.js";
import { finish, fmt, heading, median, row, type Target } from "../report.js";

// Many short rounds: each round's modes run within a few hundred milliseconds of each other, so the
// paired ratios see the same machine load (with 21 rounds of 3,000 calls the read ratio wandered by
// ±3 % between runs on a shared 2-core machine; with 101 rounds of 600 by about ±0.5 %).
const ROUNDS = 101;
/** Calls per mode and round; writes are slower, so fewer keep rounds short and numerous. */
const CALLS = { read: 600, write: 200, noop: 600 };
const CONCURRENCY = 8;
const SHARDS = 16;
const MODES = ["direct", "direct-id", "routed", "ask"] as const;
const OPS = ["read", "write", "noop"] as const;
const LABELS = { read: "a SQLite point read per call (the targets)", write: "a SQLite upsert per call", noop: "no storage: pure call overhead" };

const mf = await startWorker(new URL("./worker.ts", import.meta.url), { DIRECTORY: "Directory", SHARD: "BenchShard" });

try {
  const setup = await (await mf.dispatchFetch(`http://bench/setup?shards=${SHARDS}&keys=20000`)).json();
  heading(`router throughput: ${SHARDS} shards, ${JSON.stringify(CALLS)} calls × ${ROUNDS} rounds per mode and op, ${CONCURRENCY} in flight (${JSON.stringify(setup)})`);
  const rates: Record<string, number[]> = {};
  const directoryCalls: Record<string, number> = {};
  for (let round = 0; round <= ROUNDS; round++) {
    for (const op of OPS) {
      // A fresh random order each round, so no mode always runs right after the same other one.
      for (const mode of [...MODES].sort(() => Math.random() - 0.5)) {
        const started = performance.now();
        const response = await mf.dispatchFetch(`http://bench/run?mode=${mode}&op=${op}&n=${CALLS[op]}&c=${CONCURRENCY}`);
        const body = (await response.json()) as { calls: number; directoryCalls: number };
        const seconds = (performance.now() - started) / 1000;
        if (round === 0) continue; // warm-up round
        (rates[`${mode}/${op}`] ??= []).push(body.calls / seconds);
        directoryCalls[`${mode}/${op}`] = (directoryCalls[`${mode}/${op}`] ?? 0) + body.directoryCalls;
      }
    }
  }
  const rate = (mode: string, op: string) => median(rates[`${mode}/${op}`]!);
  // Ratios are medians of per-round ratios: each round's modes ran back to back, so slow phases of
  // a shared machine cancel out.
  const ratio = (a: string, b: string, op: string) => median(rates[`${a}/${op}`]!.map((r, i) => r / rates[`${b}/${op}`]![i]!));
  for (const op of OPS) {
    console.log(`\n-- ${LABELS[op]}`);
    for (const mode of MODES) {
      row(`  ${mode}`, `${fmt(Math.round(rate(mode, op)))} calls/s`, `directory calls: ${directoryCalls[`${mode}/${op}`]}`);
    }
    row("  routed / direct", ratio("routed", "direct", op));
    row("  routed / direct-id (fencing cost alone)", ratio("routed", "direct-id", op));
    row("  routed / ask-every-call", ratio("routed", "ask", op));
  }
  const routedDirect = ratio("routed", "direct", "read");
  const routedAsk = ratio("routed", "ask", "read");
  const targets: Target[] = [
    { name: "routed/direct", met: routedDirect >= 0.95, figure: `${fmt(routedDirect, 3)} (≥ 0.95, read per call)` },
    { name: "routed/ask-every-call", met: routedAsk >= 1.5, figure: `${fmt(routedAsk, 3)} (≥ 1.5, read per call)` },
    {
      name: "routed directory calls",
      met: OPS.every((op) => directoryCalls[`routed/${op}`] === 0),
      figure: `${OPS.reduce((n, op) => n + directoryCalls[`routed/${op}`]!, 0)}`,
    },
  ];
  finish(targets);
} finally {
  await mf.dispose();
}
