/** Rate-limit classes of §3.5: which class a request falls in, and its limit per minute. */

export type RateClass = "read" | "GET:/servers" | "GET:/servers/trusted-keys" | "POST:/servers" | "POST:/servers/trusted-keys" | "admin" | "attest" | "write";

export const RATE_LIMITS: Record<RateClass, number> = {
  read: 200,
  "GET:/servers": 30,
  "GET:/servers/trusted-keys": 10,
  "POST:/servers": 5,
  "POST:/servers/trusted-keys": 5,
  admin: 10,
  attest: 20,
  write: 30,
};

/** The one class a request falls in: the first specific row that matches wins. */
export function classify(method: string, path: string): RateClass {
  if (method === "OPTIONS") return "read";
  if (method === "GET") {
    if (path === "/servers") return "GET:/servers";
    if (path === "/servers/trusted-keys") return "GET:/servers/trusted-keys";
    return "read";
  }
  if (method === "POST" && path === "/servers") return "POST:/servers";
  if (method === "POST" && path === "/servers/trusted-keys") return "POST:/servers/trusted-keys";
  if (path === "/attest/upload-reference" || path === "/attest/versions") return "admin";
  if (path.startsWith("/attest")) return "attest";
  return "write";
}
