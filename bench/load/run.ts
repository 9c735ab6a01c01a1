/**
 * bench:load — measured load under a zipf (s = 0.99) workload over 8 shards, on a local workerd
 * started through Miniflare. In one run it prints:
 *  - max/mean shard load (calls each shard served, from the library's own counts) with the
 *    slot-count balance every keyspace starts with, then after `rebalance(…, { by: "load" })`;
 *  - the top-10 hot keys the shards' sketches found, against the bench's own exact counts;
 *  - the cost of measurement: routed calls with measurement on over the same calls with it off,
 *    interleaved round after round so machine noise hits both alike.
 */
import { startWorker } from "../bundle.js";
import { finish, fmt, heading, median, row, type Target } from "../report.js";

const CALLS = 40_000;
const CONCURRENCY = 8;
const ROUNDS = 61;
const ROUND_CALLS = 600;

interface Metrics {
  version: number;
  shards: { shard: string; slots: number; methods: Record<string, { calls: number }> }[];
  hotKeys: { keys: { key: string; count: number; error: number; shard: string }[]; errorBound: number };
}

const mf = await startWorker(new URL("./worker.ts", import.meta.url), { DIRECTORY: "Directory", METERED: "LoadShard", PLAIN: "PlainShard" });
const get = async <T>(path: string): Promise<T> => {
  const response = await mf.dispatchFetch(`http://bench${path}`);
  if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`);
  return (await response.json()) as T;
};
const bumps = (m: Metrics) => new Map(m.shards.map((s) => [s.shard, s.methods.bump?.calls ?? 0]));

/** Calls each shard served during `CALLS` zipf calls, and their max over mean. */
async function phase(): Promise<{ perShard: Map<string, number>; ratio: number; slots: Map<string, number> }> {
  const before = bumps(await get<Metrics>("/metrics"));
  await get(`/drive?n=${CALLS}&c=${CONCURRENCY}`);
  const metrics = await get<Metrics>("/metrics");
  const perShard = new Map([...bumps(metrics)].map(([shard, n]) => [shard, n - (before.get(shard) ?? 0)]));
  const values = [...perShard.values()];
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  return { perShard, ratio: Math.max(...values) / mean, slots: new Map(metrics.shards.map((s) => [s.shard, s.slots])) };
}

try {
  const setup = await get<{ keys: number; s: number }>("/setup");
  heading(`load balance: zipf s = ${setup.s} over ${fmt(setup.keys)} keys, 8 shards, ${fmt(CALLS)} calls per phase, ${CONCURRENCY} in flight`);
  const slotBalanced = await phase();
  const show = (label: string, p: Awaited<ReturnType<typeof phase>>) => {
    row(label, `max/mean ${fmt(p.ratio, 3)}`);
    row("  calls per shard", [...p.perShard.values()].map((n) => fmt(n)).join(" "));
    row("  slots per shard", [...p.slots.values()].map((n) => fmt(n)).join(" "));
  };
  show("slot-count balance (before)", slotBalanced);
  const dry = await get<{ movedSlots: number; moves: unknown[]; predicted: { before: number; after: number }; hotSlots: unknown[] }>("/rebalance?dry=1");
  row("rebalance by load, dry run", `predicted max/mean ${fmt(dry.predicted.before, 3)} → ${fmt(dry.predicted.after, 3)}`, `${dry.moves.length} moves, ${fmt(dry.movedSlots)} slots`, `hot slots: ${dry.hotSlots.length}`);
  const started = performance.now();
  const done = await get<{ version: number; movedSlots: number; moves: { pauseMs: number }[] }>("/rebalance");
  row("rebalance by load, applied", `map version ${done.version}`, `${fmt(done.movedSlots)} slots in ${done.moves.length} moves`, `${fmt((performance.now() - started) / 1000, 3)} s`);
  const loadBalanced = await phase();
  show("after rebalance by load", loadBalanced);

  heading("hot keys: the shards' space-saving sketches (64 counters each) against exact counts");
  const metrics = await get<Metrics>("/metrics");
  const all = await get<[string, number][]>("/exact?n=1000000");
  const truth = all.slice(0, 10);
  const exact = new Map(all);
  const found = metrics.hotKeys.keys;
  const bound = metrics.hotKeys.errorBound;
  row("  error bound (sum of total / capacity)", fmt(Math.round(bound)));
  for (const [i, k] of found.entries()) {
    const trueCount = exact.get(k.key);
    row(`  ${i + 1}. ${k.key} (${k.shard})`, `sketch ${fmt(k.count)}`, `exact ${fmt(trueCount ?? 0)}`, truth.some(([key]) => key === k.key) ? "" : "(not in the true top 10)");
  }
  const top5 = truth.slice(0, 5);
  const byKey = new Map(found.map((k) => [k.key, k]));
  const top5Found = top5.every(([key]) => byKey.has(key));
  // Every key reported, not only the top 5: never below its true count, at most the bound above.
  const withinError = found.every((k) => k.count >= (exact.get(k.key) ?? 0) && k.count - (exact.get(k.key) ?? 0) <= bound);

  heading(`measurement overhead: routed point reads, ${ROUND_CALLS} calls × ${ROUNDS} rounds per mode, ${CONCURRENCY} in flight`);
  const rates: Record<"on" | "off", number[]> = { on: [], off: [] };
  for (let round = 0; round <= ROUNDS; round++) {
    for (const mode of Math.random() < 0.5 ? (["on", "off"] as const) : (["off", "on"] as const)) {
      const t = performance.now();
      await get(`/overhead?mode=${mode}&n=${ROUND_CALLS}&c=${CONCURRENCY}`);
      if (round > 0) rates[mode].push(ROUND_CALLS / ((performance.now() - t) / 1000));
    }
  }
  const overhead = median(rates.on.map((r, i) => r / rates.off[i]!));
  row("  with metrics", `${fmt(Math.round(median(rates.on)))} calls/s`);
  row("  without metrics", `${fmt(Math.round(median(rates.off)))} calls/s`);
  row("  with / without (median of paired rounds)", fmt(overhead, 3));

  const targets: Target[] = [
    { name: "max/mean after rebalance by load", met: loadBalanced.ratio <= 1.25, figure: `${fmt(loadBalanced.ratio, 3)} (≤ 1.25; before ${fmt(slotBalanced.ratio, 3)})` },
    { name: "true top 5 found", met: top5Found, figure: `${top5.filter(([key]) => byKey.has(key)).length} of 5` },
    { name: "counts within the stated error", met: withinError, figure: `all ${found.length} reported within ${fmt(Math.round(bound))}` },
    { name: "with/without metrics", met: overhead >= 0.95, figure: `${fmt(overhead, 3)} (≥ 0.95)` },
  ];
  finish(targets);
} finally {
  await mf.dispose();
}
