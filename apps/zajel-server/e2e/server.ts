/** Starts the server with the README's start command (`scripts/dev.mjs`) for end-to-end tests. */
import { join } from "node:path";
import { startApp, type RunningServer } from "../../../tools/e2e/server.js";

export type { RunningServer };

/** Starts the Zajel server on a free port with `env` added to the environment; resolves once /health answers. */
export function startServer(env: Record<string, string> = {}): Promise<RunningServer> {
  return startApp(join(import.meta.dirname, ".."), env);
}
