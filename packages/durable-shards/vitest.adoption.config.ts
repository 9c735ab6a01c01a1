import { defineConfig } from "vitest/config";

// The adoption test runs in Node: it packs the library and builds a new app around it.
export default defineConfig({
  test: {
    include: ["adoption/**/*.test.ts"],
    testTimeout: 120_000,
    hookTimeout: 240_000,
  },
});
