/**
 * bench:realtime — the WebSocket signaling path on a local workerd (Miniflare), 1,000 sockets
 * (500 pairs) from Node with the `ws` package: pairings per second; relayed `offer`/`ice_candidate`
 * messages per second and latency for pairs on the SAME gateway vs ACROSS gateways, in alternating
 * rounds (random order within each round) so machine noise hits both; Durable Object calls per
 * relayed message; lost and reordered messages.
 *
 * Each socket sends at most 2 + (ROUNDS + 1) × PER_ROUND frames, below the per-socket limit of 100
 * frames per 60 s; each socket has its own `CF-Connecting-IP`.
 */
import { readFileSync } from "node:fs";
import ts from "typescript";
import { startWorker } from "../bundle.js";
import { finish, fmt, heading, median, percentile, row, type Target } from "../report.js";
import { Client, inPool, type Frame } from "./clients.js";

const GATEWAYS = 4;
/** Pairs per group (same gateway, across gateways): 2 × 250 pairs = 1,000 sockets. */
const GROUP_PAIRS = 250;
/** Measured rounds per group (the warm-up pairs have already woken every object). */
const ROUNDS = 7;
/** Messages each socket sends its peer per round, at most WINDOW of them not yet received. */
const PER_ROUND = 4;
const WINDOW = 2;
/** Light-load latency: this many pairs per group, one message in flight per socket. */
const PROBE_PAIRS = 8;
const FRAME_BUDGET = 90;
/** A message not received this long after it was sent is given up on (and counted as lost). */
const LOSS_TIMEOUT_MS = 10_000;
const WARMUP_PAIRS = 8;
const OPEN_CONCURRENCY = 50;
const DEADLINE_MS = 175_000;

const SDP = `v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n`;
const CANDIDATE = "candidate:842163049 1 udp 1677729535 198.51.100.7 46154 typ srflx raddr 10.0.0.5 rport 46154 generation 0";

const framesPerSocket = 2 + (ROUNDS + 1) * PER_ROUND;
if (framesPerSocket > FRAME_BUDGET) throw new Error(`${framesPerSocket} frames per socket exceeds the budget of ${FRAME_BUDGET}`);

const watchdog = setTimeout(() => {
  console.error(`\ntargets: missed bench did not finish within ${DEADLINE_MS / 1000} s`);
  process.exit(1);
}, DEADLINE_MS);
watchdog.unref();

/** The server's Durable Object bindings, as declared in its wrangler.jsonc. */
const wrangler = ts.parseConfigFileTextToJson("wrangler.jsonc", readFileSync(new URL("../../apps/zajel-server/wrangler.jsonc", import.meta.url), "utf8"));
const classes = (wrangler.config as { durable_objects: { bindings: { name: string; class_name: string }[] } }).durable_objects.bindings;

const mf = await startWorker(
  new URL("./worker.ts", import.meta.url),
  Object.fromEntries(classes.map((b) => [b.name, b.class_name])),
  { SERVER_IDENTITY_KEY: "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60", LOG_LEVEL: "warn" },
);

type Group = "same" | "cross";
interface Pair {
  a: Client;
  b: Client;
  group: Group;
}
type Calls = Record<string, number>;

/** Reads (and resets) the Durable Object call counters of the bench worker. */
async function counters(): Promise<Calls> {
  return (await (await mf.dispatchFetch("http://bench/__bench/counters")).json()) as Calls;
}

const sum = (calls: Calls) => Object.values(calls).reduce((n, c) => n + c, 0);
const add = (into: Calls, from: Calls) => {
  for (const [k, v] of Object.entries(from)) into[k] = (into[k] ?? 0) + v;
};

/** Gateways of pair `j` of a group: both on one, or on two different ones, spread evenly. */
function placement(j: number, group: Group): [number, number] {
  const g = j % GATEWAYS;
  return [g, group === "same" ? g : (g + 1 + (Math.floor(j / GATEWAYS) % (GATEWAYS - 1))) % GATEWAYS];
}

