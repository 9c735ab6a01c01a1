/**
 * The CLI's client of the admin API: one authenticated JSON request per call, and errors as one
 * line (`CliError`) that the command prints without a stack trace.
 */

/** An expected failure: printed as one line, exit code 1. */
export class CliError extends Error {}

export interface Connection {
  url: string;
  token: string;
}

/** Resolves `--url`/`--token`, else `DURABLE_SHARDS_URL`/`DURABLE_SHARDS_TOKEN`. */
export function connection(options: { url?: string; token?: string }, env: NodeJS.ProcessEnv = process.env): Connection {
  const url = options.url ?? env.DURABLE_SHARDS_URL;
  const token = options.token ?? env.DURABLE_SHARDS_TOKEN;
  if (!url) throw new CliError("no admin URL: pass --url or set DURABLE_SHARDS_URL (for example http://127.0.0.1:8787/_shards)");
  if (!token) throw new CliError("no admin token: pass --token or set DURABLE_SHARDS_TOKEN");
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new CliError(`the admin URL '${url}' is not a URL`);
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") throw new CliError(`the admin URL must be http(s), not ${parsed.protocol}`);
  return { url: url.replace(/\/+$/, ""), token };
}

/** Calls the admin API at `path` (under `/api`) and returns its JSON; any refusal becomes a `CliError`. */
export async function request<T>(conn: Connection, method: string, path: string, body?: unknown): Promise<T> {
  let response: Response;
  try {
    response = await fetch(`${conn.url}/api${path}`, {
      method,
      headers: { authorization: `Bearer ${conn.token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(120_000),
    });
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error instanceof Error ? error.message : String(error));
    throw new CliError(`cannot reach ${conn.url}: ${cause}`);
  }
  const text = await response.text();
  let json: unknown;
  try {
    json = text === "" ? null : JSON.parse(text);
  } catch {
    throw new CliError(`${method} ${path} answered ${response.status} with a body that is not JSON (is ${conn.url} the admin API?)`);
  }
  if (!response.ok) {
    const message = (json as { message?: string } | null)?.message ?? response.statusText;
    throw new CliError(`${response.status} ${(json as { error?: string } | null)?.error ?? ""}: ${message}`.replace(/ +:/, ":"));
  }
  return json as T;
}
