/**
 * The admin API: the one way in for operators, the CLI and the dashboard. A Hono app an app mounts
 * where it likes (`app.route("/_shards", adminApp(…))`), or a plain `fetch` (`adminFetch`).
 *
 * Every route but the dashboard page needs `Authorization: Bearer <token>`, compared in constant
 * time. It fails closed: with no token configured, every request is refused (401). Bad input is a
 * 4xx with a JSON `{ error, message }`; expected outcomes of the directory (an unknown keyspace, a
 * change in progress) keep their codes (`http.ts`).
 */
import { Hono, type Context } from "hono";
import { z } from "zod";
import { directoryClient, type DirectoryClient, type DirectoryNamespace } from "./directory-client.js";
import { ShardError } from "./errors.js";
import { errorResponse } from "./http.js";
import { PROMETHEUS_CONTENT_TYPE } from "./prometheus.js";
import { backupIdSchema, keyspaceNameSchema, parse, shardIdsSchema, shardSpecsSchema } from "./schema.js";
import { dashboardHtml } from "./dashboard.js";
import { changeOptionsSchema, rebalanceOptionsSchema } from "./change-options.js";

/** How the admin API finds the directory and its token, from the Worker's env. */
export interface AdminOptions<E> {
  /** The directory namespace binding. */
  directory: (env: E) => DirectoryNamespace;
  /** The bearer token. Unset or empty: every request is refused. */
  token: (env: E) => string | undefined;
  /** Name of the directory object, if not the default. */
  directoryName?: string;
  /**
   * How often the dashboard's event stream sends a snapshot, in ms. Default 2,000. Each snapshot
   * measures every shard (one RPC each), so a shorter interval costs the shards more.
   */
  eventIntervalMs?: number;
}

// The directory's own option schemas; the API always starts changes without waiting.
const changeLimits = changeOptionsSchema.omit({ wait: true });
const addSchema = changeLimits.extend({ shards: shardSpecsSchema });
const removeSchema = changeLimits.extend({ shards: shardIdsSchema });
const rebalanceSchema = rebalanceOptionsSchema.omit({ wait: true });
const restoreSchema = z.strictObject({ into: keyspaceNameSchema.optional() });
// Routes that take no options still refuse a body that has some (empty, or `{}`, is fine).
const emptyBody = z.strictObject({});
const allSchema = z.enum(["0", "1"], "all must be 0 or 1").optional();

