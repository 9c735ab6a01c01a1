/**
 * Worker of bench:router. `/run?mode=…&n=…&c=…` performs n calls with c in flight and answers when
 * done; the Node side times it. Modes:
 *  - routed: ShardRouter → owning shard (hash, cached map, fence check) → `bump`
 *  - direct: `getByName(owner).bump(key)` with the owner precomputed (what an app without a router does)
 *  - direct-id: `get(id).bump(key)` with the owner's id precomputed too, as the router keeps it (the
 *    floor any design can reach; routed / direct-id is the cost of hashing, map lookup and fencing)
 *  - ask:    `directory.resolve(key)` then `getByName(owner).bump(key)` (asking on every call)
 * `op` picks the work per call: `read` (a SQLite point read, `peek`), `write` (a SQLite upsert,
 * `bump`) or `noop` (`touch`, no storage: pure call overhead).
 */
import { ShardDirectory, ShardRouter, ShardedObject, type KeyspaceSchema } from "durable-shards";

interface Env {
  DIRECTORY: DurableObjectNamespace<ShardDirectory>;
  SHARD: DurableObjectNamespace<BenchShard>;
}

const KEYSPACE = "bench";
const DIRECTORY = "durable-shards-directory";

export class Directory extends ShardDirectory<Env> {}

export class BenchShard extends ShardedObject<Env> {
  /** Called once per shard (fan-out); every other method is called per key. */
  protected override shardMethods(): readonly string[] {
    return ["seed"];
  }

  protected override schema(): KeyspaceSchema {
    return {
      scope: "bench",
      migrations: [
        { version: 1, name: "counters", up: "CREATE TABLE counters (key TEXT PRIMARY KEY, slot INTEGER NOT NULL, n INTEGER NOT NULL)" },
      ],
      slotTables: ["counters"],
    };
  }

  bump(key: string): number {
    return this.ctx.storage.sql
      .exec<{ n: number }>(
        "INSERT INTO counters (key, slot, n) VALUES (?, ?, 1) ON CONFLICT (key) DO UPDATE SET n = n + 1 RETURNING n",
        key,
        this.slotOf(key),
      )
      .one().n;
  }

  peek(key: string): number | null {
    const row = this.ctx.storage.sql.exec<{ n: number }>("SELECT n FROM counters WHERE key = ?", key).toArray()[0];
    return row ? row.n : null;
  }

  /** Shard-level: stores a first count for each of `keys`, in one transaction. */
  seed(keys: string[]): number {
    this.ctx.storage.transactionSync(() => {
      for (const key of keys) {
        this.ctx.storage.sql.exec("INSERT OR IGNORE INTO counters (key, slot, n) VALUES (?, ?, 1)", key, this.slotOf(key));
      }
    });
    return keys.length;
  }

  touch(key: string): number {
    return key.length;
  }
}

let keys: string[] = [];
let owners: string[] = [];
let ids: DurableObjectId[] = [];

async function setup(env: Env, shards: number, keyCount: number): Promise<Response> {
  const directory = env.DIRECTORY.getByName(DIRECTORY);
  await directory.createKeyspace({ name: KEYSPACE, binding: "SHARD", shards });
  const router = new ShardRouter({ directory: env.DIRECTORY, namespace: env.SHARD, keyspace: KEYSPACE });
  const map = await router.map();
  keys = Array.from({ length: keyCount }, (_, i) => `user:${i}:${Math.random().toString(36).slice(2)}`);
  owners = keys.map((k) => `${KEYSPACE}:${map.shardOfKey(k).id}`);
  ids = owners.map((owner) => env.SHARD.idFromName(owner));
  // Seeds every key (which also wakes every shard) so first-use costs stay out of the measurement.
  const seeded = await router.some(keys, (shard, owned) => shard.seed(owned));
  if (!seeded.complete) return Response.json({ error: "seeding failed" }, { status: 500 });
  return Response.json({ version: map.version, shards: map.shards.length });
}

type Op = "peek" | "bump" | "touch";

async function run(env: Env, mode: string, op: Op, n: number, concurrency: number): Promise<Response> {
  const router = new ShardRouter({ directory: env.DIRECTORY, namespace: env.SHARD, keyspace: KEYSPACE });
  const directory = env.DIRECTORY.getByName(DIRECTORY);
  let next = 0;
  let directoryCalls = 0;
  const one = async (i: number): Promise<unknown> => {
    const index = i % keys.length;
    const key = keys[index]!;
    if (mode === "routed") return router.get(key)[op]();
    if (mode === "direct-id") return env.SHARD.get(ids[index]!)[op](key);
    let owner = owners[index]!;
    if (mode === "ask") {
      owner = `${KEYSPACE}:${await directory.resolve(KEYSPACE, key)}`;
      directoryCalls++;
    }
    return env.SHARD.getByName(owner)[op](key);
  };
  const offset = Math.floor(Math.random() * keys.length);
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) await one(offset + next++);
    }),
  );
  return Response.json({ calls: n, directoryCalls });
}

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const url = new URL(request.url);
    const int = (name: string, fallback: number) => Number(url.searchParams.get(name) ?? fallback);
    if (url.pathname === "/setup") return setup(env, int("shards", 16), int("keys", 10_000));
    if (url.pathname === "/run") {
      const op = ({ read: "peek", write: "bump", noop: "touch" } as const)[url.searchParams.get("op") ?? "read"] ?? "peek";
      return run(env, url.searchParams.get("mode") ?? "routed", op, int("n", 1000), int("c", 8));
    }
    return new Response("not found", { status: 404 });
  },
} satisfies ExportedHandler<Env>;
