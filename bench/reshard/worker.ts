/**
 * Worker of bench:reshard: a keyspace of counters plus padding rows (the data a move carries),
 * and HTTP endpoints the Node side drives:
 *  - `POST /setup?shards=4&mb=50&bigMb=24`: creates the keyspace and pads it. `bigMb` of the
 *    padding goes into the slots of one move of the first change (4 → 8), none into another, so
 *    the changes include a large and a small move; the rest is spread over every shard.
 *  - `POST /inc?key=…&id=…`: increments `key` once, recording `id`; answers the new count.
 *  - `GET /read?key=…`: the count of `key`.
 *  - `POST /change?op=add&n=…` | `op=remove&ids=a,b` (both with `rate`, the copy rate limit in
 *    bytes/s) | `op=abort`; `GET /status`: the latest change.
 *  - `GET /audit?keys=…`: per key, its count and how many ids it recorded (each id once).
 */
import { ShardDirectory, ShardRouter, ShardedObject, directoryClient, errorResponse, planChange, type KeyspaceSchema, type SlotRange } from "durable-shards";

interface Env {
  DIRECTORY: DurableObjectNamespace<Directory>;
  COUNTERS: DurableObjectNamespace<Counters>;
}

const KEYSPACE = "reshard";
const ROW_BYTES = 64 * 1024;

export class Directory extends ShardDirectory<Env> {}

export class Counters extends ShardedObject<Env> {
  protected override schema(): KeyspaceSchema {
    return {
      scope: "bench-reshard",
      migrations: [
        {
          version: 1,
          name: "tables",
          up: `CREATE TABLE counters (key TEXT PRIMARY KEY, slot INTEGER NOT NULL, n INTEGER NOT NULL);
               CREATE TABLE applied (id TEXT PRIMARY KEY, key TEXT NOT NULL, slot INTEGER NOT NULL);
               CREATE INDEX applied_key ON applied (key);
               CREATE TABLE padding (id TEXT PRIMARY KEY, slot INTEGER NOT NULL, data TEXT NOT NULL);
               CREATE INDEX padding_slot ON padding (slot)`,
        },
      ],
      slotTables: ["counters", "applied", "padding"],
    };
  }

  protected override shardMethods(): readonly string[] {
    return ["pad"];
  }

  /** One increment, identified by `id`: a replayed id would show as a doubled write in the audit. */
  inc(key: string, id: string): number {
    const slot = this.slotOf(key);
    this.ctx.storage.sql.exec("INSERT INTO applied (id, key, slot) VALUES (?, ?, ?)", id, key, slot);
    return this.ctx.storage.sql
      .exec<{ n: number }>("INSERT INTO counters (key, slot, n) VALUES (?, ?, 1) ON CONFLICT (key) DO UPDATE SET n = n + 1 RETURNING n", key, slot)
      .one().n;
  }

  read(key: string): number {
    return this.ctx.storage.sql.exec<{ n: number }>("SELECT n FROM counters WHERE key = ?", key).toArray()[0]?.n ?? 0;
  }

  audit(key: string): { n: number; ids: number } {
    const ids = this.ctx.storage.sql.exec<{ c: number }>("SELECT COUNT(*) AS c FROM applied WHERE key = ?", key).one().c;
    return { n: this.read(key), ids };
  }

  /** Shard method: `rows` padding rows of 64 KiB spread over `ranges` (which this shard owns). */
  pad(ranges: SlotRange[], rows: number, tag: string): number {
    const slots = ranges.flatMap(([start, end]) => Array.from({ length: end - start }, (_, i) => start + i));
    const data = "p".repeat(ROW_BYTES);
    this.ctx.storage.transactionSync(() => {
      for (let i = 0; i < rows; i++) this.ctx.storage.sql.exec("INSERT INTO padding (id, slot, data) VALUES (?, ?, ?)", `${tag}-${i}`, slots[i % slots.length]!, data);
    });
    return rows;
  }
}

const router = (env: Env) => new ShardRouter({ directory: env.DIRECTORY, namespace: env.COUNTERS, keyspace: KEYSPACE, maxRoutingAttempts: 20 });

