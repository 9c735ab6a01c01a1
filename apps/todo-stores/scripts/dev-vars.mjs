// Dev settings of todo-stores: the names the environment may set, and the secrets generated.
import { randomBytes } from "node:crypto";

export const CONFIG_NAMES = ["TOKEN_SECRET", "ADMIN_TOKEN", "PLACEMENT", "STORE_SHARDS", "RATE_LIMIT_PER_MINUTE", "FEATURE_SHARDING", "FLAG_CACHE_MS", "INSTANCE"];

/** Fresh dev secrets: the token-signing secret and the admin token, random base64url. */
export function generateDevVars() {
  const secret = () => randomBytes(24).toString("base64url");
  return { TOKEN_SECRET: secret(), ADMIN_TOKEN: secret() };
}
