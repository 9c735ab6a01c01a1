/** The app as the end-to-end tests start it (`npm start`'s script), and tokens for its users. */
import { join } from "node:path";
import { startApp, type RunningServer } from "../../../tools/e2e/server.js";
import { signToken } from "../src/auth.js";
import { setting } from "../scripts/local.js";

export type { RunningServer };

/** Starts todo-stores on a free port with `env` added (each run its own INSTANCE: local state persists). */
export function startTodoStores(env: Record<string, string> = {}): Promise<RunningServer> {
  return startApp(join(import.meta.dirname, ".."), { INSTANCE: `e2e${Date.now().toString(36)}`, ...env });
}

/** A token for `userId` under the local TOKEN_SECRET (in .dev.vars once the app started). */
export function token(userId: string, orgId?: string): Promise<string> {
  const secret = setting("TOKEN_SECRET");
  if (!secret) throw new Error("no TOKEN_SECRET in .dev.vars: the app did not start");
  return signToken(secret, { userId, orgId });
}
