/**
 * bench:stores — the todo-stores app (apps/todo-stores) with USERS (default 1,000) users on a local
 * workerd started through Miniflare, driven over HTTP and WebSockets as its clients drive it:
 * 1. seeds every user's store into the legacy `default-store`;
 * 2. measures load/save (TinyBase's remote-persister contract) and sync (two TinyBase WebSocket
 *    clients of a user, a change on one seen on the other): throughput, p50 and p99, and the
 *    busiest object's share of all requests, in legacy mode;
 * 3. migrates gradually (the flag to sharded, a background sweep) under write load: users/s;
 * 4. measures the same in sharded mode (users hashed over STORE_SHARDS shards);
 * 5. reads the D1 sync lag (p50, p99), and checks every user's store, and D1's mirror of it,
 *    against the writes acknowledged: lost and duplicated rows.
 */
import { createMergeableStore, type MergeableStore } from "tinybase";
import { createWsSynchronizer } from "tinybase/synchronizers/synchronizer-ws-client";
import { WebSocket } from "ws";
import { signToken } from "../../apps/todo-stores/src/auth.js";
import { startWorker } from "../bundle.js";
import { finish, fmt, heading, percentile, row, type Target } from "../report.js";

const USERS = Number(process.env.USERS ?? 1_000);
const SHARDS = Number(process.env.STORE_SHARDS ?? 8);
const PHASE_MS = Number(process.env.PHASE_MS ?? 4_000);
const CONCURRENCY = 32;
const SYNC_USERS = 16;
const SECRET = "bench-token-secret";
const ADMIN = "bench-admin-token";

const mf = await startWorker(
  new URL("../../apps/todo-stores/src/index.ts", import.meta.url),
  { DIRECTORY: "Directory", STORES: "StoreShard", LEGACY: "LegacyStore", CONTROL: "MigrationControl" },
  { TOKEN_SECRET: SECRET, ADMIN_TOKEN: ADMIN, STORE_SHARDS: String(SHARDS), RATE_LIMIT_PER_MINUTE: "1000000", FLAG_CACHE_MS: "500" },
  ["BACKUPS"],
  ["DB"],
);
const base = (await mf.ready).toString().replace(/\/$/, "");
const users = Array.from({ length: USERS }, (_, i) => `u${String(i).padStart(5, "0")}`);
const tokens = new Map(await Promise.all(users.map(async (u) => [u, await signToken(SECRET, { userId: u })] as const)));

type Rows = Record<string, { text: string; done: boolean }>;
/** Each user's rows as last acknowledged; a user's saves run one at a time (one lane per user). */
const acked = new Map<string, Rows>(users.map((u) => [u, {}]));
const busy = new Set<string>();
let writeSeq = 0;

