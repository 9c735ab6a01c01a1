/** Rate limiting of every request, first in the dispatch order (§3.1, §3.5). */
import type { MiddlewareHandler } from "hono";
import type { Env } from "../env.js";
import { router } from "../keyspaces.js";
import { jsonError } from "../http/errors.js";
import { mutableHeaders } from "../http/headers.js";
import { RATE_LIMITS, classify } from "./classes.js";

/** The router of the rate-limit keyspace. */
export function rateLimitRouter(env: Env) {
  return router(env, "rate-limits");
}

/** The client IP of §3.5: `CF-Connecting-IP`, or the shared bucket `unknown`. */
export function clientIp(request: Request): string {
  return request.headers.get("CF-Connecting-IP") || "unknown";
}

export const rateLimit: MiddlewareHandler<{ Bindings: Env }> = async (c, next) => {
  const rateClass = classify(c.req.method, new URL(c.req.url).pathname);
  const limit = RATE_LIMITS[rateClass];
  const decision = await rateLimitRouter(c.env).get(`${rateClass}|${clientIp(c.req.raw)}`).hit(limit);
  if (!decision.allowed) {
    c.res = jsonError(429, "Too Many Requests", undefined, {
      "Retry-After": String(decision.retryAfter),
      "X-RateLimit-Remaining": "0",
      "X-RateLimit-Limit": String(limit),
    });
    return;
  }
  await next();
  if (c.res.status === 101) return;
  const headers = mutableHeaders(c);
  headers.set("X-RateLimit-Limit", String(limit));
  headers.set("X-RateLimit-Remaining", String(decision.remaining));
};
