/** Registry authentication (§4.2.2): fail-closed outside dev mode. */
import { flag } from "../config.js";
import type { Env } from "../env.js";
import { hasBearer } from "../http/auth.js";
import { HttpError } from "../http/errors.js";

/**
 * Checks a registry write. Returns, for a DELETE in open dev mode with a Bearer header, the key
 * the entry's `publicKey` must equal.
 */
export function requireRegistryAuth(request: Request, env: Env): { publicKey?: string } {
  if (env.SERVER_REGISTRY_SECRET) {
    if (!hasBearer(request, env.SERVER_REGISTRY_SECRET)) throw HttpError.of(401, "Unauthorized");
    return {};
  }
  if (!flag(env.DEV_MODE)) throw HttpError.of(503, "Server authentication not configured");
  const header = request.headers.get("Authorization");
  return header?.startsWith("Bearer ") ? { publicKey: header.slice("Bearer ".length) } : {};
}
