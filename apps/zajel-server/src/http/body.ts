/**
 * Request bodies (§3.2, §3.4): size limits checked against `Content-Length` before reading and
 * against the bytes received, then JSON that must be an object, whatever `Content-Type` says. A
 * body left unread by an early answer (401, 403, 413, 429) is read to its end before the answer
 * goes out ({@link settleBody}).
 */
import type { MiddlewareHandler } from "hono";
import { HttpError } from "./errors.js";

/** Most bytes of an unread body that are read and dropped after an early answer; past it, cancelled. */
const DISCARD_LIMIT = 1024 * 1024;

const TOO_LARGE = () => HttpError.of(413, "Request body too large");
const INVALID_JSON = () => HttpError.of(400, "Invalid JSON body");

/** The raw body, at most `limit` bytes. */
export async function readBody(request: Request, limit: number): Promise<Uint8Array> {
  const declared = request.headers.get("Content-Length");
  if (declared !== null && Number(declared) > limit) throw TOO_LARGE();
  if (!request.body) return new Uint8Array();
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      // Left for settleBody to read to its end: the answer must not go out over an unread body.
      reader.releaseLock();
      throw TOO_LARGE();
    }
    chunks.push(value);
  }
  const body = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    body.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return body;
}

/** The body as a JSON object of at most `limit` bytes; anything else is 400 `Invalid JSON body`. */
export async function readJsonObject(request: Request, limit: number): Promise<Record<string, unknown>> {
  const bytes = await readBody(request, limit);
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes));
  } catch {
    throw INVALID_JSON();
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw INVALID_JSON();
  return value as Record<string, unknown>;
}

/**
 * Reads what is left of `request`'s body and drops it, or cancels the body past
 * {@link DISCARD_LIMIT}. The local runtime restarts a worker that answers while the client is
 * still sending, and the client then sees a 503 instead of the answer.
 */
export async function discardBody(request: Request): Promise<void> {
  const body = request.body;
  if (!body || body.locked) return;
  const reader = body.getReader();
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      size += value.byteLength;
      if (size > DISCARD_LIMIT) return void (await reader.cancel());
    }
  } catch {
    // The client stopped sending; nothing is left to read.
  } finally {
    reader.releaseLock();
  }
}

/** Middleware: whatever the answer, the request's body is settled before it goes out. */
export const settleBody: MiddlewareHandler = async (c, next) => {
  await next();
  await discardBody(c.req.raw);
};
