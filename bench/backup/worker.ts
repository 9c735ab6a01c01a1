/**
 * Worker of bench:backup: one keyspace of 4 shards holding rows of a few KB, the directory, and
 * an R2 bucket. `/setup?mb=` fills it (`&rate=`: the backups' read rate limit), `/unthrottle`
 * lifts that limit; `/backup` and `/restore?id=&into=` run a backup or a
 * restore to the end and answer its job; `/load?ms=&c=` serves point reads and upserts for `ms`
 * with `c` in flight and answers how many it did.
 */
import { ShardDirectory, ShardRouter, ShardedObject, directoryClient, type KeyspaceSchema } from "durable-shards";

interface Env {
  DIRECTORY: DurableObjectNamespace<ShardDirectory>;
  STORE: DurableObjectNamespace<Store>;
  BACKUPS: R2Bucket;
}

const KEYSPACE = "data";
const ROW_BYTES = 4_000;

export class Directory extends ShardDirectory<Env> {}

export class Store extends ShardedObject<Env> {
  protected override schema(): KeyspaceSchema {
    return {
      scope: "bench-backup",
      migrations: [{ version: 1, name: "items", up: "CREATE TABLE items (key TEXT PRIMARY KEY, slot INTEGER NOT NULL, value TEXT NOT NULL, n INTEGER NOT NULL)" }],
      slotTables: ["items"],
    };
  }

  protected override shardMethods(): readonly string[] {
    return ["seed"];
  }

  seed(keys: string[]): number {
    const value = "v".repeat(ROW_BYTES);
    this.ctx.storage.transactionSync(() => {
      for (const key of keys) this.ctx.storage.sql.exec("INSERT OR REPLACE INTO items (key, slot, value, n) VALUES (?, ?, ?, 0)", key, this.slotOf(key), value);
    });
    return keys.length;
  }

  read(key: string): number | null {
    return this.ctx.storage.sql.exec<{ n: number }>("SELECT n FROM items WHERE key = ?", key).toArray()[0]?.n ?? null;
  }

  bump(key: string): number {
    return this.ctx.storage.sql.exec<{ n: number }>("UPDATE items SET n = n + 1 WHERE key = ? RETURNING n", key).toArray()[0]?.n ?? 0;
  }
}

let keys: string[] = [];

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const url = new URL(request.url);
    const int = (name: string, fallback: number) => Number(url.searchParams.get(name) ?? fallback);
    const directory = directoryClient(env.DIRECTORY);
    const router = new ShardRouter({ directory: env.DIRECTORY, namespace: env.STORE, keyspace: KEYSPACE });
    switch (url.pathname) {
      case "/setup": {
        await directory.createKeyspace({ name: KEYSPACE, binding: "STORE", shards: 4 });
        const rate = int("rate", 0);
        if (rate > 0) await directory.configureKeyspace(KEYSPACE, { backups: { bytesPerSecond: rate } });
        const count = Math.ceil((int("mb", 50) * 1024 * 1024) / ROW_BYTES);
        keys = Array.from({ length: count }, (_, i) => `item:${i}`);
        for (let start = 0; start < count; start += 1_000) {
          const filled = await router.some(keys.slice(start, start + 1_000), (shard, owned) => shard.seed(owned));
          if (!filled.complete) return Response.json({ error: "seeding failed" }, { status: 500 });
        }
        return Response.json({ rows: count, bytes: count * ROW_BYTES });
      }
      case "/unthrottle":
        // null puts a setting back to its default: here, no read rate limit.
        await directory.configureKeyspace(KEYSPACE, { backups: { bytesPerSecond: null } });
        return Response.json({ ok: true });
      case "/backup":
        return Response.json(await directory.backup(KEYSPACE));
      case "/restore":
        return Response.json(await directory.restore(KEYSPACE, url.searchParams.get("id") ?? "", { into: url.searchParams.get("into") ?? "copy" }));
      case "/load": {
        const until = Date.now() + int("ms", 500);
        let calls = 0;
        await Promise.all(
          Array.from({ length: int("c", 8) }, async () => {
            while (Date.now() < until) {
              const key = keys[Math.floor(Math.random() * keys.length)]!;
              await (calls % 4 === 0 ? router.get(key).bump() : router.get(key).read());
              calls++;
            }
          }),
        );
        return Response.json({ calls });
      }
    }
    return new Response("not found", { status: 404 });
  },
} satisfies ExportedHandler<Env>;
