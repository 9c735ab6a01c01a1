/** The app's operator endpoints (/admin), as the scripts call them: one-line errors, typed answers. */
import { setting } from "./local.js";

export interface AdminTarget {
  url: string;
  token: string;
}

/** Where and with what token, from options, then TODO_STORES_URL / ADMIN_TOKEN, then the local defaults. */
export function target(options: { url?: string; token?: string }): AdminTarget {
  const url = (options.url ?? process.env.TODO_STORES_URL ?? `http://127.0.0.1:${process.env.PORT ?? "8788"}`).replace(/\/$/, "");
  const token = options.token ?? setting("ADMIN_TOKEN");
  if (!token) {
    console.error("no admin token: pass --token, set ADMIN_TOKEN, or start the app once so .dev.vars holds one");
    process.exit(2);
  }
  return { url, token };
}

/** Calls `/admin<path>` (POST with `body`), returning its JSON; a refusal exits 1 with its message. */
export async function admin<T>(t: AdminTarget, path: string, body?: unknown): Promise<T> {
  let response: Response;
  try {
    response = await fetch(`${t.url}/admin${path}`, {
      method: body === undefined ? "GET" : "POST",
      headers: { authorization: `Bearer ${t.token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    console.error(`cannot reach ${t.url}: ${(error as Error).cause ?? (error as Error).message}`);
    process.exit(1);
  }
  const json = (await response.json().catch(() => ({}))) as { error?: string };
  if (!response.ok) {
    console.error(`${path}: ${response.status} ${json.error ?? response.statusText}`);
    process.exit(1);
  }
  return json as T;
}
