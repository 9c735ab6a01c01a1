/**
 * bench:routing — the routing core in Node, on 1,000,000 random keys, in one run:
 * key → shard lookups per second next to the raw string hash; keys and slots moved when adding a
 * shard next to the optimum 1/(n+1); max/mean keys per shard next to an ideal random assignment;
 * and the memory a router holds per keyspace.
 */
import { randomBytes } from "node:crypto";
import { ShardMap, hashKey, initialMap, planChange } from "durable-shards/core";
import { finish, fmt, heading, median, row, type Target } from "./report.js";

const KEYS = 1_000_000;
const SLOTS = 65_536;
const targets: Target[] = [];

const keys: string[] = new Array(KEYS);
for (let i = 0; i < KEYS; i++) keys[i] = `user:${randomBytes(9).toString("base64url")}`;

const shardsOf = (n: number) => Array.from({ length: n }, (_, i) => ({ id: `s${i}` }));

// ---- lookups vs raw hash -------------------------------------------------------------------
heading(`lookups (${fmt(KEYS)} random keys, ${fmt(SLOTS)} slots, 256 shards; median of 7 interleaved rounds)`);
const map = initialMap("bench", SLOTS, shardsOf(256));
let sink = 0;
const rawRates: number[] = [];
const lookupRates: number[] = [];
for (let round = 0; round < 8; round++) {
  let t = performance.now();
  for (let i = 0; i < KEYS; i++) sink ^= hashKey(keys[i]!);
  const raw = KEYS / ((performance.now() - t) / 1000);
  t = performance.now();
  for (let i = 0; i < KEYS; i++) sink ^= map.shardIndexOf(map.slotFor(keys[i]!));
  const lookup = KEYS / ((performance.now() - t) / 1000);
  if (round > 0) {
    // round 0 warms the JIT
    rawRates.push(raw);
    lookupRates.push(lookup);
  }
}
const raw = median(rawRates);
const lookups = median(lookupRates);
const speed = lookups / raw;
row("raw string hash (hashKey)", `${fmt(Math.round(raw))} keys/s`);
row("key → shard (slot + map lookup)", `${fmt(Math.round(lookups))} lookups/s`);
row("ratio lookup / raw hash", speed);
targets.push({ name: "lookups/raw-hash", met: speed >= 0.7, figure: `${fmt(speed, 3)} (≥ 0.70)` });

// ---- movement when adding one shard ---------------------------------------------------------
heading("movement when adding one shard (optimum 1/(n+1))");
for (const n of [10, 256]) {
  const before = initialMap("bench", SLOTS, shardsOf(n));
  const plan = planChange(before, { add: [{ id: "new" }] });
  const after = plan.map;
  let movedKeys = 0;
  let excessKeys = 0;
  for (let i = 0; i < KEYS; i++) {
    const slot = before.slotFor(keys[i]!);
    const from = before.shardOfSlot(slot).id;
    const to = after.shardOfSlot(slot).id;
    if (from !== to) {
      movedKeys++;
      if (to !== "new") excessKeys++;
    }
  }
  const optimal = 1 / (n + 1);
  const slotFraction = plan.movedSlots / SLOTS;
  const keyFraction = movedKeys / KEYS;
  // Random keys sample the moved slots: their fraction scatters around the slot fraction by
  // about sqrt(p(1-p)/N), which for n = 256 is 1.6 % of p. The planner's own decision is the slot
  // fraction; the key fraction is printed with its sampling error.
  const sigma = Math.sqrt((slotFraction * (1 - slotFraction)) / KEYS);
  const slotDeviation = slotFraction / optimal - 1;
  const keyDeviation = keyFraction / optimal - 1;
  row(`${n} → ${n + 1}: optimum 1/${n + 1}`, optimal);
  row(`  slots moved (planner)`, `${plan.movedSlots}/${SLOTS} = ${fmt(slotFraction)}`, `(${fmt(slotDeviation * 100, 3)} % from optimum)`);
  row(`  keys moved (1M random keys)`, `${movedKeys} = ${fmt(keyFraction)}`, `(${fmt(keyDeviation * 100, 3)} % from optimum, sampling σ ${fmt((sigma / optimal) * 100, 2)} %)`);
  row(`  keys moved between unchanged shards`, excessKeys);
  targets.push({ name: `excess-movement ${n}→${n + 1}`, met: excessKeys === 0, figure: `${excessKeys} keys` });
  targets.push({
    name: `moved-slots ${n}→${n + 1}`,
    met: Math.abs(slotDeviation) <= 0.01,
    figure: `${fmt(slotFraction)} vs ${fmt(optimal)} (${fmt(slotDeviation * 100, 3)} %, within ±1 %)`,
  });
  targets.push({
    name: `moved-keys ${n}→${n + 1}`,
    met: Math.abs(keyFraction - slotFraction) <= 4 * sigma,
    figure: `${fmt(keyFraction)} (slot fraction ± 4σ sampling error)`,
  });
}

// ---- balance --------------------------------------------------------------------------------
heading("balance: max/mean keys per shard (ideal = uniform random assignment of the same keys)");
for (const n of [10, 256, 1000]) {
  const ours = new Array<number>(n).fill(0);
  const ideal = new Array<number>(n).fill(0);
  const m = initialMap("bench", SLOTS, shardsOf(n));
  for (let i = 0; i < KEYS; i++) {
    ours[m.shardIndexOf(m.slotFor(keys[i]!))]!++;
    ideal[Math.floor(Math.random() * n)]!++;
  }
  const mean = KEYS / n;
  const oursRatio = Math.max(...ours) / mean;
  const idealRatio = Math.max(...ideal) / mean;
  const slotBound = Math.ceil(SLOTS / n) / (SLOTS / n);
  row(`${n} shards`, `ours ${fmt(oursRatio)}`, `ideal random ${fmt(idealRatio)}`, `slot bound ⌈S/n⌉/(S/n) ${fmt(slotBound)}`);
}

// ---- router memory --------------------------------------------------------------------------
heading("router memory per keyspace (a 1,000-shard map after 20 changes, expanded as a router holds it)");
let fragmented = initialMap("bench", SLOTS, shardsOf(990));
for (let i = 0; i < 20; i++) {
  fragmented = i % 2 ? planChange(fragmented, { remove: [fragmented.shards[(i * 37) % fragmented.shards.length]!.id] }).map : planChange(fragmented, { add: [{ id: `x${i}` }, { id: `y${i}` }] }).map;
}
const snapshot = fragmented.toSnapshot();
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with --expose-gc");
const COPIES = 50;
gc();
const heapBefore = process.memoryUsage();
const held: ShardMap[] = [];
for (let i = 0; i < COPIES; i++) held.push(ShardMap.fromSnapshot(structuredClone(snapshot)));
gc();
const heapAfter = process.memoryUsage();
const perKeyspace =
  (heapAfter.heapUsed + heapAfter.arrayBuffers - heapBefore.heapUsed - heapBefore.arrayBuffers) / COPIES;
row("shards / runs in the map", `${snapshot.shards.length} / ${snapshot.runs.length}`);
row("measured heap + array buffers per keyspace", `${fmt(perKeyspace / 1024, 4)} KiB`);
targets.push({ name: "router-memory", met: perKeyspace <= 256 * 1024, figure: `${fmt(perKeyspace / 1024, 4)} KiB (≤ 256 KiB)` });
if (held.length !== COPIES || sink === 0.5) console.log("");

finish(targets);
