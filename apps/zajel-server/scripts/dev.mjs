#!/usr/bin/env node
// Starts the server locally: workerd through `wrangler dev`, local SQLite storage under
// .wrangler/state, on 127.0.0.1:$PORT (default 8787).
//
// Secrets come from the environment or from .dev.vars, as with wrangler (tools/dev-server.mjs).
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { devVars, startWrangler } from "../../../tools/dev-server.mjs";
import { CONFIG_NAMES, generateDevVars, publicKeyOfSeed } from "./dev-vars.mjs";

const appDir = join(dirname(fileURLToPath(import.meta.url)), "..");
const port = process.env.PORT ?? "8787";

const vars = devVars(appDir, { generate: generateDevVars, configNames: CONFIG_NAMES, keepOut: ["DEV_MODE"] });
if (vars.BOOTSTRAP_SIGNING_KEY) {
  try {
    console.log(`Bootstrap public key (base64, raw 32 bytes): ${publicKeyOfSeed(vars.BOOTSTRAP_SIGNING_KEY)}`);
  } catch (error) {
    console.warn(`BOOTSTRAP_SIGNING_KEY is not a 64-hex-character Ed25519 seed: ${error.message}`);
  }
}
console.log(`Starting the server on http://127.0.0.1:${port} (GET /health)`);
if (vars.ADMIN_TOKEN) {
  console.log(`Dashboard: http://127.0.0.1:${port}/_shards/#token=${vars.ADMIN_TOKEN}`);
  console.log(`CLI: DURABLE_SHARDS_URL=http://127.0.0.1:${port}/_shards DURABLE_SHARDS_TOKEN=${vars.ADMIN_TOKEN} npx durable-shards status`);
}
startWrangler(appDir, port, vars, process.argv.slice(2));
