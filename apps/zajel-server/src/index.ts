/** Worker entry of the Zajel-compatible server. */
import { Hono } from "hono";
import { ShardDirectory } from "durable-shards";
import type { Env } from "./env.js";
import { info } from "./info.js";

/** The directory of this deployment's keyspaces. */
export class Directory extends ShardDirectory<Env> {}

const app = new Hono<{ Bindings: Env }>();
app.route("/", info);
app.notFound((c) => c.json({ error: "Not found" }, 404));
app.onError((error, c) => {
  console.error("unhandled error", error);
  return c.json({ error: "Internal server error" }, 500);
});

export default { fetch: app.fetch } satisfies ExportedHandler<Env>;
