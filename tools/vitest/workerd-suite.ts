/**
 * The vitest config of a workerd test suite of this repository: `test/**\/*.test.ts`, run inside
 * workerd through Cloudflare's Vitest integration with the Worker's wrangler config, quiet about
 * expected faults (quiet-run.ts).
 */
import { cloudflareTest } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";
import { quietFaults } from "./quiet-run.js";

export interface WorkerdSuite {
  /** The wrangler config the Worker under test is built from. */
  configPath: string;
  /**
   * Env values for the tests. An app sets every name a local .dev.vars may hold, so a
   * developer's file cannot leak in.
   */
  bindings?: Record<string, string>;
  testTimeout?: number;
}

export function workerdSuite({ configPath, bindings, testTimeout }: WorkerdSuite) {
  return defineConfig({
    plugins: [cloudflareTest({ wrangler: { configPath }, ...(bindings ? { miniflare: { bindings } } : {}) })],
    test: { ...quietFaults, include: ["test/**/*.test.ts"], ...(testTimeout ? { testTimeout } : {}) },
  });
}
