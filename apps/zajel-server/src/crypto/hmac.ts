/** HMAC-SHA256 (region responses, §6.4) and constant-time comparison. */
import { toHex, utf8 } from "./encoding.js";

/** Lowercase hex HMAC-SHA256 of `message` under `key`. */
export async function hmacSha256Hex(key: Uint8Array, message: Uint8Array): Promise<string> {
  const cryptoKey = await crypto.subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return toHex(new Uint8Array(await crypto.subtle.sign("HMAC", cryptoKey, message)));
}

/**
 * Constant-time equality of two strings' UTF-8 bytes (length differences are not hidden, which
 * is fine for secrets and MACs of fixed length).
 */
export function constantTimeEqual(a: string, b: string): boolean {
  const x = utf8(a);
  const y = utf8(b);
  if (x.length !== y.length) return false;
  return crypto.subtle.timingSafeEqual(x, y);
}
