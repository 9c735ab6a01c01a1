/** CORS and security headers on every response (§3.3). */
import type { MiddlewareHandler } from "hono";
import { allowedOrigins, isAllowedOrigin } from "../config.js";
import type { Env } from "../env.js";

const FIXED_HEADERS: Record<string, string> = {
  "Access-Control-Allow-Methods": "GET, POST, DELETE, OPTIONS",
  "Access-Control-Allow-Headers": "Content-Type, Authorization",
  "Access-Control-Expose-Headers": "X-Bootstrap-Signature, X-Attestation-Token",
  "X-Content-Type-Options": "nosniff",
  "X-Frame-Options": "DENY",
  "Cache-Control": "no-store",
  "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
};

/** Sets the §3.3 headers on `headers` for a request from `origin`. */
export function applySecurityHeaders(headers: Headers, origin: string | null | undefined, env: Env): void {
  for (const [name, value] of Object.entries(FIXED_HEADERS)) headers.set(name, value);
  if (origin && isAllowedOrigin(origin, allowedOrigins(env))) {
    headers.set("Access-Control-Allow-Origin", origin);
    headers.append("Vary", "Origin");
  }
}

/** Middleware: every response, errors and 429s included, carries the headers. */
export const securityHeaders: MiddlewareHandler<{ Bindings: Env }> = async (c, next) => {
  await next();
  // WebSocket upgrade responses carry a socket and immutable headers; they get none.
  if (c.res.status === 101) return;
  applySecurityHeaders(mutableHeaders(c), c.req.header("Origin"), c.env);
};

/**
 * The response's headers, ready to change. Responses built here have mutable headers; only a
 * response with immutable ones is copied (copying costs time on every request).
 */
export function mutableHeaders(c: { res: Response }): Headers {
  try {
    c.res.headers.set("X-Content-Type-Options", "nosniff");
    return c.res.headers;
  } catch {
    c.res = new Response(c.res.body, c.res);
    return c.res.headers;
  }
}
