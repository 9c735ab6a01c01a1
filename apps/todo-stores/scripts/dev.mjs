#!/usr/bin/env node
// Starts todo-stores locally: workerd through `wrangler dev`, local SQLite, D1 and R2 under
// .wrangler/state, on 127.0.0.1:$PORT (default 8788). Secrets come from the environment or from
// .dev.vars, generated on first start (tools/dev-server.mjs). The page's script is bundled first.
import { execFileSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { devVars, startWrangler } from "../../../tools/dev-server.mjs";
import { CONFIG_NAMES, generateDevVars } from "./dev-vars.mjs";

const appDir = join(dirname(fileURLToPath(import.meta.url)), "..");
const port = process.env.PORT ?? "8788";

execFileSync(process.execPath, [join(appDir, "scripts/build-page.mjs")], { stdio: "inherit" });
const vars = devVars(appDir, { generate: generateDevVars, configNames: CONFIG_NAMES });
const base = `http://127.0.0.1:${port}`;
console.log(`Starting todo-stores on ${base} (GET /health); placement ${vars.PLACEMENT ?? "hashed"}, flag ${vars.FEATURE_SHARDING === "on" ? "sharded" : "legacy"} until set`);
console.log(`A user's token: npm run -w apps/todo-stores token -- <userId> [orgId]; then open ${base}/#token=<token>`);
console.log(`Migration: ADMIN_TOKEN=${vars.ADMIN_TOKEN} npm run -w apps/todo-stores migrate -- status`);
console.log(`Dashboard: ${base}/_shards/#token=${vars.ADMIN_TOKEN}`);
startWrangler(appDir, port, vars, process.argv.slice(2));