async function admin<T>(path: string, body?: unknown): Promise<T> {
  const r = await fetch(`${base}/admin${path}`, {
    method: body === undefined ? "GET" : "POST",
    headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!r.ok) throw new Error(`${path}: ${r.status} ${await r.text()}`);
  return (await r.json()) as T;
}

/**
 * Adds a todo to `user`'s store and drops the oldest beyond 8 (a save of the whole content, as the
 * remote persister does), so stores keep one size through the run and phases compare fairly.
 */
async function save(user: string): Promise<number> {
  const kept = Object.entries(acked.get(user)!).slice(-7);
  const rows = { ...Object.fromEntries(kept), [`w${++writeSeq}`]: { text: `write ${writeSeq}`, done: writeSeq % 2 === 0 } };
  const started = performance.now();
  const r = await fetch(`${base}/api/${user}/save?token=${tokens.get(user)}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify([{ todos: rows }, {}]) });
  await r.arrayBuffer();
  if (r.status !== 200) throw new Error(`save ${user}: ${r.status}`);
  acked.set(user, rows);
  return performance.now() - started;
}

async function load(user: string): Promise<number> {
  const started = performance.now();
  const r = await fetch(`${base}/api/${user}/load?token=${tokens.get(user)}`);
  await r.text();
  if (r.status !== 200) throw new Error(`load ${user}: ${r.status}`);
  return performance.now() - started;
}


/** CONCURRENCY lanes of load/save on random idle users for `ms`; writes only when `saves` is 1. */
async function drive(ms: number, saves = 0.5): Promise<{ ops: number; perSecond: number; p50: number; p99: number }> {
  const latencies: number[] = [];
  const end = performance.now() + ms;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < end) {
        const user = users[Math.floor(Math.random() * users.length)]!;
        if (busy.has(user)) continue;
        busy.add(user);
        try {
          latencies.push(Math.random() < saves ? await save(user) : await load(user));
        } finally {
          busy.delete(user);
        }
      }
    }),
  );
  return { ops: latencies.length, perSecond: latencies.length / ((performance.now() - started) / 1000), p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
}

async function client(user: string): Promise<{ store: MergeableStore; stop: () => Promise<void> }> {
  const store = createMergeableStore();
  const ws = new WebSocket(`${base.replace("http", "ws")}/${user}?token=${tokens.get(user)}`);
  const synchronizer = await createWsSynchronizer(store, ws, 2);
  await synchronizer.startSync();
  return { store, stop: async () => void (await synchronizer.destroy()) };
}

/** SYNC_USERS users with two socket clients each; a row set on one, timed until the other has it. */
async function sync(ms: number): Promise<{ changes: number; perSecond: number; p50: number; p99: number }> {
  const pairs = await Promise.all(users.slice(0, SYNC_USERS).map(async (u) => [await client(u), await client(u)] as const));
  const latencies: number[] = [];
  const end = performance.now() + ms;
  const started = performance.now();
  await Promise.all(
    pairs.map(async ([a, b], lane) => {
      for (let i = 0; performance.now() < end; i++) {
        const [from, to] = i % 2 ? [a, b] : [b, a];
        const id = `s${lane}-${i}`;
        const t = performance.now();
        const seen = new Promise<void>((resolve) => {
          const listener = to.store.addRowListener("sync", id, () => (to.store.delListener(listener), resolve()));
        });
        from.store.setRow("sync", id, { at: Date.now() });
        await seen;
        latencies.push(performance.now() - t);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  await Promise.all(pairs.flatMap(([a, b]) => [a.stop(), b.stop()]));
  return { changes: latencies.length, perSecond: latencies.length / seconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
}

type Requests = { legacy: number; shards: Record<string, number> };
/** The busiest object's share of the requests between two readings of /admin/requests. */
function busiestShare(before: Requests, after: Requests): number {
  const counts = [after.legacy - before.legacy, ...Object.keys(after.shards).map((s) => after.shards[s]! - (before.shards[s] ?? 0))];
  const total = counts.reduce((a, b) => a + b, 0);
  return total === 0 ? 0 : Math.max(...counts) / total;
}

const targets: Target[] = [];
try {
  heading(`todo-stores: ${fmt(USERS)} users, legacy default-store vs users hashed over ${SHARDS} store shards (Miniflare, ${CONCURRENCY} requests in flight)`);
  const seedStart = performance.now();
  let next = 0;
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < users.length) await save(users[next++]!);
  }));
  row("seeded (one save per user, legacy)", `${fmt(USERS / ((performance.now() - seedStart) / 1000))} users/s`);

  // The legacy mode: every store in default-store.
  await drive(500); // warm-up
  let before = await admin<Requests>("/requests");
  const legacyHttp = await drive(PHASE_MS);
  const legacySync = await sync(PHASE_MS / 2);
  const legacyShare = busiestShare(before, await admin<Requests>("/requests"));

  // Gradual migration under write load.
  heading("gradual migration (flag to sharded, background sweep, stores also moving on first access) under write load");
  const migrationStart = performance.now();
  await admin("/migration/flag", { flag: "sharded", sweep: "background", usersPerSecond: 1000 });
  let migrated = false;
  const writes = (async () => {
    let n = 0;
    while (!migrated) n += (await drive(250, 1)).ops;
    return n;
  })();
  let left = USERS;
  for (const deadline = performance.now() + 120_000; performance.now() < deadline; ) {
    const s = await admin<{ sweep: { done: boolean } | null; legacy: { here: number; frozen: number } }>("/migration");
    left = s.legacy.here + s.legacy.frozen;
    if (s.sweep?.done && left === 0) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const migrationSeconds = (performance.now() - migrationStart) / 1000;
  migrated = true;
  const writesDuring = await writes;
  row("users moved", fmt(USERS), `in ${fmt(migrationSeconds, 3)} s`, `${fmt(USERS / migrationSeconds)} users/s`, `with ${fmt(writesDuring)} acknowledged saves meanwhile`);

  // The sharded mode.
  await drive(500); // warm-up
  before = await admin<Requests>("/requests");
  const shardedHttp = await drive(PHASE_MS);
  const shardedSync = await sync(PHASE_MS / 2);
  const shardedShare = busiestShare(before, await admin<Requests>("/requests"));

  heading("load/save over HTTP (remote-persister contract; half loads, half saves)");
  row("", "legacy".padStart(12), "sharded".padStart(12), "sharded/legacy".padStart(16));
  row("throughput (requests/s)", fmt(legacyHttp.perSecond).padStart(12), fmt(shardedHttp.perSecond).padStart(12), fmt(shardedHttp.perSecond / legacyHttp.perSecond, 3).padStart(16));
  row("p50 latency (ms)", fmt(legacyHttp.p50, 3).padStart(12), fmt(shardedHttp.p50, 3).padStart(12));
  row("p99 latency (ms)", fmt(legacyHttp.p99, 3).padStart(12), fmt(shardedHttp.p99, 3).padStart(12));
  heading(`sync over WebSockets (TinyBase's synchronizer, ${SYNC_USERS} users × 2 clients, change on one seen on the other)`);
  row("throughput (changes/s)", fmt(legacySync.perSecond).padStart(12), fmt(shardedSync.perSecond).padStart(12), fmt(shardedSync.perSecond / legacySync.perSecond, 3).padStart(16));
  row("p50 latency (ms)", fmt(legacySync.p50, 3).padStart(12), fmt(shardedSync.p50, 3).padStart(12));
  row("p99 latency (ms)", fmt(legacySync.p99, 3).padStart(12), fmt(shardedSync.p99, 3).padStart(12));
  console.log("  (one local workerd process serves every object here, so sharding adds hops without adding cores; deployed, each object has its own ~1,000 requests/s)");
  heading("the busiest object's share of all requests");
  row("legacy (default-store)", `${fmt(legacyShare * 100, 3)} %`);
  row(`sharded (${SHARDS} shards)`, `${fmt(shardedShare * 100, 3)} %`);

  // D1: wait for the outboxes to drain, then the lag of what arrived.
  heading("D1 mirror (outbox → D1)");
  let stats = await admin<{ rows: number; lagMs: { p50: number; p99: number; samples: number } }>("/stats");
  const expectedRows = [...acked.values()].reduce((n, r) => n + Object.keys(r).length, 0);
  for (let i = 0; i < 100 && stats.rows < expectedRows; i++) {
    await new Promise((r) => setTimeout(r, 200));
    stats = await admin("/stats");
  }
  row("sync lag p50 / p99 (ms)", fmt(stats.lagMs.p50, 3), fmt(stats.lagMs.p99, 3), `over the latest ${fmt(stats.lagMs.samples)} rows`);

  // Every store, and D1, against the acknowledged writes.
  let lost = 0;
  let duplicated = 0;
  let d1Lost = 0;
  let d1Extra = 0;
  for (const user of users) {
    const r = await fetch(`${base}/api/${user}/load?token=${tokens.get(user)}`);
    const [tables] = (await r.json()) as [Record<string, Rows>];
    const want = acked.get(user)!;
    const have = tables.todos ?? {};
    for (const id of Object.keys(want)) if (JSON.stringify(have[id]) !== JSON.stringify(want[id])) lost++;
    for (const id of Object.keys(have)) if (!(id in want)) duplicated++;
  }
  const mirrored = await mf.getD1Database("DB");
  for (const user of users) {
    const rows = (await mirrored.prepare("SELECT row_id FROM todos WHERE store_key = ? AND table_id = 'todos' AND deleted = 0").bind(`user:${user}`).all<{ row_id: string }>()).results.map((x) => x.row_id);
    const want = acked.get(user)!;
    d1Lost += Object.keys(want).filter((id) => !rows.includes(id)).length;
    d1Extra += rows.filter((id) => !(id in want)).length;
  }
  heading("acknowledged writes against what the stores and D1 hold");
  row("stores: lost / duplicated rows", lost, duplicated, `of ${fmt(expectedRows)} acknowledged`);
  row("D1: lost / extra rows", d1Lost, d1Extra);

  targets.push({ name: "busiest object's share sharded", met: shardedShare < legacyShare, figure: `${fmt(shardedShare * 100, 3)} % (legacy ${fmt(legacyShare * 100, 3)} %)` });
  targets.push({ name: "D1 sync lag p99", met: stats.lagMs.p99 <= 2_000, figure: `${fmt(stats.lagMs.p99, 3)} ms (≤ 2,000; p50 ${fmt(stats.lagMs.p50, 3)})` });
  targets.push({ name: "lost and duplicated writes", met: lost + duplicated + d1Lost + d1Extra === 0, figure: `stores ${lost}/${duplicated}, D1 ${d1Lost}/${d1Extra} (0)` });
  targets.push({ name: "gradual migration", met: left === 0, figure: `${fmt(USERS - left)} of ${fmt(USERS)} users moved, ${fmt(USERS / migrationSeconds)} users/s under write load` });
} finally {
  await mf.dispose();
}
finish(targets);
