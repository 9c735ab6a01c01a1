/**
 * Worker entry of the Zajel-compatible server. Dispatch order of §3.1: rate limit, `OPTIONS`,
 * WebSocket upgrades, HTTP routes, 404.
 */
import { Hono } from "hono";
import { ShardDirectory , adminApp } from "durable-shards";
import type { Env } from "./env.js";
import { settleBody } from "./http/body.js";
import { HttpError, jsonError } from "./http/errors.js";
import { securityHeaders } from "./http/headers.js";
import { admin } from "./admin/routes.js";
import { attestation } from "./attestation/routes.js";
import { bootstrap } from "./bootstrap/routes.js";
import { info } from "./info.js";
import { rateLimit } from "./ratelimit/middleware.js";
import { acceptUpgrade } from "./realtime/gateway.js";

export { RateLimiter } from "./ratelimit/limiter.js";
export { AdminState } from "./admin/state.js";
export { ServerRegistry } from "./bootstrap/registry.js";
export { RegistryIndex } from "./bootstrap/registry-index.js";
export { NonceStore } from "./bootstrap/nonce-store.js";
export { ServerListCache } from "./bootstrap/snapshot.js";
export { DeviceStore } from "./attestation/device-store.js";
export { DeviceIndex } from "./attestation/device-index.js";
export { ChallengeStore } from "./attestation/challenge-store.js";
export { Gateway } from "./realtime/gateway.js";
export { CodeRegistry } from "./realtime/codes.js";
export { RendezvousRegistry } from "./realtime/rendezvous-store.js";
export { ChunkStore } from "./realtime/chunk-store.js";
export { ChannelRegistry } from "./realtime/channel-store.js";
export { ConnectionCounter } from "./realtime/connections.js";

/** The directory of this deployment's keyspaces. */
export class Directory extends ShardDirectory<Env> {}

/** Paths that stay HTTP even when a request asks to upgrade (§3.1). */
function isHttpRoutePath(path: string): boolean {
  return path === "/health" || path === "/api/info" || path.startsWith("/servers") || path.startsWith("/attest");
}

const app = new Hono<{ Bindings: Env }>();
app.use(settleBody);
app.use(securityHeaders);
// The library's admin API, dashboard and Prometheus metrics, behind ADMIN_TOKEN (none set: all
// refused). Mounted before the client rate limits: operators' tools poll it.
app.route("/_shards", adminApp<Env>({ directory: (env) => env.DIRECTORY, token: (env) => env.ADMIN_TOKEN }));
app.use(rateLimit);
app.options("*", (c) => c.body(null, 200));
app.use(async (c, next) => {
  const path = new URL(c.req.url).pathname;
  if (c.req.method === "GET" && c.req.header("Upgrade")?.toLowerCase() === "websocket" && !isHttpRoutePath(path)) {
    return acceptUpgrade(c.env, c.req.raw);
  }
  await next();
});
app.route("/", info);
app.route("/", admin);
app.route("/", bootstrap);
app.route("/", attestation);
app.notFound((c) => {
  const path = new URL(c.req.url).pathname;
  if (path.startsWith("/servers") || path.startsWith("/attest")) return jsonError(404, "Not Found");
  return jsonError(404, "Not Found", { hint: "Use GET /servers to list VPS servers" });
});
app.onError((error) => {
  if (error instanceof HttpError) return error.response;
  console.error("unhandled error", error);
  return jsonError(500, "Internal server error");
});

export default { fetch: app.fetch } satisfies ExportedHandler<Env>;