/** The admin API as a Hono app, to mount at a path of the app's choosing. */
export function adminApp<E extends object>(options: AdminOptions<E>): Hono<{ Bindings: E }> {
  const app = new Hono<{ Bindings: E }>();
  const client = (c: Context<{ Bindings: E }>) => directoryClient(options.directory(c.env), options.directoryName);

  // The page itself holds no data: it asks for the token and calls the API with it. Mounted at
  // `/_shards`, Hono matches `/` at `/_shards` only; the page is wanted at `/_shards/` too (its
  // links are relative), and only there: any other path ending in a slash is not a route.
  app.get("/", (c) => c.html(dashboardHtml()));

  app.use("*", async (c, next) => {
    // This middleware's route is the mount point with `/*` (`/_shards/*`, or `/*` standalone).
    if (c.req.method === "GET" && c.req.path === c.req.routePath.replace(/\*$/, "")) return c.html(dashboardHtml());
    if (!(await bearerMatches(options.token(c.env), c.req.header("authorization")))) {
      return c.json({ error: "Unauthorized", message: options.token(c.env) ? "a valid bearer token is required" : "the admin API has no token configured, so it refuses every request" }, 401, {
        "WWW-Authenticate": 'Bearer realm="durable-shards"',
      });
    }
    await next();
  });

  app.onError((error, c) => {
    const known = errorResponse(error);
    if (known) return known;
    console.error("durable-shards admin:", error);
    return c.json({ error: "Internal", message: "the admin API failed; see the Worker's logs" }, 500);
  });
  app.notFound((c) => c.json({ error: "NotFound", message: `no admin route ${c.req.method} ${new URL(c.req.url).pathname}` }, 404));

  const ks = (c: Context<{ Bindings: E }>) => parse(keyspaceNameSchema, c.req.param("keyspace"), "keyspace");
  const body = async <T>(c: Context<{ Bindings: E }>, schema: z.ZodType<T>): Promise<T> => {
    const text = await c.req.text();
    let value: unknown = {};
    if (text.trim() !== "") {
      try {
        value = JSON.parse(text);
      } catch {
        throw new ShardError("InvalidArgument", "the body is not JSON");
      }
    }
    return parse(schema, value, "body");
  };

  app.get("/metrics", async (c) => c.body(await client(c).metricsText(), 200, { "Content-Type": PROMETHEUS_CONTENT_TYPE }));
  app.get("/api/metrics", async (c) => c.json(await client(c).metrics()));
  app.get("/api/status", async (c) => c.json(await status(client(c))));
  app.get("/api/events", (c) => events(client(c), options.eventIntervalMs ?? 2_000, c.req.raw.signal));
  app.get("/api/keyspaces", async (c) => c.json(await client(c).listKeyspaces()));
  app.get("/api/keyspaces/:keyspace", async (c) => c.json(await client(c).getKeyspace(ks(c))));
  app.get("/api/keyspaces/:keyspace/map", async (c) => c.json(await client(c).getMap(ks(c))));
  app.get("/api/keyspaces/:keyspace/shards", async (c) => c.json((await client(c).metrics(ks(c)))[0]));
  app.get("/api/keyspaces/:keyspace/load-history", async (c) => c.json(await client(c).loadHistory(ks(c))));
  app.get("/api/keyspaces/:keyspace/hot-keys", async (c) => c.json((await client(c).metrics(ks(c)))[0]!.hotKeys));
  app.post("/api/keyspaces/:keyspace/add-shards", async (c) => {
    const { shards, ...limits } = await body(c, addSchema);
    return started(c, await client(c).addShards(ks(c), shards, { ...limits, wait: false }));
  });
  app.post("/api/keyspaces/:keyspace/remove-shards", async (c) => {
    const { shards, ...limits } = await body(c, removeSchema);
    return started(c, await client(c).removeShards(ks(c), shards, { ...limits, wait: false }));
  });
  app.post("/api/keyspaces/:keyspace/rebalance", async (c) => started(c, await client(c).rebalance(ks(c), { ...(await body(c, rebalanceSchema)), wait: false })));
  app.get("/api/keyspaces/:keyspace/change", async (c) => c.json(await client(c).getChange(ks(c))));
  /** A POST that takes no options: no body or `{}`, anything else refused. */
  const noOptions = (path: string, act: (directory: DirectoryClient, keyspace: string) => Promise<unknown>, status: 200 | 202 = 200) =>
    app.post(path, async (c) => {
      await body(c, emptyBody);
      return c.json(await act(client(c), ks(c)), status);
    });
  noOptions("/api/keyspaces/:keyspace/change/abort", (d, k) => d.abortChange(k));
  app.get("/api/keyspaces/:keyspace/diagnose", async (c) => c.json(await client(c).diagnose(ks(c))));
  app.get("/api/alerts", async (c) => c.json(await client(c).alerts(undefined, parse(allSchema, c.req.query("all"), "query all") === "1")));
  app.get("/api/keyspaces/:keyspace/settings", async (c) => c.json(await client(c).getSettings(ks(c))));
  app.patch("/api/keyspaces/:keyspace/settings", async (c) => c.json(await client(c).configureKeyspace(ks(c), await body(c, z.unknown()))));
  app.get("/api/keyspaces/:keyspace/autoscaler", async (c) => c.json(await client(c).autoscaler(ks(c))));
  noOptions("/api/keyspaces/:keyspace/autoscaler/pause", (d, k) => d.pauseAutoscaler(k));
  noOptions("/api/keyspaces/:keyspace/autoscaler/resume", (d, k) => d.resumeAutoscaler(k));
  app.get("/api/keyspaces/:keyspace/backups", async (c) => c.json(await client(c).listBackups(ks(c))));
  noOptions("/api/keyspaces/:keyspace/backups", (d, k) => d.backup(k, { wait: false }), 202);
  app.post("/api/keyspaces/:keyspace/backups/:id/restore", async (c) => {
    const id = parse(backupIdSchema, c.req.param("id"), "backup id");
    return c.json(await client(c).restore(ks(c), id, { ...(await body(c, restoreSchema)), wait: false }), 202);
  });
  app.delete("/api/keyspaces/:keyspace/backups/:id", async (c) => c.json(await client(c).deleteBackup(ks(c), parse(backupIdSchema, c.req.param("id"), "backup id"))));
  app.get("/api/jobs/:id", async (c) => c.json(await client(c).getBackupJob(parse(backupIdSchema, c.req.param("id"), "job id"))));
  return app;
}

