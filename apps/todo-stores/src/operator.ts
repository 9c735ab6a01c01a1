/**
 * The operator's endpoints, behind `ADMIN_TOKEN` (fails closed): the migration (flag, sweep,
 * verify), D1's cross-user statistics and search, and restoring one user's store from a backup.
 * The CLI (`scripts/migrate.mjs`) drives these.
 */
import { bearerMatches, metricsJson } from "durable-shards";
import { Hono, type Context } from "hono";
import { z } from "zod";
import { controlOf, forgetFlag, setFlagSchema } from "./control.js";
import type { Env } from "./env.js";
import { searchTodos, syncStats } from "./d1-queries.js";
import { restoreStore, restoreSchema } from "./restore.js";
import { errorAnswer } from "./store-http.js";
import { parseStoreKey } from "./store-key.js";
import { Stores } from "./stores.js";
import { deploymentOf, placementOf } from "./deployment.js";

type App = { Bindings: Env };

const pageSchema = z.strictObject({ pageSize: z.number().int().min(1).max(500).default(50) });
const verifyQuery = z.strictObject({ after: z.string().max(200).optional(), limit: z.coerce.number().int().min(1).max(200).default(100) });
const searchQuery = z.strictObject({ q: z.string().min(1, "q must not be empty").max(100), limit: z.coerce.number().int().min(1).max(100).default(20) });

export function operatorApp(): Hono<App> {
  const app = new Hono<App>();
  app.use("*", async (c, next) => {
    if (!(await bearerMatches(c.env.ADMIN_TOKEN, c.req.header("authorization")))) return errorAnswer(401, "Unauthorized", "send 'Authorization: Bearer <ADMIN_TOKEN>'");
    await next();
  });

  app.get("/migration", async (c) => c.json(await controlOf(c.env).status(deploymentOf(c.env))));
  app.post("/migration/flag", async (c) => {
    const input = await body(c, setFlagSchema);
    if (input instanceof Response) return input;
    const status = await controlOf(c.env).setFlag(deploymentOf(c.env), input);
    forgetFlag();
    return c.json(status);
  });
  app.post("/migration/sweep", async (c) => {
    const input = await body(c, pageSchema);
    if (input instanceof Response) return input;
    return c.json(await controlOf(c.env).sweepPage(deploymentOf(c.env), input.pageSize));
  });
  app.post("/migration/stop", async (c) => c.json(await controlOf(c.env).stopSweep(deploymentOf(c.env))));

  // Per moved store: the copy the legacy object exported against the copy the sharded side took
  // (rows and content hash), and whether the store changed since (writes after its move).
  app.get("/migration/verify", async (c) => {
    const query = verifyQuery.safeParse(c.req.query());
    if (!query.success) return errorAnswer(400, "InvalidArgument", query.error.issues[0]!.message);
    const stores = new Stores(c.env);
    const keys = await stores.legacy.keysElsewhere(query.data.after ?? null, query.data.limit);
    const copies = await stores.legacy.copiesOf(keys);
    const users = await Promise.all(
      keys.map(async (key, i) => {
        const legacy = copies[i] ?? null;
        const sharded = legacy ? await stores.router.get(key).copyTaken(legacy.epoch) : { copyHash: undefined };
        return {
          key,
          legacy: legacy && { rows: legacy.rows, hash: legacy.hash },
          sharded: "rows" in sharded ? { rows: sharded.rows, hash: sharded.hash } : null,
          copyExact: legacy !== null && sharded.copyHash === legacy.hash,
          changedSince: "hash" in sharded && legacy !== null ? sharded.hash !== legacy.hash : null,
        };
      }),
    );
    return c.json({ users, next: keys.length === query.data.limit ? keys[keys.length - 1] : null });
  });

  app.get("/stats", async (c) => c.json(await syncStats(c.env.DB)));
  // Where requests go: the legacy object's count (since it last started) and each store shard's
  // (durable-shards measurement), and the busiest object's share of them.
  app.get("/requests", async (c) => {
    const d = deploymentOf(c.env);
    const legacy = await new Stores(c.env, d).legacy.requestsServed();
    const shards: Record<string, number> = {};
    if (d.placement === "hashed") {
      const [metrics] = await metricsJson(c.env.DIRECTORY, { keyspace: placementOf(d).keyspace });
      for (const s of metrics?.shards ?? []) shards[s.shard] = Object.values(s.methods ?? {}).reduce((n, m) => n + m.calls, 0);
    }
    const counts = [legacy, ...Object.values(shards)];
    const total = counts.reduce((a, b) => a + b, 0);
    return c.json({ legacy, shards, total, busiestShare: total === 0 ? 0 : Math.max(...counts) / total });
  });
  app.get("/search", async (c) => {
    const query = searchQuery.safeParse(c.req.query());
    if (!query.success) return errorAnswer(400, "InvalidArgument", query.error.issues[0]!.message);
    return c.json(await searchTodos(c.env.DB, query.data.q, query.data.limit));
  });

  app.post("/stores/:key/restore", async (c) => {
    const key = c.req.param("key");
    if (!parseStoreKey(key)) return errorAnswer(400, "InvalidArgument", "key must be 'user:<id>' or 'org:<id>/user:<id>' (URL-encoded)");
    const input = await body(c, restoreSchema);
    if (input instanceof Response) return input;
    return restoreStore(c.env, key, input);
  });
  return app;
}

/** The JSON body parsed by `schema`, or the 400 to answer. */
async function body<T>(c: Context<App>, schema: z.ZodType<T>): Promise<T | Response> {
  let json: unknown;
  try {
    json = await c.req.json();
  } catch {
    return errorAnswer(400, "InvalidArgument", "body must be JSON");
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) return errorAnswer(400, "InvalidArgument", `${parsed.error.issues[0]!.path.join(".") || "body"}: ${parsed.error.issues[0]!.message}`);
  return parsed.data;
}
