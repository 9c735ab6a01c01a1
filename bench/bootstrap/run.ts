/**
 * bench:bootstrap — with 1,000 registered servers on a local workerd (Miniflare): `GET /servers`
 * throughput and p50/p99 of our design (signed snapshot, sharded registry) vs a baseline that
 * lists and signs from one object per request, with and without `?nonce=`, run side by side; and
 * Durable Object calls per heartbeat, by binding.
 */
import { startWorker } from "../bundle.js";
import { finish, fmt, heading, median, percentile, row, type Target } from "../report.js";

const SERVERS = 1000;
const REQUESTS = 400;
const CONCURRENCY = 8;
const ROUNDS = 5;
const HEARTBEATS = 300;
const SECRET = "bench-registry-secret";

const classes = [
  ["DIRECTORY", "Directory"],
  ["RATE_LIMITER", "RateLimiter"],
  ["ADMIN", "AdminState"],
  ["REGISTRY", "ServerRegistry"],
  ["REGISTRY_INDEX", "RegistryIndex"],
  ["NONCES", "NonceStore"],
  ["SERVER_LIST", "ServerListCache"],
  ["DEVICES", "DeviceStore"],
  ["DEVICE_INDEX", "DeviceIndex"],
  ["CHALLENGES", "ChallengeStore"],
  ["BASELINE", "BaselineRegistry"],
] as const;

const mf = await startWorker(new URL("./worker.ts", import.meta.url), Object.fromEntries(classes), {
  BOOTSTRAP_SIGNING_KEY: "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
  SERVER_REGISTRY_SECRET: SECRET,
  DEV_MODE: "false",
});

let ip = 0;
const nextIp = () => `10.${(++ip >> 16) & 255}.${(ip >> 8) & 255}.${ip & 255}`;
const request = (path: string, init: RequestInit = {}) =>
  mf.dispatchFetch(`http://bench${path}`, { ...init, headers: { "CF-Connecting-IP": nextIp(), ...(init.headers as Record<string, string>) } } as never);

async function pool<T>(n: number, task: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array(n);
  let next = 0;
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < n) {
      const i = next++;
      out[i] = await task(i);
    }
  }));
  return out;
}

try {
  heading(`setup: ${SERVERS} servers registered through the API and into the baseline object`);
  const auth = { Authorization: `Bearer ${SECRET}`, "Content-Type": "application/json" };
  await pool(SERVERS, async (i) => {
    const serverId = `ed25519:bench-${String(i).padStart(4, "0")}`;
    const body = { serverId, endpoint: `wss://relay${i}.example.org`, publicKey: `pk-${i}`, region: ["eu-west", "us-east", "ap-south"][i % 3], connections: i };
    const r = await request("/servers", { method: "POST", headers: auth, body: JSON.stringify(body) });
    if (r.status !== 200) throw new Error(`register ${i}: ${r.status} ${await r.text()}`);
    const entry = (await r.json()) as { server: unknown };
    await (await request("/bench/baseline/put", { method: "POST", body: JSON.stringify(entry.server) })).arrayBuffer();
  });
  const check = JSON.parse(await (await request("/servers")).text()) as { servers: unknown[] };
  row("servers listed by our design", check.servers.length);

  const latencies: Record<string, number[]> = {};
  const rates: Record<string, number[]> = {};
  const modes = ["ours/plain", "baseline/plain", "ours/nonce", "baseline/nonce"];
  for (let round = 0; round <= ROUNDS; round++) {
    for (const mode of [...modes].sort(() => Math.random() - 0.5)) {
      const [design, variant] = mode.split("/") as [string, string];
      const started = performance.now();
      const r = await mf.dispatchFetch(`http://bench/bench/drive?design=${design}&nonce=${variant === "nonce" ? 1 : 0}&n=${REQUESTS}&c=${CONCURRENCY}`);
      if (r.status !== 200) throw new Error(`${mode}: ${r.status} ${await r.text()}`);
      const { latencies: times } = (await r.json()) as { latencies: number[] };
      const seconds = (performance.now() - started) / 1000;
      if (round === 0) continue;
      (rates[mode] ??= []).push(REQUESTS / seconds);
      (latencies[mode] ??= []).push(...times);
    }
  }
  heading(`GET /servers, driven inside the Worker: ${REQUESTS} requests × ${ROUNDS} rounds per mode, ${CONCURRENCY} in flight, each from a new client IP`);
  for (const mode of modes) {
    row(`  ${mode}`, `${fmt(Math.round(median(rates[mode]!)))} req/s`, `p50 ${fmt(percentile(latencies[mode]!, 50), 3)} ms`, `p99 ${fmt(percentile(latencies[mode]!, 99), 3)} ms`);
  }
  const ratio = (a: string, b: string) => median(rates[a]!.map((r, i) => r / rates[b]![i]!));
  const plainRatio = ratio("ours/plain", "baseline/plain");
  const nonceRatio = ratio("ours/nonce", "baseline/nonce");
  row("  throughput ours / baseline, no nonce", plainRatio);
  row("  throughput ours / baseline, with nonce", nonceRatio);

  heading(`heartbeats: ${HEARTBEATS}, Durable Object calls made by the Worker, per heartbeat`);
  await (await request("/bench/calls")).arrayBuffer();
  await pool(HEARTBEATS, async (i) => {
    const serverId = `ed25519:bench-${String(i % SERVERS).padStart(4, "0")}`;
    const r = await request("/servers/heartbeat", { method: "POST", headers: auth, body: JSON.stringify({ serverId, connections: i }) });
    if (r.status !== 200) throw new Error(`heartbeat: ${r.status} ${await r.text()}`);
    await r.arrayBuffer();
  });
  const calls = (await (await request("/bench/calls")).json()) as Record<string, number>;
  for (const [binding, count] of Object.entries(calls).sort()) row(`  ${binding}`, fmt(count / HEARTBEATS, 3));
  const per = (binding: string) => (calls[binding] ?? 0) / HEARTBEATS;
  const other = Object.entries(calls)
    .filter(([b]) => !["REGISTRY", "REGISTRY_INDEX", "RATE_LIMITER"].includes(b))
    .reduce((n, [, c]) => n + c, 0) / HEARTBEATS;
  row("  (RATE_LIMITER is the deployment-wide rate limit every request pays)", "");

  const targets: Target[] = [
    { name: "GET /servers ours/baseline", met: plainRatio >= 5, figure: `${fmt(plainRatio, 3)}× (≥ 5×, no nonce; with nonce ${fmt(nonceRatio, 3)}×)` },
    { name: "registry calls per heartbeat", met: per("REGISTRY") <= 1, figure: `${fmt(per("REGISTRY"), 3)} (one routed call)` },
    { name: "index calls per heartbeat", met: per("REGISTRY_INDEX") <= 1, figure: `${fmt(per("REGISTRY_INDEX"), 3)} (≤ 1)` },
    { name: "other calls per heartbeat", met: other <= 0.05, figure: `${fmt(other, 3)} (directory and snapshot refreshes, amortized)` },
  ];
  finish(targets);
} finally {
  await mf.dispose();
}