/** The admin API as a `fetch` handler for a Worker without Hono of its own (paths from `/`). */
export function adminFetch<E extends object>(options: AdminOptions<E>): (request: Request, env: E) => Promise<Response> {
  const app = adminApp(options);
  return async (request, env) => app.fetch(request, env);
}

/**
 * Keyspaces with their running change (if any) and firing alerts: what `durable-shards status`
 * prints. `at` is the server's time, which the dashboard places its heatmap columns by.
 */
async function status(directory: DirectoryClient) {
  const keyspaces = await directory.listKeyspaces();
  const alerts = await directory.alerts();
  return {
    at: Date.now(),
    keyspaces: await Promise.all(
      keyspaces.map(async (k) => ({ ...k, change: k.placement === "hash" ? await directory.getChange(k.name) : null })),
    ),
    alerts,
  };
}

/** A change started in the background answers 202; a dry run or a no-op, 200. */
function started<E extends object>(c: Context<{ Bindings: E }>, result: { started?: boolean }): Response {
  return c.json(result, result.started ? 202 : 200);
}

/** Server-sent events: a `snapshot` (status and every keyspace's metrics) every `intervalMs`, until the client goes. */
function events(directory: DirectoryClient, intervalMs: number, signal: AbortSignal): Response {
  const encoder = new TextEncoder();
  // The stream ends when the client goes: its cancel (the reader left) or the request's signal.
  let cancelled = false;
  const stream = new ReadableStream<Uint8Array>({
    cancel() {
      cancelled = true;
    },
    async start(controller) {
      while (!signal.aborted && !cancelled) {
        try {
          const [state, metrics] = await Promise.all([status(directory), directory.metrics()]);
          controller.enqueue(encoder.encode(`event: snapshot\ndata: ${JSON.stringify({ ...state, metrics })}\n\n`));
        } catch (error) {
          controller.enqueue(encoder.encode(`event: problem\ndata: ${JSON.stringify({ message: error instanceof Error ? error.message : String(error) })}\n\n`));
        }
        await new Promise((r) => setTimeout(r, intervalMs));
      }
      if (!cancelled) controller.close();
    },
  });
  return new Response(stream, { headers: { "Content-Type": "text/event-stream", "Cache-Control": "no-store" } });
}

/**
 * Whether `header` carries `Bearer <token>`; false when no token is configured (fails closed).
 * Constant time in the token. For an app's own operator routes beside the admin API.
 */
export async function bearerMatches(token: string | undefined, header: string | undefined): Promise<boolean> {
  if (!token) return false;
  const given = header?.match(/^Bearer\s+(.+)$/i)?.[1] ?? "";
  const digest = async (text: string) => new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
  const [a, b] = await Promise.all([digest(token), digest(given)]);
  let difference = 0;
  for (let i = 0; i < a.length; i++) difference |= a[i]! ^ b[i]!;
  return difference === 0;
}
