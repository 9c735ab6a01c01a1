import type { TestEnv } from "./fixtures/worker.js";

declare global {
  namespace Cloudflare {
    interface Env extends TestEnv {}
  }
}

