import { cloudflareTest } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";

export default defineConfig({
  plugins: [
    cloudflareTest({
      wrangler: { configPath: "./wrangler.jsonc" },
      // Test configuration; tests that need other values call the Worker with an env of their own.
      miniflare: {
        bindings: {
          CI_UPLOAD_SECRET: "test-ci-secret",
          SERVER_REGISTRY_SECRET: "test-registry-secret",
          TRUSTED_BUILD_KEYS: "configured-key-1,configured-key-2",
        },
      },
    }),
  ],
  test: {
    include: ["test/**/*.test.ts"],
  },
});
