/**
 * Worker of bench:load. A zipf (s = 0.99) workload over one keyspace of 8 shards, with the
 * worker's own exact count of every key's calls, and two more keyspaces for the overhead of
 * measurement: the same class with measurement on (the default) and off.
 *  - `/setup`: creates the keyspaces and seeds the overhead keys;
 *  - `/drive?n=&c=`: n zipf calls (`bump`) with c in flight, counted exactly per key;
 *  - `/exact?n=`: the n most called keys and their exact counts;
 *  - `/metrics`: the zipf keyspace's metrics (the library's JSON);
 *  - `/rebalance?dry=1`: `rebalance(keyspace, { by: "load" })`, planned only with `dry`;
 *  - `/overhead?mode=on|off&n=&c=`: n routed point reads (`peek`) on the metered or plain keyspace.
 */
import { ShardDirectory, ShardRouter, ShardedObject, directoryClient, metricsJson, type KeyspaceSchema, type MeasurementOptions } from "durable-shards";

interface Env {
  DIRECTORY: DurableObjectNamespace<ShardDirectory>;
  METERED: DurableObjectNamespace<LoadShard>;
  PLAIN: DurableObjectNamespace<PlainShard>;
}

const ZIPF = "zipf";
const KEYS = 10_000;
const S = 0.99;

export class Directory extends ShardDirectory<Env> {}

/** A counter keyspace; measurement on, as every keyspace has it by default. */
export class LoadShard extends ShardedObject<Env> {
  protected override schema(): KeyspaceSchema {
    return {
      scope: "bench-load",
      migrations: [{ version: 1, name: "counters", up: "CREATE TABLE counters (key TEXT PRIMARY KEY, slot INTEGER NOT NULL, n INTEGER NOT NULL)" }],
      slotTables: ["counters"],
    };
  }

  protected override shardMethods(): readonly string[] {
    return ["seed"];
  }

  bump(key: string): number {
    return this.ctx.storage.sql
      .exec<{ n: number }>("INSERT INTO counters (key, slot, n) VALUES (?, ?, 1) ON CONFLICT (key) DO UPDATE SET n = n + 1 RETURNING n", key, this.slotOf(key))
      .one().n;
  }

  peek(key: string): number | null {
    return this.ctx.storage.sql.exec<{ n: number }>("SELECT n FROM counters WHERE key = ?", key).toArray()[0]?.n ?? null;
  }

  seed(keys: string[]): number {
    this.ctx.storage.transactionSync(() => {
      for (const key of keys) this.ctx.storage.sql.exec("INSERT OR IGNORE INTO counters (key, slot, n) VALUES (?, ?, 1)", key, this.slotOf(key));
    });
    return keys.length;
  }
}

/** The same class with measurement off: the baseline of the overhead ratio. */
export class PlainShard extends LoadShard {
  protected override measurement(): MeasurementOptions {
    return { enabled: false };
  }
}

/** Cumulative zipf weights over the keys, for sampling by binary search. */
const cumulative = (() => {
  const c = new Float64Array(KEYS);
  let sum = 0;
  for (let k = 0; k < KEYS; k++) c[k] = sum += 1 / (k + 1) ** S;
  return c;
})();
let seed = 0x9e3779b9;
function random(): number {
  // xorshift32: seeded, so every run draws the same sequence.
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return (seed >>> 0) / 2 ** 32;
}
function zipfKey(): string {
  const r = random() * cumulative[KEYS - 1]!;
  let lo = 0;
  let hi = KEYS - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (cumulative[mid]! < r) lo = mid + 1;
    else hi = mid;
  }
  return `item:${lo}`;
}

const exact = new Map<string, number>();
const overheadKeys = Array.from({ length: 20_000 }, (_, i) => `user:${i}`);

async function parallel(n: number, concurrency: number, one: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < n) await one(next++);
  }));
}

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const url = new URL(request.url);
    const int = (name: string, fallback: number) => Number(url.searchParams.get(name) ?? fallback);
    const directory = directoryClient(env.DIRECTORY);
    const zipf = new ShardRouter({ directory: env.DIRECTORY, namespace: env.METERED, keyspace: ZIPF });
    switch (url.pathname) {
      case "/setup": {
        await directory.createKeyspace({ name: ZIPF, binding: "METERED", shards: 8 });
        for (const [name, binding] of [["on", "METERED"], ["off", "PLAIN"]] as const) {
          await directory.createKeyspace({ name, binding, shards: 8 });
          const router = new ShardRouter({ directory: env.DIRECTORY, namespace: env[binding] as DurableObjectNamespace<LoadShard>, keyspace: name });
          await router.some(overheadKeys, (shard, owned) => shard.seed(owned));
        }
        return Response.json({ keys: KEYS, s: S });
      }
      case "/drive": {
        await parallel(int("n", 1000), int("c", 8), async () => {
          const key = zipfKey();
          await zipf.get(key).bump();
          exact.set(key, (exact.get(key) ?? 0) + 1);
        });
        return Response.json({ calls: int("n", 1000) });
      }
      case "/exact":
        return Response.json([...exact].sort((a, b) => b[1] - a[1]).slice(0, int("n", 10)));
      case "/metrics":
        return Response.json((await metricsJson(env.DIRECTORY, { keyspace: ZIPF }))[0]);
      case "/rebalance":
        return Response.json(await directory.rebalance(ZIPF, { by: "load", dryRun: url.searchParams.has("dry") }));
      case "/overhead": {
        const on = url.searchParams.get("mode") === "on";
        const router = new ShardRouter({ directory: env.DIRECTORY, namespace: (on ? env.METERED : env.PLAIN) as DurableObjectNamespace<LoadShard>, keyspace: on ? "on" : "off" });
        const offset = Math.floor(Math.random() * overheadKeys.length);
        await parallel(int("n", 600), int("c", 8), (i) => router.get(overheadKeys[(offset + i) % overheadKeys.length]!).peek());
        return Response.json({ calls: int("n", 600) });
      }
    }
    return new Response("not found", { status: 404 });
  },
} satisfies ExportedHandler<Env>;