async function setup(env: Env, url: URL): Promise<Response> {
  const shards = Number(url.searchParams.get("shards") ?? 4);
  const totalRows = Math.round((Number(url.searchParams.get("mb") ?? 50) * 1024 * 1024) / ROW_BYTES);
  const bigRows = Math.round((Number(url.searchParams.get("bigMb") ?? 24) * 1024 * 1024) / ROW_BYTES);
  const directory = directoryClient(env.DIRECTORY);
  await directory.createKeyspace({ name: KEYSPACE, binding: "COUNTERS", shards });
  const counters = router(env);
  const map = await counters.map();
  // The planner is deterministic, and the directory names new shards s<n> in order: the first
  // change's moves (4 → 8) are known now.
  const plan = planChange(map, { add: Array.from({ length: shards }, (_, i) => ({ id: `s${shards + i}` })) });
  const [big, small] = plan.moves;
  let padded = 0;
  padded += await counters.shard(big!.from).pad(big!.ranges, bigRows, "big");
  // The small move's slots get no padding. The rest goes evenly over every shard's other slots.
  const rest = totalRows - bigRows;
  for (const shard of map.shards) {
    const spread = subtract(map.rangesOf(shard.id), [...big!.ranges, ...small!.ranges]);
    padded += await counters.shard(shard.id).pad(spread, Math.round(rest / map.shards.length), `rest-${shard.id}`);
  }
  return Response.json({ shards, paddedMb: (padded * ROW_BYTES) / 1024 / 1024, bigMove: { from: big!.from, to: big!.to, slots: count(big!.ranges) }, smallMove: { from: small!.from, slots: count(small!.ranges) } });
}

function count(ranges: SlotRange[]): number {
  return ranges.reduce((n, [a, b]) => n + b - a, 0);
}

/** `ranges` without `removed` (both sorted, non-overlapping). */
function subtract(ranges: SlotRange[], removed: SlotRange[]): SlotRange[] {
  let out = ranges;
  for (const [rs, re] of removed) {
    out = out.flatMap(([s, e]): SlotRange[] => (re <= s || rs >= e ? [[s, e]] : [...(rs > s ? [[s, rs] as SlotRange] : []), ...(re < e ? [[re, e] as SlotRange] : [])]));
  }
  return out;
}

async function change(env: Env, url: URL): Promise<Response> {
  const directory = directoryClient(env.DIRECTORY);
  const op = url.searchParams.get("op");
  const rate = url.searchParams.get("rate");
  const options = rate === null ? {} : { copyBytesPerSecond: Number(rate) };
  if (op === "add") return Response.json(await directory.addShards(KEYSPACE, Number(url.searchParams.get("n")), options));
  if (op === "remove") return Response.json(await directory.removeShards(KEYSPACE, (url.searchParams.get("ids") ?? "").split(","), options));
  if (op === "abort") return Response.json(await directory.abortChange(KEYSPACE));
  return Response.json({ error: "op must be add, remove or abort" }, { status: 400 });
}

export default {
  async fetch(request, env): Promise<Response> {
    const url = new URL(request.url);
    try {
      switch (url.pathname) {
        case "/setup":
          return await setup(env, url);
        case "/inc":
          return Response.json({ n: await router(env).get(url.searchParams.get("key")!).inc(url.searchParams.get("id")!) });
        case "/read":
          return Response.json({ n: await router(env).get(url.searchParams.get("key")!).read() });
        case "/change":
          return await change(env, url);
        case "/status":
          return Response.json(await directoryClient(env.DIRECTORY).getChange(KEYSPACE));
        case "/keyspace":
          return Response.json(await directoryClient(env.DIRECTORY).getKeyspace(KEYSPACE));
        case "/audit": {
          const keys = (url.searchParams.get("keys") ?? "").split(",");
          const r = router(env);
          return Response.json(await Promise.all(keys.map((k) => r.get(k).audit())));
        }
        default:
          return new Response("not found", { status: 404 });
      }
    } catch (error) {
      return errorResponse(error) ?? Response.json({ error: "Internal", message: String(error) }, { status: 500 });
    }
  },
} satisfies ExportedHandler<Env>;
