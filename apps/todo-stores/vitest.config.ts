import { workerdSuite } from "../../tools/vitest/workerd-suite.js";

export default workerdSuite({
  configPath: "./wrangler.jsonc",
  bindings: {
    TOKEN_SECRET: "test-token-secret",
    ADMIN_TOKEN: "test-admin-token",
    FLAG_CACHE_MS: "0",
    RATE_LIMIT_PER_MINUTE: "1000",
  },
});
