import { workerdSuite } from "../../tools/vitest/workerd-suite.js";

// Tests that need other values call the Worker with an env of their own.
export default workerdSuite({
  configPath: "./wrangler.jsonc",
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
});