/** Opens `perGroup` pairs of each group, interleaved, OPEN_CONCURRENCY connects at a time. */
async function openPairs(base: string, perGroup: number): Promise<Pair[]> {
  const specs = Array.from({ length: perGroup * 2 }, (_, i) => {
    const group: Group = i % 2 === 0 ? "same" : "cross";
    return { group, gateways: placement(i >> 1, group) };
  });
  const sockets = await inPool(specs.flatMap((s) => s.gateways), OPEN_CONCURRENCY, (gateway) => Client.open(base, gateway));
  return specs.map((s, i) => {
    const [a, b] = [sockets[2 * i]!, sockets[2 * i + 1]!];
    a.peer = b;
    b.peer = a;
    return { a, b, group: s.group };
  });
}

/** register ×2, pair_request, pair_incoming, pair_response (accepted), pair_matched ×2; ms taken. */
async function pairUp({ a, b }: Pair): Promise<number> {
  const started = performance.now();
  a.send({ type: "register", pairingCode: a.code, publicKey: a.publicKey });
  b.send({ type: "register", pairingCode: b.code, publicKey: b.publicKey });
  await Promise.all([a.waitFor("registered"), b.waitFor("registered")]);
  a.send({ type: "pair_request", targetCode: b.code });
  const incoming = await b.waitFor("pair_incoming");
  if (incoming.fromCode !== a.code || incoming.fromPublicKey !== a.publicKey) throw new Error(`unexpected ${JSON.stringify(incoming)}`);
  b.send({ type: "pair_response", targetCode: a.code, accepted: true });
  const [ma, mb] = await Promise.all([a.waitFor("pair_matched"), b.waitFor("pair_matched")]);
  if (ma.peerCode !== b.code || mb.peerCode !== a.code || ma.isInitiator !== true || mb.isInitiator !== false) {
    throw new Error(`unexpected pair_matched ${JSON.stringify([ma, mb])}`);
  }
  return performance.now() - started;
}

// ---- relaying ---------------------------------------------------------------------------------

const totals = { sent: 0, received: 0, unique: 0, reordered: 0, duplicates: 0, late: 0, altered: 0, stray: 0, givenUp: 0 };
interface RoundStats {
  received: number;
  latencies: number[];
}
let current: RoundStats | undefined;

function onRelay(receiver: Client, frame: Frame, at: number): void {
  const sender = receiver.peer;
  const payload = frame.payload as { seq?: unknown; t?: unknown; sdp?: unknown; candidate?: unknown } | undefined;
  if (!sender || frame.from !== sender.code || typeof payload?.seq !== "number" || typeof payload.t !== "number") {
    totals.stray++;
    return;
  }
  const seq = payload.seq;
  totals.received++;
  if (seq <= receiver.lastSeq) totals.reordered++;
  else receiver.lastSeq = seq;
  if (frame.type !== (seq % 2 === 0 ? "offer" : "ice_candidate") || (seq % 2 === 0 ? payload.sdp !== SDP : payload.candidate !== CANDIDATE)) totals.altered++;
  if (receiver.seen.has(seq)) totals.duplicates++;
  else {
    receiver.seen.add(seq);
    totals.unique++;
    if (!sender.delivered(seq)) totals.late++;
  }
  if (current) {
    current.received++;
    current.latencies.push(at - payload.t);
  }
}

/** `sender` sends PER_ROUND messages to its peer, at most `window` unreceived; waits for the last. */
async function drive(sender: Client, window: number): Promise<void> {
  const target = sender.peer!.code;
  const settle = async (limit: number) => {
    if (await sender.below(limit, LOSS_TIMEOUT_MS)) return;
    totals.givenUp += sender.outstanding.size;
    sender.outstanding.clear();
  };
  for (let k = 0; k < PER_ROUND; k++) {
    await settle(window);
    const seq = sender.nextSeq++;
    sender.outstanding.add(seq);
    const t = performance.now();
    if (seq % 2 === 0) sender.send({ type: "offer", target, payload: { seq, t, type: "offer", sdp: SDP } });
    else sender.send({ type: "ice_candidate", target, payload: { seq, t, candidate: CANDIDATE, sdpMid: "0", sdpMLineIndex: 0 } });
    totals.sent++;
  }
  await settle(1);
}

interface RoundResult {
  rate: number;
  p50: number;
  p99: number;
  messages: number;
  calls: Calls;
}

