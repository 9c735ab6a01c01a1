/**
 * Request bodies (§3.2, §3.4): size limits checked against `Content-Length` before reading and
 * against the bytes received, then JSON that must be an object, whatever `Content-Type` says.
 */
import { HttpError } from "./errors.js";

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
      await reader.cancel();
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
