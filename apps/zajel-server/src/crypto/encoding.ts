/** Byte encodings used on the wire: hex, standard base64 and base64url (§2 key formats). */

const HEX = /^(?:[0-9a-fA-F]{2})*$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const BASE64_UNPADDED = /^[A-Za-z0-9+/]*$/;
const BASE64URL = /^[A-Za-z0-9_-]*$/;

/** Lowercase hex of `bytes`. */
export function toHex(bytes: Uint8Array): string {
  let out = "";
  for (const b of bytes) out += b.toString(16).padStart(2, "0");
  return out;
}

/** Bytes of an even-length hex string (either case), or `undefined` when it is not one. */
export function fromHex(text: string): Uint8Array | undefined {
  if (!HEX.test(text)) return undefined;
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/** Standard base64 with padding. */
export function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary);
}

/** base64url without padding. */
export function toBase64Url(bytes: Uint8Array): string {
  return toBase64(bytes).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** Bytes of standard base64 with padding, or `undefined`. */
export function fromBase64(text: string): Uint8Array | undefined {
  if (!BASE64.test(text)) return undefined;
  return decode(text);
}

/**
 * Bytes of base64url without padding, or of standard base64 with or without padding (the forms
 * build-token signatures may take, §6.1), or `undefined`.
 */
export function fromAnyBase64(text: string): Uint8Array | undefined {
  if (BASE64URL.test(text)) return decodeUnpadded(text.replace(/-/g, "+").replace(/_/g, "/"));
  if (BASE64.test(text)) return decode(text);
  if (BASE64_UNPADDED.test(text)) return decodeUnpadded(text);
  return undefined;
}

function decodeUnpadded(text: string): Uint8Array | undefined {
  if (text.length % 4 === 1) return undefined;
  return decode(text + "=".repeat((4 - (text.length % 4)) % 4));
}

function decode(padded: string): Uint8Array | undefined {
  try {
    const binary = atob(padded);
    return Uint8Array.from(binary, (c) => c.charCodeAt(0));
  } catch {
    return undefined;
  }
}

/** UTF-8 bytes of `text`. */
export function utf8(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}