async function round(pairs: Pair[], window = WINDOW): Promise<RoundResult> {
  await counters();
  const stats: RoundStats = { received: 0, latencies: [] };
  current = stats;
  const started = performance.now();
  await Promise.all(pairs.flatMap((p) => [drive(p.a, window), drive(p.b, window)]));
  const seconds = (performance.now() - started) / 1000;
  current = undefined;
  const calls = await counters();
  return { rate: stats.received / seconds, p50: percentile(stats.latencies, 50), p99: percentile(stats.latencies, 99), messages: stats.received, calls };
}

// ---- the run ----------------------------------------------------------------------------------

let all: Client[] = [];
const benchStarted = performance.now();
try {
  const base = (await mf.ready).toString();
  const relayTo = (c: Client) => (c.onRelay = (frame, at) => onRelay(c, frame, at));

  // Warm-up: wakes the gateways and code shards and loads the routing map, then leaves.
  const warm = await openPairs(base, WARMUP_PAIRS / 2);
  await Promise.all(warm.map(pairUp));
  warm.forEach((p) => (relayTo(p.a), relayTo(p.b)));
  await round(warm);
  await Promise.all(warm.flatMap((p) => [p.a.close(), p.b.close()]));

  heading(`setup: ${GROUP_PAIRS * 4} sockets on ${GATEWAYS} gateways, ${GROUP_PAIRS} same-gateway pairs and ${GROUP_PAIRS} pairs across gateways`);
  let started = performance.now();
  const pairs = await openPairs(base, GROUP_PAIRS);
  all = pairs.flatMap((p) => [p.a, p.b]);
  row("  sockets opened (greeting received)", `${fmt(Math.round(all.length / ((performance.now() - started) / 1000)))} /s`, `${OPEN_CONCURRENCY} connecting at a time`);
  all.forEach(relayTo);

  heading(`pairing: all ${pairs.length} pairs at once (register ×2, pair_request → pair_incoming, pair_response accepted → pair_matched ×2)`);
  await counters();
  started = performance.now();
  const pairingMs = await Promise.all(pairs.map(pairUp));
  const pairingSeconds = (performance.now() - started) / 1000;
  const pairingCalls = await counters();
  row("  pairings completed per second", `${fmt(Math.round(pairs.length / pairingSeconds))} /s`, `(${fmt(pairingSeconds, 3)} s for ${pairs.length})`);
  row("  pairing latency, all pairs started together", `p50 ${fmt(percentile(pairingMs, 50), 3)} ms`, `p99 ${fmt(percentile(pairingMs, 99), 3)} ms`);
  row("  Durable Object calls per pairing", fmt(sum(pairingCalls) / pairs.length, 3));
  for (const [key, n] of Object.entries(pairingCalls).sort()) row(`    ${key}`, fmt(n / pairs.length, 3));

  const groups: Record<Group, Pair[]> = { same: pairs.filter((p) => p.group === "same"), cross: pairs.filter((p) => p.group === "cross") };
  const results: Record<Group, RoundResult[]> = { same: [], cross: [] };
  for (let r = 0; r < ROUNDS; r++) {
    for (const group of Math.random() < 0.5 ? (["same", "cross"] as const) : (["cross", "same"] as const)) {
      results[group].push(await round(groups[group]));
    }
  }
  // Light load: a few pairs of each group, one message in flight per socket, the rest idle.
  const probes = {} as Record<Group, RoundResult>;
  for (const group of Math.random() < 0.5 ? (["same", "cross"] as const) : (["cross", "same"] as const)) {
    probes[group] = await round(groups[group].slice(0, PROBE_PAIRS), 1);
  }
  await new Promise((resolve) => setTimeout(resolve, 500)); // stragglers

  const perRound = GROUP_PAIRS * 2 * PER_ROUND;
  heading(`relay: ${ROUNDS} rounds per group, alternating (random order within each round); per round each of ${GROUP_PAIRS * 2} sockets sends ${PER_ROUND} offer/ice_candidate (${fmt(perRound)} messages), ≤ ${WINDOW} in flight per socket (loaded: latency ≈ messages in flight / throughput)`);
  const label = { same: "same gateway", cross: "across gateways" };
  const perMessage: Record<Group, Calls> = { same: {}, cross: {} };
  for (const group of ["same", "cross"] as const) {
    const rs = results[group];
    row(
      `  ${label[group]}`,
      `${fmt(Math.round(median(rs.map((r) => r.rate))))} msg/s`,
      `p50 ${fmt(median(rs.map((r) => r.p50)), 3)} ms`,
      `p99 ${fmt(median(rs.map((r) => r.p99)), 3)} ms`,
      `(medians over rounds; rounds ${rs.map((r) => Math.round(r.rate)).join(" ")} msg/s)`,
    );
    const calls: Calls = {};
    rs.forEach((r) => add(calls, r.calls));
    const messages = rs.reduce((n, r) => n + r.messages, 0);
    for (const [k, v] of Object.entries(calls)) perMessage[group][k] = v / messages;
  }
  for (const group of ["same", "cross"] as const) {
    const probe = probes[group];
    row(`  ${label[group]}, light load (${PROBE_PAIRS * 2} sockets, 1 in flight)`, `p50 ${fmt(probe.p50, 3)} ms`, `p99 ${fmt(probe.p99, 3)} ms`, `(${probe.messages} messages)`);
  }
  const ratios = results.cross.map((c, i) => c.rate / results.same[i]!.rate);
  const ratio = median(ratios);
  row("  throughput across / same (median of per-round ratios)", fmt(ratio, 3), `(rounds ${ratios.map((r) => fmt(r, 3)).join(" ")})`);

  heading("Durable Object calls per relayed message (counted around every namespace's stubs)");
  const keys = [...new Set([...Object.keys(perMessage.same), ...Object.keys(perMessage.cross)])].sort();
  row("", "same gateway".padStart(14), "across".padStart(8));
  for (const key of keys) row(`  ${key}`, fmt(perMessage.same[key] ?? 0, 3).padStart(14), fmt(perMessage.cross[key] ?? 0, 3).padStart(8));
  const perSame = sum(perMessage.same);
  const perCross = sum(perMessage.cross);
  row("  total", fmt(perSame, 3).padStart(14), fmt(perCross, 3).padStart(8));
  row("  expected from the forward path", "isMatched + lookup on code shards; across gateways also one push RPC to the peer's gateway");

  heading("delivery (all relayed messages, warm-up included)");
  const errors = all.flatMap((c) => c.errors);
  const lost = totals.sent - totals.unique;
  row("  sent / received", `${fmt(totals.sent)} / ${fmt(totals.received)}`);
  row("  lost (sent − distinct received)", lost, `(given up on after ${LOSS_TIMEOUT_MS / 1000} s: ${totals.givenUp}, of which arrived late: ${totals.late})`);
  row("  reordered (lower seq after a higher one, per sender)", totals.reordered);
  row("  duplicated / altered payload / stray", `${totals.duplicates} / ${totals.altered} / ${totals.stray}`);
  row("  error frames received", errors.length, errors.length ? JSON.stringify(errors.slice(0, 3)) : "");

  const targets: Target[] = [
    { name: "cross/same throughput", met: ratio >= 0.5, figure: `${fmt(ratio, 3)} (≥ 0.5; ${fmt(Math.round(median(results.cross.map((r) => r.rate))))} vs ${fmt(Math.round(median(results.same.map((r) => r.rate))))} msg/s)` },
    { name: "lost messages", met: lost === 0, figure: `${lost} of ${fmt(totals.sent)} (0)` },
    { name: "reordered messages", met: totals.reordered === 0, figure: `${totals.reordered} (0)` },
    { name: "error frames", met: errors.length === 0, figure: `${errors.length} (0)` },
    { name: "DO calls counted", met: perSame > 0 && perCross > 0, figure: `${fmt(perSame, 3)} same, ${fmt(perCross, 3)} across per message (counting live)` },
  ];
  row("  bench time", `${fmt((performance.now() - benchStarted) / 1000, 3)} s`);
  finish(targets);
} finally {
  for (const c of all) c.terminate();
  await mf.dispose();
  clearTimeout(watchdog);
}
