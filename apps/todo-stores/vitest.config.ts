import { cloudflareTest } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";
import { quietFaults } from "../../tools/vitest/quiet-run.js";

export default defineConfig({
  plugins: [
    cloudflareTest({
      wrangler: { configPath: "./wrangler.jsonc" },
      // Every name a local .dev.vars may hold is set here, so a developer's file cannot leak in.
      miniflare: {
        bindings: {
          TOKEN_SECRET: "test-token-secret",
          ADMIN_TOKEN: "test-admin-token",
          FLAG_CACHE_MS: "0",
          RATE_LIMIT_PER_MINUTE: "1000",
        },
      },
    }),
  ],
  test: {
    ...quietFaults,
    include: ["test/**/*.test.ts"],
  },
});
