import { defineConfig } from "vitest/config";

// End-to-end tests run in Node and talk to the app started by its start script.
export default defineConfig({
  test: {
    include: ["e2e/**/*.e2e.test.ts"],
    testTimeout: 60_000,
    // Each file starts a server on the same local state directory: one at a time.
    fileParallelism: false,
  },
});
