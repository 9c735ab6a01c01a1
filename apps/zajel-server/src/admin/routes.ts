/** Admin endpoints: trusted build keys (§4.2.8) and the version policy (§4.3.6, §4.3.7). */
import { Hono } from "hono";
import type { Env } from "../env.js";
import { router } from "../keyspaces.js";
import { requireSecret } from "../http/auth.js";
import { readJsonObject } from "../http/body.js";
import { HttpError, json } from "../http/errors.js";
import { policyFromBody } from "./policy.js";
import type { AdminState } from "./state.js";
import { parseTrustedKeyChange } from "./trusted-keys.js";

/** The admin object: entity keyspace `admin`, key `config`. */
export function adminState(env: Env) {
  return router(env, "admin").get("config");
}

export const admin = new Hono<{ Bindings: Env }>();

admin.get("/servers/trusted-keys", async (c) => {
  requireSecret(c.req.raw, c.env.CI_UPLOAD_SECRET, "Trusted key management not configured");
  return json(await adminState(c.env).trustedKeys());
});

admin.post("/servers/trusted-keys", async (c) => {
  requireSecret(c.req.raw, c.env.CI_UPLOAD_SECRET, "CI access not configured");
  const change = parseTrustedKeyChange(await readJsonObject(c.req.raw, 4096));
  const keys = await adminState(c.env).changeTrustedKeys(change);
  if (!keys) throw HttpError.of(400, "Too many keys (max 50)");
  return json({ success: true, keys });
});

admin.get("/attest/versions", async (c) => json(await adminState(c.env).policy()));

admin.post("/attest/versions", async (c) => {
  requireSecret(c.req.raw, c.env.CI_UPLOAD_SECRET, "Admin access not configured");
  const policy = policyFromBody(await readJsonObject(c.req.raw, 4096));
  return json({ success: true, policy: await adminState(c.env).setPolicy(policy) });
});
