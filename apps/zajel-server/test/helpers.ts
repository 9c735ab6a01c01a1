/** Calling the server in tests: through SELF, or directly with an env of the test's own. */
import { SELF, createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import worker from "../src/index.js";
import type { Env } from "../src/env.js";

let ip = 0;

/** A new client IP, so rate limits of other requests do not interfere. */
export function freshIp(): string {
  ip++;
  return `10.${(ip >> 16) & 255}.${(ip >> 8) & 255}.${ip & 255}`;
}

function request(path: string, init: RequestInit & { json?: unknown; ip?: string }): Request {
  const headers = new Headers(init.headers);
  if (!headers.has("CF-Connecting-IP")) headers.set("CF-Connecting-IP", init.ip ?? freshIp());
  const body = init.json === undefined ? init.body : JSON.stringify(init.json);
  return new Request(`https://zajel.test${path}`, { ...init, headers, body });
}

/** A request through the deployed test Worker (SELF). */
export function call(path: string, init: RequestInit & { json?: unknown; ip?: string } = {}): Promise<Response> {
  return SELF.fetch(request(path, init));
}

/** A request to the Worker with `overrides` applied to its env (e.g. a secret unset). */
export async function callWith(overrides: Partial<Record<keyof Env, string | undefined>>, path: string, init: RequestInit & { json?: unknown } = {}) {
  const ctx = createExecutionContext();
  const response = await worker.fetch(request(path, init), { ...(env as unknown as Env), ...overrides } as Env, ctx);
  await waitOnExecutionContext(ctx);
  return response;
}

export const CI = { Authorization: "Bearer test-ci-secret" };

/** Status and parsed JSON body. */
export async function result(response: Response | Promise<Response>): Promise<{ status: number; body: unknown }> {
  const r = await response;
  return { status: r.status, body: await r.json() };
}
