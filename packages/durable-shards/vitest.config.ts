import { cloudflareTest } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";
import { quietFaults } from "../../tools/vitest/quiet-run.js";

export default defineConfig({
  plugins: [cloudflareTest({ wrangler: { configPath: "./wrangler.test.jsonc" } })],
  test: {
    ...quietFaults,
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000,
  },
});
