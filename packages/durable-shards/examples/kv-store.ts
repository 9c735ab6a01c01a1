/**
 * Example keyspace: a small sharded key/value and counter store, plus a Worker that serves it over
 * HTTP. It shows the whole library in use: a directory, hash placement, a router, fan-out, moves
 * of rows by slot, SQL migrations and multiplexed timers (expiring values).
 */
import { Hono } from "hono";
import { z } from "zod";
import { ShardDirectory, ShardRouter, ShardedObject, directoryClient, errorResponse, invalidArgument, parse, valuesOf, type DirectoryNamespace, type TimerHandlers, type KeyspaceSchema } from "../src/index.js";

/** Bindings of the example; `S` is the store class bound as `KV` (a subclass in tests). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the store's own env is irrelevant here
export interface KvEnv<S extends KvStore<any> = KvStore<any>> {
  DIRECTORY: DirectoryNamespace;
  KV: DurableObjectNamespace<S>;
}

export const KV_KEYSPACE = "kv";
const SWEEP = "sweep-expired";

const valueSchema = z.string().max(65_536, "value must be at most 65,536 characters");
const ttlSchema = z.number().int().min(1).max(365 * 86_400_000);
const bySchema = z.number().int().min(-1e9).max(1e9);

/** The objects of the `kv` keyspace. Every row carries its slot, so moves copy rows by slot. */
export class KvStore<Env = KvEnv> extends ShardedObject<Env> {
  protected override schema(): KeyspaceSchema {
    return {
      scope: "example/kv",
      migrations: [
        {
          version: 1,
          name: "kv",
          up: `CREATE TABLE kv (key TEXT PRIMARY KEY, slot INTEGER NOT NULL, value TEXT NOT NULL, expires_at INTEGER);
               CREATE INDEX kv_slot ON kv (slot)`,
        },
      ],
      slotTables: ["kv"],
    };
  }

  // Called once per shard (fan-out); every other method is called per key.
  protected override shardMethods(): readonly string[] {
    return ["count", "entries"];
  }

  protected override timerHandlers(): TimerHandlers {
    return { [SWEEP]: () => this.sweep() };
  }

  /** Stores `value` under `key`, optionally expiring after `ttlMs`. */
  async put(key: string, value: string, ttlMs?: number): Promise<void> {
    const v = parse(valueSchema, value, "value");
    const ttl = ttlMs === undefined ? undefined : parse(ttlSchema, ttlMs, "ttlMs");
    const expiresAt = ttl === undefined ? null : Date.now() + ttl;
    this.ctx.storage.sql.exec(
      "INSERT OR REPLACE INTO kv (key, slot, value, expires_at) VALUES (?, ?, ?, ?)",
      key,
      this.slotOf(key),
      v,
      expiresAt,
    );
    if (expiresAt !== null) {
      const due = this.timers.dueAt(SWEEP);
      if (due === undefined || due > expiresAt) await this.timers.schedule(SWEEP, expiresAt);
    }
  }

  /** The value of `key`, or null. */
  get(key: string): string | null {
    const row = this.ctx.storage.sql
      .exec<{ value: string; expires_at: number | null }>("SELECT value, expires_at FROM kv WHERE key = ?", key)
      .toArray()[0];
    if (!row || (row.expires_at !== null && row.expires_at <= Date.now())) return null;
    return row.value;
  }

  /** Adds `by` to the integer stored under `key` (0 when absent) and returns the sum. */
  increment(key: string, by = 1): number {
    const step = parse(bySchema, by, "by");
    const current = Number(this.get(key) ?? 0);
    const next = (Number.isSafeInteger(current) ? current : 0) + step;
    this.ctx.storage.sql.exec("INSERT OR REPLACE INTO kv (key, slot, value, expires_at) VALUES (?, ?, ?, NULL)", key, this.slotOf(key), String(next));
    return next;
  }

  /** Deletes `key`; true when it existed. */
  delete(key: string): boolean {
    return this.ctx.storage.sql.exec("DELETE FROM kv WHERE key = ?", key).rowsWritten > 0;
  }

  /** Shard-level: number of live keys on this shard. */
  count(): number {
    return this.ctx.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM kv WHERE expires_at IS NULL OR expires_at > ?", Date.now()).one().n;
  }

  /** Shard-level: every key stored here with its slot (for tests and tools). */
  entries(): { key: string; slot: number }[] {
    return this.ctx.storage.sql.exec<{ key: string; slot: number }>("SELECT key, slot FROM kv ORDER BY key").toArray();
  }

  private sweep(): void {
    const now = Date.now();
    this.ctx.storage.sql.exec("DELETE FROM kv WHERE expires_at IS NOT NULL AND expires_at <= ?", now);
    const next = this.ctx.storage.sql.exec<{ at: number | null }>("SELECT MIN(expires_at) AS at FROM kv").one().at;
    if (next !== null) void this.timers.schedule(SWEEP, next);
  }
}

/** The directory of the example Worker. */
export class Directory extends ShardDirectory<KvEnv> {}

const createSchema = z.strictObject({ shards: z.number().int().min(1).max(1024).default(4), slotCount: z.number().int().optional() });
const addSchema = z.strictObject({ count: z.number().int().min(1).max(1024) });

/** HTTP API of the example: `/keyspace`, `/kv/:key`, `/kv/:key/increment`, `/kv` (count). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function kvApp<S extends KvStore<any>, E extends KvEnv<S>>() {
  const app = new Hono<{ Bindings: E }>();
  const router = (env: E) =>
    new ShardRouter({ directory: env.DIRECTORY, namespace: env.KV as unknown as DurableObjectNamespace<KvStore>, keyspace: KV_KEYSPACE });
  const directory = (env: E) => directoryClient(env.DIRECTORY);
  const json = async (req: Request): Promise<unknown> => {
    try {
      return await req.json();
    } catch {
      throw invalidArgument("body must be JSON");
    }
  };

  app.post("/keyspace", async (c) => {
    const body = parse(createSchema, await json(c.req.raw), "body");
    const created = await directory(c.env).createKeyspace({ name: KV_KEYSPACE, binding: "KV", shards: body.shards, slotCount: body.slotCount });
    return c.json(created, 201);
  });
  app.post("/keyspace/shards", async (c) => {
    const body = parse(addSchema, await json(c.req.raw), "body");
    return c.json(await directory(c.env).addShards(KV_KEYSPACE, body.count));
  });
  app.put("/kv/:key", async (c) => {
    await router(c.env).get(c.req.param("key")).put(await c.req.text());
    return c.body(null, 204);
  });
  app.get("/kv/:key", async (c) => {
    const value = await router(c.env).get(c.req.param("key")).get();
    return value === null ? c.json({ error: "NotFound", message: "no such key" }, 404) : c.text(value);
  });
  app.post("/kv/:key/increment", async (c) => c.json({ value: await router(c.env).get(c.req.param("key")).increment(1) }));
  app.get("/kv", async (c) => {
    const result = await router(c.env).all((shard) => shard.count());
    const total = valuesOf(result).reduce((a, b) => a + b, 0);
    return c.json({ total, complete: result.complete, failedShards: result.results.filter((r) => !r.ok).map((r) => r.shard) });
  });
  app.onError((error) => errorResponse(error) ?? Response.json({ error: "Internal", message: "internal error" }, { status: 500 }));
  return app;
}
