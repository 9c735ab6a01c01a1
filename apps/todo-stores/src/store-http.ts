/**
 * How a store object answers the requests the Worker forwards to it: TinyBase's remote-persister
 * load (GET, and HEAD for its polling, with ETags) and save (POST), and the synchronizer's
 * WebSocket upgrade. The Worker names the operation in {@link OP_HEADER}; a store this object does
 * not serve answers with {@link REFUSED_HEADER} set to `Migrating` or `Migrated`, which the Worker
 * acts on and never shows to a client.
 */
import { errorStatus, type ShardError } from "durable-shards";
import { contentSchema } from "./content.js";
import { ledgerRefusal, StoreRefusal, type StoreHost } from "./store-host.js";

export const OP_HEADER = "x-todo-op";
export const KEY_HEADER = "x-todo-key";
export const REFUSED_HEADER = "x-todo-refused";

export type StoreOp = "load" | "save" | "sync";

/** A JSON error answer (what every refusal looks like to a client). */
export function errorAnswer(status: number, code: string, message: string, headers: Record<string, string> = {}): Response {
  return Response.json({ error: message, code }, { status, headers });
}

/** One of the library's errors as the app's error answer: its own status and code (Retry-After when retryable). */
export function shardErrorAnswer(error: ShardError): Response {
  return errorAnswer(errorStatus(error)!, error.code, error.detail, error.retryable ? { "retry-after": "1" } : {});
}

/** Answers one forwarded request for `key`; `body` was read before (see `fencedRequest`). */
export function serveStore(host: StoreHost, key: string, request: Request, body: string): Response {
  try {
    host.check(key);
    host.admit(key);
    switch (request.headers.get(OP_HEADER)) {
      case "load":
        return load(host, key, request);
      case "save":
        return save(host, key, body);
      case "sync":
        if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") return errorAnswer(426, "UpgradeRequired", "the synchronizer endpoint takes a WebSocket upgrade");
        return host.accept(key, request);
      default:
        return errorAnswer(400, "InvalidArgument", `unknown store operation '${request.headers.get(OP_HEADER)}'`);
    }
  } catch (error) {
    const refusal = error instanceof StoreRefusal ? error : ledgerRefusal(error);
    if (!refusal) throw error;
    const headers: Record<string, string> = refusal.code === "Migrating" || refusal.code === "Migrated" ? { [REFUSED_HEADER]: refusal.code } : {};
    if (refusal.status === 429 || refusal.status === 503) headers["retry-after"] = "1";
    return errorAnswer(refusal.status, refusal.code, refusal.message, headers);
  }
}

function load(host: StoreHost, key: string, request: Request): Response {
  const known = request.headers.get("if-none-match");
  if (request.method === "HEAD") {
    const etag = host.etag(key);
    return new Response(null, { status: known === etag ? 304 : 200, headers: { etag } });
  }
  const { content, etag } = host.load(key);
  if (known === etag) return new Response(null, { status: 304, headers: { etag } });
  return Response.json(content, { headers: { etag, "cache-control": "no-store" } });
}

function save(host: StoreHost, key: string, body: string): Response {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return errorAnswer(400, "InvalidArgument", "body is not JSON");
  }
  const content = contentSchema.safeParse(json);
  if (!content.success) return errorAnswer(400, "InvalidArgument", `body is not store content: ${content.error.issues[0]?.message ?? "invalid"}`);
  return Response.json({ saved: true, ...host.save(key, content.data) });
}
