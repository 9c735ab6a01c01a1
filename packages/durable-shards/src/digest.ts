/**
 * Content digests, computed the same way wherever the library compares data across objects
 * (backup pages and checksums, key migrations): a canonical JSON form, and SHA-256 in hex.
 */

/** JSON with object keys sorted at every level and byte arrays as `{ "b": [...] }`: the same data gives the same text anywhere. */
export function canonicalJson(value: unknown): string {
  if (value instanceof ArrayBuffer) return canonicalJson({ b: [...new Uint8Array(value)] });
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`)
      .join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}

/** SHA-256 of `data` (text as UTF-8), in lowercase hex. */
export async function sha256Hex(data: Uint8Array | string): Promise<string> {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return [...digest].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Content hash of JSON-able data, independent of object key order: SHA-256 of its canonical JSON. */
export function contentHash(data: unknown): Promise<string> {
  return sha256Hex(canonicalJson(data));
}
