/**
 * The Worker's routes: TinyBase's remote-persister contract (`/api/:userId/load|save`, org form
 * `/api/:orgId/users/:userId/load|save`), its synchronizer (`/:userId`, `/:orgId/users/:userId`),
 * the operator's endpoints under `/admin`, and the durable-shards admin API and dashboard under
 * `/_shards`. Every refusal is a 4xx (or a 503 to retry) with a JSON `{error, code}`.
 */
import { adminApp, ShardError } from "durable-shards";
import { Hono, type Context } from "hono";
import { opens, verifyToken } from "./auth.js";
import { MAX_SAVE_BYTES } from "./content.js";
import { currentFlag } from "./control.js";
import type { Env } from "./env.js";
import { operatorApp } from "./operator.js";
import { idSchema, storeKey, type StoreRef } from "./store-key.js";
import { errorAnswer, shardErrorAnswer, type StoreOp } from "./store-http.js";
import { Stores } from "./stores.js";

type App = { Bindings: Env };

export function createApp(): Hono<App> {
  const app = new Hono<App>();

  app.get("/health", (c) => c.json({ ok: true }));
  app.route("/_shards", adminApp<Env>({ directory: (env) => env.DIRECTORY, token: (env) => env.ADMIN_TOKEN }));
  app.route("/admin", operatorApp());

  // TinyBase's remote persister: HEAD (its polling) is served by the GET route.
  app.get("/api/:userId/load", (c) => store(c, { userId: c.req.param("userId") }, "load"));
  app.post("/api/:userId/save", (c) => store(c, { userId: c.req.param("userId") }, "save"));
  app.get("/api/:orgId/users/:userId/load", (c) => store(c, { userId: c.req.param("userId"), orgId: c.req.param("orgId") }, "load"));
  app.post("/api/:orgId/users/:userId/save", (c) => store(c, { userId: c.req.param("userId"), orgId: c.req.param("orgId") }, "save"));
  // TinyBase's WebSocket synchronizer.
  app.get("/:orgId/users/:userId", (c) => store(c, { userId: c.req.param("userId"), orgId: c.req.param("orgId") }, "sync"));
  app.get("/:userId", (c) => store(c, { userId: c.req.param("userId") }, "sync"));

  app.notFound(() => errorAnswer(404, "NotFound", "no such route"));
  app.onError((error) => {
    const typed = ShardError.from(error);
    // A platform fault or an overloaded object: worth retrying (503). One of the library's errors
    // otherwise: its own status. Anything else is logged as the bug it is.
    if (typed && !typed.retryable) return shardErrorAnswer(typed);
    if (!typed) console.error(`unexpected error: ${error instanceof Error ? error.message : String(error)}`);
    return errorAnswer(503, typed?.code ?? "Unavailable", "the store is unavailable; retry shortly", { "retry-after": "1" });
  });
  return app;
}

/** Checks the ids and the token, reads and bounds a save's body, then serves the store. */
async function store(c: Context<App>, ref: StoreRef, op: StoreOp): Promise<Response> {
  for (const [name, value] of Object.entries(ref)) {
    if (value !== undefined && !idSchema.safeParse(value).success) return errorAnswer(400, "InvalidArgument", `${name} must be 1-64 letters, digits, '_' or '-'`);
  }
  const token = bearer(c);
  if (!token) return errorAnswer(401, "Unauthorized", "send a token: 'Authorization: Bearer <token>' or '?token=<token>'");
  const verified = await verifyToken(c.env.TOKEN_SECRET, token);
  if ("error" in verified) return errorAnswer(401, "Unauthorized", verified.error);
  if (!opens(verified.claims, ref)) return errorAnswer(403, "Forbidden", "this token does not open that store");
  let body: string | undefined;
  if (op === "save") {
    const tooLarge = () => errorAnswer(413, "TooLarge", `a save is at most ${MAX_SAVE_BYTES} bytes`);
    if (Number(c.req.header("content-length") ?? 0) > MAX_SAVE_BYTES) return tooLarge();
    // The header may be absent or wrong (chunked): the bytes themselves are measured, once.
    const bytes = await c.req.arrayBuffer();
    if (bytes.byteLength > MAX_SAVE_BYTES) return tooLarge();
    body = new TextDecoder().decode(bytes);
  }
  return new Stores(c.env).serve(storeKey(ref), op, c.req.raw, await currentFlag(c.env), body);
}

function bearer(c: Context<App>): string | undefined {
  const header = c.req.header("authorization");
  if (header?.startsWith("Bearer ")) return header.slice(7).trim() || undefined;
  return c.req.query("token") || undefined;
}
