/** Calling the app in tests: each case gets its own instance (legacy object, flag, keyspaces). */
import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import worker from "../src/index.js";
import { signToken } from "../src/auth.js";
import type { Env } from "../src/env.js";
import type { StoreContent } from "../src/content.js";

let n = 0;
/** A name no other test uses. */
export function uniqueName(prefix = "t"): string {
  return `${prefix}${Date.now().toString(36)}${(n++).toString(36)}`;
}

export type Instance = ReturnType<typeof instance>;

/** An instance of the app with `overrides` in its env. */
export function instance(overrides: Partial<Env> = {}) {
  const e = { ...(env as unknown as Env), INSTANCE: uniqueName("i"), ...overrides } as Env;
  const fetch = async (path: string, init: RequestInit = {}) => {
    const ctx = createExecutionContext();
    const response = await worker.fetch(new Request(`https://todo.test${path}`, init), e, ctx);
    await waitOnExecutionContext(ctx);
    return response;
  };
  const admin = (path: string, json?: unknown) =>
    fetch(`/admin${path}`, json === undefined ? { headers: { authorization: "Bearer test-admin-token" } } : { method: "POST", headers: { authorization: "Bearer test-admin-token", "content-type": "application/json" }, body: JSON.stringify(json) });
  return {
    env: e,
    fetch,
    admin,
    token: (userId: string, orgId?: string) => signToken(e.TOKEN_SECRET, { userId, orgId }),
    /** The path of a user's store (`/api/<user>` or `/api/<org>/users/<user>`). */
    path: (userId: string, orgId?: string) => (orgId === undefined ? `/api/${userId}` : `/api/${orgId}/users/${userId}`),
    async load(userId: string, orgId?: string): Promise<StoreContent> {
      const r = await fetch(`${this.path(userId, orgId)}/load`, { headers: { authorization: `Bearer ${await this.token(userId, orgId)}` } });
      if (!r.ok) throw new Error(`load ${userId}: ${r.status} ${await r.text()}`);
      return r.json();
    },
    async save(userId: string, content: StoreContent, orgId?: string): Promise<Response> {
      return fetch(`${this.path(userId, orgId)}/save`, {
        method: "POST",
        headers: { authorization: `Bearer ${await this.token(userId, orgId)}`, "content-type": "application/json" },
        body: JSON.stringify(content),
      });
    },
    async flag(flag: "legacy" | "sharded", sweep?: "background" | "none", usersPerSecond?: number) {
      const r = await admin("/migration/flag", { flag, ...(sweep ? { sweep } : {}), ...(usersPerSecond ? { usersPerSecond } : {}) });
      if (!r.ok) throw new Error(`flag: ${r.status} ${await r.text()}`);
      return r.json();
    },
  };
}

/** A todo list of `count` items. */
export function todos(count: number, prefix = "todo"): StoreContent {
  const rows: Record<string, Record<string, string | boolean>> = {};
  for (let i = 0; i < count; i++) rows[`${prefix}${i}`] = { text: `${prefix} ${i}`, done: i % 3 === 0 };
  return [{ todos: rows }, {}];
}
