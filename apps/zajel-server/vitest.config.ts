import { cloudflareTest } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";
import { quietFaults } from "../../tools/vitest/quiet-run.js";

export default defineConfig({
  plugins: [
    cloudflareTest({
      wrangler: { configPath: "./wrangler.jsonc" },
      // Test configuration; tests that need other values call the Worker with an env of their own.
      // Every name a local .dev.vars may hold is set here, so a developer's file cannot leak in.
      miniflare: {
        bindings: {
          DEV_MODE: "false",
          ATTESTATION_SIGNING_KEY: "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
          SERVER_IDENTITY_KEY: "1f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100",
          CI_UPLOAD_SECRET: "test-ci-secret",
          SERVER_REGISTRY_SECRET: "test-registry-secret",
          TRUSTED_BUILD_KEYS: "configured-key-1,configured-key-2",
          BOOTSTRAP_SIGNING_KEY: "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
          LIST_SNAPSHOT_FRESH_MS: "0",
          ADMIN_TOKEN: "test-admin-token",
          // Info lines (a code registered, released) would drown the test output.
          LOG_LEVEL: "warn",
        },
      },
    }),
  ],
  test: {
    ...quietFaults,
    include: ["test/**/*.test.ts"],
  },
});
